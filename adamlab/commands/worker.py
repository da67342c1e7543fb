"""adamlab worker: a Celery worker that trains the queued experiments.

    adamlab worker                      # queue cpu, one job at a time
    adamlab worker --queues gpu         # one pool process per visible GPU, each pinned to one
    adamlab worker --ping               # exit 0 if this host's worker answers (health check)

Needs REDIS_URL (the broker) and the same DATABASE_URL and ADAMLAB_STATE_DIR as the API:
checkpoints are kept in ADAMLAB_STATE_DIR/checkpoints, which every worker must share.
"""

from __future__ import annotations

import argparse
import socket
import sys

DEFAULT_NAME = "adamlab@%h"
"""Celery node name; %h is the host name."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery worker that trains experiments")
    parser.add_argument(
        "--queues",
        default="cpu",
        help="comma-separated queues to consume: cpu, gpu (default: cpu)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs run at once, one pool process each (default: 1 for cpu; for gpu, the "
        "number of visible GPUs, one job per GPU)",
    )
    # argparse %-formats help text: the default (with its %h) goes in as %(default)s.
    parser.add_argument("--name", default=DEFAULT_NAME, help="node name (default: %(default)s)")
    parser.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    parser.add_argument(
        "--ping", action="store_true", help="ask this host's worker to answer, then exit"
    )
    parser.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    from core.celery_app import QUEUES, celery_app
    from core.settings import settings

    if settings.redis_url is None:
        print(
            "adamlab worker: REDIS_URL is not set (the broker to take jobs from)", file=sys.stderr
        )
        return 2
    node_name = args.name.replace("%h", socket.gethostname())
    if args.ping:
        replies = celery_app.control.ping(destination=[node_name], timeout=5.0)
        return 0 if replies else 1
    queues = [queue.strip() for queue in args.queues.split(",") if queue.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if not queues or unknown:
        print(
            f"adamlab worker: --queues must name some of {QUEUES}, got {args.queues!r}",
            file=sys.stderr,
        )
        return 2
    if args.concurrency is not None and args.concurrency < 1:
        print(
            f"adamlab worker: --concurrency must be >= 1, got {args.concurrency}", file=sys.stderr
        )
        return 2
    concurrency = args.concurrency
    import worker.pool
    import worker.tasks  # registers the task

    if "gpu" in queues:
        gpus = worker.pool.enable_one_gpu_per_process()
        if gpus == 0:
            print("adamlab worker: --queues gpu, but no CUDA device is visible", file=sys.stderr)
            return 2
        concurrency = concurrency or gpus
    settings.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    celery_app.worker_main(
        [
            "worker",
            f"--queues={','.join(queues)}",
            f"--concurrency={concurrency or 1}",
            f"--hostname={node_name}",
            f"--loglevel={args.loglevel}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
