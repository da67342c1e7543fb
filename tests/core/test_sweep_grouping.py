"""Which sweep members train as one stack (``core/sweeps/grouping.py``): compatible members
share a key, at most ``group_size`` to a key, in the plan's order; what a stack cannot
share (the data set, the architecture, the epochs, the optimizer kind) separates them;
an optimizer with no batched step trains alone; the automatic size follows the model's
memory estimate and the device."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.spec import ExperimentSpec
from core.sweeps.grouping import AUTO_CAP, automatic_group_size, group_keys, group_signature
from tests.factories import digits_body


def spec(**overrides: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate(digits_body(device="cpu") | overrides)


def test_compatible_members_are_cut_into_groups_of_group_size_in_order() -> None:
    specs = [
        spec(seed=s, optimizer={"name": "adam", "lr": lr}) for lr in (0.1, 0.01) for s in range(5)
    ]
    keys = group_keys(specs, group_size=4, round_index=0)
    assert None not in keys
    assert sorted(Counter(keys).values()) == [2, 4, 4]
    assert keys[:4] == [keys[0]] * 4 and keys[4] != keys[0]  # the plan's order, cut
    assert group_keys(specs, group_size=1, round_index=0) == [None] * len(specs)
    again = group_keys(specs, group_size=4, round_index=1)
    assert not set(again) & set(keys)  # an extension's round makes groups of its own


def test_what_a_stack_cannot_share_separates_members_and_dropout_does_not() -> None:
    base = spec()
    assert group_signature(spec(model={"name": "mlp", "hidden_sizes": [8], "dropout": 0.5})) == (
        group_signature(spec(model={"name": "mlp", "hidden_sizes": [8], "dropout": 0.0}))
    )
    assert group_signature(spec(seed=7, optimizer={"name": "adam", "lr": 0.5})) == (
        group_signature(base)
    )
    for different in (
        spec(epochs=3),
        spec(dataset={"name": "digits", "batch_size": 32}),
        spec(model={"name": "mlp", "hidden_sizes": [8]}),
        spec(optimizer={"name": "adamax"}),
        spec(optimizer={"name": "adam", "amsgrad": True}),
        spec(optimizer={"name": "sgd", "momentum": 0.9}),
    ):
        assert group_signature(different) != group_signature(base), different
    assert group_signature(spec(optimizer={"name": "rmsprop"})) is None
    mixed = [spec(optimizer={"name": "rmsprop"}), base, spec(optimizer={"name": "adamax"})]
    keys = group_keys(mixed + [base], group_size=None, round_index=0)
    assert keys[0] is None and keys[1] == keys[3] and keys[2] not in (keys[1], None)


def test_the_automatic_group_size_follows_the_device_and_the_model_size() -> None:
    assert automatic_group_size(spec()) == AUTO_CAP["cpu"]
    assert automatic_group_size(spec(optimizer={"name": "adagrad"})) == 1
    huge = spec(model={"name": "mlp", "hidden_sizes": [4096, 4096, 4096, 4096]})
    assert 1 <= automatic_group_size(huge) < AUTO_CAP["cpu"]
    # a stack of CNNs is slower than one after another on the CPU (benchmarks/batched.py)
    assert automatic_group_size(spec(model={"name": "cnn"})) == 1
    assert automatic_group_size(spec(model={"name": "cnn"}, device="auto")) == 1
    assert automatic_group_size(spec(model={"name": "cnn"}, device="cuda")) > 1
