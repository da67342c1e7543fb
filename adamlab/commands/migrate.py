"""adamlab migrate: bring the store (DATABASE_URL, default SQLite in ADAMLAB_STATE_DIR) to
the newest schema. Safe to run again: a migrated store is left as it is."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate", help="apply the store's database migrations (DATABASE_URL)"
    )
    parser.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from sqlalchemy import make_url

    from core.settings import Settings
    from core.store.migrate import head_revision, upgrade_to_head

    config = Settings()
    if config.store_url.startswith("sqlite:///"):
        config.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(config.store_url)
    shown = make_url(config.store_url).render_as_string(hide_password=True)
    print(f"store {shown} is at migration {head_revision()}")
    return 0
