"""Import rules of DEVELOPERS.md: api -> core <- worker -> optim; optim imports none of ours."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = {"api", "core", "worker", "optim", "adamlab"}

# package -> top-level modules it must never import (ours, and torch where it matters)
FORBIDDEN_IMPORTS = {
    "optim": OUR_PACKAGES - {"optim"},
    "core": {"api", "worker", "optim", "adamlab", "torch"},
    "api": {"worker", "optim", "adamlab", "torch"},
    "worker": {"api", "adamlab"},
}


def imported_top_level_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, wherever it sits (lazy ones too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_package_imports_only_what_the_layout_allows(package: str) -> None:
    violations = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        bad = imported_top_level_modules(path) & FORBIDDEN_IMPORTS[package]
        if bad:
            violations.append(f"{path.relative_to(REPO_ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    offending = tmp_path / "bad.py"
    offending.write_text("def f():\n    from worker.engine import run_experiment\n")
    assert "worker" in imported_top_level_modules(offending)


@pytest.mark.parametrize("module", ["api.main", "core.spec", "core.settings", "core.celery_app"])
def test_module_does_not_load_torch_or_worker_at_import(module: str) -> None:
    """Transitive check: importing the API (or core) in a fresh interpreter loads no torch."""
    probe = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in ('torch', 'worker', 'optim') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "", f"{module} loaded {completed.stdout.strip()}"
