"""The experiment task's function in the test's own process, on a store opened here
(``store``): an experiment created straight in the store, then the task run on it, at
once or on a thread of its own."""

from __future__ import annotations

import threading
from typing import Any

from core.settings import Settings
from core.spec import ExperimentSpec
from core.store.experiments import create_experiment
from core.store.models import DEFAULT_TENANT_ID
from tests.support.store import Store


def submit(store: Store, body: dict[str, Any]) -> str:
    """Create the experiment of ``body`` (a spec's JSON) on the cpu queue; its id."""
    with store.session() as session:
        experiment, _ = create_experiment(
            session=session,
            tenant_id=DEFAULT_TENANT_ID,
            spec=ExperimentSpec.model_validate(body),
            queue="cpu",
        )
    return experiment.id


def execute(store: Store, config: Settings, experiment_id: str) -> str:
    """Run the task on ``experiment_id`` here, as the worker ``test-worker``; how it ended."""
    from worker.tasks import execute_experiment

    return execute_experiment(
        experiment_id,
        worker_name="test-worker",
        session_factory=store.session_factory,
        config=config,
    )


def run_in_thread(
    store: Store, config: Settings, experiment_id: str
) -> tuple[threading.Thread, list[str]]:
    """Start the task on a daemon thread; the thread and a list that gets how it ended."""
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(execute(store, config, experiment_id)), daemon=True
    )
    thread.start()
    return thread, outcome
