"""``adamlab reproduce table1``: the study's Table 1 (MNIST; LR, NN, CNN; Adam, AdaMax).
``adamlab reproduce canyon|reddi|tutorial``: a playground preset, run here
(``adamlab/commands/_reproduce_playground.py``).

Runs the ten configurations (20 epochs each by default; ``--models`` and
``--optimizers`` pick a subset), then writes to ``--out`` (default ``runs/table1``):
``table1.md`` with the published numbers beside ours, the figures
``adam_vs_adamax.png``, ``dropout.png`` and ``models.png``, ``summary.json``, and one
folder per configuration with its metrics and checkpoints. Run again after an
interruption, it skips finished configurations and resumes the interrupted one.
``--train-limit`` and ``--test-limit`` shorten a run to check the pipeline; the table
then says it is not the study's setting. Every choice is documented in
``core/table1.py`` and in the written table.

With ``--server URL`` the runs go to an adamlab service instead of this machine: the
command submits them, shows their progress until all have ended, prints the table and
writes it with the service's figures to ``--out`` (default ``runs/table1-server``).
Run again, it keeps the runs that succeeded, waits on those still going and trains again
those that failed or were cancelled, saying which per run (``--resubmit`` trains new
ones). A run that fails before its first step (the service's data folder, its device)
stops the command: the other runs are cancelled, and the reason is printed once.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
from pathlib import Path

from adamlab.commands._arguments import poll_interval, positive_int
from adamlab.commands._remote import add_retry_argument
from adamlab.commands._reproduce_playground import PLAYGROUND_TARGETS

EXIT_FAILED = 1
EXIT_CANCELLED = 130


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**63), got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce a table of the study (table1)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        choices=["table1", *PLAYGROUND_TARGETS],
        help="what to reproduce: the study's table1, or a playground preset (canyon, reddi, "
        "tutorial: run here, their figure and summary.json written to --out)",
    )
    parser.add_argument(
        "--gif", action="store_true", help="canyon, reddi: also the animated trajectories"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=20, help="epochs per run (default: 20, the study's)"
    )
    parser.add_argument(
        "--models", nargs="+", choices=["lr", "mlp", "cnn"], default=["lr", "mlp", "cnn"],
        metavar="MODEL", help="subset of lr, mlp, cnn (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--optimizers", nargs="+", choices=["adam", "adamax"], default=["adam", "adamax"],
        metavar="OPTIMIZER", help="subset of adam, adamax (default: both)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None,
        help="output folder (default: runs/table1, with --server runs/table1-server)",
    )  # fmt: skip
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of every run (default: 0)")
    parser.add_argument(
        "--train-limit", type=positive_int, default=None, metavar="N",
        help="use only the first N training images (pipeline check, not the study)",
    )  # fmt: skip
    parser.add_argument(
        "--test-limit", type=positive_int, default=None, metavar="N",
        help="evaluate on only the first N test images (pipeline check, not the study)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    service = parser.add_argument_group("on a service")
    service.add_argument(
        "--server", metavar="URL", default=None,
        help="run on the adamlab service at URL (submit, wait, print the table)",
    )  # fmt: skip
    service.add_argument(
        "--api-key", default=None, help="API key for --server (default: $ADAMLAB_API_KEY)"
    )
    service.add_argument(
        "--poll-interval", type=poll_interval, default=1.0, metavar="S",
        help="seconds between polls of the service (default 1)",
    )  # fmt: skip
    service.add_argument(
        "--seeds", type=positive_int, default=None, metavar="N",
        help="run the table as a sweep of the service (the table1 preset), each "
        "configuration with seeds 0..N-1; the table gives the median and range of the seeds",
    )  # fmt: skip
    service.add_argument(
        "--resubmit", action="store_true",
        help="train new experiments, not the ones an earlier identical command submitted",
    )  # fmt: skip
    add_retry_argument(service)
    parser.set_defaults(func=run)


def configs_from_args(args: argparse.Namespace) -> list:
    """The Table 1 configurations the command's flags select (local and --server alike)."""
    from core.table1 import table1_configs

    return table1_configs(
        epochs=args.epochs,
        models=args.models,
        optimizers=args.optimizers,
        seed=args.seed,
        device=args.device,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
    )


def run(args: argparse.Namespace) -> int:
    if args.target in PLAYGROUND_TARGETS:
        from adamlab.commands._reproduce_playground import run_playground

        return run_playground(args)
    if args.server is not None:
        from adamlab.commands._remote import remote_command
        from adamlab.commands._reproduce_remote import run_on_server

        args.out = args.out or Path("runs/table1-server")
        if args.seeds is not None:
            from adamlab.commands._reproduce_sweep import run_as_sweep

            return remote_command(run_as_sweep)(args)
        return remote_command(run_on_server)(args)
    if args.api_key is not None or args.resubmit or args.retry_for is not None or args.seeds:
        print(
            "adamlab reproduce: --api-key, --resubmit, --retry-for and --seeds need --server",
            file=sys.stderr,
        )
        return 2
    args.out = args.out or Path("runs/table1")
    import torch
    from tqdm import tqdm

    from worker import reproduce

    configs = configs_from_args(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True
        signal.signal(signal.SIGINT, previous_handler)

    previous_handler = signal.signal(signal.SIGINT, request_stop)
    bars: dict[str, tqdm] = {}

    def show(config, progress) -> None:
        bar = bars.get(config.key)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[config.key] = tqdm(
                total=progress.total_steps, unit="step", desc=config.key,
                disable=args.no_progress, dynamic_ncols=True,
            )  # fmt: skip
        bar.n = progress.step
        bar.refresh()

    try:
        runs = reproduce.run_configs(
            configs, out, on_progress=show, should_stop=lambda: stop_requested
        )
    finally:
        for bar in bars.values():
            bar.close()
        signal.signal(signal.SIGINT, previous_handler)

    device = runs[0].result.device if runs else args.device
    machine = (
        torch.cuda.get_device_name(0)
        if device.startswith("cuda")
        else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    (out / "table1.md").write_text(reproduce.table1_markdown(runs, machine=machine))
    figures = reproduce.table1_figures(runs, out)
    reproduce.write_summary(runs, out)
    print(f"wrote {out / 'table1.md'}" + "".join(f", {p.name}" for p in figures))
    for run in runs:
        accuracy = run.test_accuracy
        shown = f"{100 * accuracy:.2f}%" if accuracy is not None else run.result.status
        print(f"  {run.config.key}: {shown}")
    if any(run.result.status == "cancelled" for run in runs):
        print("adamlab reproduce: stopped; run the same command to continue", file=sys.stderr)
        return EXIT_CANCELLED
    failed = [run for run in runs if run.result.status == "failed"]
    for run in failed:
        print(f"adamlab reproduce: {run.config.key} failed: {run.result.error}", file=sys.stderr)
    return EXIT_FAILED if failed else 0
