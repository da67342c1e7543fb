"""A group of sweep members trained as one stacked model, each member still an experiment
of its own: its metric points, progress, checkpoints, cancel, early stop and failure.

The members share a data set, a model architecture, a batch size, a number of epochs, a
schedule kind and an optimizer (Adam, AdamW, AdaMax or SGD); each keeps its own seed, data
order, dropout rate, learning rate (and its schedule's value), betas, eps, weight decay
and l2. The stacked state is ``worker/member_stack.py``: each member's initialisation is
its solo run's, and its checkpoints are in the solo format. The forward pass is ``vmap``
of ``functional_call`` over members (``randomness="different"``: each member draws its
own dropout masks), or for a dense model on the CPU (linear or logistic regression, the
MLP) the batched matmuls of ``worker/stacked_dense.py``, faster there; each member on the
batch its own permutation of the epoch picks
(``worker.engine.epoch_permutation``); the objective summed over members has, for each
member, its own gradient (members share no parameter), and ``optim.batched`` steps all
members at once with their own hyperparameters.

Each member writes what its solo run writes, under the same names: ``batch_loss`` and
``lr`` per iteration; per epoch ``train_loss``, ``train_acc``, ``test_*``, ``val_*``,
(regression: ``train_mse``, ``w``, ``b``), ``epoch_time_s`` (the group's epoch, shared)
and ``examples_per_s`` (the member's own training examples over the group's training
time). What is and is not identical to a solo run: without dropout a member's losses equal
its solo run's up to float rounding (the summed loss's backward and the batched update
round differently: about 2e-7 relative here, tests/worker/test_batched.py bounds it by
1e-4); with dropout the initialisation and the data order are the solo run's, the masks
are not. A group resumed with the same members from the same checkpoints repeats the
uninterrupted group exactly (torch's RNG state is checkpointed with each member).

Each member's account (where its run goes, its points not yet written, how it ended) is
``worker/group_members.py``. A member leaves the stack when its loss is not finite
(``failed``, before the step), when its ``should_stop`` says so before an iteration
(``cancelled``) or when its ``after_epoch`` gives a reason (``stopped``); the others go on
exactly as before.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from core.metrics import MetricPoint
from core.spec import ExperimentSpec
from worker.checkpoints import CheckpointError, save_checkpoint
from worker.datasets import Data, DatasetUnavailableError, load_dataset
from worker.devices import ReusedBatches, place_split, resolve_device, synchronize
from worker.engine import DEFAULT_LOG_EVERY, epoch_permutation
from worker.errors import EngineError
from worker.group_compatibility import GroupError, group_problem
from worker.group_members import GroupMembers, MemberIO
from worker.group_outputs import GroupOutputs
from worker.group_step import hyperparameter_columns, step_members
from worker.member_stack import MemberStack, build_stack
from worker.progress_clock import ProgressClock
from worker.run_result import RunResult, run_metadata
from worker.schedules import lr_at

logger = logging.getLogger(__name__)


def train_group(
    specs: Sequence[ExperimentSpec],
    data: Data,
    *,
    members: Sequence[MemberIO] | None = None,
    device: torch.device | None = None,
    log_every: int = DEFAULT_LOG_EVERY,
    max_iterations: int | None = None,
) -> list[RunResult]:
    """Train ``specs`` as one stacked model, each member resumed from the newest
    checkpoint in its folder (all of the same epoch); one ``RunResult`` per member, in the
    specs' order. ``max_iterations`` ends training early (the equality tests), the members
    then ``succeeded`` without an evaluation."""
    problem = group_problem(specs)
    if problem is not None:
        raise GroupError(problem)
    return _Group(
        list(specs),
        data,
        list(members) if members is not None else [MemberIO() for _ in specs],
        device or torch.device("cpu"),
        log_every,
        max_iterations,
    ).run()


def run_group(
    specs: Sequence[ExperimentSpec],
    *,
    members: Sequence[MemberIO],
    data_dir: Path | None = None,
) -> list[RunResult]:
    """``train_group`` as the worker calls it, as ``worker.engine.run_experiment`` is for
    one run: the device resolved and the data set loaded here; what stops the group before
    training (no such device, a missing data set, a checkpoint of another experiment) is
    every member's failure, with the message."""
    device_name = specs[0].device
    try:
        device = resolve_device(specs[0].device)
        device_name = str(device)
        data = load_dataset(specs[0].dataset, data_dir=data_dir)
        return train_group(specs, data, members=members, device=device)
    except (EngineError, DatasetUnavailableError, CheckpointError) as exc:
        logger.error("the group failed before training: %s", exc, exc_info=True)
        failed = RunResult(status="failed", final_metrics={}, error=str(exc), device=device_name)
        return [failed for _ in specs]


