"""What a run will cost, computed from its spec before it runs. Torch-free: the API checks
every submission against the limits (``core/cost_limits.py``: ``POST /v1/experiments``
answers 422 beyond a limit) and ``adamlab train`` checks its spec before it trains.

Four quantities, for a spec whose model has P parameters, whose optimizer keeps S tensors
of state per parameter, and which trains on N examples in batches of B for E epochs:

- **parameters**: P, exactly ``sum(p.numel() for p in model.parameters())`` of the module
  ``worker/models.py`` builds (``tests/worker/test_cost.py`` checks it for every variant).
  Per model, with inputs of D = C·H·W values and K outputs:
  linear regression D + 1; a test problem's point d (its dimension); logistic regression
  D·K + K; the MLP with widths h_1..h_n
  Σ_i (h_{i−1}·h_i + h_i) + h_n·K + K, h_0 = D; the CNN with channels (c_1, c_2) and
  hidden width h, 5×5 kernels and H', W' the size after two 3×3, stride-2 pools
  (s → ⌊(s − 3) / 2⌋ + 1, twice) C·c_1·25 + c_1 + c_1·c_2·25 + c_2 + c_2·H'·W'·h + h + h·K + K.
- **memory** (bytes, float32 everywhere):
  4·P·(2 + S)  (weights, gradients, optimizer state)
  + max(4·min(B, N)·A_train, 4·min(1000, M)·A_eval)  (activations)
  + the data held: N + validation + test examples, each 4·D bytes of input and its target
  (8 bytes for a class index, 4 for a regression target); none for a test problem, whose
  N is its ``steps_per_epoch`` (one gradient evaluation an iteration, batch size 1).
  A_train is the sum of the element counts, per example, of every tensor the forward pass
  makes in training (the input batch and each layer's output; a dropout layer's output
  only when its rate is above 0), which autograd keeps for the backward pass. The
  evaluation pass runs under ``no_grad`` in batches of 1,000 (``worker/evaluation.py``) on
  splits of at most M examples, and holds only a layer's input and output at once: A_eval
  is the largest such pair. S is 2 for Adam, AdaMax and AdamW (m and v, or m and u), 3 with
  AMSGrad; 0 for SGD without momentum and 1 with; 1 for RMSprop, plus 1 with momentum and
  1 when centered; 1 for Adagrad; 2 for Adadelta. It is an estimate: max-pool indices,
  the gradients of activations during the backward pass, kernel workspaces, temporaries
  of the optimizer's step and the CUDA context are not counted, so a limit is set with
  room for them.
- **steps**: E·⌈N / B⌉, the iterations of the run.
- **stored points**: what the engine writes to the store (``worker/engine.py``): per step
  ``batch_loss`` and ``lr`` (2; a test problem of dimension d, ``worker/playground.py``,
  also its position, step, ``f`` and ``grad_norm``: 2 + 2d + 2, and per epoch only
  ``distance`` and ``suboptimality``); per epoch ``train_loss``, ``train_acc`` (classification)
  or ``train_mse`` (regression), ``val_loss`` and ``val_acc`` with a validation hold-out,
  ``test_loss`` and ``test_acc`` with a test split, ``w`` and ``b`` for a one-input linear
  regression, ``epoch_time_s`` and ``examples_per_s``: 2·steps + E·(points per epoch).

Each quantity has a limit, in ``core/cost_limits.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.spec import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamaxOptimizer,
    AdamOptimizer,
    AdamwOptimizer,
    CnnModel,
    DatasetVariant,
    ExperimentSpec,
    LinearRegressionModel,
    LogisticRegressionModel,
    MlpModel,
    OptimizerVariant,
    PlaygroundDataset,
    PointModel,
    PublishedSplitsDataset,
    RmspropOptimizer,
    SgdOptimizer,
)

FLOAT_BYTES = 4
EVALUATION_BATCH_SIZE = 1000
"""Examples per batch of the evaluation pass: ``worker.evaluation.EVAL_BATCH_SIZE``."""
POINTS_PER_STEP = 2
"""``batch_loss`` and ``lr``."""

# --- the model: parameters and activations ---------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    """A model's parameter count and the element counts, per example, of the tensors its
    forward pass makes: in training (``training``) and in evaluation (``evaluation``,
    dropout the identity). ``size_field`` is the model's field that sets its size."""

    parameters: int
    training: tuple[int, ...]
    evaluation: tuple[int, ...]
    size_field: str


