"""The fast paths equal the plain path; the choice between them is automatic per tensor;
``bias_correction=False`` follows the paper's uncorrected update."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from hypothesis import given, settings

from optim import Adam, AdaMax, _compiled, _cpu_kernel, functional
from optim._dispatch import Path
from tests.optim.helpers import (
    adam_groups,
    adamax_groups,
    clone_params,
    drive,
    flat,
    make_params,
    run_configs,
    tolerances,
)

OPTIMIZERS = {"Adam": Adam, "AdaMax": AdaMax}


def groups_for(name, params, config):
    if name == "Adam":
        return adam_groups(params, config)
    return adamax_groups(params, config, for_torch=False)


def test_cpu_kernel_builds_here():
    assert _cpu_kernel.available(), _cpu_kernel.unavailable_reason()


@pytest.mark.parametrize("name", OPTIMIZERS)
@settings(max_examples=15, deadline=None)
@given(config=run_configs(adam=True))
def test_fast_path_equals_plain_path(name, config):
    if name == "AdaMax":
        for group in config.groups:
            group.amsgrad = False
    initial = make_params(config)
    fast_params, plain_params = clone_params(initial), clone_params(initial)
    fast = OPTIMIZERS[name](groups_for(name, fast_params, config), fused=True)
    plain = OPTIMIZERS[name](groups_for(name, plain_params, config), fused=False)
    drive([fast, plain], [fast_params, plain_params], config, steps=200)
    torch.testing.assert_close(flat(fast_params), flat(plain_params), **tolerances(config.dtype))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_cpu_float_tensors_take_the_kernel_by_default(name, monkeypatch):
    calls = []
    backend = functional.BACKENDS[Path.CPU_KERNEL]
    original = getattr(backend, name.lower())

    def counting(params, *args, **kwargs):
        calls.append(len(params))
        return original(params, *args, **kwargs)

    counted = dataclasses.replace(backend, **{name.lower(): counting})
    monkeypatch.setitem(functional.BACKENDS, Path.CPU_KERNEL, counted)
    contiguous = torch.randn(4, 5, requires_grad=True)
    transposed = torch.randn(5, 4).t().requires_grad_()  # not contiguous: plain path
    half = torch.randn(3, dtype=torch.bfloat16, requires_grad=True)  # no kernel: plain path
    for p in (contiguous, transposed, half):
        p.grad = torch.randn_like(p)
    before = [p.detach().clone() for p in (contiguous, transposed, half)]
    OPTIMIZERS[name]([contiguous, transposed, half], lr=0.1).step()
    assert calls == [1]
    for p, old in zip((contiguous, transposed, half), before, strict=True):
        assert not torch.equal(p.detach(), old)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_non_contiguous_and_mixed_dtypes_equal_plain(name):
    def make():
        generator = torch.Generator().manual_seed(5)
        return [
            torch.randn(6, 7, generator=generator).t().requires_grad_(),
            torch.randn(9, generator=generator, dtype=torch.float64).requires_grad_(),
            torch.randn(4, 4, generator=generator).requires_grad_(),
            torch.randn(3, generator=generator, dtype=torch.complex64).requires_grad_(),
        ]

    auto_params, plain_params = make(), make()
    auto = OPTIMIZERS[name](auto_params, lr=0.03, weight_decay=0.01)
    plain = OPTIMIZERS[name](plain_params, lr=0.03, weight_decay=0.01, fused=False)
    generator = torch.Generator().manual_seed(6)
    for _ in range(50):
        for a, p in zip(auto_params, plain_params, strict=True):
            grad = torch.randn(a.shape, generator=generator, dtype=a.dtype)
            a.grad, p.grad = grad.clone(), grad.clone()
        auto.step()
        plain.step()
    torch.testing.assert_close(auto_params, plain_params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_nan_gradient_poisons_both_paths_alike(name):
    results = []
    for fused in (True, False):
        p = torch.ones(8, requires_grad=True)
        optimizer = OPTIMIZERS[name]([p], lr=0.1, **({"amsgrad": True} if name == "Adam" else {}))
        optimizer.param_groups[0]["fused"] = fused
        p.grad = torch.tensor([1.0, float("nan")] * 4)
        optimizer.step()
        p.grad = torch.ones(8)
        optimizer.step()
        results.append((p.detach().clone(), {k: v.clone() for k, v in optimizer.state[p].items()}))
    (fast_p, fast_state), (plain_p, plain_state) = results
    torch.testing.assert_close(fast_p, plain_p, equal_nan=True)
    assert torch.isnan(fast_p[1::2]).all() and not torch.isnan(fast_p[0::2]).any()
    for key in plain_state:
        torch.testing.assert_close(fast_state[key], plain_state[key], equal_nan=True)


def uncorrected_reference(name, steps, grads, *, lr, beta1, beta2, eps):
    """The paper's algorithms with the 1 − β^t factors left out, in float64, written out."""
    p = torch.zeros_like(grads[0])
    m, second = torch.zeros_like(p), torch.zeros_like(p)
    for t in range(steps):
        g = grads[t]
        m = beta1 * m + (1 - beta1) * g
        if name == "Adam":
            second = beta2 * second + (1 - beta2) * g * g
            p = p - lr * m / (second.sqrt() + eps)
        else:
            second = torch.maximum(beta2 * second, g.abs() + eps)
            p = p - lr * m / second
    return p


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_bias_correction_false_is_the_uncorrected_update(name, fused):
    generator = torch.Generator().manual_seed(7)
    grads = [torch.randn(10, generator=generator, dtype=torch.float64) for _ in range(100)]
    p = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    optimizer = OPTIMIZERS[name](
        [p], lr=0.01, betas=(0.9, 0.999), eps=1e-6, bias_correction=False, fused=fused
    )
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
    expected = uncorrected_reference(name, 100, grads, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-6)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-10, atol=1e-12)

    corrected = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    with_correction = OPTIMIZERS[name]([corrected], lr=0.01, betas=(0.9, 0.999), eps=1e-6)
    for g in grads:
        corrected.grad = g.clone()
        with_correction.step()
    assert not torch.allclose(corrected.detach(), expected, rtol=1e-3, atol=0)


