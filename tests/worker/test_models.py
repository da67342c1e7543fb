"""Models: output shapes, default widths, dropout placement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.spec import CnnModel, LinearRegressionModel, LogisticRegressionModel, MlpModel
from worker.models import Cnn, build_model


@pytest.mark.parametrize("input_shape", [(1, 28, 28), (1, 8, 8)])
@pytest.mark.parametrize(
    "spec",
    [
        LogisticRegressionModel(name="logistic_regression"),
        MlpModel(name="mlp", hidden_sizes=[16, 8]),
        CnnModel(name="cnn", channels=(4, 8), hidden_size=16),
    ],
    ids=lambda spec: spec.name,
)
def test_classifiers_give_one_logit_per_class(spec, input_shape) -> None:
    model = build_model(spec, input_shape, 10)
    assert model(torch.zeros(5, *input_shape)).shape == (5, 10)


def test_linear_regression_gives_one_value_per_example() -> None:
    model = build_model(LinearRegressionModel(name="linear_regression"), (1,), 1)
    assert model(torch.zeros(7, 1)).shape == (7,)


def test_default_mlp_is_two_hidden_layers_of_1000_relu() -> None:
    model = build_model(MlpModel(name="mlp"), (1, 28, 28), 10)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 1000), (1000, 1000), (1000, 10)
    ]  # fmt: skip
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 2


def test_default_cnn_has_two_conv_pool_stages_then_two_fc_layers() -> None:
    model = build_model(CnnModel(name="cnn"), (1, 28, 28), 10)
    assert isinstance(model, Cnn)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 32, (5, 5)), (32, 64, (5, 5))
    ]  # fmt: skip
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2), (3, 2)]
    # 28 → pool → 13 → pool → 6: the first FC layer sees 64·6·6 features.
    assert [(m.in_features, m.out_features) for m in linears] == [(64 * 6 * 6, 1000), (1000, 10)]


def test_dropout_is_active_in_train_and_off_in_eval() -> None:
    model = build_model(MlpModel(name="mlp", hidden_sizes=[64], dropout=0.5), (1, 8, 8), 10)
    inputs = torch.randn(4, 1, 8, 8)
    model.eval()
    assert torch.equal(model(inputs), model(inputs))
    model.train()
    torch.manual_seed(0)
    first = model(inputs)
    assert not torch.equal(first, model(inputs))


def test_cnn_rejects_inputs_too_small_for_two_poolings() -> None:
    with pytest.raises(ValueError, match="at least 7×7"):
        build_model(CnnModel(name="cnn"), (1, 5, 5), 10)
