"""adamlab keys: create, list and revoke API keys, directly in the store (DATABASE_URL,
default SQLite in ADAMLAB_STATE_DIR); an administrator's command, run where the store is.

    adamlab keys create --tenant alice     # prints the key, once; the store keeps a hash
    adamlab keys list                      # id, prefix, tenant, created, revoked
    adamlab keys revoke 3f2a9c1b7e4d       # refused from the next request on

``create`` writes the key alone to stdout (``KEY=$(adamlab keys create --tenant alice)``)
and what to do with it to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys", help="create, list and revoke API keys (in the store at DATABASE_URL)"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new key for a tenant; printed only once")
    create.add_argument(
        "--tenant", required=True, help="the tenant (created if new): letters, digits, . _ -"
    )
    create.set_defaults(func=_create)
    listing = actions.add_parser("list", help="every key, without secrets")
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    listing.set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a key (by the id `list` shows)")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, e.g. 3f2a9c1b7e4d")
    revoke.set_defaults(func=_revoke)


class StoreNotReadyError(RuntimeError):
    pass


def _open_store() -> tuple[Engine, Session]:
    """The store of DATABASE_URL, refused unless it exists and is at the newest migration."""
    from sqlalchemy import make_url

    from core.settings import Settings
    from core.store.migrate import current_revision, head_revision
    from core.store.session import make_engine, make_session_factory

    config = Settings()
    url = config.store_url
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///") and not make_url(url).database:
        raise StoreNotReadyError(f"DATABASE_URL names no database file ({shown})")
    if url.startswith("sqlite:///") and not Path(make_url(url).database or "").is_file():
        raise StoreNotReadyError(f"there is no store at {shown}: run `adamlab migrate` first")
    engine = make_engine(url)
    revision, head = current_revision(engine), head_revision()
    if revision != head:
        engine.dispose()
        raise StoreNotReadyError(
            f"the store {shown} is at migration {revision}, this code needs {head}: "
            "run `adamlab migrate`"
        )
    return engine, make_session_factory(engine)()


def _run(action: Callable[[Session], int]) -> int:
    try:
        engine, session = _open_store()
    except StoreNotReadyError as exc:
        print(f"adamlab keys: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return action(session)
    finally:
        session.close()
        engine.dispose()


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _create(args: argparse.Namespace) -> int:
    from core.store.tenants import InvalidTenantNameError, create_api_key

    def create(session: Session) -> int:
        try:
            issued = create_api_key(session=session, tenant_name=args.tenant)
        except InvalidTenantNameError as exc:
            print(f"adamlab keys create: --tenant: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(issued.key)
        print(
            f"adamlab: created key {issued.id} for tenant {issued.tenant_name}. It is shown "
            "only this once (the store keeps a hash); send it as 'Authorization: Bearer "
            "<key>', or give it to the adamlab commands with --api-key or ADAMLAB_API_KEY.",
            file=sys.stderr,
        )
        return EXIT_OK

    return _run(create)


def _list(args: argparse.Namespace) -> int:
    from core.store.tenants import list_api_keys

    def show(session: Session) -> int:
        keys = list_api_keys(session=session, tenant_name=args.tenant)
        rows = [("ID", "PREFIX", "TENANT", "CREATED", "REVOKED")]
        rows += [
            (
                key.id,
                key.prefix + "...",
                key.tenant_name,
                _when(key.created_at),
                _when(key.revoked_at),
            )
            for key in keys
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print("  ".join(cells).rstrip())
        if not keys:
            print("(no keys: create one with `adamlab keys create --tenant NAME`)")
        return EXIT_OK

    return _run(show)


def _revoke(args: argparse.Namespace) -> int:
    from core.store.tenants import RevokeOutcome, revoke_api_key

    def revoke(session: Session) -> int:
        outcome = revoke_api_key(session=session, key_id=args.key_id)
        if outcome is RevokeOutcome.NOT_FOUND:
            print(
                f"adamlab keys revoke: no key with id {args.key_id!r} (see `adamlab keys list`)",
                file=sys.stderr,
            )
            return EXIT_NOT_FOUND
        if outcome is RevokeOutcome.ALREADY_REVOKED:
            print(f"key {args.key_id} was already revoked")
        else:
            print(f"revoked key {args.key_id}: requests with it are refused (401) from now on")
        return EXIT_OK

    return _run(revoke)
