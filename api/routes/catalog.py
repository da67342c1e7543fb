"""The catalog: every dataset, model, optimizer and schedule a spec may name, with its
parameters, bounds and defaults, read from the spec's own pydantic models."""

from __future__ import annotations

import functools
import inspect

from fastapi import APIRouter
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import to_jsonable_python

from api.auth import KeyedRoute
from api.schemas import CatalogPublic, ComponentPublic, LimitPublic, ParamPublic
from core.cost_limits import LIMITS, CostLimits
from core.spec import (
    DATASET_VARIANTS,
    MODEL_VARIANTS,
    OPTIMIZER_VARIANTS,
    SCHEDULE_VARIANTS,
    ExperimentSpec,
    SpecPart,
    variant_name,
)

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], route_class=KeyedRoute)

_BOUNDS = {
    "minimum": "minimum",
    "exclusiveMinimum": "exclusive_minimum",
    "maximum": "maximum",
    "exclusiveMaximum": "exclusive_maximum",
}


def _params(model: type[BaseModel], *, skip: frozenset[str]) -> list[ParamPublic]:
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    params = []
    for name, field_schema in schema["properties"].items():
        if name in skip:
            continue
        resolved = _resolve(field_schema, definitions)
        bounds = {key: resolved[source] for source, key in _BOUNDS.items() if source in resolved}
        choices = resolved.get("enum") or ([resolved["const"]] if "const" in resolved else None)
        params.append(
            ParamPublic(
                name=name,
                type=_type_name(resolved),
                required=name in required,
                default=_default(model, name),
                description=field_schema.get("description"),
                choices=choices,
                json_schema=field_schema,
                **bounds,
            )
        )
    return params


def _default(model: type[BaseModel], name: str) -> object:
    """The field's default as JSON (default factories called), None when required."""
    field = model.model_fields[name]
    if field.is_required():
        return None
    return to_jsonable_python(field.get_default(call_default_factory=True))


def _resolve(
    field_schema: JsonSchemaValue, definitions: dict[str, JsonSchemaValue]
) -> JsonSchemaValue:
    """The schema of a field's value: a single ``$ref`` followed, an optional (anyOf with
    null) unwrapped."""
    if "$ref" in field_schema:
        return definitions[field_schema["$ref"].rsplit("/", 1)[-1]]
    options = [option for option in field_schema.get("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        return {**options[0], "nullable": True}
    return field_schema


def _type_name(resolved: JsonSchemaValue) -> str:
    if "type" in resolved:
        kind = resolved["type"]
        return f"{kind} or null" if resolved.get("nullable") else kind
    if "anyOf" in resolved or "oneOf" in resolved:
        return "object (one of several)"
    return "object"


def _component(model: type[SpecPart]) -> ComponentPublic:
    return ComponentPublic(
        name=variant_name(model),
        description=inspect.cleandoc(model.__doc__ or ""),
        params=_params(model, skip=frozenset({"name"})),
    )


@functools.cache
def build_catalog() -> CatalogPublic:
    return CatalogPublic(
        datasets=[_component(model) for model in DATASET_VARIANTS],
        models=[_component(model) for model in MODEL_VARIANTS],
        optimizers=[_component(model) for model in OPTIMIZER_VARIANTS],
        schedules=[_component(model) for model in SCHEDULE_VARIANTS],
        experiment=_params(
            ExperimentSpec, skip=frozenset({"dataset", "model", "optimizer", "schedule"})
        ),
    )


# --- the cost limits, read from the settings at each request ---------------------------------


def cost_limits() -> list[LimitPublic]:
    """The limits on what one run may cost (``core.cost_limits``), with this process's values."""
    values = CostLimits.from_settings()
    return [
        LimitPublic(
            name=name,
            value=getattr(values, name),
            unit=info.unit,
            setting=info.setting,
            description=info.description,
        )
        for name, info in LIMITS.items()
    ]


@router.get("", response_model=CatalogPublic)
def read_catalog() -> CatalogPublic:
    """Datasets, models, optimizers and schedules with their parameters: type, default,
    bounds (minimum/maximum, exclusive or not), choices, and the full JSON schema; and the
    limits on what one run may cost (parameters, memory, iterations, stored points)."""
    return build_catalog().model_copy(update={"limits": cost_limits()})
