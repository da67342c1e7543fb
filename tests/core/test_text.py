"""The text rules (core/text.py: plain text, and notes, which may hold lines and tabs) and
the cursor codec's checks (core/store/paging.py)."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from core.store.models import BIGINT_MAX
from core.store.paging import InvalidCursorError, decode_cursor, encode_cursor
from core.text import NOTE_TEXT_PATTERN, NoteText, PlainText, did_you_mean, refused_character

PLAIN = TypeAdapter(PlainText)
NOTE = TypeAdapter(NoteText)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a\x00b", (1, "U+0000 NUL")),
        ("\tx", (0, "U+0009 TAB")),
        ("x\x7f", (1, "U+007F")),
        ("x\x85", (1, "U+0085")),
        ("ok\ud800", (2, "U+D800 lone surrogate")),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused_by_position(
    text: str, found: tuple[int, str]
) -> None:
    assert refused_character(text) == found
    with pytest.raises(ValidationError) as raised:
        PLAIN.validate_python(text)
    (error,) = raised.value.errors()
    assert error["type"] == "control_character"
    assert found[1] in error["msg"]


@pytest.mark.parametrize("text", ["", "Adam vs AdaMax", "ε=1e-8 — été", "🙂 emoji", "a b"])
def test_printable_text_is_kept_as_it_is(text: str) -> None:
    assert PLAIN.validate_python(text) == text


def test_a_note_keeps_lines_and_tabs() -> None:
    text = "Adam, lr 1e-3:\n\tdiverged at epoch 3\n🙂\n"
    assert NOTE.validate_python(text) == text
    assert re.fullmatch(NOTE_TEXT_PATTERN, text)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("line\r\nnext", (4, "U+000D CARRIAGE RETURN")),
        ("a\n\x00", (2, "U+0000 NUL")),
        ("colour \x1b[31m", (7, "U+001B")),
        ("\x0b", (0, "U+000B")),
        ("x\x85", (1, "U+0085")),
        ("ok\n\udfff", (3, "U+DFFF lone surrogate")),
    ],
)
def test_a_note_refuses_every_other_control_character_by_position(
    text: str, found: tuple[int, str]
) -> None:
    with pytest.raises(ValidationError) as raised:
        NOTE.validate_python(text)
    (error,) = raised.value.errors()
    assert error["type"] == "control_character"
    assert f"found {found[1]} at position {found[0]}" in error["msg"]
    if "surrogate" not in found[1]:  # a JSON Schema pattern cannot name one
        assert re.fullmatch(NOTE_TEXT_PATTERN, text) is None


@pytest.mark.parametrize(
    "keyset",
    [[BIGINT_MAX + 1], [-BIGINT_MAX - 2], {"v": "a\x00"}, {"a\x00": 1}, [[["\x1f"]]]],
    ids=repr,
)
def test_cursor_codec_refuses_what_a_query_cannot_bind(keyset: object) -> None:
    with pytest.raises(InvalidCursorError, match="no"):
        decode_cursor(encode_cursor(keyset), message="no")  # type: ignore[arg-type]


def test_cursor_codec_refuses_non_finite_numbers_and_overlong_cursors() -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor("WzFlNDAwXQ", message="no")  # [1e400]: infinity
    with pytest.raises(InvalidCursorError):
        decode_cursor("A" * 2000, message="no")
    assert decode_cursor(encode_cursor([BIGINT_MAX, "x"]), message="no") == [BIGINT_MAX, "x"]


@pytest.mark.parametrize(
    ("word", "choices", "hint"),
    [
        ("adammax", ["adam", "adamax", "adamw", "sgd"], "did you mean 'adamax'?"),
        ("epoch", ["name", "epochs", "seed"], "did you mean 'epochs'?"),
        ("lion", ["adam", "adamax", "adamw", "sgd"], None),
        ("x", [], None),
    ],
)
def test_did_you_mean_names_the_closest_choice_or_none(
    word: str, choices: list[str], hint: str | None
) -> None:
    assert did_you_mean(word, choices) == hint
