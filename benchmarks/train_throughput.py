"""Training throughput of the paper's MLP and CNN at batch 128: the engine vs a plain loop.

Both sides train the same model on the same MNIST tensors in the same process:

- engine: ``worker.engine.run_experiment`` (adamlab's Adam, data held on the device,
  batches by index, losses kept on the device until logged). It runs two epochs of
  ``--steps`` iterations each (``train_limit = steps × 128``) and the second epoch's
  ``examples_per_s`` is taken, so start-up costs are left out; evaluation is outside
  that timing.
- plain: ``torch.optim.Adam`` (fused on CUDA, torch's default otherwise) over a
  ``DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)`` of the same tensors
  (on the device when it is CUDA), ``loss.item()`` never called; one warm-up pass of
  ``--steps`` iterations, then a timed one.

Prints steps/s and s/epoch (for the 469 iterations of a full MNIST epoch) per model, the
median of ``--repeats`` measurements taken in turns (on a shared machine a busy spell then
hits both loops).
Run: ``.venv/bin/python benchmarks/train_throughput.py [--steps 50] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from core.spec import ExperimentSpec  # noqa: E402
from worker.datasets import load_dataset  # noqa: E402
from worker.engine import resolve_device, run_experiment  # noqa: E402
from worker.models import build_model  # noqa: E402
from worker.sinks import ListSink  # noqa: E402

BATCH_SIZE = 128
MNIST_STEPS_PER_EPOCH = math.ceil(60_000 / BATCH_SIZE)


def spec_for(model: str, steps: int, device: str) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "name": f"throughput-{model}",
            "dataset": {
                "name": "mnist",
                "batch_size": BATCH_SIZE,
                "train_limit": steps * BATCH_SIZE,
                "test_limit": BATCH_SIZE,
            },
            "model": {"name": model},
            "optimizer": {"name": "adam", "lr": 1e-3},
            "schedule": {"name": "inverse_sqrt"},
            "epochs": 2,
            "seed": 0,
            "device": device,
        }
    )


def engine_steps_per_s(model: str, steps: int, device: str) -> float:
    sink = ListSink()
    result = run_experiment(spec_for(model, steps, device), sink=sink)
    if result.status != "succeeded":
        raise SystemExit(f"engine run of {model} {result.status}: {result.error}")
    return sink.values("examples_per_s")[-1] / BATCH_SIZE


def plain_steps_per_s(model: str, steps: int, device: str) -> float:
    spec = spec_for(model, steps, device)
    target = resolve_device(device)
    data = load_dataset(spec.dataset)
    inputs = data.train.inputs.to(target)
    targets = data.train.targets.to(target)
    torch.manual_seed(0)
    network = build_model(spec.model, data.input_shape, data.num_outputs).to(target)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, fused=target.type == "cuda")
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH_SIZE, shuffle=True)

    def one_pass() -> None:
        for batch_inputs, batch_targets in loader:
            loss = F.cross_entropy(network(batch_inputs), batch_targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    network.train()
    one_pass()  # warm-up
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    started = time.perf_counter()
    one_pass()
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    return steps / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="timed iterations (default 50)")
    parser.add_argument("--models", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loop")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("argument --steps: must be at least 1")
    if args.repeats < 1:
        parser.error("argument --repeats: must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    print(f"# {where}, torch {torch.__version__}, batch {BATCH_SIZE}, {args.steps} steps timed")
    print(f"# median of {args.repeats} interleaved measurements each")
    print("| model | loop | steps/s | s/epoch (469 steps) |")
    print("|---|---|---|---|")
    loops = (("adamlab engine", engine_steps_per_s), ("plain PyTorch", plain_steps_per_s))
    for model in args.models:
        rates: dict[str, list[float]] = {label: [] for label, _ in loops}
        for _ in range(args.repeats):  # interleaved, so a busy spell hits both sides
            for label, measure in loops:
                rates[label].append(measure(model, args.steps, str(device)))
        for label, measured in rates.items():
            rate = statistics.median(measured)
            print(f"| {model} | {label} | {rate:.1f} | {MNIST_STEPS_PER_EPOCH / rate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
