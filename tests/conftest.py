"""Shared fixtures. Network access other than loopback is refused by pytest-socket (see pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalogs.schemas import SCHEMA_CACHE_ENV, SCHEMA_DIR_ENV

#: real provider samples kept in the repository (where each came from: tests/data/README.md)
SAMPLES = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The folder of real provider samples: ``hyp3/rtc/``, ``appeears/polygon/``, ``sentinelhub/``."""
    return SAMPLES


@pytest.fixture(autouse=True)
def _offline_schemas(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Validation in tests uses only the schemas the project and its dependencies bundle: never a schema
    folder from the environment, never a user's cache."""
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)
    monkeypatch.setenv(SCHEMA_CACHE_ENV, str(tmp_path_factory.getbasetemp() / "schema-cache"))