class _Group:
    """The group's state; ``run()`` is the loop."""

    def __init__(
        self,
        specs: list[ExperimentSpec],
        data: Data,
        io: list[MemberIO],
        device: torch.device,
        log_every: int,
        max_iterations: int | None,
    ) -> None:
        self.specs, self.device = specs, device
        self.log_every, self.max_iterations = log_every, max_iterations
        self.first = specs[0]
        self.task = data.task
        self.n_train = len(data.train)
        self.batch_size = self.first.dataset.batch_size
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = self.first.epochs * self.steps_per_epoch
        self.stack: MemberStack = build_stack(
            specs,
            input_shape=data.input_shape,
            num_outputs=data.num_outputs,
            folders=[m.folder for m in io],
            steps_per_epoch=self.steps_per_epoch,
            device=device,
        )
        self.train = place_split(data.train, device)
        self.train_batches = ReusedBatches(self.train)
        self.test = place_split(data.test, device) if data.test is not None else None
        self.validation = place_split(data.validation, device) if data.validation else None
        self.members = GroupMembers(io)
        self.active = list(range(len(specs)))  # the specs' indices of the members in the stack
        self.hyper = hyperparameter_columns(specs)
        self.any_l2 = any(s.l2 > 0 for s in specs)
        self.outputs = GroupOutputs(self.stack, data.task, device)

    def _keep(self, positions: list[int]) -> None:
        self.stack.keep(positions)
        at = torch.tensor(positions, dtype=torch.int64)
        self.hyper = {k: v.index_select(0, at) for k, v in self.hyper.items()}
        self.orders = self.orders.index_select(0, at.to(self.orders.device))
        self.active = [self.active[p] for p in positions]

    def _drop(self, ended: dict[int, RunResult]) -> None:
        """The members at these positions of the stack leave it with these results."""
        for position, result in ended.items():
            self.members.end(self.active[position], result)
        self._keep([p for p in range(len(self.active)) if p not in ended])

    def run(self) -> list[RunResult]:
        self.clock = ProgressClock(
            self.first.epochs, self.total_steps, (self.stack.start_epoch - 1) * self.steps_per_epoch
        )
        logger.info(
            "training %d members of %s on %s with %s as one stack: %d epochs of %d steps on %s",
            len(self.specs),
            self.first.model.name,
            self.first.dataset.name,
            self.first.optimizer.name,
            self.first.epochs,
            self.steps_per_epoch,
            self.device,
        )
        if self.stack.start_epoch > 1:
            logger.info("resuming from the checkpoints of epoch %d", self.stack.start_epoch - 1)
        for epoch in range(self.stack.start_epoch, self.first.epochs + 1):
            if not self.active or self._train_epoch(epoch):
                break
        for index in list(self.active):
            self.members.end(index, self._result(index, "succeeded", self.first.epochs))
        return self.members.results()

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch; True when training ends inside it (``max_iterations``)."""
        epoch_started = time.perf_counter()
        self.stack.base.train()
        self.orders = torch.stack(
            [epoch_permutation(self.specs[i].seed, epoch, self.n_train) for i in self.active]
        ).to(self.train.device)
        loss_sums = torch.zeros(len(self.active), dtype=torch.float64)
        correct = torch.zeros(len(self.active), dtype=torch.int64)
        first_step = (epoch - 1) * self.steps_per_epoch
        lr = torch.zeros(0)
        for index in range(self.steps_per_epoch):
            step = first_step + index + 1
            if self.max_iterations is not None and step > self.max_iterations:
                return True
            cancelled = {
                p: self._result(m, "cancelled", epoch - 1, steps=step - 1)
                for p, m in enumerate(self.active)
                if (ask := self.members.io[m].should_stop) is not None and ask()
            }
            if cancelled:
                loss_sums, correct = self._without(cancelled, loss_sums, correct)
                if not self.active:
                    return False
            lr = torch.tensor(
                [
                    lr_at(self.specs[m].schedule, base_lr=self.specs[m].optimizer.lr, step=step,
                          steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps)
                    for m in self.active
                ],
                dtype=torch.float64,
            )  # fmt: skip
            picked = self.orders[:, index * self.batch_size : (index + 1) * self.batch_size]
            inputs, targets = self.train_batches.batch(picked, self.device)
            leaves = self.stack.leaves()
            stacked = dict(zip(self.stack.names, leaves, strict=True))
            data_losses, hits = self.outputs.losses(
                self.outputs.of_batches(stacked, inputs), targets
            )
            objectives = data_losses
            l2 = self.hyper["l2"]
            if self.any_l2:
                norms = sum(t.pow(2).flatten(1).sum(1) for t in leaves)
                objectives = data_losses + l2.to(data_losses.dtype) * norms
            values = objectives.detach().tolist()
            finite = [p for p, v in enumerate(values) if math.isfinite(v)]
            if len(finite) < len(values):
                objectives = objectives.index_select(0, torch.tensor(finite, dtype=torch.int64))
            grads = list(torch.autograd.grad(objectives.sum(), leaves)) if finite else []
            batch = picked.shape[1]
            loss_sums += data_losses.detach().to(torch.float64) * batch
            correct += hits.detach()
            for position, value in enumerate(values):
                if position in finite:
                    self.members.add(self.active[position], [
                        MetricPoint("batch_loss", step, value, epoch),
                        MetricPoint("lr", step, float(lr[position]), epoch),
                    ])  # fmt: skip
            failed = {
                p: self._result(
                    self.active[p],
                    "failed",
                    epoch - 1,
                    steps=step,
                    error=f"training loss became {values[p]} at step {step} (epoch {epoch}); "
                    "lower the learning rate or check the data",
                )
                for p in range(len(values))
                if p not in finite
            }
            if failed:
                kept = torch.tensor(finite, dtype=torch.int64)
                loss_sums, correct = self._without(failed, loss_sums, correct)
                lr = lr.index_select(0, kept)
                grads = [g.index_select(0, kept.to(g.device)) for g in grads]
                if not self.active:
                    return False
            step_members(self.stack, self.hyper, self.first.optimizer, grads, lr)
            if (index + 1) % self.log_every == 0 and index + 1 < self.steps_per_epoch:
                for m in self.active:
                    self.members.write(m)
                    self.members.report(m, self.clock.at(epoch, step))
        synchronize(self.device)
        train_seconds = time.perf_counter() - epoch_started
        self._end_epoch(epoch, epoch_started, train_seconds, loss_sums, correct, lr)
        return False

    def _without(
        self, ended: dict[int, RunResult], loss_sums: torch.Tensor, correct: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        kept = [p for p in range(len(self.active)) if p not in ended]
        self._drop(ended)
        at = torch.tensor(kept, dtype=torch.int64)
        return loss_sums.index_select(0, at), correct.index_select(0, at)

    def _end_epoch(
        self,
        epoch: int,
        epoch_started: float,
        train_seconds: float,
        loss_sums: torch.Tensor,
        correct: torch.Tensor,
        lr: torch.Tensor,
    ) -> None:
        step = epoch * self.steps_per_epoch
        measured: dict[str, list[float]] = {"train_loss": (loss_sums / self.n_train).tolist()}
        if self.task == "classification":
            measured["train_acc"] = (correct.to(torch.float64) / self.n_train).tolist()
        else:
            measured |= self.outputs.evaluate(self.train, "train")
        if self.validation is not None:
            measured |= self.outputs.evaluate(self.validation, "val")
        if self.test is not None:
            measured |= self.outputs.evaluate(self.test, "test")
        if self.task == "regression":
            measured |= self.stack.line_parameters()
        epoch_time = time.perf_counter() - epoch_started
        ended: dict[int, RunResult] = {}
        for position, m in enumerate(self.active):
            metrics = {name: values[position] for name, values in measured.items()}
            bad = [name for name, value in metrics.items() if not math.isfinite(value)]
            if bad:
                why = f"{', '.join(bad)} became non-finite at step {step} (end of epoch {epoch})"
                ended[position] = self._result(m, "failed", epoch - 1, steps=step, error=why)
                continue
            metrics["epoch_time_s"] = epoch_time
            metrics["examples_per_s"] = self.n_train / max(train_seconds, 1e-9)
            io = self.members.io[m]
            self.members.add(m, [MetricPoint(name, step, v, epoch) for name, v in metrics.items()])
            self.members.flush(m)
            self.stack.last_metrics[m] = metrics
            if io.folder is not None:
                checkpoint = self.stack.member_checkpoint(
                    position,
                    m,
                    epoch=epoch,
                    steps_per_epoch=self.steps_per_epoch,
                    lr=float(lr[position]),
                    metrics=metrics,
                )
                save_checkpoint(io.folder, checkpoint)
            self.members.report(m, self.clock.at(epoch, step))
            if io.after_epoch is not None and epoch < self.first.epochs:
                reason = io.after_epoch(epoch, dict(metrics))
                if reason is not None:
                    ended[position] = self._result(m, "stopped", epoch, stop_reason=reason)
        logger.info(
            "epoch %d/%d: %d members go on", epoch, self.first.epochs, len(self.active) - len(ended)
        )
        if ended:
            self._drop(ended)

    def _result(
        self,
        member: int,
        status: str,
        epochs_completed: int,
        *,
        steps: int | None = None,
        error: str | None = None,
        stop_reason: str | None = None,
    ) -> RunResult:
        if status == "failed":
            logger.error("member %d failed: %s", member, error)
        elif status == "stopped":
            logger.info(
                "member %d stopped early after epoch %d: %s", member, epochs_completed, stop_reason
            )
        elif status == "cancelled":
            logger.info("member %d stopped after step %s, as asked", member, steps)
        return RunResult(
            status=status,  # type: ignore[arg-type]
            final_metrics=dict(self.stack.last_metrics[member]),
            error=error,
            device=str(self.device),
            epochs_completed=epochs_completed,
            steps_completed=steps if steps is not None else epochs_completed * self.steps_per_epoch,
            resumed_from_epoch=self.stack.start_epoch - 1,
            metadata=run_metadata(
                self.stack.modules[member],
                steps_per_epoch=self.steps_per_epoch,
                train_examples=self.n_train,
            ),
            stop_reason=stop_reason,
        )
