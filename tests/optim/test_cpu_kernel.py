"""The C extension behind the CPU fast path: it refuses bad arguments with an exception that
names them (never touching memory it was not given), and its absence is logged once."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from optim import Adam, _cpu_kernel

pytestmark = pytest.mark.skipif(
    not _cpu_kernel.available(), reason="the C extension is not built here"
)

HYPERPARAMETERS = dict(
    lr=0.01,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    maximize=False,
    decoupled_weight_decay=False,
    bias_correction=True,
    threads=1,
)


def adamax_arguments(n=3, numel=5, dtype=torch.float32):
    return dict(
        params=[torch.zeros(numel, dtype=dtype) for _ in range(n)],
        grads=[torch.ones(numel, dtype=dtype) for _ in range(n)],
        exp_avgs=[torch.zeros(numel, dtype=dtype) for _ in range(n)],
        exp_infs=[torch.zeros(numel, dtype=dtype) for _ in range(n)],
        state_steps=[torch.tensor(0.0) for _ in range(n)],
        dtype=dtype,
        **HYPERPARAMETERS,
    )


def extension():
    module = _cpu_kernel._load()
    assert module is not None
    return module


def test_extension_steps_lists_of_tensors():
    arguments = adamax_arguments()
    extension().adamax(**arguments)
    assert [float(s) for s in arguments["state_steps"]] == [1.0, 1.0, 1.0]
    torch.testing.assert_close(arguments["params"][0], torch.full((5,), -0.01))


@pytest.mark.parametrize(
    ("column", "index", "bad", "error", "message"),
    [
        ("grads", 1, torch.ones(5, dtype=torch.float64), TypeError, r"grads\[1\].*float32"),
        ("exp_avgs", 2, torch.ones(6), ValueError, r"exp_avgs\[2\] has 6 elements, expected 5"),
        ("exp_infs", 0, torch.ones(10)[::2], ValueError, r"exp_infs\[0\].*contiguous"),
        ("params", 0, torch.ones(5).numpy(), TypeError, r"params\[0\]"),
        ("state_steps", 1, torch.tensor([0.0, 0.0]), ValueError, r"state_steps\[1\] has 2"),
        ("state_steps", 0, torch.tensor(0.0, dtype=torch.float64), TypeError, "state_steps"),
        ("grads", 0, 12345, TypeError, r"grads\[0\]"),
    ],
)
def test_extension_rejects_a_bad_tensor_naming_it(column, index, bad, error, message):
    arguments = adamax_arguments()
    untouched = [t.clone() for t in arguments["params"] + arguments["state_steps"]]
    tensors = arguments["params"] + arguments["state_steps"]
    arguments[column][index] = bad
    with pytest.raises(error, match=message):
        extension().adamax(**arguments)
    assert all(torch.equal(t, u) for t, u in zip(tensors, untouched, strict=True))


def test_extension_rejects_lists_of_other_lengths_and_missing_arguments():
    arguments = adamax_arguments()
    arguments["exp_infs"] = arguments["exp_infs"][:2]
    with pytest.raises(ValueError, match="exp_infs has 2 tensors, params has 3"):
        extension().adamax(**arguments)
    arguments = adamax_arguments()
    del arguments["grads"]
    with pytest.raises(TypeError, match="grads"):
        extension().adamax(**arguments)
    with pytest.raises(TypeError):
        extension().adamax(*adamax_arguments().values())  # keyword arguments only


def test_extension_rejects_other_dtypes():
    arguments = adamax_arguments(dtype=torch.float16)
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        extension().adamax(**arguments)


def test_missing_extension_is_logged_once_and_the_plain_path_runs(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, _cpu_kernel.EXTENSION, None)
    monkeypatch.setattr(_cpu_kernel, "_loaded", False)
    monkeypatch.setattr(_cpu_kernel, "_extension", None)
    monkeypatch.setattr(_cpu_kernel, "_failure", None)
    caplog.set_level(logging.WARNING, logger="optim")
    for _ in range(3):
        p = torch.ones(4, requires_grad=True)
        p.grad = torch.ones(4)
        Adam([p], lr=0.5).step()
        assert not torch.equal(p.detach(), torch.ones(4))
    records = [r for r in caplog.records if r.name == "optim"]
    assert len(records) == 1
    assert "CPU fast path is unavailable, using the plain path" in records[0].getMessage()
