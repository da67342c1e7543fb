"""Would the bias-correction grid's VAEs train faster as one stack? Times a training
step's forward and backward pass (the optimizer step excluded) of M members of the
paper's VAE (784 → 500 → 2·50, 50 → 500 → 784, batch 100), stacked as ``worker/batched.py``
stacks a model without a dense fast path (``vmap`` of ``functional_call``, each member
drawing its own ε), against the same M members one after another. The two take turns,
round after round, so that a machine's load of the moment weighs on both alike; printed:
the median ms per step of each and the median over rounds of "one after another /
stacked" (above 1: the stack is faster).

    python benchmarks/vae_stack.py [--members 16] [--rounds 7] [--threads 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import report  # noqa: E402
from worker.evaluation import negative_elbo  # noqa: E402
from worker.models import Vae  # noqa: E402

IMAGE_SIZE, HIDDEN, LATENT, BATCH = 784, 500, 50, 100


def stacked_step(models: list[Vae], images: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of all members as one vmapped stack."""
    parameters, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    members, batch = images.shape[0], images.shape[1]

    def member_outputs(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor):
        return functional_call(base, (p, b), (x,))

    outputs_of = vmap(member_outputs, randomness="different")

    def step() -> None:
        leaves = {name: t.detach().requires_grad_(True) for name, t in parameters.items()}
        out = outputs_of(leaves, buffers, images)
        per_example = negative_elbo(
            out.logits.flatten(0, 1),
            out.mean.flatten(0, 1),
            out.log_var.flatten(0, 1),
            images.flatten(0, 1),
        )
        loss = per_example.view(members, batch).mean(1).sum()
        torch.autograd.grad(loss, list(leaves.values()))

    return step


def solo_steps(models: list[Vae], images: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of each member, one after another."""

    def step() -> None:
        for model, x in zip(models, images, strict=True):
            out = model(x)
            model.zero_grad(set_to_none=True)
            negative_elbo(out.logits, out.mean, out.log_var, x).mean().backward()

    return step


def ms_per_step(step: Callable[[], None], steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="the VAE as one stack or one after another")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="steps of each per round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for flag in ("members", "rounds", "steps", "threads"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = [Vae(IMAGE_SIZE, HIDDEN, LATENT) for _ in range(args.members)]
    images = torch.rand(args.members, BATCH, IMAGE_SIZE)
    stacked, solo = stacked_step(models, images), solo_steps(models, images)
    stacked()  # warm-up
    solo()
    stacked_ms, solo_ms = [], []
    for _ in range(args.rounds):
        stacked_ms.append(ms_per_step(stacked, args.steps))
        solo_ms.append(ms_per_step(solo, args.steps))
    report(
        {
            "members": args.members,
            "threads": args.threads,
            "stacked_ms": round(statistics.median(stacked_ms), 1),
            "one_after_another_ms": round(statistics.median(solo_ms), 1),
            "speedup": round(
                statistics.median(s / t for s, t in zip(solo_ms, stacked_ms, strict=True)), 3
            ),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
