"""The playground's presets run on this machine: each member spec of a preset sweep
(``core/sweeps/presets.py``: ``canyon``, ``reddi``) through the engine, and the figure
of their trajectories (``core/plots/playground.py``). ``adamlab reproduce canyon`` and
``benchmarks/playground_figures.py`` call it; a service draws the same figure from the
sweep's members (``GET /v1/compare/trajectory.png``)."""

from __future__ import annotations

from dataclasses import dataclass

from core.metrics import MetricPoint
from core.plots.chart import series_by_name
from core.plots.playground import Trajectory, TrajectoryFormat, render_playground, run_label
from core.problems import problem_of, start_of
from core.spec import ExperimentSpec, FunctionDataset, ReddiDataset
from core.sweeps.presets import PRESETS
from core.sweeps.space import grid, member_spec
from core.sweeps.spec import SweepSpec
from worker.engine import run_experiment
from worker.run_result import RunResult
from worker.sinks import ListSink

PLAYGROUND_PRESETS = ("canyon", "reddi")
"""The presets whose members are test problems (a trajectory to draw)."""


@dataclass(frozen=True)
class PresetRun:
    spec: ExperimentSpec
    result: RunResult
    points: list[MetricPoint]

    def trajectory(self) -> Trajectory:
        dataset = self.spec.dataset
        assert isinstance(dataset, FunctionDataset | ReddiDataset)
        return Trajectory.from_curves(
            series_by_name(self.points),
            label=run_label(self.spec.optimizer.model_dump(mode="json")),
            optimizer=self.spec.optimizer.name,
            start=start_of(dataset),
        )


def preset_specs(name: str, **arguments: object) -> list[ExperimentSpec]:
    """The member specs of preset ``name`` (one per configuration and seed), as the
    service's sweep would run them."""
    sweep = SweepSpec.model_validate(PRESETS[name](**arguments))
    return [member_spec(sweep, config, seed) for config in grid(sweep) for seed in sweep.seed_list]


def run_preset(name: str, *, device: str = "cpu", **arguments: object) -> list[PresetRun]:
    """Every member of preset ``name`` run here, in the preset's order."""
    runs = []
    for spec in preset_specs(name, **arguments):
        spec = spec.model_copy(update={"device": device})
        sink = ListSink()
        result = run_experiment(spec, sink=sink)
        runs.append(PresetRun(spec, result, sink.points))
    return runs


def preset_figure(
    runs: list[PresetRun], *, image_format: TrajectoryFormat = "png", title: str = ""
) -> bytes:
    """The trajectories of a playground preset's runs in one figure."""
    dataset = runs[0].spec.dataset
    assert isinstance(dataset, FunctionDataset | ReddiDataset)
    return render_playground(
        problem_of(dataset),
        [run.trajectory() for run in runs],
        image_format=image_format,
        title=title,
    )
