"""The training engine: one validated spec in, metrics to a sink, a ``RunResult`` out.

``run_experiment`` reads top to bottom: device, data, model, optimizer, resume from the
newest checkpoint, then the loop. Per iteration it logs the training objective
(``batch_loss``) and the learning rate (``lr``); per epoch:

- ``train_loss`` (classification: cross-entropy; regression: MSE) and ``train_acc``: means
  over the epoch's mini-batches as they were trained (dropout active, the weights moving),
  which costs no extra pass over the data. ``batch_loss`` includes the λ‖Θ‖² term;
  ``train_loss`` does not, so it stays comparable across λ.
- ``test_loss``, ``test_acc`` (and ``val_loss``, ``val_acc`` with a validation split):
  a full pass in ``eval()`` mode after the epoch.
- regression: ``train_mse`` (a full pass in ``eval()`` mode), and ``w`` and ``b`` when the
  input is one-dimensional (the ``linear`` data set).
- generative (the VAE): ``train_elbo``, the mean ELBO over the epoch's mini-batches as
  they were trained, in place of ``train_loss``; ``test_elbo`` (and ``val_elbo``) a full
  pass in ``eval()`` mode (one sample of z per example). ``batch_loss`` is the negative
  ELBO per example (plus λ‖Θ‖²).
- ``epoch_time_s``: wall time of the epoch, evaluation included; ``examples_per_s``:
  training examples divided by the training part of that time.

Each name is an entry of the registry ``core.metrics.METRICS`` (its label, unit, panel,
whether higher is better), which the plots and the comparison read.

The task, and so the loss, is the model's (``spec.model.task``): a generative model trains on
a classification data set's images and ignores its labels.

Values stay on the device until they are logged: iteration losses go into a buffer that is
copied to the host once every ``log_every`` iterations (one sync), when the points are
written to the sink in one batch and the divergence check runs on them. A NaN or infinite
value ends the run as ``failed`` with the first bad step named; nothing after it is written.

Determinism: the spec's seed seeds torch's global RNG before the model is built (so the
initialisation and then dropout draw from it), and each epoch's shuffle comes from its own
generator seeded by (seed, epoch). A checkpoint after every epoch holds model, optimizer,
RNG states and position (``worker/resume.py``), so a resumed run repeats the uninterrupted
run's metrics exactly (wall times aside). The evaluation pass is ``worker/evaluation.py``,
the ``RunResult`` ``worker/run_result.py``. A test problem of the playground (data sets
``function`` and ``reddi``) has a loop of its own, ``worker/playground.py``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.metrics import MetricPoint, Progress
from core.spec import ExperimentSpec, PlaygroundDataset, Task
from worker.checkpoints import CheckpointError, load_latest_checkpoint, save_checkpoint
from worker.datasets import Data, DatasetUnavailableError, load_dataset
from worker.devices import place_split, resolve_device, synchronize
from worker.errors import EngineError
from worker.evaluation import (
    evaluate_epoch,
    l2_penalty,
    line_parameters,
    loss_targets,
    task_loss,
)
from worker.models import build_model
from worker.optimizers import build_optimizer
from worker.playground import run_test_problem
from worker.progress_clock import ProgressClock
from worker.resume import RunState
from worker.run_result import RunResult, run_metadata
from worker.schedules import lr_at
from worker.sinks import MetricSink, NullSink

logger = logging.getLogger(__name__)

DEFAULT_LOG_EVERY = 50

AfterEpoch = Callable[[int, dict[str, float]], str | None]
"""Asked after an epoch (1-based) with its metrics: a reason to stop early, or None."""


def run_experiment(
    spec: ExperimentSpec,
    *,
    sink: MetricSink | None = None,
    checkpoint_dir: Path | str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    log_every: int = DEFAULT_LOG_EVERY,
    data_dir: Path | None = None,
    channels_last: bool = True,
    after_epoch: AfterEpoch | None = None,
) -> RunResult:
    """Train ``spec`` to the end, resuming from the newest checkpoint in ``checkpoint_dir``.

    ``should_stop`` is polled before every iteration; when it returns True the run ends as
    ``cancelled`` after writing the points measured so far (the next run resumes from the
    last epoch's checkpoint). Returns ``failed`` with a message for a diverged loss, a
    missing data set, an unavailable device or a checkpoint of another experiment.
    ``after_epoch`` is called after each epoch but the last, once its points are written and
    its checkpoint saved, with the epoch and its metrics; a reason it returns ends the run
    as ``stopped`` with that reason (a sweep's early stopping), None lets it go on.
    ``log_every`` sets how many iterations' points go to the sink in one batch;
    ``channels_last`` keeps convolution weights in channels-last memory order (faster).
    """
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    sink = sink if sink is not None else NullSink()
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    device_name = spec.device
    try:
        if isinstance(spec.dataset, PlaygroundDataset):  # a test problem: worker/playground.py
            device = torch.device("cpu") if spec.device == "auto" else resolve_device(spec.device)
            return run_test_problem(
                spec, device=device, sink=sink, folder=folder, should_stop=should_stop,
                on_progress=on_progress, log_every=log_every, after_epoch=after_epoch,
            )  # fmt: skip
        device = resolve_device(spec.device)
        device_name = str(device)
        data = load_dataset(spec.dataset, data_dir=data_dir)
        return _Run(
            spec,
            data,
            device,
            sink,
            folder,
            should_stop,
            on_progress,
            log_every,
            channels_last,
            after_epoch,
        ).run()
    except (EngineError, DatasetUnavailableError, CheckpointError) as exc:
        logger.error("the run failed before training: %s", exc, exc_info=True)
        return RunResult(status="failed", final_metrics={}, error=str(exc), device=device_name)


def epoch_permutation(seed: int, epoch: int, size: int) -> torch.Tensor:
    """The order of the training examples in ``epoch``: a function of (seed, epoch) only."""
    epoch_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0])
    generator = torch.Generator().manual_seed(epoch_seed % 2**63)
    return torch.randperm(size, generator=generator)


class _Run:
    """One run's state; ``run()`` is the loop. Split into methods only for readability."""

    def __init__(
        self,
        spec: ExperimentSpec,
        data: Data,
        device: torch.device,
        sink: MetricSink,
        folder: Path | None,
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[Progress], None] | None,
        log_every: int,
        channels_last: bool,
        after_epoch: AfterEpoch | None,
    ) -> None:
        self.spec = spec
        self.device = device
        self.sink = sink
        self.folder = folder
        self.should_stop = should_stop
        self.on_progress = on_progress
        self.after_epoch = after_epoch
        self.log_every = log_every
        self.task: Task = spec.model.task
        self.batch_size = spec.dataset.batch_size
        self.n_train = len(data.train)
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = spec.epochs * self.steps_per_epoch

        torch.manual_seed(spec.seed)
        self.model = build_model(spec.model, data.input_shape, data.num_outputs)
        # Convolution weights in channels-last order take oneDNN's faster kernels on CPU
        # (the CNN trains about 1.4× faster here); it changes only 4-D parameters, and the
        # results only by float rounding (tests/worker/test_engine.py checks both).
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(device, memory_format=memory_format)  # stubs lack memory_format  # pyright: ignore[reportCallIssue]
        self.optimizer = build_optimizer(spec.optimizer, self.model.parameters())

        self.train = place_split(data.train, device)
        self.test = place_split(data.test, device) if data.test is not None else None
        self.validation = place_split(data.validation, device) if data.validation else None

        self.start_epoch = 1
        self.last_metrics: dict[str, float] = {}
        self.state = RunState(spec, self.steps_per_epoch, self.model, self.optimizer, device)
        checkpoint = load_latest_checkpoint(folder)
        if checkpoint is not None:
            self.state.restore(checkpoint, folder)
            self.start_epoch = checkpoint.epoch + 1
            self.last_metrics = dict(checkpoint.epoch_metrics)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.clock = ProgressClock(
            self.spec.epochs, self.total_steps, (self.start_epoch - 1) * self.steps_per_epoch
        )
        spec = self.spec
        logger.info(
            "training %s on %s with %s (lr %g): %d epochs of %d steps (batch %d) on %s, seed %d",
            spec.model.name,
            spec.dataset.name,
            spec.optimizer.name,
            spec.optimizer.lr,
            spec.epochs,
            self.steps_per_epoch,
            self.batch_size,
            self.device,
            spec.seed,
        )
        if self.start_epoch > 1:
            logger.info("resuming from the checkpoint of epoch %d", self.start_epoch - 1)
        for epoch in range(self.start_epoch, self.spec.epochs + 1):
            outcome = self._train_epoch(epoch)
            if outcome is not None:
                return outcome
        return self._result("succeeded", None, self.spec.epochs)

    def _train_epoch(self, epoch: int) -> RunResult | None:
        """One epoch; returns a result when the run ends inside it, else None."""
        epoch_started = time.perf_counter()
        self.model.train()
        order = epoch_permutation(self.spec.seed, epoch, self.n_train).to(self.train.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        window = torch.empty(self.log_every, device=self.device)
        window_lrs: list[float] = []
        first_step = (epoch - 1) * self.steps_per_epoch

        for index in range(self.steps_per_epoch):
            step = first_step + index + 1
            if self.should_stop is not None and self.should_stop():
                failure = self._write_window(window, window_lrs, step - 1, epoch)
                self.sink.flush()
                if failure is not None:
                    return failure
                return self._result("cancelled", None, epoch - 1, steps=step - 1)
            lr = lr_at(
                self.spec.schedule,
                base_lr=self.spec.optimizer.lr,
                step=step,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
            )
            for group in self.optimizer.param_groups:
                group["lr"] = lr

            batch = order[index * self.batch_size : (index + 1) * self.batch_size]
            inputs, targets = self.train.batch(batch, self.device)
            targets = loss_targets(self.task, inputs, targets)
            outputs = self.model(inputs)
            data_loss = task_loss(self.task, outputs, targets, reduction="mean")
            objective = data_loss
            if self.spec.l2 > 0.0:
                objective = data_loss + self.spec.l2 * l2_penalty(self.model)
            self.optimizer.zero_grad(set_to_none=True)
            objective.backward()
            self.optimizer.step()

            window[len(window_lrs)] = objective.detach()
            window_lrs.append(lr)
            loss_sum += data_loss.detach() * targets.shape[0]
            if self.task == "classification":
                correct += (outputs.detach().argmax(dim=1) == targets).sum()
            if len(window_lrs) == self.log_every or index + 1 == self.steps_per_epoch:
                failure = self._write_window(window, window_lrs, step, epoch)
                if failure is not None:
                    self.sink.flush()
                    return failure
                window_lrs = []
                if index + 1 < self.steps_per_epoch:  # the epoch's end reports after evaluation
                    self._report(epoch, step)

        synchronize(self.device)
        train_seconds = time.perf_counter() - epoch_started
        step = epoch * self.steps_per_epoch
        if self.task == "generative":
            measured = {"train_elbo": -loss_sum / self.n_train}
        else:
            measured = {"train_loss": loss_sum / self.n_train}
        if self.task == "classification":
            measured["train_acc"] = correct.to(torch.float64) / self.n_train
        measured |= evaluate_epoch(
            self.model,
            task=self.task,
            device=self.device,
            train=self.train,
            validation=self.validation,
            test=self.test,
        )
        names = list(measured)
        values = torch.stack([v.to(torch.float64) for v in measured.values()]).tolist()
        metrics = dict(zip(names, values, strict=True))
        if self.task == "regression":
            metrics |= line_parameters(self.model)
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        if bad:
            self.sink.flush()
            return self._result(
                "failed",
                f"{', '.join(bad)} became non-finite at step {step} (end of epoch {epoch})",
                epoch - 1,
                steps=step,
            )
        metrics["epoch_time_s"] = time.perf_counter() - epoch_started
        metrics["examples_per_s"] = self.n_train / max(train_seconds, 1e-9)
        self.sink.write([MetricPoint(name, step, v, epoch) for name, v in metrics.items()])
        self.sink.flush()
        self.last_metrics = metrics
        if self.folder is not None:
            save_checkpoint(self.folder, self.state.checkpoint(epoch, metrics))
        self._report(epoch, step)
        logger.info(
            "epoch %d/%d: %s",
            epoch,
            self.spec.epochs,
            ", ".join(f"{name} {value:.4g}" for name, value in metrics.items()),
        )
        if self.after_epoch is not None and epoch < self.spec.epochs:
            reason = self.after_epoch(epoch, dict(metrics))
            if reason is not None:
                return self._result("stopped", None, epoch, stop_reason=reason)
        return None

    def _write_window(
        self, window: torch.Tensor, lrs: list[float], last_step: int, epoch: int
    ) -> RunResult | None:
        """Copy the buffered losses to the host and write them with their rates; if one is
        not finite, write those before it and return the failure."""
        if not lrs:
            return None
        losses = window[: len(lrs)].tolist()
        first = last_step - len(lrs) + 1
        points = []
        for offset, (loss, lr) in enumerate(zip(losses, lrs, strict=True)):
            step = first + offset
            if not math.isfinite(loss):
                self.sink.write(points)
                return self._result(
                    "failed",
                    f"training loss became {loss} at step {step} (epoch {epoch}); "
                    "lower the learning rate or check the data",
                    epoch - 1,
                    steps=step,
                )
            points += [
                MetricPoint("batch_loss", step, loss, epoch),
                MetricPoint("lr", step, lr, epoch),
            ]
        self.sink.write(points)
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
        if status == "stopped":
            logger.info("stopped early after epoch %d: %s", epochs_completed, stop_reason)
        elif status == "failed":
            logger.error("the run failed: %s", error)
        elif status == "cancelled":
            logger.info("stopped after step %s, as asked", steps)
        elif status == "succeeded":
            logger.info("finished %d epochs", epochs_completed)
        return RunResult(
            status=status,  # type: ignore[arg-type]
            final_metrics=dict(self.last_metrics),
            error=error,
            device=str(self.device),
            epochs_completed=epochs_completed,
            steps_completed=steps if steps is not None else epochs_completed * self.steps_per_epoch,
            resumed_from_epoch=self.start_epoch - 1,
            metadata=run_metadata(
                self.model, steps_per_epoch=self.steps_per_epoch, train_examples=self.n_train
            ),
            stop_reason=stop_reason,
        )