@pytest.mark.parametrize("name", ["adam", "adamax"])
def test_compiled_update_equals_plain_path_on_cpu(name):
    # The compiled update is the CUDA fast path; its math is checked here on the CPU.
    generator = torch.Generator().manual_seed(11)
    shapes = [(5, 3), (7,)]
    hyper = dict(
        beta1=0.9,
        beta2=0.99,
        lr=0.01,
        weight_decay=0.05,
        eps=1e-8,
        maximize=True,
        decoupled_weight_decay=False,
        bias_correction=True,
    )
    columns = {}
    for label in ("compiled", "plain"):
        g2 = torch.Generator().manual_seed(12)
        columns[label] = {
            "params": [torch.randn(s, generator=g2) for s in shapes],
            "m": [torch.zeros(s) for s in shapes],
            "v": [torch.zeros(s) for s in shapes],
            "vmax": [torch.zeros(s) for s in shapes],
            "steps": [torch.tensor(0.0) for _ in shapes],
        }
    for _ in range(20):
        grads = [torch.randn(s, generator=generator) for s in shapes]
        for label, module in (("compiled", _compiled), ("plain", None)):
            c = columns[label]
            if name == "adam":
                lists = (c["params"], grads, c["m"], c["v"], c["vmax"], c["steps"])
                if module is None:
                    functional._plain_adam(*lists, amsgrad=True, **hyper)
                else:
                    module.adam(*lists, amsgrad=True, **hyper)
            else:
                lists = (c["params"], grads, c["m"], c["v"], c["steps"])
                if module is None:
                    functional._plain_adamax(*lists, **hyper)
                else:
                    module.adamax(*lists, **hyper)
    torch.testing.assert_close(
        columns["compiled"]["params"], columns["plain"]["params"], rtol=1e-5, atol=1e-6
    )
    assert [float(s) for s in columns["compiled"]["steps"]] == [20.0, 20.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_cuda_fast_path_equals_cpu_plain_path(name):
    def make(device):
        generator = torch.Generator().manual_seed(13)
        return [
            torch.randn(s, generator=generator).to(device).requires_grad_()
            for s in [(64, 33), (7,), (0,)]
        ]

    cuda_params, cpu_params = make("cuda"), make("cpu")
    kwargs = {"lr": 0.01, "weight_decay": 0.01}
    on_cuda = OPTIMIZERS[name](cuda_params, fused=True, **kwargs)
    on_cpu = OPTIMIZERS[name](cpu_params, fused=False, **kwargs)
    generator = torch.Generator().manual_seed(14)
    for _ in range(100):
        for a, b in zip(cuda_params, cpu_params, strict=True):
            grad = torch.randn(b.shape, generator=generator)
            a.grad, b.grad = grad.to("cuda"), grad.clone()
        on_cuda.step()
        on_cpu.step()
    torch.testing.assert_close([p.cpu() for p in cuda_params], cpu_params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_without_a_c_compiler_auto_falls_back_and_fused_true_says_why(name, monkeypatch):
    # An install without a C compiler has no extension module: importing it fails.
    monkeypatch.setitem(sys.modules, _cpu_kernel.EXTENSION, None)
    monkeypatch.setattr(_cpu_kernel, "_loaded", False)
    monkeypatch.setattr(_cpu_kernel, "_extension", None)
    monkeypatch.setattr(_cpu_kernel, "_failure", None)
    assert not _cpu_kernel.available()

    def run(fused):
        p = torch.ones(4, requires_grad=True)
        p.grad = torch.ones(4)
        OPTIMIZERS[name]([p], lr=0.5, fused=fused).step()
        return p.detach()

    torch.testing.assert_close(run(None), run(False), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="no C compiler"):
        run(True)
