"""Would the bias-correction grid's VAEs train faster as one stack? Times a training
step's forward and backward pass (the optimizer step excluded) of M members of the
``bias-correction`` preset's VAE (784 → 500 → 2·50, 50 → 500 → 784, batch 100), stacked
by the group's own code (``build_stack`` and ``GroupOutputs``: ``vmap`` of
``functional_call`` for a model without a dense fast path, each member drawing its own
ε), against the same M members one after another. The two take turns,
round after round, so that a machine's load of the moment weighs on both alike; printed:
the median ms per step of each and the median over rounds of "one after another /
stacked" (above 1: the stack is faster).

    python benchmarks/vae_stack.py [--members 16] [--rounds 7] [--threads 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import report  # noqa: E402
from core.spec import ExperimentSpec  # noqa: E402
from core.sweeps.presets import bias_correction  # noqa: E402
from worker.evaluation import negative_elbo  # noqa: E402
from worker.group_outputs import GroupOutputs  # noqa: E402
from worker.member_stack import build_stack  # noqa: E402
from worker.models import VaeOutput, build_model  # noqa: E402

INPUT_SHAPE, CLASSES = (1, 28, 28), 10  # MNIST's (the VAE ignores the labels)
CPU = torch.device("cpu")


def member_specs(members: int) -> list[ExperimentSpec]:
    """The ``bias-correction`` preset's VAE run, seeds 0..members-1."""
    base = bias_correction()["base"]
    return [ExperimentSpec.model_validate(base | {"seed": seed}) for seed in range(members)]


def stacked_step(specs: list[ExperimentSpec], images: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of all members as the group's stack computes it
    (``worker.member_stack.build_stack``, ``worker.group_outputs.GroupOutputs``)."""
    stack = build_stack(specs, input_shape=INPUT_SHAPE, num_outputs=CLASSES,
                        folders=[None] * len(specs), steps_per_epoch=1, device=CPU)  # fmt: skip
    outputs = GroupOutputs(stack, "generative", CPU)
    members, batch = images.shape[0], images.shape[1]
    targets = images.flatten(0, 1).flatten(1)

    def step() -> None:
        leaves = stack.leaves()
        parameters = dict(zip(stack.names, leaves, strict=True))
        out = cast(VaeOutput, outputs.of_batches(parameters, images))
        per_example = negative_elbo(
            out.logits.flatten(0, 1), out.mean.flatten(0, 1), out.log_var.flatten(0, 1), targets
        )
        torch.autograd.grad(per_example.view(members, batch).mean(1).sum(), leaves)

    return step


def solo_steps(specs: list[ExperimentSpec], images: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of each member, one after another, as a solo run."""
    models = []
    for spec in specs:
        torch.manual_seed(spec.seed)
        models.append(build_model(spec.model, INPUT_SHAPE, CLASSES))

    def step() -> None:
        for model, x in zip(models, images, strict=True):
            out = model(x)
            model.zero_grad(set_to_none=True)
            negative_elbo(out.logits, out.mean, out.log_var, x.flatten(1)).mean().backward()

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
    specs = member_specs(args.members)
    generator = torch.Generator().manual_seed(0)
    batch = specs[0].dataset.batch_size
    images = torch.rand(args.members, batch, *INPUT_SHAPE, generator=generator)
    stacked, solo = stacked_step(specs, images), solo_steps(specs, images)
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
