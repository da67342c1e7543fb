"""Several experiments side by side: a summary of their final metrics (JSON) and their
curves of one or more metrics overlaid (``compare.png``, ``compare.svg``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import CurrentTenant, SessionDep
from api.routes.experiments import NOT_FOUND, not_found
from api.routes.plots import IMAGE_RESPONSES, image_response, plot_series
from api.schemas import Status
from core.plots import METRICS, ImageFormat, comparison_panels, render_panels
from core.store.experiments import get_experiment
from core.store.models import Experiment

router = APIRouter(prefix="/v1", tags=["compare"])

MAX_COMPARED = 20
SUMMARY_METRICS = ("test_acc", "test_loss", "train_acc", "train_loss", "val_acc", "val_loss",
                   "train_mse", "test_mse")  # fmt: skip
"""The columns of the summary table, in this order, where at least one run has them."""
HIGHER_IS_BETTER = frozenset({"test_acc", "train_acc", "val_acc"})

Ids = Annotated[
    list[str],
    Query(
        description="Experiment ids, comma-separated (ids=a,b,c) or repeated (ids=a&ids=b); "
        f"1 to {MAX_COMPARED}.",
    ),
]


class ComparedExperimentPublic(BaseModel):
    id: str
    name: str
    status: Status
    dataset: str
    model: str
    dropout: float = Field(description="The model's dropout rate (0: none).")
    optimizer: str
    lr: float = Field(description="The optimizer's base learning rate.")
    schedule: str
    epochs: int
    seed: int
    final_metrics: dict[str, float | None] | None
    error: str | None


class ComparisonPublic(BaseModel):
    experiments: list[ComparedExperimentPublic] = Field(description="In the order of ids.")
    metrics: list[str] = Field(description="The summary's metric columns.")
    best: dict[str, str] = Field(
        description="For each summary metric, the id of the run with the best final value "
        "(highest accuracy, lowest loss)."
    )
    table: str = Field(description="The summary as a Markdown table.")


def parse_ids(ids: list[str]) -> list[str]:
    """The ids of ``ids=a,b&ids=c``, in order, each once; a 422 naming ``ids`` when there
    are none or too many."""
    parsed = list(dict.fromkeys(part.strip() for item in ids for part in item.split(",")))
    parsed = [item for item in parsed if item]
    problem = None
    if not parsed:
        problem = "give at least one experiment id (ids=a,b,...)"
    elif len(parsed) > MAX_COMPARED:
        problem = f"at most {MAX_COMPARED} experiments can be compared (got {len(parsed)})"
    if problem is not None:
        raise RequestValidationError(
            [{"loc": ("query", "ids"), "msg": problem, "type": "value_error", "input": ids}]
        )
    return parsed


def parse_metrics(metrics: list[str]) -> list[str]:
    """The metric names, each once; a 422 naming ``metric`` for one the engine never
    writes."""
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "metric"),
                    "msg": f"unknown metric {name!r}; one of {', '.join(METRICS)}",
                    "type": "value_error",
                    "input": name,
                }
                for name in unknown
            ]
        )
    return list(dict.fromkeys(metrics))


def experiments_of(session: Session, ids: list[str], *, tenant_id: str) -> list[Experiment]:
    """The tenant's experiments in the order of ``ids``; 404 naming the first unknown one
    (another tenant's experiment is unknown)."""
    found = []
    for experiment_id in ids:
        experiment = get_experiment(
            session=session, experiment_id=experiment_id, tenant_id=tenant_id
        )
        if experiment is None:
            raise not_found(experiment_id)
        found.append(experiment)
    return found


def summarize(experiment: Experiment) -> ComparedExperimentPublic:
    spec: dict[str, Any] = experiment.spec
    return ComparedExperimentPublic(
        id=experiment.id,
        name=experiment.name,
        status=experiment.status,
        dataset=spec["dataset"]["name"],
        model=spec["model"]["name"],
        dropout=spec["model"].get("dropout") or 0.0,
        optimizer=spec["optimizer"]["name"],
        lr=spec["optimizer"]["lr"],
        schedule=(spec.get("schedule") or {}).get("name", "constant"),
        epochs=spec["epochs"],
        seed=spec["seed"],
        final_metrics=experiment.final_metrics,
        error=experiment.error,
    )


def best_runs(runs: list[ComparedExperimentPublic], metrics: list[str]) -> dict[str, str]:
    best = {}
    for metric in metrics:
        scored = [
            (value, run.id)
            for run in runs
            if (value := (run.final_metrics or {}).get(metric)) is not None
        ]
        if scored:
            pick = max if metric in HIGHER_IS_BETTER else min
            best[metric] = pick(scored, key=lambda item: item[0])[1]
    return best


def markdown_table(runs: list[ComparedExperimentPublic], metrics: list[str]) -> str:
    header = ["id", "name", "status", "dataset", "model", "optimizer", "lr", "epochs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        model = run.model + (f" (dropout {run.dropout:g})" if run.dropout else "")
        values = [(run.final_metrics or {}).get(metric) for metric in metrics]
        cells = [run.id, run.name, run.status, run.dataset, model, run.optimizer,
                 f"{run.lr:g}", str(run.epochs),
                 *("-" if value is None else f"{value:.4f}" for value in values)]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


@router.get("/compare", response_model=ComparisonPublic, responses=NOT_FOUND)
def compare_experiments(ids: Ids, session: SessionDep, tenant: CurrentTenant) -> ComparisonPublic:
    """Each experiment's id, name, status, spec essentials and final metrics, and a
    summary table of the final metrics with the best run of each."""
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    runs = [summarize(experiment) for experiment in experiments]
    present = {name for run in runs for name in (run.final_metrics or {})}
    metrics = [metric for metric in SUMMARY_METRICS if metric in present]
    return ComparisonPublic(
        experiments=runs,
        metrics=metrics,
        best=best_runs(runs, metrics),
        table=markdown_table(runs, metrics),
    )


@router.get(
    "/compare.{image_format}",
    response_class=Response,
    responses={**NOT_FOUND, **IMAGE_RESPONSES},
)
def plot_comparison(
    ids: Ids,
    image_format: ImageFormat,
    session: SessionDep,
    tenant: CurrentTenant,
    metric: Annotated[
        list[str],
        Query(
            description="Metric(s) to overlay, one panel each (repeat): "
            f"{', '.join(METRICS)}; default test_acc."
        ),
    ] = ["test_acc"],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """The runs' curves of ``metric`` overlaid, one line per run (labelled with its name
    and the start of its id), one panel per metric: the study's figures (Adam vs AdaMax,
    dropout vs none, LR vs MLP vs CNN) for any runs. A run without points has no line."""
    metrics = parse_metrics(metric)
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    runs = [
        (
            f"{experiment.name} ({experiment.id[:8]})",
            plot_series(session=session, experiment_id=experiment.id, names=metrics),
        )
        for experiment in experiments
    ]
    panels = comparison_panels(runs, metrics)
    title = f"{len(runs)} experiment{'s' if len(runs) != 1 else ''}: " + ", ".join(
        METRICS[name].label for name in metrics
    )
    image = render_panels(
        panels,
        title=title,
        columns=min(len(panels), 2),
        image_format=image_format,
        allow_empty=True,
    )
    return image_response(image, image_format)
