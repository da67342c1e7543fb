"""The store: SQLAlchemy 2 models and the functions that read and write them.

SQLite by default (a file in ``ADAMLAB_STATE_DIR``), PostgreSQL through ``DATABASE_URL``;
the schema comes from the Alembic migrations in ``core/migrations`` (``adamlab migrate``).
Every store function takes keyword-only arguments, the session first, and commits its
own work.
"""