def _linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def _with_dropout(width: int, rate: float) -> tuple[int, ...]:
    """The output of a dropout layer: a new tensor in training when the rate is above 0."""
    return (width,) if rate > 0.0 else ()


def _linear_regression_shape(
    spec: LinearRegressionModel, input_shape: tuple[int, ...], num_outputs: int
) -> ModelShape:
    inputs = math.prod(input_shape)
    return ModelShape(
        parameters=_linear(inputs, 1),
        training=(inputs, *_with_dropout(inputs, spec.dropout), 1),
        evaluation=(inputs, 1),
        size_field="model",
    )


def _logistic_regression_shape(
    spec: LogisticRegressionModel, input_shape: tuple[int, ...], num_outputs: int
) -> ModelShape:
    inputs = math.prod(input_shape)
    return ModelShape(
        parameters=_linear(inputs, num_outputs),
        training=(inputs, *_with_dropout(inputs, spec.dropout), num_outputs),
        evaluation=(inputs, num_outputs),
        size_field="model",
    )


def _mlp_shape(spec: MlpModel, input_shape: tuple[int, ...], num_outputs: int) -> ModelShape:
    width = math.prod(input_shape)
    parameters = 0
    training: list[int] = [width]
    evaluation: list[int] = [width]
    for hidden in spec.hidden_sizes:
        parameters += _linear(width, hidden)
        training += [hidden, hidden, *_with_dropout(hidden, spec.dropout)]  # Linear, ReLU
        evaluation += [hidden, hidden]
        width = hidden
    parameters += _linear(width, num_outputs)
    return ModelShape(
        parameters=parameters,
        training=(*training, num_outputs),
        evaluation=(*evaluation, num_outputs),
        size_field="model.hidden_sizes",
    )


def pooled(size: int) -> int:
    """Output size of a 3×3 max-pool with stride 2 and no padding."""
    return (size - 3) // 2 + 1


def _cnn_shape(spec: CnnModel, input_shape: tuple[int, ...], num_outputs: int) -> ModelShape:
    if len(input_shape) != 3:
        raise ValueError(f"model 'cnn' needs image inputs (C, H, W), got {input_shape}")
    channels, height, width = input_shape
    first, second = spec.channels
    full = height * width  # a 5×5 convolution with padding 2 keeps the size
    once = pooled(height) * pooled(width)
    twice = pooled(pooled(height)) * pooled(pooled(width))
    convolutions = channels * first * 25 + first + first * second * 25 + second
    fully_connected = _linear(second * twice, spec.hidden_size) + _linear(
        spec.hidden_size, num_outputs
    )
    hidden = spec.hidden_size
    features = (
        channels * full,
        first * full,  # Conv2d
        first * once,  # MaxPool2d
        first * once,  # ReLU
        second * once,  # Conv2d
        second * twice,  # MaxPool2d
        second * twice,  # ReLU (flatten is a view)
    )
    return ModelShape(
        parameters=convolutions + fully_connected,
        training=(
            *features,
            *_with_dropout(second * twice, spec.dropout),
            hidden,  # Linear
            hidden,  # ReLU
            *_with_dropout(hidden, spec.dropout),
            num_outputs,
        ),
        evaluation=(*features, hidden, hidden, num_outputs),
        size_field="model.channels" if convolutions >= fully_connected else "model.hidden_size",
    )


def _point_shape(spec: PointModel, input_shape: tuple[int, ...], num_outputs: int) -> ModelShape:
    dimensions = math.prod(input_shape)
    return ModelShape(
        parameters=dimensions, training=(dimensions,), evaluation=(), size_field="model"
    )


ModelShaper = Callable[[Any, tuple[int, ...], int], ModelShape]
"""The shape of one model variant (its first argument, typed by each function)."""

MODEL_SHAPES: dict[str, ModelShaper] = {
    "linear_regression": _linear_regression_shape,
    "logistic_regression": _logistic_regression_shape,
    "mlp": _mlp_shape,
    "cnn": _cnn_shape,
    "point": _point_shape,
}
"""The shape of each model variant, by its ``name``, as ``worker.models.MODEL_BUILDERS``
builds it."""


def optimizer_state_tensors(spec: OptimizerVariant) -> int:
    """S: how many tensors the size of each parameter the optimizer keeps as state."""
    match spec:
        case AdamOptimizer() | AdamwOptimizer():
            return 2 + int(spec.amsgrad)
        case AdamaxOptimizer():
            return 2
        case SgdOptimizer():
            return int(spec.momentum > 0.0)
        case RmspropOptimizer():
            return 1 + int(spec.momentum > 0.0) + int(spec.centered)
        case AdagradOptimizer():
            return 1
        case AdadeltaOptimizer():
            return 2


