"""The optimizer playground's loop: a test problem (data sets ``function`` and ``reddi``,
formulas in ``core/problems.py``) minimised over a ``point`` model's position by any
optimizer of the catalog. ``worker.engine.run_experiment`` hands such a spec here, so a
test problem is trained by the same workers, checkpointed, resumed, cancelled and stored
like any run.

Iteration t (1-based) from the position x_{t−1}:

1. the loss ℓ_t(x_{t−1}): the function f, or for ``reddi`` the online loss f_t; its
   gradient by autograd, plus σ·ξ (ξ ~ N(0, I) from torch's generator, seeded by the
   spec's seed) when the function's ``noise`` σ > 0;
2. the optimizer's step (its learning rate from the schedule), then for ``reddi`` the
   projection of x onto [−1, 1];
3. the points of step t, all measured at x_t but ``batch_loss``: ``batch_loss`` ℓ_t(x_{t−1})
   (the loss the step was taken on), ``lr``, the position ``x`` (and ``y``), ``f`` F(x_t)
   (the noise-free objective; for ``reddi`` the average loss 10x/101), ``grad_norm``
   ‖g_t‖ of the gradient the optimizer was given (noise included) and ``step_x`` (and
   ``step_y``), x_t − x_{t−1} per coordinate: the step the optimizer actually took,
   which for Adam is −α·m̂/(√v̂ + ε) (clipped by the projection for ``reddi``).

After each epoch of ``steps_per_epoch`` iterations: ``distance`` (from x to the nearest
minimum) and ``suboptimality`` (F(x) − F*), then a checkpoint (position, optimizer state,
torch's RNG state: a resumed run draws the same noise). Points go to the sink every
``log_every`` iterations; a value that is not finite ends the run as ``failed``, naming
the step. Test problems run on the CPU unless the spec asks for ``cuda``: a vector of two
numbers gains nothing from a GPU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch

from core.metrics import MetricPoint, Progress
from core.problems import (
    REDDI_BOUNDS,
    Problem,
    problem_of,
    reddi_gradient,
    start_of,
)
from core.spec import ExperimentSpec, FunctionDataset, ReddiDataset
from worker.checkpoints import load_latest_checkpoint, save_checkpoint
from worker.models import build_model
from worker.optimizers import build_optimizer
from worker.progress_clock import ProgressClock
from worker.resume import RunState
from worker.run_result import RunResult, run_metadata
from worker.schedules import lr_at
from worker.sinks import MetricSink

logger = logging.getLogger(__name__)

COORDINATE_METRICS = ("x", "y")
STEP_METRICS = ("step_x", "step_y")
EPOCH_METRICS = ("distance", "suboptimality")

AfterEpoch = Callable[[int, dict[str, float]], str | None]


def step_metric_names(dimensions: int) -> list[str]:
    """The names of the points of one step, in the order ``_Playground`` measures them."""
    return [
        "batch_loss",
        "lr",
        *COORDINATE_METRICS[:dimensions],
        "f",
        "grad_norm",
        *STEP_METRICS[:dimensions],
    ]


def loss_at(
    dataset: FunctionDataset | ReddiDataset, position: torch.Tensor, step: int
) -> torch.Tensor:
    """ℓ_t(position), whose gradient the optimizer is given at step t (1-based): the
    function f, or Reddi's online loss f_t(x) = 1010·x or −10·x."""
    if isinstance(dataset, ReddiDataset):
        return reddi_gradient(step) * position[0]
    return problem_of(dataset).objective(*position.unbind())


