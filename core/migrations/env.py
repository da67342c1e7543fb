"""Alembic's environment: migrates the store at ``sqlalchemy.url`` (set by
``core.store.migrate``), or at ``settings.store_url`` when run from the alembic command."""

from __future__ import annotations

import logging.config

from alembic import context

from core.settings import settings
from core.store.models import Base
from core.store.session import make_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or settings.store_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # No statement timeout: a migration may rebuild a large table.
    engine = make_engine(_url(), statement_timeout_s=None)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                # SQLite alters a table by copying it; batch mode writes that for us.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
