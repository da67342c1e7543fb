"""A Python client of the adamlab API (httpx), used by the ``adamlab`` commands.

    from adamlab.client import AdamlabClient
    with AdamlabClient("http://127.0.0.1:8000") as client:
        experiment = client.submit({"dataset": {"name": "digits"},
                                    "model": {"name": "logistic_regression"},
                                    "optimizer": {"name": "adam"}, "epochs": 3})
        final = client.wait(experiment["id"])
        print(final["status"], final["final_metrics"])

Every method returns the API's JSON (dicts) or bytes, and raises ``ApiError`` for an HTTP
error answer and ``ServerUnreachable`` when no server answers (both in
``adamlab/answers.py``, with what counts as a transient answer and how long to wait).

Transient errors are retried (tenacity), with exponential backoff and jitter, for at most
``retry_for_s`` seconds in all (``ADAMLAB_RETRY_FOR_S``, default 60): a connection that
could not be made, once the server has answered this client (a restart; a server that has
never answered is reported at once, as a wrong address usually is), and, for requests that
are safe to repeat (reads, cancel, edit, delete), a broken connection and the gateway
answers 502, 503 and 504, waiting the ``Retry-After`` a 503 gives. A 4xx is never retried, nor is a
submission that may have reached the server.

The sweeps routes are ``client.sweeps`` (``adamlab/sweep_client.py``), on this transport; a
sweep's creation carries an Idempotency-Key, so it is retried as a read is, except after a 503.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
)

from adamlab.answers import (
    TRANSIENT_STATUS_CODES,
    RetryAfterOrBackoff,
    ServerUnreachable,
    TransientAnswer,
    api_error,
    describe_error,
)
from adamlab.sweep_client import SweepClient

FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled", "stopped"})
"""An experiment in one of these has ended (``stopped``: a sweep's early-stopping rule)."""
DEFAULT_RETRY_FOR_S = 60.0


class ClientSettings(BaseSettings):
    """Defaults of the client commands, from the environment."""

    model_config = SettingsConfigDict(env_prefix="ADAMLAB_", extra="ignore")

    server: str = Field(
        default="http://127.0.0.1:8000", description="ADAMLAB_SERVER: base URL of the adamlab API."
    )
    api_key: str | None = Field(
        default=None, description="ADAMLAB_API_KEY: sent as 'Authorization: Bearer <key>'."
    )
    retry_for_s: float = Field(
        default=DEFAULT_RETRY_FOR_S,
        ge=0,
        description="ADAMLAB_RETRY_FOR_S: longest time, in seconds, one request is retried "
        "while the server does not answer (0: never).",
    )


@dataclass(frozen=True)
class Submitted:
    """A submission's answer: the experiment, and whether the server replayed it (the
    Idempotency-Key had been used for the same spec) rather than creating it."""

    experiment: dict[str, Any]
    replayed: bool


class AdamlabClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retry_for_s: float = DEFAULT_RETRY_FOR_S,
        on_retry: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``retry_for_s``: longest time one request is retried (module docstring);
        ``on_retry`` is told, in a sentence, when a request is first retried."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.retry_for_s = retry_for_s
        self._on_retry = on_retry
        self._answered = False
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> AdamlabClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def sweeps(self) -> SweepClient:
        """The sweeps routes (``/v1/sweeps``), on this client's transport and retries."""
        return SweepClient(self)

    # --- transport ----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        repeatable: bool | None = None,
        retry_statuses: frozenset[int] = TRANSIENT_STATUS_CODES,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request, retrying transient errors (module docstring). ``repeatable``:
        whether sending it twice does no harm (default: GET and HEAD are); a repeatable
        request is retried after the gateway answers of ``retry_statuses``."""
        if repeatable is None:
            repeatable = method in ("GET", "HEAD")
        retrying = Retrying(
            retry=retry_if_exception(
                lambda error: self._transient(error, repeatable, retry_statuses)
            ),
            wait=RetryAfterOrBackoff(),
            stop=stop_before_delay(self.retry_for_s),
            before_sleep=self._tell_retry,
            reraise=True,
        )
        try:
            response = retrying(self._send, method, path, **kwargs)
        except TransientAnswer as answer:
            raise api_error(answer.response) from None
        except httpx.TransportError as error:
            raise ServerUnreachable(self._unreachable(error)) from None
        if response.is_error:
            raise api_error(response)
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        self._answered = True
        if response.status_code in TRANSIENT_STATUS_CODES:
            raise TransientAnswer(response)
        return response

    def _transient(
        self, error: BaseException, repeatable: bool, retry_statuses: frozenset[int]
    ) -> bool:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            # Nothing reached the server: safe for any request, once it has answered.
            return self._answered
        if isinstance(error, TransientAnswer):
            return repeatable and error.response.status_code in retry_statuses
        if isinstance(error, httpx.TransportError):
            return repeatable
        return False

    def _tell_retry(self, state: RetryCallState) -> None:
        if state.attempt_number != 1 or self._on_retry is None:
            return
        error = state.outcome.exception() if state.outcome is not None else None
        self._on_retry(
            f"the server at {self.base_url} did not answer ({describe_error(error)}); "
            f"trying again for up to {self.retry_for_s:g} s"
        )

    def _unreachable(self, error: httpx.TransportError) -> str:
        message = f"no adamlab server answered at {self.base_url}: {describe_error(error)}"
        if self._answered and self.retry_for_s > 0:
            message += f" (retried for {self.retry_for_s:g} s)"
        return message

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # --- experiments --------------------------------------------------------------------

    def submit(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> dict:
        return self.submit_once(spec, idempotency_key=idempotency_key).experiment

    def submit_once(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> Submitted:
        """Submit, telling whether the server created the experiment or replayed the
        earlier one of ``idempotency_key``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self._request(
            "POST", "/v1/experiments", json=spec, headers=headers, repeatable=False
        )
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return Submitted(experiment=response.json(), replayed=replayed)

    def get(self, experiment_id: str) -> dict:
        return self._json("GET", f"/v1/experiments/{experiment_id}")

    def list(self, **filters: Any) -> dict:
        """One page of experiments; filters are the route's query parameters."""
        params = {key: value for key, value in filters.items() if value is not None}
        return self._json("GET", "/v1/experiments", params=params)

    def iter_all(self, **filters: Any) -> Iterator[dict]:
        """Every experiment matching the filters, following the cursor."""
        cursor = None
        while True:
            page = self.list(**filters, cursor=cursor)
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, experiment_id: str) -> dict:
        # Asking twice asks for the same thing: safe to send again.
        return self._json("POST", f"/v1/experiments/{experiment_id}/cancel", repeatable=True)

    # --- run management: delete, edit --------------------------------------------------

    def delete(self, experiment_id: str) -> None:
        """Delete the experiment with its points, checkpoints, weights and log (a running
        one stops). A DELETE repeated after a lost answer is 404 if the first one did it."""
        self._request("DELETE", f"/v1/experiments/{experiment_id}", repeatable=True)

    def edit(self, experiment_id: str, changes: dict[str, Any]) -> dict:
        """Apply ``changes`` (``name``, ``tags``, ``note``; a JSON merge patch: a key left
        out stays, ``"note": None`` removes the note) and return the experiment."""
        return self._json(
            "PATCH", f"/v1/experiments/{experiment_id}", json=changes, repeatable=True
        )

    def metrics(
        self,
        experiment_id: str,
        *,
        names: Sequence[str] | None = None,
        max_points: int | None = None,
        **params: Any,
    ) -> dict:
        query: dict[str, Any] = {key: value for key, value in params.items() if value is not None}
        if names:
            query["name"] = list(names)
        if max_points is not None:
            query["max_points"] = max_points
        return self._json("GET", f"/v1/experiments/{experiment_id}/metrics", params=query)

    def logs(self, experiment_id: str, *, lines: int = 200) -> dict:
        return self._json("GET", f"/v1/experiments/{experiment_id}/logs", params={"lines": lines})

    def metrics_csv(self, experiment_id: str) -> str:
        response = self._request(
            "GET", f"/v1/experiments/{experiment_id}/metrics", headers={"Accept": "text/csv"}
        )
        return response.text

    def plot(
        self, experiment_id: str, *, image_format: str = "png", smoothing: float | None = None
    ) -> bytes:
        """The run's learning curves; ``smoothing`` F (0 <= F < 1) adds the batch loss's
        exponential moving average."""
        params = {"smoothing": smoothing} if smoothing is not None else {}
        path = f"/v1/experiments/{experiment_id}/plot.{image_format}"
        return self._request("GET", path, params=params).content

    def compare(self, experiment_ids: Sequence[str]) -> dict:
        return self._json("GET", "/v1/compare", params={"ids": ",".join(experiment_ids)})

    def compare_plot(
        self,
        experiment_ids: Sequence[str],
        *,
        metric: str | Sequence[str] = "test_acc",
        image_format: str = "png",
        smoothing: float | None = None,
        x: str | None = None,
    ) -> bytes:
        """The runs' curves of ``metric`` (one name, or several: a panel each) overlaid;
        ``smoothing`` and ``x`` (iteration, epoch, examples) as the route takes them."""
        metrics = [metric] if isinstance(metric, str) else list(metric)
        params: dict[str, Any] = {"ids": ",".join(experiment_ids), "metric": metrics}
        if smoothing is not None:
            params["smoothing"] = smoothing
        if x is not None:
            params["x"] = x
        return self._request("GET", f"/v1/compare.{image_format}", params=params).content

    def checkpoint(self, experiment_id: str) -> bytes:
        return self._request("GET", f"/v1/experiments/{experiment_id}/checkpoint").content

    def download_checkpoint(self, experiment_id: str, path: Path) -> int:
        """Stream the final weights (safetensors) to ``path``; returns the bytes written.
        The file appears whole or not at all (written beside it, then renamed)."""
        partial = path.with_name(f".{path.name}.part")
        url = f"/v1/experiments/{experiment_id}/checkpoint"
        try:
            with self._http.stream("GET", url) as response:
                if response.is_error:
                    response.read()
                    raise api_error(response)
                written = 0
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        written += out.write(chunk)
        except httpx.TransportError as error:
            partial.unlink(missing_ok=True)
            message = f"no adamlab server answered at {self.base_url}: {error}"
            raise ServerUnreachable(message) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)
        return written

    def catalog(self) -> dict:
        return self._json("GET", "/v1/catalog")

    def wait(
        self,
        experiment_id: str,
        *,
        poll_interval_s: float = 0.5,
        timeout_s: float | None = None,
        on_update: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until the experiment has finished; ``on_update`` sees every poll's state."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            experiment = self.get(experiment_id)
            if on_update is not None:
                on_update(experiment)
            if experiment["status"] in FINISHED_STATUSES:
                return experiment
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"experiment {experiment_id} still {experiment['status']} after {timeout_s} s"
                )
            time.sleep(poll_interval_s)

    def latest_value(self, experiment_id: str, name: str) -> float | None:
        """The last point of one curve (None before there is one)."""
        curve = self.metrics(experiment_id, names=[name], max_points=1)["curves"].get(name)
        if not curve or not curve["values"]:
            return None
        return curve["values"][-1]
