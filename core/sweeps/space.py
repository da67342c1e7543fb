"""A sweep's configurations and the member specs they make.

A configuration maps each parameter path that applies to it to one value. Applying it to
the base spec (as the client wrote it, without filled-in defaults) sets each path in this
order: whole parts first (``model``), then a part's variant (``optimizer.name``, which keeps
the base part's fields the new variant has and drops the others), then the other fields;
the result is validated as an ``ExperimentSpec`` with the member's seed. A conditional
parameter (``when``) applies to a configuration when the spec built from the unconditional
parameters, and from the conditional ones before it, holds the values its ``when`` names.

``grid`` enumerates the product of every parameter's values in the order the parameters
are written, conditional parameters expanding only the configurations they apply to.
``definition_problems`` is every check that spans fields, each with the field to fix.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from pydantic import JsonValue, ValidationError

from core.cost_limits import CostLimits, cost_problems
from core.spec import (
    DATASET_VARIANTS,
    MODEL_VARIANTS,
    OPTIMIZER_VARIANTS,
    SCHEDULE_VARIANTS,
    ExperimentSpec,
)
from core.spec.fields import SpecPart, variant_name
from core.sweeps.spec import (
    MAX_MEMBERS,
    SPEC_PARTS,
    Condition,
    DistributionParameter,
    Parameter,
    SweepSpec,
    ValuesParameter,
    path_problem,
)

Configuration = dict[str, JsonValue]
"""One value per parameter path that applies, in the parameters' order."""

_VARIANTS: dict[str, dict[str, type[SpecPart]]] = {
    part: {variant_name(v): v for v in variants}
    for part, variants in (
        ("dataset", DATASET_VARIANTS),
        ("model", MODEL_VARIANTS),
        ("optimizer", OPTIMIZER_VARIANTS),
        ("schedule", SCHEDULE_VARIANTS),
    )
}


