"""Import rules of DEVELOPERS.md: api -> core <- worker -> optim; optim imports none of ours;
and in tests/, no module imports a test module (shared pieces live in helper modules)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support.processes import run_to_end

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS = REPO_ROOT / "tests"
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
    completed = run_to_end([sys.executable, "-c", probe], timeout_s=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "", f"{module} loaded {completed.stdout.strip()}"


def imported_test_modules(path: Path, *, root: Path = REPO_ROOT) -> set[str]:
    """Dotted names of the test modules (``test_*.py`` under ``root``) that a file imports,
    absolutely or relatively, at its top or inside a function."""
    package = path.relative_to(root).parent.parts
    tree = ast.parse(path.read_text(), filename=str(path))
    candidates: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            candidates.add(module)
            candidates.update(f"{module}.{alias.name}" for alias in node.names)
    return {
        name
        for name in candidates
        if name.rsplit(".", 1)[-1].startswith("test_")
        and (root / Path(*name.split("."))).with_suffix(".py").is_file()
    }


def test_no_module_under_tests_imports_a_test_module() -> None:
    violations = []
    for path in sorted(TESTS.rglob("*.py")):
        imported = imported_test_modules(path)
        if imported:
            violations.append(f"{path.relative_to(REPO_ROOT)} imports {sorted(imported)}")
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize(
    "statement",
    [
        "from tests.pkg.test_a import helper",
        "from tests.pkg import test_a",
        "import tests.pkg.test_a",
        "from .test_a import helper",
        "from . import test_a",
        "def f():\n    from tests.pkg.test_a import helper",
    ],
)
def test_checker_sees_a_test_module_imported(tmp_path: Path, statement: str) -> None:
    package = tmp_path / "tests" / "pkg"
    package.mkdir(parents=True)
    (package / "test_a.py").write_text("def helper():\n    pass\n")
    (package / "helpers.py").write_text("def helper():\n    pass\n")
    importer = package / "test_b.py"
    importer.write_text(statement + "\n")
    assert imported_test_modules(importer, root=tmp_path) == {"tests.pkg.test_a"}
    importer.write_text(statement.replace("test_a", "helpers") + "\n")
    assert imported_test_modules(importer, root=tmp_path) == set()
