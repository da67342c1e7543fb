"""Store functions for tenants and their API keys.

A key is ``adl_<id>_<secret>``: ``id`` (12 hex digits) names the key in listings and in
``adamlab keys revoke``, ``secret`` is 32 random bytes (URL-safe base64). The store keeps
``sha256(key)`` and never the key: a stolen database yields no usable key, and since the
key has 256 random bits there is nothing to guess, so a fast hash is as safe as a slow
one (slow, salted hashes are for passwords people choose).
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.store.models import (
    DEFAULT_TENANT_ID,
    ApiKeyRow,
    TenantRow,
    utc_now,
)
from core.store.session import serialized_on_sqlite

KEY_PREFIX = "adl_"
TENANT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InvalidTenantNameError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"tenant name must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit (got {name!r})"
        )


@dataclass(frozen=True, slots=True)
class TenantIdentity:
    """Who a request acts for: its tenant, and the key it came with (None when keys are
    not required)."""

    id: str
    name: str
    key_id: str | None


DEFAULT_TENANT = TenantIdentity(id=DEFAULT_TENANT_ID, name="default", key_id=None)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``key`` is shown once and exists nowhere else."""

    id: str
    key: str
    tenant_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyListing:
    id: str
    prefix: str
    """The key's first characters, ``adl_<id>_``: enough to tell which key a person holds."""
    tenant_name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}_"


# --- tenants ----------------------------------------------------------------------------------


@serialized_on_sqlite
def get_or_create_tenant(*, session: Session, name: str, now: datetime | None = None) -> TenantRow:
    """The tenant called ``name``, created if it does not exist yet."""
    if not TENANT_NAME_PATTERN.fullmatch(name):
        raise InvalidTenantNameError(name)
    existing = session.scalar(select(TenantRow).where(TenantRow.name == name))
    if existing is not None:
        return existing
    tenant = TenantRow(id=str(uuid.uuid4()), name=name, created_at=now or utc_now())
    session.add(tenant)
    try:
        session.commit()
    except IntegrityError:  # created by another process meanwhile
        session.rollback()
        return session.scalars(select(TenantRow).where(TenantRow.name == name)).one()
    return tenant


# --- keys -------------------------------------------------------------------------------------


def create_api_key(*, session: Session, tenant_name: str, now: datetime | None = None) -> IssuedKey:
    """A new key for ``tenant_name`` (the tenant is created if needed)."""
    tenant = get_or_create_tenant(session=session, name=tenant_name, now=now)
    return _insert_key(session=session, tenant=tenant, now=now or utc_now())


@serialized_on_sqlite
def _insert_key(*, session: Session, tenant: TenantRow, now: datetime) -> IssuedKey:
    key_id = secrets.token_hex(6)
    key = f"{key_prefix(key_id)}{secrets.token_urlsafe(32)}"
    session.add(
        ApiKeyRow(id=key_id, tenant_id=tenant.id, key_hash=hash_api_key(key), created_at=now)
    )
    session.commit()
    return IssuedKey(id=key_id, key=key, tenant_name=tenant.name, created_at=now)


def list_api_keys(*, session: Session, tenant_name: str | None = None) -> list[ApiKeyListing]:
    """Every key (revoked ones too), oldest first; no secrets, there are none to show."""
    query = (
        select(ApiKeyRow.id, TenantRow.name, ApiKeyRow.created_at, ApiKeyRow.revoked_at)
        .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
        .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
    )
    if tenant_name is not None:
        query = query.where(TenantRow.name == tenant_name)
    return [
        ApiKeyListing(
            id=row.id,
            prefix=key_prefix(row.id),
            tenant_name=row.name,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
        for row in session.execute(query)
    ]


def count_active_api_keys(*, session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
        )
        or 0
    )


class RevokeOutcome(enum.StrEnum):
    REVOKED = "revoked"
    ALREADY_REVOKED = "already_revoked"
    NOT_FOUND = "not_found"


@serialized_on_sqlite
def revoke_api_key(*, session: Session, key_id: str, now: datetime | None = None) -> RevokeOutcome:
    """Revoke a key: from the next request on, it is refused (401)."""
    # An UPDATE gives a CursorResult; Session.execute's stubs say only Result.
    result = session.execute(
        update(ApiKeyRow)
        .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=now or utc_now())
    )
    revoked = cast(CursorResult[Any], result).rowcount
    session.commit()
    if revoked == 1:
        return RevokeOutcome.REVOKED
    exists = session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.id == key_id))
    return RevokeOutcome.ALREADY_REVOKED if exists is not None else RevokeOutcome.NOT_FOUND


class KeyRefusal(enum.StrEnum):
    UNKNOWN = "unknown"
    REVOKED = "revoked"


def authenticate_api_key(*, session: Session, key: str) -> TenantIdentity | KeyRefusal:
    """The tenant a key acts for, or why the key is refused."""
    row = session.execute(
        select(ApiKeyRow.id, ApiKeyRow.revoked_at, TenantRow.id.label("tenant_id"), TenantRow.name)
        .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
        .where(ApiKeyRow.key_hash == hash_api_key(key))
    ).one_or_none()
    if row is None:
        return KeyRefusal.UNKNOWN
    if row.revoked_at is not None:
        return KeyRefusal.REVOKED
    return TenantIdentity(id=row.tenant_id, name=row.name, key_id=row.id)


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """An active (not revoked) key by its id: the tenant it acts for and its stored hash,
    which signs the dashboard's session cookies (``api.session_cookie``)."""

    tenant: TenantIdentity
    key_hash: str


def find_active_key(*, session: Session, key_id: str) -> ActiveKey | None:
    """The key ``key_id`` and its tenant, or None when there is no such key or it has been
    revoked."""
    row = session.execute(
        select(ApiKeyRow.key_hash, ApiKeyRow.revoked_at, TenantRow.id, TenantRow.name)
        .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
        .where(ApiKeyRow.id == key_id)
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return ActiveKey(
        tenant=TenantIdentity(id=row.id, name=row.name, key_id=key_id), key_hash=row.key_hash
    )
