"""A group's outputs: each member's outputs on its own batch (``vmap`` of
``functional_call``, or ``worker/stacked_dense.py`` for a dense model on the CPU), each
member's loss and correct predictions from them, and each member's evaluation on a
shared split."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from worker.devices import DeviceSplit
from worker.evaluation import EVAL_BATCH_SIZE
from worker.member_stack import MemberStack
from worker.stacked_dense import dense_plan


class GroupOutputs:
    """The outputs of the members in ``stack`` (it may shrink as members leave)."""

    def __init__(self, stack: MemberStack, task: str, device: torch.device) -> None:
        self.stack, self.task, self.device = stack, task, device
        base = stack.base

        def member_outputs(
            p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor
        ) -> torch.Tensor:
            return functional_call(base, (p, b), (x,))

        self.outputs_of = vmap(member_outputs, randomness="different")
        self.member_outputs = member_outputs
        # Dense models on the CPU: batched matmuls in the faster orientations (measured
        # in worker/stacked_dense.py); anything else through vmap.
        self.dense = dense_plan(base) if device.type == "cpu" else None

    def of_batches(self, parameters: dict[str, torch.Tensor], inputs: torch.Tensor):
        """Each member's outputs ``[M, B, ...]`` on its own batch ``inputs``."""
        if self.dense is not None:
            return self.dense.outputs(
                parameters, self.stack.buffers, inputs, training=self.stack.base.training
            )
        return self.outputs_of(parameters, self.stack.buffers, inputs)

    def losses(
        self, outputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's mean loss on its batch and its correct predictions, from the
        members' outputs ``[M, B, ...]``: one loss call for all members (under ``vmap`` the
        loss costs more than the model)."""
        members, batch = outputs.shape[0], outputs.shape[1]
        if self.task == "classification":
            per_example = F.cross_entropy(
                outputs.flatten(0, 1), targets.flatten(0, 1), reduction="none"
            )
            hits = (outputs.argmax(-1) == targets).sum(1)
            return per_example.view(members, batch).mean(1), hits
        squared = (outputs - targets).pow(2).flatten(1).mean(1)
        return squared, torch.zeros(members, dtype=torch.int64, device=outputs.device)

    @torch.no_grad()
    def evaluate(self, split: DeviceSplit, prefix: str) -> dict[str, list[float]]:
        """Each member's mean loss (and accuracy) over ``split`` in eval mode.

        Member by member over each chunk of the split, as its solo run evaluates: every
        member sees the same inputs, and one member's ``[N, d] @ [d, k]`` is several times
        faster on the CPU than vmap's batched form of a shared input (5× for the MNIST LR);
        a linear model's members all in one product (``linear_outputs_on_shared``).
        """
        base = self.stack.base
        base.eval()
        members = int(self.stack.flat.shape[0])
        named_tensors = list(zip(self.stack.names, self.stack.tensors, strict=True))
        parameters = [{name: tensor[m] for name, tensor in named_tensors} for m in range(members)]
        buffers = [{name: b[m] for name, b in self.stack.buffers.items()} for m in range(members)]
        loss_sums = torch.zeros(members, dtype=torch.float64)
        correct = torch.zeros(members, dtype=torch.int64)
        for start in range(0, len(split), EVAL_BATCH_SIZE):
            inputs, targets = split.slice(start, start + EVAL_BATCH_SIZE, self.device)
            if self.dense is not None and self.dense.is_linear:
                outputs = self.dense.linear_outputs_on_shared(dict(named_tensors), inputs)
            else:
                member_states = zip(parameters, buffers, strict=True)
                outputs = torch.stack([self.member_outputs(p, b, inputs) for p, b in member_states])
            if self.task == "classification":
                losses = F.cross_entropy(
                    outputs.flatten(0, 1), targets.repeat(members), reduction="none"
                ).view(members, -1)
                correct += (outputs.argmax(-1) == targets).sum(-1).cpu()
            else:  # the squared errors summed over each example's outputs, as F.mse_loss(sum)
                losses = ((outputs - targets) ** 2).flatten(1)
            loss_sums += losses.to(torch.float64).sum(-1).cpu()
        base.train()
        if self.task == "regression":
            return {f"{prefix}_mse": (loss_sums / len(split)).tolist()}
        return {
            f"{prefix}_loss": (loss_sums / len(split)).tolist(),
            f"{prefix}_acc": (correct.to(torch.float64) / len(split)).tolist(),
        }
