"""The ready-made sweeps (core/sweeps/presets.py) as the experiments they expand to:
``table1`` to the ten specs of core/table1.py, ``lr-sensitivity`` to its 21 valid
configurations. Each value at a part's path replaces that part of the base, as the
sweep applies it (core/sweeps/space.py)."""

from __future__ import annotations

import json
from typing import Any

from core.spec import ExperimentSpec, SgdOptimizer
from core.sweeps.presets import LR_SENSITIVITY_RATES, PRESETS, lr_sensitivity, table1
from core.table1 import table1_configs


def _over(base: dict[str, Any], **parts: dict[str, Any]) -> dict[str, Any]:
    """The base with whole parts replaced, as a sweep applies a value at a part's path."""
    return {**base, **parts}


def _comparable(spec: Any) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"name", "tags"})


def test_the_table1_preset_expands_to_the_ten_specs_of_table1() -> None:
    body = table1()
    assert (body["method"], body["seeds"], body["early_stopping"]) == (
        "grid", 3, {"method": "none"})  # fmt: skip
    assert body["metric"] == {"name": "test_acc", "goal": "maximize"}
    assert set(body["parameters"]) == {"model", "optimizer"}
    expanded = [
        ExperimentSpec.model_validate(_over(body["base"], model=model, optimizer=optimizer))
        for optimizer in body["parameters"]["optimizer"]["values"]
        for model in body["parameters"]["model"]["values"]
    ]
    expected = [config.spec for config in table1_configs()]
    assert [_comparable(s) for s in expanded] == [_comparable(s) for s in expected]
    shorter = table1(seeds=[4, 7], epochs=2)
    assert (shorter["seeds"], shorter["base"]["epochs"]) == ([4, 7], 2)


def test_the_lr_sensitivity_preset_is_21_valid_configurations() -> None:
    body = lr_sensitivity()
    parameters = body["parameters"]
    assert (body["method"], body["seeds"], body["base"]["epochs"]) == ("grid", 3, 5)
    assert parameters["optimizer.lr"]["values"] == [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    assert parameters["optimizer.momentum"] == {"values": [0.9], "when": {"optimizer.name": "sgd"}}
    specs = []
    for name in parameters["optimizer.name"]["values"]:
        for lr in parameters["optimizer.lr"]["values"]:
            optimizer = {"name": name, "lr": lr} | ({"momentum": 0.9} if name == "sgd" else {})
            specs.append(ExperimentSpec.model_validate(_over(body["base"], optimizer=optimizer)))
    assert len({json.dumps(_comparable(s), sort_keys=True) for s in specs}) == 21
    sgd = [s.optimizer for s in specs if isinstance(s.optimizer, SgdOptimizer)]
    assert len(sgd) == len(LR_SENSITIVITY_RATES) and {o.momentum for o in sgd} == {0.9}
    assert {s.model.name for s in specs} == {"mlp"} and {s.dataset.name for s in specs} == {
        "mnist"}  # fmt: skip


def test_every_preset_is_json_and_takes_seeds_and_epochs() -> None:
    for name, build in PRESETS.items():
        body = build(seeds=2, epochs=1)
        assert json.loads(json.dumps(body)) == body, name
        assert (body["seeds"], body["base"]["epochs"]) == (2, 1), name
        assert build() is not build(), name  # a fresh body each time