class _Playground:
    """One test problem's run; ``run()`` is the loop."""

    def __init__(
        self,
        spec: ExperimentSpec,
        dataset: FunctionDataset | ReddiDataset,
        device: torch.device,
        sink: MetricSink,
        folder: Path | None,
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[Progress], None] | None,
        log_every: int,
        after_epoch: AfterEpoch | None,
    ) -> None:
        self.spec = spec
        self.dataset = dataset
        self.problem: Problem = problem_of(dataset)
        self.device = device
        self.sink = sink
        self.folder = folder
        self.should_stop = should_stop
        self.on_progress = on_progress
        self.log_every = log_every
        self.after_epoch = after_epoch
        self.steps_per_epoch = dataset.steps_per_epoch
        self.total_steps = spec.epochs * self.steps_per_epoch
        self.names = step_metric_names(self.problem.dimensions)
        self.noise = dataset.noise if isinstance(dataset, FunctionDataset) else 0.0

        torch.manual_seed(spec.seed)
        self.model = build_model(spec.model, dataset.input_shape, dataset.num_outputs).to(device)
        self.position: torch.nn.Parameter = self.model.get_parameter("position")
        with torch.no_grad():
            self.position.copy_(torch.tensor(start_of(dataset)))
        self.optimizer = build_optimizer(spec.optimizer, self.model.parameters())
        self.state = RunState(spec, self.steps_per_epoch, self.model, self.optimizer, device)
        self.start_epoch = 1
        self.last_metrics: dict[str, float] = {}
        checkpoint = load_latest_checkpoint(folder)
        if checkpoint is not None:
            self.state.restore(checkpoint, folder)
            self.start_epoch = checkpoint.epoch + 1
            self.last_metrics = dict(checkpoint.epoch_metrics)

    # --- the problem ---------------------------------------------------------------------

    def loss(self, step: int) -> torch.Tensor:
        return loss_at(self.dataset, self.position, step)

    def objective(self, position: torch.Tensor) -> torch.Tensor:
        """F at ``position``: the function, or the average of Reddi's losses."""
        return self.problem.objective(*position.unbind())

    def project(self) -> None:
        if isinstance(self.dataset, ReddiDataset):
            with torch.no_grad():
                self.position.clamp_(*REDDI_BOUNDS)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.clock = ProgressClock(
            self.spec.epochs, self.total_steps, (self.start_epoch - 1) * self.steps_per_epoch
        )
        logger.info(
            "minimising %s with %s (lr %g): %d epochs of %d steps from %s, seed %d",
            self.problem.title,
            self.spec.optimizer.name,
            self.spec.optimizer.lr,
            self.spec.epochs,
            self.steps_per_epoch,
            list(start_of(self.dataset)),
            self.spec.seed,
        )
        for epoch in range(self.start_epoch, self.spec.epochs + 1):
            outcome = self._epoch(epoch)
            if outcome is not None:
                return outcome
        return self._result("succeeded", None, self.spec.epochs)

    def _epoch(self, epoch: int) -> RunResult | None:
        rows: list[torch.Tensor] = []
        first_step = (epoch - 1) * self.steps_per_epoch
        for index in range(self.steps_per_epoch):
            step = first_step + index + 1
            if self.should_stop is not None and self.should_stop():
                failure = self._write(rows, step - 1, epoch)
                self.sink.flush()
                return failure or self._result("cancelled", None, epoch - 1, steps=step - 1)
            rows.append(self._step(step))
            if len(rows) == self.log_every or index + 1 == self.steps_per_epoch:
                failure = self._write(rows, step, epoch)
                if failure is not None:
                    self.sink.flush()
                    return failure
                rows = []
                self._report(epoch, step)
        return self._end_epoch(epoch)

    def _step(self, step: int) -> torch.Tensor:
        """One iteration; its measurements as one row, in ``self.names``' order."""
        lr = lr_at(
            self.spec.schedule,
            base_lr=self.spec.optimizer.lr,
            step=step,
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        before = self.position.detach().clone()
        loss = self.loss(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gradient = self.position.grad
        assert gradient is not None  # backward() of a function of the position sets it
        if self.noise > 0.0:
            gradient.add_(torch.randn(gradient.shape).to(gradient.device) * self.noise)
        gradient_norm = gradient.norm()
        self.optimizer.step()
        self.project()
        with torch.no_grad():
            after = self.position.detach()
            return torch.cat(
                [
                    loss.detach().view(1),
                    torch.tensor([lr], device=after.device),
                    after,
                    self.objective(after).view(1),
                    gradient_norm.view(1),
                    after - before,
                ]
            )

    def _write(self, rows: list[torch.Tensor], last_step: int, epoch: int) -> RunResult | None:
        """The rows' points to the sink; a row with a value that is not finite ends the run
        (the rows before it are written)."""
        if not rows:
            return None
        values = torch.stack(rows).to(torch.float64).tolist()
        first = last_step - len(rows) + 1
        points = []
        for offset, row in enumerate(values):
            step = first + offset
            bad = [
                name
                for name, value in zip(self.names, row, strict=True)
                if not math.isfinite(value)
            ]
            if bad:
                self.sink.write(points)
                return self._result(
                    "failed",
                    f"{', '.join(bad)} became non-finite at step {step} (epoch {epoch}); "
                    "lower the learning rate",
                    epoch - 1,
                    steps=step,
                )
            points += [
                MetricPoint(name, step, value, epoch)
                for name, value in zip(self.names, row, strict=True)
            ]
        self.sink.write(points)
        return None

    def _end_epoch(self, epoch: int) -> RunResult | None:
        step = epoch * self.steps_per_epoch
        position = self.position.detach().to(torch.float64)
        value = float(self.objective(position))
        metrics = {
            "distance": self.problem.distance(position.tolist()),
            "suboptimality": value - self.problem.minimum_value,
        }
        self.sink.write([MetricPoint(name, step, v, epoch) for name, v in metrics.items()])
        self.sink.flush()
        self.last_metrics = metrics
        if self.folder is not None:
            save_checkpoint(self.folder, self.state.checkpoint(epoch, metrics))
        logger.info(
            "epoch %d/%d: x %s, distance %.4g, f − f* %.4g",
            epoch, self.spec.epochs, position.tolist(), metrics["distance"],
            metrics["suboptimality"],
        )  # fmt: skip
        if self.after_epoch is not None and epoch < self.spec.epochs:
            reason = self.after_epoch(epoch, dict(metrics))
            if reason is not None:
                return self._result("stopped", None, epoch, stop_reason=reason)
        return None

    def _report(self, epoch: int, step: int) -> None:
        if self.on_progress is not None:
            self.on_progress(self.clock.at(epoch, step))

    def _result(
        self,
        status: str,
        error: str | None,
        epochs_completed: int,
        *,
        steps: int | None = None,
        stop_reason: str | None = None,
    ) -> RunResult:
        if error is not None:
            logger.error("the run failed: %s", error)
        return RunResult(
            status=status,  # type: ignore[arg-type]
            final_metrics=dict(self.last_metrics),
            error=error,
            device=str(self.device),
            epochs_completed=epochs_completed,
            steps_completed=steps if steps is not None else epochs_completed * self.steps_per_epoch,
            resumed_from_epoch=self.start_epoch - 1,
            metadata=run_metadata(
                self.model,
                steps_per_epoch=self.steps_per_epoch,
                train_examples=self.steps_per_epoch,
            ),
            stop_reason=stop_reason,
        )


def run_test_problem(
    spec: ExperimentSpec,
    *,
    device: torch.device,
    sink: MetricSink,
    folder: Path | None,
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[Progress], None] | None,
    log_every: int,
    after_epoch: AfterEpoch | None,
) -> RunResult:
    """Minimise the test problem of ``spec`` (whose data set is ``function`` or ``reddi``);
    the arguments are ``run_experiment``'s."""
    dataset = spec.dataset
    if not isinstance(dataset, FunctionDataset | ReddiDataset):
        raise TypeError(f"data set {dataset.name!r} is not a test problem")
    return _Playground(
        spec, dataset, device, sink, folder, should_stop, on_progress, log_every, after_epoch
    ).run()