def config_key(config: Configuration) -> str:
    """sha256 of the configuration's canonical JSON (keys sorted): its identity in a sweep."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def base_dict(sweep: SweepSpec) -> dict[str, Any]:
    """The base spec as the client wrote it: a default of the base (Adam's lr, say) is not
    carried to a member whose variant has its own (AdaMax's)."""
    return sweep.base.model_dump(mode="json", exclude_unset=True)


# --- applying a configuration -------------------------------------------------------------


def _order(path: str) -> int:
    head, _, rest = path.partition(".")
    if not rest:
        return 0
    return 1 if head in SPEC_PARTS and rest == "name" else 2


def _set(spec: dict[str, Any], path: str, value: JsonValue) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        spec[head] = copy.deepcopy(value)
        return
    part = spec.get(head)
    part = dict(part) if isinstance(part, dict) else _default_part(head)
    if rest == "name" and head in _VARIANTS:
        variant = _VARIANTS[head].get(str(value))
        kept = {k: v for k, v in part.items() if variant is not None and k in variant.model_fields}
        spec[head] = {**kept, "name": value}
        return
    spec[head] = part
    keys = rest.split(".")
    node = part
    for key in keys[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


def _default_part(head: str) -> dict[str, Any]:
    """A part the base leaves out, as its default variant (the optimizer: Adam)."""
    field = ExperimentSpec.model_fields.get(head)
    if field is None or head not in _VARIANTS:
        return {}
    default = field.get_default(call_default_factory=True)
    name = getattr(default, "name", None)
    return {"name": name} if isinstance(default, SpecPart) and name is not None else {}


_MISSING = object()


def value_at(spec: dict[str, Any], path: str) -> object:
    """The value at a dotted path of a spec dict (``_MISSING`` when absent). A part's field
    the client left out reads as its variant's default."""
    node: object = spec
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return _default_at(spec, path)
        node = node[key]
    return node


def _default_at(spec: dict[str, Any], path: str) -> object:
    try:
        full = ExperimentSpec.model_validate(spec).model_dump(mode="json")
    except ValidationError:
        return _MISSING
    node: object = full
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def apply_configuration(base: dict[str, Any], config: Configuration) -> dict[str, Any]:
    """The base spec dict with the configuration's values set (see the module's order)."""
    spec = copy.deepcopy(base)
    for path in sorted(config, key=_order):  # stable: the parameters' order within a rank
        _set(spec, path, config[path])
    return spec


def condition_holds(when: Condition | None, spec: dict[str, Any]) -> bool:
    """Whether a spec dict holds, at each path of ``when``, its value (or one of a list's)."""
    for path, wanted in (when or {}).items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if value_at(spec, path) not in allowed:
            return False
    return True


def describe(config: Configuration) -> str:
    """A configuration in a few words: ``adam lr=0.001 dropout=0.5``."""
    words = []
    for path, value in config.items():
        field = path.rsplit(".", 1)[-1]
        if isinstance(value, dict):
            words.append(" ".join(f"{k}={v}" if k != "name" else str(v) for k, v in value.items()))
        elif field == "name":
            words.append(str(value))
        else:
            words.append(f"{field}={value:g}" if isinstance(value, float) else f"{field}={value}")
    return " ".join(words)


def member_spec(
    sweep: SweepSpec, config: Configuration, seed: int, *, base: dict[str, Any] | None = None
) -> ExperimentSpec:
    """The experiment a member runs: the base with ``config`` applied, ``seed`` and a name
    made of the sweep's and the configuration's. Raises pydantic's ValidationError."""
    data = apply_configuration(base if base is not None else base_dict(sweep), config)
    data["seed"] = seed
    data["name"] = f"{sweep.name} · {describe(config)} · seed {seed}"[:200]
    return ExperimentSpec.model_validate(data)


# --- the grid -----------------------------------------------------------------------------


def _expand(
    configs: Iterable[Configuration], path: str, parameter: ValuesParameter, base: dict[str, Any]
) -> list[Configuration]:
    expanded: list[Configuration] = []
    for config in configs:
        if parameter.when is None or condition_holds(
            parameter.when, apply_configuration(base, config)
        ):
            expanded += [{**config, path: value} for value in parameter.values]
        else:
            expanded.append(config)
    return expanded


def grid(sweep: SweepSpec, parameters: dict[str, Parameter] | None = None) -> list[Configuration]:
    """Every configuration of a grid, in a fixed order: the product of the unconditional
    parameters' values (the first parameter varying slowest), each then expanded by the
    conditional parameters that apply to it, in the order written."""
    parameters = parameters if parameters is not None else sweep.parameters
    base = base_dict(sweep)
    plain = [
        (p, v) for p, v in parameters.items() if isinstance(v, ValuesParameter) and v.when is None
    ]
    configs: list[Configuration] = [
        dict(zip([p for p, _ in plain], combo, strict=True))
        for combo in product(*[v.values for _, v in plain])
    ]
    for path, parameter in parameters.items():
        if isinstance(parameter, ValuesParameter) and parameter.when is not None:
            configs = _expand(configs, path, parameter, base)
    return configs


# --- the checks that span fields ----------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """A problem of a sweep's definition and the field to change (dotted, as written)."""

    field: str
    message: str


class SweepDefinitionError(ValueError):
    """A sweep that cannot run as defined; ``problems`` says what to fix where (422)."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = list(problems)


def _structure_problems(sweep: SweepSpec, parameters: dict[str, Parameter]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for path, parameter in parameters.items():
        field = f"parameters.{path}"
        problem = path_problem(path)
        if problem is not None:
            problems.append(FieldProblem(field, problem))
            continue
        for condition_path in parameter.when or {}:
            problem = path_problem(condition_path)
            if problem is not None:
                problems.append(FieldProblem(f"{field}.when.{condition_path}", problem))
        if "." not in path and path in SPEC_PARTS:
            if not isinstance(parameter, ValuesParameter):
                problems.append(
                    FieldProblem(field, f"a value of {path!r} is a whole part: give values")
                )
            elif not all(isinstance(v, dict) for v in parameter.values):
                problems.append(
                    FieldProblem(
                        f"{field}.values",
                        f"each value of {path!r} is an object (a whole {path} part)",
                    )
                )
        if sweep.method == "grid" and isinstance(parameter, DistributionParameter):
            problems.append(
                FieldProblem(
                    field,
                    "a grid takes values, not a distribution; use method random, sobol or tpe "
                    "to draw from one",
                )
            )
    if sweep.method != "grid":
        if sweep.max_members is None:
            problems.append(
                FieldProblem("max_members", f"method {sweep.method!r} needs max_members")
            )
        elif sweep.max_members < len(sweep.seed_list):
            problems.append(
                FieldProblem(
                    "max_members",
                    f"{sweep.max_members} is fewer than one configuration's "
                    f"{len(sweep.seed_list)} seeds",
                )
            )
    return problems


def _field_of(error_loc: Sequence[int | str], parameters: Iterable[str]) -> str:
    """The field a member spec's validation error belongs to: the parameter whose path the
    error's location starts with, else the base's field."""
    loc = [str(part) for part in error_loc]
    # A union's tag (optimizer.adam.lr) is not in what the client wrote.
    if len(loc) >= 2 and loc[0] in _VARIANTS and loc[1] in _VARIANTS[loc[0]]:
        loc = [loc[0], *loc[2:]]
    dotted = ".".join(loc)
    matches = [
        p
        for p in parameters
        if dotted == p or dotted.startswith(p + ".") or p.startswith(dotted + ".")
    ]
    if matches:
        return f"parameters.{max(matches, key=len)}"
    return f"base.{dotted}" if dotted else "base"


def member_problems(
    sweep: SweepSpec,
    configs: Sequence[Configuration],
    *,
    limits: CostLimits | None,
    parameters: Iterable[str] | None = None,
) -> list[FieldProblem]:
    """Whether every configuration makes a valid experiment within the cost limits; the
    first problem of each field, named by the parameter (or base field) it comes from."""
    paths = list(parameters if parameters is not None else sweep.parameters)
    base = base_dict(sweep)
    problems: dict[str, FieldProblem] = {}
    checked: set[str] = set()
    seed = sweep.seed_list[0]
    for config in configs:
        try:
            spec = member_spec(sweep, config, seed, base=base)
        except ValidationError as exc:
            for error in exc.errors():
                field = _field_of(error["loc"], paths)
                message = f"{error['msg']} (configuration {describe(config)})"
                problems.setdefault(field, FieldProblem(field, message))
            continue
        if limits is None:
            continue
        fingerprint = json.dumps(
            spec.model_dump(mode="json", exclude={"name", "seed"}), sort_keys=True
        )
        if fingerprint in checked:
            continue
        checked.add(fingerprint)
        for problem in cost_problems(spec, limits):
            field = _field_of(problem.field.split("."), paths)
            problems.setdefault(
                field, FieldProblem(field, f"{problem.message} (configuration {describe(config)})")
            )
    return list(problems.values())


def definition_problems(sweep: SweepSpec, *, limits: CostLimits | None) -> list[FieldProblem]:
    """Every problem of a sweep's definition that one field's validation cannot see: the
    paths, a grid's distributions, ``max_members``, the grid's size and each member's spec
    (valid, and within the cost limits); a sampled search's members are checked when they
    are sampled (``core.sweeps.sampling``)."""
    problems = _structure_problems(sweep, sweep.parameters)
    if problems:
        return problems
    if sweep.method != "grid":
        return problems
    # The product of every values list bounds the grid (conditional ones may expand fewer
    # configurations): refuse a grid too large before enumerating it.
    bound = len(sweep.seed_list)
    for parameter in sweep.parameters.values():
        if isinstance(parameter, ValuesParameter):
            bound *= len(parameter.values)
        if bound > MAX_MEMBERS:
            break
    configs = grid(sweep) if bound <= MAX_MEMBERS else []
    members = len(configs) * len(sweep.seed_list) if configs else bound
    if members > MAX_MEMBERS:
        return [
            FieldProblem(
                "parameters",
                f"the grid's values × {len(sweep.seed_list)} seeds make more than "
                f"{MAX_MEMBERS:,} members, the most a sweep has; use fewer values, or a "
                "random, sobol or tpe search with max_members",
            )
        ]
    return member_problems(sweep, configs, limits=limits)
