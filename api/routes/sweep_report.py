"""A sweep's report: ``report`` (JSON, or CSV with ``Accept: text/csv``) and its figure,
``report.png`` and ``report.svg``, from its members' stored metrics as they are now; for a
sweep of the ``bias-correction`` preset also ``bias-correction.png`` and ``.svg``, Kingma &
Ba's Figure 4 (``core.plots.bias_correction``)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status

from api.auth import KeyedRoute
from api.deps import OwnedSweep, SessionDep
from api.errors import invalid_parameter
from api.representations import CSV_MEDIA_TYPE, IMAGE_RESPONSES, image_response, prefers_csv
from core.plots.bias_correction import (
    NotABiasCorrectionSweepError,
    bias_correction_figure,
    points_from_report,
)
from core.plots.drawing import ImageFormat
from core.plots.sweep_report import sweep_report_figure
from core.sweeps.report_inputs import sweep_report

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], route_class=KeyedRoute)

Target = Annotated[
    float | None,
    Query(
        description="A value of the sweep metric: the report then says how soon each "
        "configuration first reached it (steps, examples, seconds) and, over several data "
        "sets or models, the optimizers' performance profile."
    ),
]


Epoch = Annotated[
    int | None,
    Query(
        ge=1,
        le=10_000,
        description="Draw the loss after this epoch (the median of each configuration's "
        "curve there) instead of after the last; default the last.",
    ),
]


def _checked(target: float | None) -> float | None:
    if target is not None and not math.isfinite(target):
        raise invalid_parameter("target", "target must be a finite number", value=target)
    return target


@router.get(
    "/{sweep_id}/report",
    responses={200: {"content": {"application/json": {}, CSV_MEDIA_TYPE: {}}}},
)
def get_sweep_report(
    sweep: OwnedSweep,
    session: SessionDep,
    target: Target = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """Per configuration: the metric of each seed, median, interquartile mean and its 95%
    bootstrap confidence interval, ranked, the best named; the learning-rate sensitivity
    per optimizer with a band across seeds; the learning curves (median and interquartile
    band); with ``target``, the time to it; the probability of improvement of each
    optimizer over each other, and the performance profile over several tasks. Early-
    stopped members are listed with their reason, not counted. CSV: one row per
    configuration."""
    report = sweep_report(session=session, sweep=sweep, target=_checked(target))
    if prefers_csv(accept):
        return Response(report.to_csv(), media_type=CSV_MEDIA_TYPE)
    return report.to_json()


@router.get("/{sweep_id}/report.{image_format}", response_class=Response, responses=IMAGE_RESPONSES)
def get_sweep_report_figure(
    sweep: OwnedSweep, image_format: ImageFormat, session: SessionDep, target: Target = None
) -> Response:
    """The report as a figure: the learning-rate sensitivity (final metric against log lr,
    one line per optimizer, an interquartile band across seeds), the learning curves of the
    best configurations (median and interquartile band) and the ranking with its
    confidence intervals."""
    report = sweep_report(session=session, sweep=sweep, target=_checked(target))
    figure = sweep_report_figure(report, fmt=image_format, name=sweep.name)
    return image_response(figure, image_format)


@router.get(
    "/{sweep_id}/bias-correction.{image_format}",
    response_class=Response,
    responses=IMAGE_RESPONSES,
)
def get_bias_correction_figure(
    sweep: OwnedSweep, image_format: ImageFormat, session: SessionDep, epoch: Epoch = None
) -> Response:
    """Kingma & Ba's Figure 4 for a sweep of the ``bias-correction`` preset: the loss
    (−ELBO) after the last epoch (or after ``epoch``) against log10 α, one panel per β1,
    one line per β2, solid with and dashed without bias correction, a cross where a
    configuration diverged. 409 when the sweep does not vary ``optimizer.betas`` and
    ``optimizer.bias_correction``, or no configuration has a value yet."""
    report = sweep_report(session=session, sweep=sweep, target=None)
    try:
        points = points_from_report(report, epoch=epoch)
    except NotABiasCorrectionSweepError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if not any(p.loss is not None or p.diverged for p in points):
        raise HTTPException(
            status.HTTP_409_CONFLICT, "no configuration of the sweep has a value to draw yet"
        )
    after = f"after epoch {epoch}" if epoch is not None else "after the last epoch"
    title = f"Sweep {sweep.name!r}: bias correction (Kingma & Ba 2015, Figure 4), {after}"
    return image_response(
        bias_correction_figure(points, fmt=image_format, title=title), image_format
    )
