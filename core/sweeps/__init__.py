"""Sweeps: a comparative study of many member experiments (configurations × seeds), and
what their results say: ``statistics`` (robust estimates for few seeds) and ``report`` (a
sweep's ranking, sensitivity, curves and times to a target)."""
