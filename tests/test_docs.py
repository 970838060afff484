"""Reference docs are generated from the code and must not go stale (the Datasette habit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chamberlain.config import Settings
from chamberlain.errors import all_error_types

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[1]


def test_generated_reference_is_current() -> None:
    run = subprocess.run([sys.executable, "scripts/gen_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_setting_and_error_is_documented() -> None:
    settings = (ROOT / "docs/reference/settings.md").read_text()
    for name, env, _, _ in Settings.documented():
        assert f"`{name}`" in settings and f"`{env}`" in settings
    errors = (ROOT / "docs/reference/errors.md").read_text()
    for cls in all_error_types():
        assert cls("").type_uri in errors


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("\n", 1)[1].strip() for b in readme.split("```")[1::2]][:2]
    assert blocks[0] == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/chamberlain demo"
    assert blocks[1] == "bash scripts/test"
    assert "exec bash scripts/test" in (ROOT / ".ci/run").read_text()


def test_docs_links_resolve() -> None:
    import re

    for doc in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).resolve().exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
