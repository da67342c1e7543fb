"""The rule for text a client sends (spec names and tags, query parameters, cursors): plain
text, without control characters.

A control character (U+0000-U+001F, U+007F-U+009F: NUL, tab, newline, escape, ...) has no
place in a name, a tag or a filter, and NUL cannot be stored at all: PostgreSQL's text
types refuse it. A lone surrogate (U+D800-U+DFFF, from an escape such as "\\ud800" in
JSON) is no character and cannot be encoded as UTF-8. ``PlainText`` refuses both with a
message that says which character and where, so the client gets a 422 naming the field
before anything reaches the store.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
PLAIN_TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
"""The rule as a JSON Schema pattern, for OpenAPI (lone surrogates cannot be written in
one; the validator refuses them too)."""


def refused_character(value: str, *, refused: re.Pattern[str] = _REFUSED) -> tuple[int, str] | None:
    """The position and the name (``U+0000 NUL``) of the first character ``PlainText``
    refuses (or ``refused`` matches), or None."""
    found = refused.search(value)
    if found is None:
        return None
    code = ord(found.group())
    name = "lone surrogate" if 0xD800 <= code <= 0xDFFF else _CONTROL_NAMES.get(code, "")
    return found.start(), f"U+{code:04X}" + (f" {name}" if name else "")


_CONTROL_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN"}


def check_plain_text(value: str, *, refused: re.Pattern[str] = _REFUSED) -> str:
    """``value`` unchanged, or a pydantic error ``control_character`` saying which
    character is refused (one ``refused`` matches) and where."""
    found = refused_character(value, refused=refused)
    if found is None:
        return value
    position, character = found
    raise PydanticCustomError(
        "control_character",
        "Text must not contain control characters; found {character} at position {position}",
        {"character": character, "position": position},
    )


@dataclass(frozen=True)
class _TextRule:
    """Annotated metadata: ``check_plain_text`` with ``refused`` after str validation, and
    ``pattern`` (the same rule) in the JSON schema."""

    refused: re.Pattern[str]
    pattern: str

    def _check(self, value: str) -> str:
        return check_plain_text(value, refused=self.refused)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)
        return json_schema


PLAIN_TEXT_RULE = _TextRule(_REFUSED, PLAIN_TEXT_PATTERN)
PlainText = Annotated[str, PLAIN_TEXT_RULE]
"""A string without control characters or lone surrogates (422 ``control_character``)."""


# --- a note: lines of plain text ---------------------------------------------------------------

MAX_NOTE_CHARS = 10_000
"""The longest note an experiment may have, in characters (code points)."""

_REFUSED_IN_NOTES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
NOTE_TEXT_PATTERN = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
"""``NoteText``'s rule as a JSON Schema pattern (lone surrogates are refused as well)."""


NOTE_TEXT_RULE = _TextRule(_REFUSED_IN_NOTES, NOTE_TEXT_PATTERN)
"""Like ``PLAIN_TEXT_RULE``, where a tab (U+0009) and a line feed (U+000A) are allowed too.
Both rules are metadata, to follow length constraints in an ``Annotated`` (then a refusal
names the field alone, also inside an optional field):
``Annotated[str, StringConstraints(max_length=64), PLAIN_TEXT_RULE] | None``."""

NoteText = Annotated[str, NOTE_TEXT_RULE]
"""Lines of text: ``PlainText`` that may also hold tabs and line feeds (a carriage
return is refused: send lines ended by LF alone)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'adamax'?"`` for the choice closest to a word a client misspelled
    (``difflib``'s ratio of at least 0.6, as ``get_close_matches`` takes it), or None when
    no choice is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else None
