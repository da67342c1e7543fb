"""``adamlab keys`` (create, list, revoke) on a SQLite store, and what the store keeps of
a key."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from adamlab.cli import main
from core.store.tenants import KeyRefusal, TenantIdentity, authenticate_api_key

KEY_PATTERN = re.compile(r"adl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def keys(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["keys", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_create_prints_the_key_once_and_the_store_keeps_only_its_hash(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = keys(capsys, "create", "--tenant", "alice")
    assert code == 0, err
    key = out.strip()
    match = KEY_PATTERN.fullmatch(key)
    assert match, out
    assert "shown only this once" in err and key not in err
    stored = Path(store_url.removeprefix("sqlite:///")).read_bytes()
    assert match.group(2).encode() not in stored  # the secret is nowhere in the file
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored

    code, listed, _ = keys(capsys, "list")
    assert code == 0
    assert match.group(1) in listed and "alice" in listed
    assert match.group(2) not in listed
    assert listed.splitlines()[0].split() == ["ID", "PREFIX", "TENANT", "CREATED", "REVOKED"]


def test_revoke_marks_the_key_and_says_when_there_is_nothing_to_revoke(
    store_url: str, sessions: object, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = keys(capsys, "create", "--tenant", "bob")
    key = out.strip()
    key_id = KEY_PATTERN.fullmatch(key).group(1)
    _, kept_out, _ = keys(capsys, "create", "--tenant", "bob")

    code, out, _ = keys(capsys, "revoke", key_id)
    assert code == 0 and "revoked key" in out
    with sessions() as session:
        assert authenticate_api_key(session=session, key=key) is KeyRefusal.REVOKED
        kept = authenticate_api_key(session=session, key=kept_out.strip())
        assert isinstance(kept, TenantIdentity) and kept.name == "bob"
    code, out, _ = keys(capsys, "revoke", key_id)
    assert code == 0 and "already revoked" in out
    code, _, err = keys(capsys, "revoke", "000000000000")
    assert code == 1 and "no key with id '000000000000'" in err

    _, listed, _ = keys(capsys, "list", "--tenant", "bob")
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert rows[key_id].count("UTC") == 2  # created and revoked
    assert rows[KEY_PATTERN.fullmatch(kept_out.strip()).group(1)].count("UTC") == 1


def test_bad_tenant_name_and_unmigrated_store_are_refused_naming_what_to_fix(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, out, err = keys(capsys, "create", "--tenant", "two words")
    assert code == 2 and out == ""
    assert "--tenant" in err and "'two words'" in err
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nothing-here.db'}")
    code, _, err = keys(capsys, "list")
    assert code == 2 and "adamlab migrate" in err
    assert not (tmp_path / "nothing-here.db").exists()
