"""adamlab edit ID: change an experiment's name, tags or note."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "edit",
        help="change an experiment's name, tags or note",
        description="Change the name, the tags or the note of one experiment, in any "
        "status; what no option names stays as it is. Prints the experiment's name, tags "
        "and note as they are now. Exit codes: 0 changed; 2 a usage error or the server "
        "refused (an unknown id, a control character, a note over 10,000 characters); 3 no "
        "server answered.",
    )
    parser.add_argument("id", help="experiment id")
    parser.add_argument("--name", help="the new name (1-200 characters)")
    tags = parser.add_mutually_exclusive_group()
    tags.add_argument(
        "--tag",
        action="append",
        dest="tags",
        metavar="TAG",
        help="a tag; repeat for several: together they replace every old tag",
    )
    tags.add_argument("--no-tags", action="store_true", help="remove every tag")
    note = parser.add_mutually_exclusive_group()
    note.add_argument("--note", metavar="TEXT", help="the new note (replaces the old one)")
    note.add_argument(
        "--note-file",
        type=Path,
        metavar="FILE",
        help="the new note, read from FILE (UTF-8; '-': standard input; CRLF read as LF)",
    )
    note.add_argument("--no-note", action="store_true", help="remove the note")
    add_server_arguments(parser)
    parser.set_defaults(func=_edit)


def changes_of(args: argparse.Namespace) -> dict[str, Any]:
    """The merge patch the options ask for; UsageError when they ask for nothing."""
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.tags is not None:
        changes["tags"] = args.tags
    elif args.no_tags:
        changes["tags"] = []
    if args.note is not None:
        changes["note"] = args.note
    elif args.note_file is not None:
        changes["note"] = _read_note(args.note_file)
    elif args.no_note:
        changes["note"] = None
    if not changes:
        raise UsageError(
            "nothing to change: give --name, --tag/--no-tags or --note/--note-file/--no-note"
        )
    return changes


def _read_note(path: Path) -> str:
    try:
        if str(path) == "-":
            return sys.stdin.read()
        # Text mode reads CRLF and CR line ends as LF, the only line end a note holds.
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--note-file {path}: {error}") from None


@remote_command
def _edit(args: argparse.Namespace, client: Any) -> int:
    experiment = client.edit(args.id, changes_of(args))
    note = experiment.get("note")
    print(f"{experiment['id']}: edited")
    print(f"  name: {experiment['name']}")
    print(f"  tags: {', '.join(experiment['tags']) or '(none)'}")
    if note is None:
        print("  note: (none)")
    else:
        first, _, rest = note.partition("\n")
        more = f" ... ({len(note):,} characters)" if rest else ""
        print(f"  note: {first}{more}")
    return EXIT_OK
