"""Shared fixtures. Network access other than loopback is refused by pytest-socket (see pyproject.toml)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.s3sim import LoopbackS3

from catalogs.schemas import SCHEMA_CACHE_ENV, SCHEMA_DIR_ENV

if TYPE_CHECKING:
    from harvester.demo import DemoResult

#: real provider samples kept in the repository (where each came from: tests/data/README.md)
SAMPLES = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _logger_levels() -> Iterator[None]:
    """The CLI sets the levels of some libraries' loggers (httpx, botocore, stac_geoparquet) when a test runs it in this
    process: put them back, so later tests' log captures see what those libraries log."""
    loggers = [logging.getLogger(name) for name in ("httpx", "botocore", "stac_geoparquet")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


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


@pytest.fixture(scope="session")
def _s3_server() -> Iterator[LoopbackS3]:
    with LoopbackS3() as server:
        yield server


@pytest.fixture
def s3_server(_s3_server: LoopbackS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LoopbackS3:
    """moto's S3 on loopback, emptied for each test, with the environment boto3 reads pointing at it.

    A user's own AWS configuration is never read (its files are pointed at nothing, instance metadata is off).
    """
    _s3_server.reset()
    for key, value in _s3_server.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    return _s3_server


@pytest.fixture(scope="session")
def demo_result(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The demo (every provider simulator harvested, in the process pool), run once per test process."""
    from harvester.demo import run_demo

    result = run_demo(tmp_path_factory.mktemp("demo-catalog") / "demo")
    assert result.report.ok and not result.summary.failures, result.report.format()
    return result


@pytest.fixture(scope="session")
def demo(demo_result: DemoResult) -> Path:
    """The demo catalog, built once per test process. Read it only: a test that changes a catalog copies it
    first (`demo_copy`)."""
    return demo_result.root


@pytest.fixture
def demo_copy(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo catalog of this test's own, with its index, to change."""
    import shutil

    target = tmp_path / "demo"
    shutil.copytree(demo, target, symlinks=True)
    return target
