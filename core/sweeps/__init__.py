"""Sweeps: a comparative study in one request. A sweep is a base experiment spec, the
parameters it varies (values or distributions, some conditional on others), seeds as an
axis, a search method and an early-stopping rule; each member (a configuration with a
seed) is an ordinary experiment. Torch-free: the API and the workers both use it.

``spec`` the request's types, ``space`` the configurations and the member specs they make,
``sampling`` the search (Optuna's samplers), ``early_stopping`` the stop decisions (Optuna's
pruners), ``statistics`` and ``report`` what a sweep's results say."""
