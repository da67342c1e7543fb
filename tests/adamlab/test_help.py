"""Every sub-command of ``adamlab`` answers ``--help``: exit status 0 and its usage text.
The commands are read from the parser itself, so a new one is covered without a change
here."""

from __future__ import annotations

import argparse

import pytest

from adamlab.cli import build_parser


def _sub_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """The argv prefix of every sub-command (and sub-sub-command) of ``parser``."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found.extend(_sub_commands(sub, (*prefix, name)))
    return found


SUB_COMMANDS = _sub_commands(build_parser())


def test_parser_has_the_known_sub_commands() -> None:
    names = {argv[0] for argv in SUB_COMMANDS}
    assert {"serve", "worker", "migrate", "submit", "keys"} <= names, names


@pytest.mark.parametrize("argv", [(), *SUB_COMMANDS], ids=lambda argv: " ".join(argv) or "adamlab")
def test_help_exits_0_with_usage(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*argv, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('adamlab', *argv))}"), out[:200]
