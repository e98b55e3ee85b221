"""Shared fixtures. Network access other than loopback is refused by pytest-socket (see pyproject.toml)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARVESTER_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared reference folder (``../shared``), which CI always provides."""
    if not (SHARED / "samples").is_dir():
        pytest.fail(f"shared reference folder missing at {SHARED} (set HARVESTER_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "samples"


@pytest.fixture(scope="session")
def schema_dir(shared_dir: Path) -> Path:
    return shared_dir / "stac-schemas"


@pytest.fixture(autouse=True)
def _offline_schemas(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Validation in tests uses the shared schema folder and never a user's cache."""
    if (SHARED / "stac-schemas").is_dir():
        monkeypatch.setenv("HARVESTER_SCHEMA_DIR", str(SHARED / "stac-schemas"))
    monkeypatch.setenv("HARVESTER_SCHEMA_CACHE", str(tmp_path_factory.getbasetemp() / "schema-cache"))
