"""Bad input: a ValueError naming the argument and the value; sparse gradients and an
impossible fused=True: a RuntimeError that says what to do."""

from __future__ import annotations

import math

import pytest
import torch

from optim import Adam, AdaMax, Adamax, AdamW

OPTIMIZERS = [Adam, AdamW, AdaMax]


def one_param() -> list[torch.Tensor]:
    return [torch.zeros(3, requires_grad=True)]


BAD_ARGUMENTS = [
    ({"lr": -1e-3}, r"lr=-0\.001"),
    ({"lr": math.nan}, r"lr=nan"),
    ({"lr": math.inf}, r"lr=inf"),
    ({"lr": torch.tensor([1e-3, 1e-3])}, r"lr must be a number or a one-element tensor"),
    ({"eps": -1e-8}, r"eps=-1e-08"),
    ({"eps": math.nan}, r"eps=nan"),
    ({"weight_decay": -0.1}, r"weight_decay=-0\.1"),
    ({"weight_decay": math.nan}, r"weight_decay=nan"),
    ({"betas": (1.0, 0.999)}, r"betas\[0\]=1\.0"),
    ({"betas": (-0.1, 0.999)}, r"betas\[0\]=-0\.1"),
    ({"betas": (0.9, 1.0)}, r"betas\[1\]=1\.0"),
    ({"betas": (0.9, math.nan)}, r"betas\[1\]=nan"),
    ({"betas": (0.9,)}, r"betas must be a pair"),
    ({"lr": "fast"}, r"lr must be a number, got 'fast'"),
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(("arguments", "message"), BAD_ARGUMENTS)
def test_bad_hyperparameter_is_value_error_naming_it(optimizer, arguments, message):
    with pytest.raises(ValueError, match=message):
        optimizer(one_param(), **arguments)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_bad_hyperparameter_in_a_param_group_is_value_error(optimizer):
    with pytest.raises(ValueError, match=r"betas\[1\]=1\.5"):
        optimizer([{"params": one_param(), "betas": (0.9, 1.5)}])
    good = optimizer(one_param())
    with pytest.raises(ValueError, match=r"lr=-1\.0"):
        good.add_param_group({"params": one_param(), "lr": -1.0})
    assert len(good.param_groups) == 1


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_zero_hyperparameters_are_accepted(optimizer):
    optimizer(one_param(), lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    optimizer(one_param(), lr=torch.tensor(1e-3))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_sparse_gradient_is_runtime_error(optimizer):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        optimizer(embedding.parameters()).step()


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_fused_true_without_a_fast_path_is_runtime_error(optimizer):
    param = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    param.grad = torch.ones(3, dtype=torch.float16)
    with pytest.raises(RuntimeError, match=r"fused=True.*dtype=torch\.float16.*fused=None"):
        optimizer([param], fused=True).step()


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_half_precision_takes_the_plain_path_by_default(optimizer):
    param = torch.ones(3, dtype=torch.bfloat16, requires_grad=True)
    param.grad = torch.ones(3, dtype=torch.bfloat16)
    optimizer([param], lr=0.25).step()
    assert torch.all(param < 1)


def test_adamax_alias_is_the_same_class():
    assert Adamax is AdaMax


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError, match="foreach"):
        Adam(one_param(), foreach=True)
