"""Time one optimizer step: optim's Adam and AdaMax against every torch.optim path.

For each parameter layout (a few large tensors; hundreds of small ones; the paper's
784-1000-1000-10 MLP) and each optimizer, every implementation steps the same parameters
with fixed gradients. The implementations take turns, round after round (a round: as many
steps as fill --round-seconds), so that on a machine shared with other jobs the load of the
moment weighs on all of them alike. Reported: the median round's ms per step and bandwidth,
and the median over rounds of the ratio "torch's fastest path in that round / this
implementation in that round" (a ratio within one round cancels the slow swings of the load);
with --best, also the best round and the ratio of best rounds (timeit's convention).

Printed per row: ms per step, effective bandwidth (an Adam or AdaMax step reads p, g, m, v
and writes p, m, v: 7 values per parameter, 28 bytes in float32) and the ratio of torch's
fastest path for the same optimizer to this row's time (above 1: faster than torch's best).

    python benchmarks/optim_step.py                    # CPU, default sizes
    python benchmarks/optim_step.py --device cuda --large-numel 25000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from optim import Adam, AdaMax, _cpu_kernel

TORCH_PATHS = {
    "Adam": {
        "torch for-loop": lambda ps: torch.optim.Adam(ps, foreach=False),
        "torch foreach": lambda ps: torch.optim.Adam(ps, foreach=True),
        "torch fused": lambda ps: torch.optim.Adam(ps, fused=True),
    },
    "AdaMax": {
        "torch for-loop": lambda ps: torch.optim.Adamax(ps, foreach=False),
        "torch foreach": lambda ps: torch.optim.Adamax(ps, foreach=True),
    },
}
OURS = {
    "Adam": {"optim (auto)": lambda ps: Adam(ps), "optim plain": lambda ps: Adam(ps, fused=False)},
    "AdaMax": {
        "optim (auto)": lambda ps: AdaMax(ps),
        "optim plain": lambda ps: AdaMax(ps, fused=False),
    },
}


def layouts(args: argparse.Namespace) -> dict[str, list[tuple[int, ...]]]:
    return {
        f"{args.large_count} large": [(args.large_numel,)] * args.large_count,
        f"{args.small_count} small": [(args.small_numel,)] * args.small_count,
        "MLP 784-1000-1000-10": [(1000, 784), (1000,), (1000, 1000), (1000,), (10, 1000), (10,)],
    }


def make_parameters(shapes, *, device, dtype, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.randn(shape, generator=generator, dtype=dtype).to(device).requires_grad_()
        p.grad = torch.randn(shape, generator=generator, dtype=dtype).to(device) * 1e-2
        params.append(p)
    return params


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step: Callable[[], object], *, steps: int, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def measure(shapes, optimizer_name: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per step of every round, per implementation."""
    builders = {**OURS[optimizer_name], **TORCH_PATHS[optimizer_name]}
    optimizers, steps_per_round = {}, {}
    for seed, (name, build) in enumerate(builders.items()):
        params = make_parameters(shapes, device=args.device, dtype=args.dtype, seed=seed)
        optimizers[name] = build(params)
        for _ in range(args.warmup):  # builds the kernel / compiles, allocates state
            optimizers[name].step()
        one_step = time_steps(optimizers[name].step, steps=1, device=args.device)
        steps_per_round[name] = max(1, round(args.round_seconds / one_step))
    samples: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(args.rounds):
        for name, optimizer in optimizers.items():
            samples[name].append(
                time_steps(optimizer.step, steps=steps_per_round[name], device=args.device)
            )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--large-numel", type=int, default=4_000_000)
    parser.add_argument("--small-count", type=int, default=300)
    parser.add_argument("--small-numel", type=int, default=10_000)
    parser.add_argument(
        "--round-seconds", type=float, default=0.02, help="length of a timed round (>= 1 step)"
    )
    parser.add_argument("--rounds", type=int, default=31, help="timed rounds per implementation")
    parser.add_argument("--best", action="store_true", help="also print the best round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    args.dtype = getattr(torch, args.dtype)
    if args.threads:
        torch.set_num_threads(args.threads)
    bytes_per_param = 7 * torch.finfo(args.dtype).bits // 8

    device_name = (
        torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    )
    print(
        f"torch {torch.__version__}, {device_name}, {torch.get_num_threads()} threads, "
        f"{args.dtype}, {bytes_per_param} bytes/param/step, medians of {args.rounds} rounds "
        f"of >= {args.round_seconds} s"
    )
    if not args.device.startswith("cuda"):
        reason = _cpu_kernel.unavailable_reason()
        print("optim's CPU kernels: " + (f"not built ({reason})" if reason else "built"))
    header = (
        f"{'layout':<22} {'optimizer':<7} {'implementation':<15} {'params':>11} "
        f"{'ms/step':>8} {'GB/s':>7} {'vs torch best':>13}"
        + (f" {'best ms':>8} {'best vs':>8}" if args.best else "")
    )
    print(header)
    print("-" * len(header))
    for layout_name, shapes in layouts(args).items():
        numel = sum(torch.Size(shape).numel() for shape in shapes)
        for optimizer_name in ("Adam", "AdaMax"):
            samples = measure(shapes, optimizer_name, args)
            torch_names = list(TORCH_PATHS[optimizer_name])
            torch_rounds = zip(*(samples[name] for name in torch_names), strict=True)
            torch_per_round = [min(times) for times in torch_rounds]
            torch_best = min(min(samples[name]) for name in torch_names)
            for name, times in samples.items():
                step_s = statistics.median(times)
                ratios = [t / own for t, own in zip(torch_per_round, times, strict=True)]
                ratio = statistics.median(ratios)
                line = (
                    f"{layout_name:<22} {optimizer_name:<7} {name:<15} {numel:>11,} "
                    f"{step_s * 1e3:>8.3f} {bytes_per_param * numel / step_s / 1e9:>7.1f} "
                    f"{ratio:>12.2f}x"
                )
                if args.best:
                    line += f" {min(times) * 1e3:>8.3f} {torch_best / min(times):>7.2f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
