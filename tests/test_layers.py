"""The floors hold: `core` imports no package of the project, and only the top floor imports `lakehouse`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "lakehouse", "pipeline", "simulator", "app", "governance")


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every project package a module imports, at any depth of the module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_the_ground_floor_imports_no_other_package(path):
    assert imported_packages(path) <= {"core"}


@pytest.mark.parametrize("package", ["pipeline", "simulator", "app", "governance"])
def test_no_package_imports_the_top_floor(package):
    offenders = {str(p.relative_to(ROOT)) for p in modules(package) if "lakehouse" in imported_packages(p)}
    assert not offenders


def test_simulator_and_pipeline_do_not_import_each_other():
    assert not any("pipeline" in imported_packages(p) for p in modules("simulator"))
    assert not any("simulator" in imported_packages(p) for p in modules("pipeline"))