# --- the data: examples held, points per epoch -----------------------------------------------


def _held_examples(dataset: DatasetVariant) -> tuple[int, int, int]:
    """Examples of the training, validation and test splits the engine holds (a test
    problem's iterations count as examples, see ``estimate_cost`` for its data)."""
    if isinstance(dataset, PublishedSplitsDataset):
        test = min(dataset.test_limit or dataset.test_size, dataset.test_size)
        return dataset.train_examples(), dataset.validation_size, test
    return dataset.train_examples(), 0, 0


def points_per_step(spec: ExperimentSpec) -> int:
    """The metric points the engine writes per iteration: ``batch_loss`` and ``lr``; a test
    problem's position, step (d each), ``f`` and ``grad_norm`` too."""
    if isinstance(spec.dataset, PlaygroundDataset):
        return POINTS_PER_STEP + 2 * math.prod(spec.dataset.input_shape) + 2
    return POINTS_PER_STEP


def points_per_epoch(spec: ExperimentSpec) -> int:
    """The metric points the engine writes at each epoch's end."""
    if isinstance(spec.dataset, PlaygroundDataset):
        return 2  # distance, suboptimality
    _train, validation, test = _held_examples(spec.dataset)
    classification = spec.dataset.task == "classification"
    per_split = 2 if classification else 1  # loss and accuracy, or the MSE
    points = 2  # train_loss, and train_acc or train_mse
    points += per_split * ((validation > 0) + (test > 0))
    one_input_line = not classification and math.prod(spec.dataset.input_shape) == 1
    points += 2 * one_input_line  # w and b
    return points + 2  # epoch_time_s, examples_per_s


# --- the estimate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCost:
    """What a spec's run will take; see the module's docstring for each formula."""

    parameters: int
    optimizer_state_tensors: int
    parameter_bytes: int
    """Weights, gradients and optimizer state: 4·P·(2 + S)."""
    training_activation_bytes: int
    evaluation_activation_bytes: int
    data_bytes: int
    batch_size: int
    """The batch the run trains on: the spec's, or all the examples when there are fewer."""
    steps_per_epoch: int
    steps: int
    points_per_epoch: int
    stored_points: int
    size_field: str
    """The model's field that sets its size, e.g. ``model.hidden_sizes``."""

    @property
    def activation_bytes(self) -> int:
        return max(self.training_activation_bytes, self.evaluation_activation_bytes)

    @property
    def memory_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes + self.data_bytes


def estimate_cost(spec: ExperimentSpec) -> RunCost:
    """The cost of running ``spec``: parameters, memory, steps and stored points."""
    dataset = spec.dataset
    shape = MODEL_SHAPES[spec.model.name](spec.model, dataset.input_shape, dataset.num_outputs)
    state = optimizer_state_tensors(spec.optimizer)
    train, validation, test = _held_examples(dataset)
    batch = min(dataset.batch_size, train)
    evaluated = max(validation, test, train if dataset.task == "regression" else 0)
    pairs = zip(shape.evaluation, shape.evaluation[1:], strict=False)
    evaluation_peak = max((a + b for a, b in pairs), default=0)  # a point: no evaluation
    input_bytes = FLOAT_BYTES * math.prod(dataset.input_shape)
    target_bytes = 8 if dataset.task == "classification" else FLOAT_BYTES
    steps_per_epoch = math.ceil(train / dataset.batch_size)
    steps = spec.epochs * steps_per_epoch
    per_epoch = points_per_epoch(spec)
    held_nothing = isinstance(dataset, PlaygroundDataset)  # a formula, no examples
    return RunCost(
        parameters=shape.parameters,
        optimizer_state_tensors=state,
        parameter_bytes=FLOAT_BYTES * shape.parameters * (2 + state),
        training_activation_bytes=FLOAT_BYTES * batch * sum(shape.training),
        evaluation_activation_bytes=FLOAT_BYTES
        * min(EVALUATION_BATCH_SIZE, evaluated)
        * evaluation_peak,
        data_bytes=0
        if held_nothing
        else (train + validation + test) * (input_bytes + target_bytes),
        batch_size=batch,
        steps_per_epoch=steps_per_epoch,
        steps=steps,
        points_per_epoch=per_epoch,
        stored_points=points_per_step(spec) * steps + spec.epochs * per_epoch,
        size_field=shape.size_field,
    )
