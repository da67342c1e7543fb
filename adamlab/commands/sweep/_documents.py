"""Reading a sweep body (``sweep create FILE``) or parameter entries (``sweep extend
--parameters FILE``): JSON or YAML, a file or ``-`` for standard input. Every problem is a
``UsageError`` naming the argument and, for a syntax error, its line and column."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._remote import UsageError

YAML_SUFFIXES = (".yaml", ".yml")

_YAML_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
"""1e-4 and 3E2: floats in JSON, strings to YAML 1.1 (which wants a dot before the e)."""


def read_document(path_text: str, *, argument: str) -> dict[str, Any]:
    """The object in the file (``-``: standard input). YAML for a .yaml or .yml file,
    JSON for a .json one; anything else is read as JSON, and as YAML if it is not JSON.
    ``argument`` names the flag or argument in the messages (``FILE``, ``--parameters``)."""
    try:
        text = sys.stdin.read() if path_text == "-" else Path(path_text).read_text()
    except OSError as error:
        raise UsageError(f"{argument}: cannot read {path_text}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{argument}: {path_text} is not text (UTF-8)") from None
    suffix = Path(path_text).suffix.lower() if path_text != "-" else ""
    if suffix in YAML_SUFFIXES:
        document = _yaml(text, path_text, argument=argument)
    elif suffix == ".json" or text.lstrip()[:1] in ("{", "["):
        document = _json(text, path_text, argument=argument)
    else:
        document = _yaml(text, path_text, argument=argument)
    if not isinstance(document, dict):
        raise UsageError(f"{argument}: {path_text} must hold an object (keys and values)")
    return document


def _json(text: str, path_text: str, *, argument: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{argument}: {path_text} is not JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})"
        ) from None


def _yaml(text: str, path_text: str, *, argument: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML's safe loader, reading 1e-4 as the number JSON reads it as."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float", _YAML_EXPONENT_FLOAT, list("-+0123456789")
    )
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader: plain data only
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise UsageError(f"{argument}: {path_text} is not YAML: {problem}{where}") from None
