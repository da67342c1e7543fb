"""``adamlab train SPEC.json``: train one experiment on this machine.

Shows a progress bar and writes ``metrics.json``, ``metrics.csv`` and ``curves.png`` to
``--out`` (default ``runs/<spec name>``). Checkpoints go to ``OUT/checkpoints``, so the
same command run again after an interruption (Ctrl-C stops cleanly at the next
iteration) continues from the last finished epoch; run again after the run has finished,
it says so and shows that run's result; ``--force`` (or ``--fresh``) trains again from the
start. A spec beyond a cost limit (``core/cost_limits.py``: parameters, memory, iterations,
stored points; the settings ``ADAMLAB_MAX_*``) is refused before it starts, as the service
refuses it. Exit status: 0 succeeded, 1 failed, 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from pathlib import Path

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one experiment locally from a spec file",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", type=Path, metavar="SPEC.json", help="the experiment spec")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<spec name>)"
    )
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default=None, help="override the spec's"
    )
    parser.add_argument(
        "--force", "--fresh", dest="force", action="store_true",
        help="train again from the start: discard the checkpoints of an earlier run in --out",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from core.spec import ExperimentSpec

    try:
        text = args.spec.read_text()
    except OSError as exc:
        return _error(f"cannot read SPEC.json {args.spec}: {exc.strerror or exc}")
    try:
        spec = ExperimentSpec.model_validate_json(text)
    except ValidationError as exc:
        return _error(f"{args.spec} is not a valid experiment spec:\n{_describe(exc)}")
    if args.device is not None:
        spec = spec.model_copy(update={"device": args.device})
    problem = _beyond_cost_limits(spec)
    if problem is not None:
        return _error(f"{args.spec} asks for more than the cost limits allow:\n{problem}")
    out = args.out if args.out is not None else Path("runs") / _safe_name(spec.name)
    return train(spec, out, fresh=args.force, progress_bar=not args.no_progress)


def train(spec, out: Path, *, fresh: bool, progress_bar: bool) -> int:
    """Run ``spec`` with its outputs in ``out``; returns the exit status."""
    from tqdm import tqdm

    from core.metrics import Progress
    from worker.engine import run_experiment
    from worker.outputs import read_run, write_run
    from worker.sinks import ListSink

    checkpoints = out / "checkpoints"
    if fresh and checkpoints.exists():
        shutil.rmtree(checkpoints)
    sink = ListSink()
    earlier = read_run(out) if checkpoints.exists() else None
    if earlier is not None and _same_training(earlier.spec, spec):
        # A resumed run writes only the points after its checkpoint: start from the
        # earlier ones (the rewritten points replace them, as in the store).
        sink.write(earlier.points)
        if earlier.result.status == "succeeded":
            print(
                f"adamlab train: {out} already holds a finished run of this spec; showing it "
                "(use --force to train again)",
                file=sys.stderr,
            )

    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True
        signal.signal(signal.SIGINT, previous_handler)  # a second Ctrl-C interrupts at once

    previous_handler = signal.signal(signal.SIGINT, request_stop)
    bar = tqdm(total=None, unit="step", disable=not progress_bar, dynamic_ncols=True)

    def show(progress: Progress) -> None:
        bar.total = progress.total_steps
        bar.n = progress.step
        bar.set_description(f"epoch {progress.epoch}/{progress.epochs}")
        bar.refresh()

    try:
        result = run_experiment(
            spec, sink=sink, checkpoint_dir=checkpoints, should_stop=lambda: stop_requested,
            on_progress=show,
        )  # fmt: skip
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous_handler)
    write_run(out, spec, result, sink.points)

    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.final_metrics.items())
    print(f"{result.status} on {result.device}: {summary or 'no epoch finished'}")
    print(f"wrote {out}/metrics.json, metrics.csv, curves.png")
    if result.status == "failed":
        print(f"adamlab train: run failed: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    if result.status == "cancelled":
        print("adamlab train: stopped; run the same command again to continue", file=sys.stderr)
        return EXIT_CANCELLED
    return 0


def _same_training(first, second) -> bool:
    """Whether two specs train the same thing (they may differ in name, tags, device)."""
    from worker.resume import NON_TRAINING_FIELDS

    return first.model_dump(exclude=NON_TRAINING_FIELDS) == second.model_dump(
        exclude=NON_TRAINING_FIELDS
    )


def _beyond_cost_limits(spec) -> str | None:
    """Each limit of ``core.cost_limits`` that ``spec`` exceeds, one line each naming the spec's
    field, and how to lift it; None when it fits. The service refuses such a spec (422)."""
    from core.cost_limits import CostLimits, cost_problems

    problems = cost_problems(spec, CostLimits.from_settings())
    if not problems:
        return None
    lines = [f"  {problem.field}: {problem.message}" for problem in problems]
    lines.append("  (to train it on this machine anyway, raise the setting named)")
    return "\n".join(lines)


def _describe(exc) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(spec)"
        lines.append(f"  {location}: {error['msg']}")
    return "\n".join(lines)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".-")
    return cleaned or "experiment"


def _error(message: str) -> int:
    print(f"adamlab train: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
