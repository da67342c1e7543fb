"""``adamlab reproduce table1 --server URL --seeds N``: Table 1 as a sweep of the service,
each configuration run with N seeds, its table the median of the seeds beside the
published numbers, with their range.

The sweep is the ``table1`` preset (``core.sweeps.presets``), narrowed to the command's
``--models`` and ``--optimizers`` and given its ``--epochs``, ``--train-limit``,
``--test-limit`` and ``--device``. It is created under an Idempotency-Key made from its
body, so running the same command again (after Ctrl-C, or to read the table later) follows
the same sweep instead of training a new one (``--resubmit``: a new one). One progress line
per change, as ``adamlab sweep wait``. It writes to ``--out``: ``table1.md``,
``summary.json`` (each configuration's members, seeds and accuracies) and the sweep
report's figure ``report.png`` (drawn by the service). A member that fails before its
first step failed for a reason of the service's setup (its data folder, its device),
which every member would meet: the command cancels the sweep and says so once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from adamlab.client import AdamlabClient
from adamlab.commands._remote import StoppedWaiting
from adamlab.commands.reproduce import configs_from_args
from adamlab.commands.sweep.create import SweepProgress
from core.sweeps.presets import table1
from core.table1 import Config, SeedCells, table1_seeds_markdown

EXIT_OK = 0
EXIT_FAILED = 1


def sweep_body(configs: list[Config], *, seeds: int) -> dict[str, Any]:
    """The ``table1`` preset with the configurations' models, optimizers and settings."""
    first = configs[0].spec
    body = table1(seeds=seeds, epochs=first.epochs)
    models = {(c.spec.model.name, getattr(c.spec.model, "dropout", 0.0)) for c in configs}
    optimizers = {c.optimizer for c in configs}
    values = body["parameters"]
    values["model"]["values"] = [
        m for m in values["model"]["values"] if (m["name"], m["dropout"]) in models
    ]
    values["optimizer"]["values"] = [
        o for o in values["optimizer"]["values"] if o["name"] in optimizers
    ]
    dataset = first.dataset.model_dump(mode="json", exclude_defaults=True)
    body["base"]["dataset"] |= {k: v for k, v in dataset.items() if k != "name"}
    body["base"]["device"] = first.device
    body["base"]["model"] = values["model"]["values"][0]
    body["base"]["optimizer"] = values["optimizer"]["values"][0]
    return body


def idempotency_key(body: dict[str, Any], nonce: str | None) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    key = f"table1-sweep-{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"
    return key if nonce is None else f"{key}-{nonce}"


def _config_of(member: dict[str, Any], configs: list[Config]) -> Config | None:
    spec = member["spec"]
    for config in configs:
        if spec["optimizer"]["name"] == config.optimizer and spec[
            "model"
        ] == config.spec.model.model_dump(mode="json"):
            return config
    return None


def _setup_failure(members: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A member that failed before training a step: the service cannot run any."""
    for member in members:
        if member["status"] == "failed" and not (member["progress"] or {}).get("step"):
            return member
    return None


def run_as_sweep(args: argparse.Namespace, client: AdamlabClient) -> int:
    configs = configs_from_args(args)
    body = sweep_body(configs, seeds=args.seeds)
    key = idempotency_key(body, uuid.uuid4().hex[:8] if args.resubmit else None)
    created = client.sweeps.create(body, idempotency_key=key)
    sweep = created.sweep
    again = "following the sweep an identical command created: " if created.replayed else ""
    print(
        f"{again}sweep {sweep['id']}: {len(configs)} configurations × {args.seeds} seeds = "
        f"{sweep['members']['total']} members",
        file=sys.stderr,
    )
    progress = SweepProgress() if not args.no_progress else None
    try:
        while sweep["status"] == "running":
            if progress is not None:
                progress.update(sweep)
            members = list(client.sweeps.members(sweep["id"]))
            failure = _setup_failure(members)
            if failure is not None:
                client.sweeps.cancel(sweep["id"])
                print(
                    f"adamlab reproduce: {failure['name']} failed before training a step: "
                    f"{failure.get('error')}; every member would; stopped; cancelled the "
                    f"sweep {sweep['id']}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            time.sleep(args.poll_interval)
            sweep = client.sweeps.get(sweep["id"])
    except KeyboardInterrupt:
        raise StoppedWaiting(
            sweep_id=sweep["id"], hint="run the same command to follow it again"
        ) from None
    finally:
        if progress is not None:
            progress.close()
    members = list(client.sweeps.members(sweep["id"]))
    cells = _cells(configs, members, seeds=args.seeds)
    devices = sorted({m["device"] for m in members if m.get("device")})
    machine = f"the adamlab service at {client.base_url} (devices: {', '.join(devices) or '?'})"
    table = table1_seeds_markdown(cells, machine=machine, source=f"sweep {sweep['id']}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "table1.md").write_text(table)
    (out / "summary.json").write_text(json.dumps(_summary(sweep, configs, members), indent=1))
    (out / "report.png").write_bytes(client.sweeps.report_figure(sweep["id"]))
    print(table)
    print(f"wrote {out / 'table1.md'}, summary.json, report.png", file=sys.stderr)
    failed = [m for m in members if m["status"] != "succeeded"]
    for member in failed:
        print(f"adamlab reproduce: {member['name']} {member['status']}: {member.get('error')}",
              file=sys.stderr)  # fmt: skip
    return EXIT_FAILED if failed else EXIT_OK


def _cells(configs: list[Config], members: list[dict[str, Any]], *, seeds: int) -> list[SeedCells]:
    accuracies: dict[str, list[float]] = {c.key: [] for c in configs}
    for member in members:
        config = _config_of(member, configs)
        final = (member.get("final_metrics") or {}).get("test_acc")
        if config is not None and member["status"] == "succeeded" and final is not None:
            accuracies[config.key].append(final)
    return [SeedCells(c, tuple(accuracies[c.key]), seeds) for c in configs]


def _summary(
    sweep: dict[str, Any], configs: list[Config], members: list[dict[str, Any]]
) -> dict[str, Any]:
    by_key: dict[str, Any] = {"sweep": sweep["id"], "configurations": {}}
    for config in configs:
        mine = sorted(
            (m for m in members if _config_of(m, configs) is config),
            key=lambda m: m["spec"]["seed"],
        )
        finals = [(m.get("final_metrics") or {}).get("test_acc") for m in mine]
        counted = [f for f in finals if f is not None]
        by_key["configurations"][config.key] = {
            "members": [
                {"id": m["id"], "seed": m["spec"]["seed"], "status": m["status"], "test_acc": f}
                for m, f in zip(mine, finals, strict=True)
            ],
            "median": statistics.median(counted) if counted else None,
            "lowest": min(counted) if counted else None,
            "highest": max(counted) if counted else None,
        }
    return by_key
