"""The sweeps routes of the adamlab API (``/v1/sweeps``), as ``AdamlabClient.sweeps``:

    with AdamlabClient("http://127.0.0.1:8000") as client:
        created = client.sweeps.create(core.sweeps.presets.lr_sensitivity())
        final = client.sweeps.wait(created.sweep["id"])
        print(final["status"], final["best"])

A module of its own beside ``adamlab/client.py`` (which holds the transport and the
experiments' routes, and is near the project's size of a file), on the same transport:
the same errors (``ApiError``, ``ServerUnreachable``) and the same retries of transient
errors. Every request here but ``create`` is safe to repeat (reads; cancel, extend and
delete ask for a state, which asking twice does not change); ``create`` always sends an
``Idempotency-Key`` (the caller's, or a fresh one), so its retry after a lost connection
or a gateway's 502 or 504 is answered with the sweep the first attempt made, never a
second one. A 503 of a creation is not retried: the server answers it when the broker
could not take the members, and a replay of the key would answer that sweep, its members
failed (the 503 says to try again with a new key).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adamlab.client import AdamlabClient

CREATE_RETRY_STATUSES = frozenset({502, 504})
"""Gateway answers after which a creation is sent again (with its key): not 503 (above)."""
SWEEP_ENDED_STATUSES = frozenset({"finished", "cancelled"})
"""A sweep in one of these runs no more members (``running`` is the other status)."""


@dataclass(frozen=True)
class CreatedSweep:
    """A creation's answer: the sweep, and whether the server replayed it (the
    Idempotency-Key had been used for the same body) rather than creating it."""

    sweep: dict[str, Any]
    replayed: bool


class SweepClient:
    """The ``/v1/sweeps`` routes; ``AdamlabClient.sweeps`` builds one on its client."""

    def __init__(self, client: AdamlabClient) -> None:
        self._client = client

    def create(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> CreatedSweep:
        """Create a sweep from ``body`` (``POST /v1/sweeps``: base, parameters, seeds,
        method, metric, early_stopping); every member is queued by the server."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        response = self._client._request(
            "POST",
            "/v1/sweeps",
            json=body,
            headers=headers,
            repeatable=True,
            retry_statuses=CREATE_RETRY_STATUSES,
        )
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return CreatedSweep(sweep=response.json(), replayed=replayed)

    def get(self, sweep_id: str) -> dict[str, Any]:
        return self._client._json("GET", f"/v1/sweeps/{sweep_id}")

    def list(self, *, cursor: str | None = None) -> dict[str, Any]:
        """One page: ``{"data": [...], "next_cursor": str | None}``, newest first."""
        params = {"cursor": cursor} if cursor else {}
        return self._client._json("GET", "/v1/sweeps", params=params)

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every sweep, following the cursor."""
        cursor = None
        while True:
            page = self.list(cursor=cursor)
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def members(self, sweep_id: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """The sweep's member experiments (``GET /v1/experiments?sweep=ID``), filtered as
        ``AdamlabClient.list`` is."""
        return self._client.iter_all(sweep=sweep_id, **filters)

    def cancel(self, sweep_id: str) -> dict[str, Any]:
        """Cancel the sweep and every member of it still queued or running."""
        return self._client._json("POST", f"/v1/sweeps/{sweep_id}/cancel", repeatable=True)

    def extend(
        self,
        sweep_id: str,
        *,
        seeds: int | list[int] | None = None,
        parameters: dict[str, Any] | None = None,
        max_members: int | None = None,
    ) -> dict[str, Any]:
        """Add members: ``seeds`` the sweep's new seeds (a count or a list holding the old
        ones), ``parameters`` entries replacing those of the same path (or new paths),
        ``max_members`` a larger bound of a non-grid search. The sweep, with ``added``
        the members it made. Each value names the state wanted, not a change to it, so a
        repeat adds nothing more (and answers ``added: 0``)."""
        changes: dict[str, Any] = {
            "seeds": seeds,
            "parameters": parameters,
            "max_members": max_members,
        }
        body = {key: value for key, value in changes.items() if value is not None}
        return self._client._json(
            "POST", f"/v1/sweeps/{sweep_id}/extend", json=body, repeatable=True
        )

    def delete(self, sweep_id: str) -> None:
        """Delete the sweep (a repeat after a lost answer is 404 if the first did it)."""
        self._client._request("DELETE", f"/v1/sweeps/{sweep_id}", repeatable=True)

    def report(self, sweep_id: str, *, target: float | None = None) -> dict[str, Any]:
        """The sweep's report: its configurations ranked by the metric, with median, IQM
        and a bootstrap confidence interval across seeds; ``target`` a value of the
        metric whose time to reach the report measures."""
        return self._client._json("GET", f"/v1/sweeps/{sweep_id}/report", params=_target(target))

    def report_csv(self, sweep_id: str, *, target: float | None = None) -> str:
        response = self._client._request(
            "GET",
            f"/v1/sweeps/{sweep_id}/report",
            params=_target(target),
            headers={"Accept": "text/csv"},
        )
        return response.text

    def report_figure(
        self, sweep_id: str, *, image_format: str = "png", target: float | None = None
    ) -> bytes:
        """The report's figure, ``image_format`` png or svg."""
        path = f"/v1/sweeps/{sweep_id}/report.{image_format}"
        return self._client._request("GET", path, params=_target(target)).content

    def wait(
        self,
        sweep_id: str,
        *,
        poll_interval_s: float = 2.0,
        timeout_s: float | None = None,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the sweep is finished or cancelled; ``on_update`` sees every poll."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            sweep = self.get(sweep_id)
            if on_update is not None:
                on_update(sweep)
            if sweep["status"] in SWEEP_ENDED_STATUSES:
                return sweep
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"sweep {sweep_id} still {sweep['status']} after {timeout_s} s")
            time.sleep(poll_interval_s)


def _target(target: float | None) -> dict[str, float]:
    return {} if target is None else {"target": target}
