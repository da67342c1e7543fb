"""The Celery app that connects the API to the workers: broker, queues, task names.

The API sends work by task name and experiment id (``dispatch_experiment``); the task
itself lives in ``worker/tasks.py`` and is registered under ``RUN_EXPERIMENT_TASK`` when a
worker imports that module. Both sides configure this same app from the one settings
object, so they cannot disagree about the broker.

Delivery guarantees (see docs/api.md, "Nothing lost"):

- ``task_acks_late``: a message is acknowledged when the task returns, not when it starts,
  so a job whose worker dies is still in the broker.
- ``worker_prefetch_multiplier = 1``: a worker process holds one job at a time; others
  stay in the queue for other workers.
- ``task_reject_on_worker_lost``: when a pool child dies (SIGKILL, out of memory), its
  message goes straight back to the queue.
- Redis's ``visibility_timeout`` is long (``ADAMLAB_BROKER_VISIBILITY_TIMEOUT_S``):
  Redis gives an unacknowledged message to another worker only after it, whether or
  not the first is still running, so a short one would start long jobs twice. A worker
  that vanished is found sooner by its missing heartbeats (``core.store.experiments``,
  ``reap_lost_experiments``); every redelivery is made harmless by the store's claim.
"""

from __future__ import annotations

from typing import Literal

import redis
import redis.exceptions
from celery import Celery
from kombu.entity import Queue
from kombu.exceptions import OperationalError as KombuOperationalError

from core.settings import Settings, settings

RUN_EXPERIMENT_TASK = "adamlab.run_experiment"
"""The one task: ``run_experiment(experiment_id: str)``."""

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
QUEUES = (CPU_QUEUE, GPU_QUEUE)

BROKER_TIMEOUT_S = 5.0


class BrokerNotConfiguredError(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "REDIS_URL is not set: set it to your Redis (redis://host:6379/0), or run "
            "`adamlab serve`, which starts a private one"
        )


class BrokerUnavailableError(RuntimeError):
    """The broker did not take the message (down, unreachable, or refusing)."""


def celery_config(config: Settings) -> dict[str, object]:
    """Celery's configuration, all of it derived from ``config``."""
    return {
        # Without REDIS_URL there is no broker; dispatch_experiment and the worker command
        # refuse to start with a message naming it, instead of Celery trying amqp://.
        "broker_url": config.redis_url or "redis://REDIS_URL-is-not-set:6379/0",
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": BROKER_TIMEOUT_S,
        "broker_pool_limit": 64,
        "broker_transport_options": {
            "visibility_timeout": config.broker_visibility_timeout_s,
            "socket_timeout": BROKER_TIMEOUT_S * 2,
            "socket_connect_timeout": BROKER_TIMEOUT_S,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_queues": tuple(Queue(name, routing_key=name) for name in QUEUES),
        "task_default_queue": CPU_QUEUE,
        "task_create_missing_queues": False,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.0,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }


celery_app = Celery("adamlab")
celery_app.config_from_object(celery_config(settings))


def queue_for_device(device: Literal["auto", "cpu", "cuda"]) -> str:
    """The queue of a spec's device: ``cuda`` → gpu, ``cpu`` → cpu, ``auto`` →
    ``ADAMLAB_AUTO_DEVICE_QUEUE`` (cpu unless set)."""
    if device == "cuda":
        return GPU_QUEUE
    if device == "cpu":
        return CPU_QUEUE
    return GPU_QUEUE if settings.auto_device_queue == "gpu" else CPU_QUEUE


def dispatch_experiment(experiment_id: str, *, queue: str) -> None:
    """Send the job of ``experiment_id`` to ``queue``; raises BrokerNotConfiguredError, or
    BrokerUnavailableError when the broker cannot be reached (after a few quick retries)."""
    if settings.redis_url is None:
        raise BrokerNotConfiguredError()
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {QUEUES}, not {queue!r}")
    try:
        celery_app.send_task(RUN_EXPERIMENT_TASK, args=[experiment_id], queue=queue)
    except (
        KombuOperationalError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    ) as exc:
        raise BrokerUnavailableError(
            f"the broker at REDIS_URL did not take the job: {exc}"
        ) from exc


def ping_broker(*, timeout_s: float = 2.0) -> None:
    """Raise BrokerUnavailableError unless the broker answers PING within ``timeout_s``."""
    if settings.redis_url is None:
        raise BrokerNotConfiguredError()
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise BrokerUnavailableError(f"the broker at REDIS_URL does not answer: {exc}") from exc
    finally:
        client.close()
