"""Each package's public names are sorted and real (the httpx habit)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "chamberlain",
    "chamberlain.actions",
    "chamberlain.grants",
    "chamberlain.pipeline",
    "chamberlain.store",
    "chamberlain.surfaces.rest",
    "chamberlain.surfaces.mcp",
    "chamberlain.errors",
    "chamberlain.content",
    "chamberlain.demo",
]


def _isort(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort), "keep __all__ sorted: CONSTANTS, Classes, functions"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member}"
