"""The playground's test problems as formulas: what the worker minimises (with torch
tensors, autograd giving the gradient) and what a figure draws under the trajectories
(with NumPy arrays), from one definition.

Each 2-D function is written with arithmetic alone (+, −, ·, powers), so the same code
evaluates a float, a NumPy array or a torch tensor. Per function: its minima and the
minimum value f*, the customary start point (the spec's default) and the window a contour
plot shows by default.

- **rosenbrock**: f = (1 − x)² + 100·(y − x²)², a curved valley; minimum (1, 1), f* = 0;
  start (−1.5, 2).
- **beale**: f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²; minimum
  (3, 0.5), f* = 0; start (1, 1.5), flat plateaus and steep walls.
- **himmelblau**: f = (x² + y − 11)² + (x + y² − 7)², four minima with f* = 0; start (0, 0).
- **saddle**: f = x² + y⁴/4 − y²/2, a saddle point at the origin between two minima
  (0, ±1), f* = −1/4; start (2, 0.001), almost on the saddle's ridge, where the gradient
  along y is tiny.
- **canyon**: f = (x² + κ·y²)/2, an ill-conditioned quadratic whose curvature across the
  canyon (y) is κ times that along its floor (x): κ is the spec's ``curvature_ratio``
  (default 100); minimum (0, 0), f* = 0; start (−8, 1).

**reddi** is Reddi, Kale & Kumar (2018)'s online counterexample in one dimension: at step
t (1-based) the loss is f_t(x) = 1010·x when t mod 101 = 1, else −10·x, and x is kept in
[−1, 1] by projection after every step. Over a period the losses average to
F(x) = (1010 − 100·10)/101 · x = 10x/101, minimised at x = −1 (F* = −10/101); Adam with
β2 < 1 forgets the rare large gradient and drifts to +1, AMSGrad keeps the largest v and
goes to −1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.spec import FunctionDataset, ReddiDataset

Coordinate = Any
"""A float, a NumPy array or a torch tensor: the formulas use arithmetic alone."""

Formula = Callable[[Coordinate, Coordinate], Coordinate]

DEFAULT_CURVATURE_RATIO = 100.0

REDDI_PERIOD = 101
REDDI_LARGE_GRADIENT = 1010.0
REDDI_SMALL_GRADIENT = -10.0
REDDI_BOUNDS = (-1.0, 1.0)


def rosenbrock(x: Coordinate, y: Coordinate) -> Coordinate:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x: Coordinate, y: Coordinate) -> Coordinate:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def himmelblau(x: Coordinate, y: Coordinate) -> Coordinate:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def saddle(x: Coordinate, y: Coordinate) -> Coordinate:
    return x**2 + y**4 / 4 - y**2 / 2


def canyon(curvature_ratio: float) -> Formula:
    """f = (x² + κ·y²)/2 with κ = ``curvature_ratio``."""

    def formula(x: Coordinate, y: Coordinate) -> Coordinate:
        return (x**2 + curvature_ratio * y**2) / 2

    return formula


@dataclass(frozen=True)
class Surface:
    """A 2-D test function: its formula (of κ for the canyon), minima, f*, default start
    and the window ((x low, x high), (y low, y high)) of its contour plot."""

    formula: Callable[[float], Formula]
    minima: tuple[tuple[float, float], ...]
    minimum_value: float
    start: tuple[float, float]
    window: tuple[tuple[float, float], tuple[float, float]]
    log_levels: bool = True
    """Contour levels spaced on a log scale of f − f* (a valley), else linearly."""


def _fixed(formula: Formula) -> Callable[[float], Formula]:
    return lambda _curvature_ratio: formula


FUNCTIONS: dict[str, Surface] = {
    "rosenbrock": Surface(_fixed(rosenbrock), ((1.0, 1.0),), 0.0, (-1.5, 2.0),
                               ((-2.0, 2.0), (-1.0, 3.0))),
    "beale": Surface(_fixed(beale), ((3.0, 0.5),), 0.0, (1.0, 1.5),
                          ((-4.5, 4.5), (-4.5, 4.5))),
    "himmelblau": Surface(
        _fixed(himmelblau),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        0.0, (0.0, 0.0), ((-5.0, 5.0), (-5.0, 5.0)),
    ),
    "saddle": Surface(_fixed(saddle), ((0.0, 1.0), (0.0, -1.0)), -0.25, (2.0, 0.001),
                           ((-2.5, 2.5), (-1.8, 1.8)), log_levels=False),
    "canyon": Surface(canyon, ((0.0, 0.0),), 0.0, (-8.0, 1.0),
                           ((-9.0, 1.5), (-1.5, 1.5))),
}  # fmt: skip
"""The 2-D test functions of the ``function`` data set, by the spec's ``function``."""


def reddi_gradient(step: int) -> float:
    """The slope of Reddi's online loss f_t(x) at step t (1-based): 1010 when
    t mod 101 = 1, else −10."""
    return REDDI_LARGE_GRADIENT if step % REDDI_PERIOD == 1 else REDDI_SMALL_GRADIENT


REDDI_MEAN_GRADIENT = (REDDI_LARGE_GRADIENT + (REDDI_PERIOD - 1) * REDDI_SMALL_GRADIENT) / (
    REDDI_PERIOD
)
"""The slope of F(x), the online losses' average over a period: 10/101."""


def reddi_objective(x: Coordinate) -> Coordinate:
    """F(x) = 10x/101, the average of Reddi's online losses over a period."""
    return REDDI_MEAN_GRADIENT * x


@dataclass(frozen=True)
class Problem:
    """What a figure needs to know about one test problem: its objective F (of the
    position's coordinates), minima, F*, the window of a contour plot (2-D only) and a
    title."""

    title: str
    dimensions: int
    objective: Callable[..., Coordinate]
    minima: tuple[tuple[float, ...], ...]
    minimum_value: float
    window: tuple[tuple[float, float], ...]
    log_levels: bool = True

    def distance(self, position: Sequence[float]) -> float:
        """The Euclidean distance from ``position`` to the nearest minimum."""
        return min(math.dist(position, minimum) for minimum in self.minima)


def problem_of(dataset: FunctionDataset | ReddiDataset) -> Problem:
    """The ``Problem`` of a ``function`` or ``reddi`` data set spec (its name decides)."""
    if dataset.name == "reddi":
        return Problem(
            title="Reddi et al.'s online problem",
            dimensions=1,
            objective=reddi_objective,
            minima=((REDDI_BOUNDS[0],),),
            minimum_value=reddi_objective(REDDI_BOUNDS[0]),
            window=(REDDI_BOUNDS,),
            log_levels=False,
        )
    function = FUNCTIONS[dataset.function]
    ratio = dataset.curvature_ratio or DEFAULT_CURVATURE_RATIO
    title = dataset.function + (f" (κ = {ratio:g})" if dataset.function == "canyon" else "")
    return Problem(
        title=title,
        dimensions=2,
        objective=function.formula(ratio),
        minima=function.minima,
        minimum_value=function.minimum_value,
        window=function.window,
        log_levels=function.log_levels,
    )


def start_of(dataset: FunctionDataset | ReddiDataset) -> tuple[float, ...]:
    """Where a test problem's run starts: the spec's ``start``, else the customary one."""
    if dataset.start is not None:
        return tuple(dataset.start)
    if dataset.name == "reddi":
        return (0.0,)
    return FUNCTIONS[dataset.function].start
