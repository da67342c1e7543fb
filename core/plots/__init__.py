"""Figures of learning curves, drawn from plain metric values (no torch).

Two inputs are accepted: points (``core.metrics.MetricPoint``, or mappings with its
field names as keys), or curves already split by metric (``core.metrics.MetricSeries``:
parallel lists, as the store reads them). Which panel a metric goes to, its label and
whether its axis is logarithmic come from the registry ``core.metrics.METRICS``; how
lines and axes look comes from ``core.figure_style`` (one colour and dash pattern per
optimizer, plain log labels, integer epoch ticks), the same in every figure. So the API
draws a stored run's ``plot.png`` with the same panels and lines as ``adamlab train``.

One module per job:

- ``chart``: the model of a figure, a ``Chart`` (panels, title, notes) of ``Panel`` and
  ``Curve`` objects, and the points grouped into curves by metric;
- ``smoothing``: the EMA of a per-iteration curve;
- ``run_chart``: one run's figure (``run_chart``: a constant learning rate is a note, not
  a flat panel; the title says how far a stopped run got);
- ``comparison``: runs overlaid (``comparison_panels``), on a shared x axis;
- ``sweep_report``: a sweep's figure (``sweep_report_figure``: learning-rate sensitivity,
  learning curves with their bands across seeds, the ranking with confidence intervals);
- ``drawing``: ``draw`` builds the matplotlib ``Figure`` (object API, Agg canvas: no pyplot
  global state, safe in threads), ``render`` its PNG or SVG bytes; matplotlib is imported
  inside the functions so importing these modules stays cheap. In SVG every line is a
  ``<g>`` whose ``id`` is ``curve:<panel title>:<label>``.
"""
