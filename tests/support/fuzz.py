"""Schema fuzzing of the live API with schemathesis: cases generated from the service's
own ``/openapi.json`` for every operation (valid and invalid inputs), each sent to the
real server, its answer checked against the document. Used by tests/api/test_contract.py
(a few cases per operation) and benchmarks/fuzz_api.py (thousands).

Every experiment a case creates (201) is cancelled at once, so the worker never trains
the large runs a fuzzer may ask for; the answer has been checked before that."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
)
"""Each answer: not a 5xx; its status, media type, headers and body as documented."""
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Finding:
    """One failed check of one answer, and the request that got it."""

    check: str
    operation: str
    status: int | None
    title: str
    request: str

    def __str__(self) -> str:
        return f"{self.check}: {self.operation} -> {self.status}: {self.title}\n    {self.request}"


@dataclass
class FuzzReport:
    cases: int = 0
    by_status_class: collections.Counter[str] = field(default_factory=collections.Counter)
    by_operation: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    findings: list[Finding] = field(default_factory=list)

    @property
    def server_errors(self) -> list[Finding]:
        """The answers >= 500 (and requests that got no answer)."""
        return [
            finding for finding in self.findings if finding.status is None or finding.status >= 500
        ]

    @property
    def violations(self) -> list[Finding]:
        """The answers < 500 that differ from the document (status, media type, headers,
        body); a 5xx is counted once, as a server error, whatever else it breaks."""
        return [
            finding
            for finding in self.findings
            if finding.status is not None and finding.status < 500
        ]

    def summary(self) -> str:
        classes = ", ".join(f"{name}: {n}" for name, n in sorted(self.by_status_class.items()))
        lines = [
            f"cases: {self.cases} ({len(self.by_operation)} operations)",
            f"responses by status class: {classes}",
            f"responses >= 500: {self.by_status_class['5xx']}",
            f"schema violations (answers < 500): {len(self.violations)}",
        ]
        distinct = {
            (finding.check, finding.operation, finding.status, finding.title): finding
            for finding in self.findings
        }
        lines += [f"distinct findings: {len(distinct)}"]
        lines += [str(finding) for finding in distinct.values()]
        return "\n".join(lines)


def _check_name(failure: Failure) -> str:
    checks = type(failure).checks
    return checks[0] if checks else type(failure).__name__


def _curl(case: schemathesis.Case, headers: dict[str, str], base_url: str) -> str:
    try:
        return case.as_curl_command(headers=headers, base_url=base_url)
    except Exception as exc:  # noqa: BLE001 (a case that cannot be written as curl is still a finding)
        return f"(no curl: {exc}) {case!r}"


def _cases(operation: Any, experiment_ids: Sequence[str]) -> st.SearchStrategy[Any]:
    """Valid and invalid cases of ``operation``, half of them (when it has an
    ``{experiment_id}``) on one of ``experiment_ids``."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    generated = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if "{experiment_id}" not in operation.path or not experiment_ids:
        return st.one_of(generated)
    existing = [
        operation.as_strategy(generation_mode=mode, path_parameters={"experiment_id": id_})
        for mode in modes
        for id_ in experiment_ids
    ]
    return st.one_of(st.one_of(generated), st.one_of(existing))


def fuzz(
    base_url: str,
    *,
    headers: dict[str, str],
    examples_per_operation: int,
    seed: int | None = None,
    operations: Sequence[str] = (),
    experiment_ids: Sequence[str] = (),
    cancel: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Fuzz every operation of the service at ``base_url`` (or those whose label, e.g.
    ``GET /v1/experiments``, is in ``operations``) with ``examples_per_operation`` cases
    each, valid and invalid inputs; ``headers`` go with every request (the API key).

    A path's ``{experiment_id}`` is generated, or one of ``experiment_ids`` (experiments
    that exist, so that the parameters reach the store), as often as not. ``cancel(id)``
    is called for every experiment a case created."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
    # An event stream (/events) lasts as long as its experiment runs: its answer is checked
    # on its first event.
    schema.config.max_stream_events = 1
    report = FuzzReport()
    session = requests.Session()
    # DELETE last: its cases remove the experiments of experiment_ids, which the other
    # operations' cases are to find.
    all_operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.method.upper() == "DELETE",
    )
    for operation in all_operations:
        if operations and operation.label not in operations:
            continue
        strategy = _cases(operation, experiment_ids)

        @hypothesis.settings(
            max_examples=examples_per_operation,
            deadline=None,
            database=None,
            derandomize=seed is None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def run_case(case: schemathesis.Case) -> None:
            if "Authorization" not in headers and case.headers:
                case.headers.pop("Authorization", None)  # no key: none at all
            report.cases += 1
            report.by_operation[case.operation.label] += 1
            try:
                response = case.call(
                    base_url=base_url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S
                )
            except requests.RequestException as exc:
                report.by_status_class["no answer"] += 1
                report.findings.append(
                    Finding(
                        "transport",
                        case.operation.label,
                        None,
                        repr(exc),
                        _curl(case, headers, base_url),
                    )
                )
                return
            report.by_status_class[f"{response.status_code // 100}xx"] += 1
            report.statuses[(case.operation.label, response.status_code)] += 1
            try:
                case.validate_response(response, checks=list(CHECKS), headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    report.findings.append(
                        Finding(
                            _check_name(failure),
                            case.operation.label,
                            response.status_code,
                            failure.title + (f": {failure.message}" if failure.message else ""),
                            _curl(case, headers, base_url),
                        )
                    )
            if cancel is not None and response.status_code == 201 and case.method == "POST":
                created = response.json().get("id")
                if isinstance(created, str):
                    cancel(created)

        if seed is not None:
            run_case = hypothesis.seed(seed)(run_case)
        run_case()
    session.close()
    return report
