"""Config files and flags: every mistake is a ConfigError naming the key; env overrides provider URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harvester.config import ConfigError, load_config, parse_config
from tests.harvester.fakeprovider import FakeSettings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harvest.toml"
    path.write_text(text)
    return path


GOOD = """
[catalog]
path = "out/cat"
title = "T"
license = "CC-BY-4.0"

[run]
workers = 2
downloads = 3

[[sources]]
provider = "fakeprov"
jobs = ["a", "b:table"]

[[sources]]
provider = "fakeprov"
prefix = "x"
assets = "remote"
"""


def test_a_good_config(tmp_path: Path, fake_provider: None) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.catalog.path == tmp_path / "out" / "cat"  # relative to the config file
    assert (config.catalog.title, config.catalog.license) == ("T", "CC-BY-4.0")
    assert (config.run.workers, config.run.downloads, config.run.executor) == (2, 3, "process")
    assert [s.name for s in config.sources] == ["fakeprov", "fakeprov-2"]
    first, second = config.sources
    assert isinstance(first.settings, FakeSettings) and first.settings.jobs == ["a", "b:table"]
    assert second.assets == "remote" and second.settings.prefix == "x"
    assert first.digest != second.digest


def test_environment_overrides_the_provider_url(tmp_path: Path, fake_provider: None) -> None:
    path = write(tmp_path, GOOD.replace('jobs = ["a", "b:table"]', 'jobs = ["a"]\nurl = "http://from-file"'))
    config = load_config(path, env={"FAKEPROV_URL": "http://127.0.0.1:1234"})
    assert config.sources[0].settings.url == "http://127.0.0.1:1234"
    assert load_config(path, env={}).sources[0].settings.url == "http://from-file"


@pytest.mark.parametrize("change,message", [
    (("[run]\nworkers = 2", "[run]\nworkers = \"two\""), "run.workers must be an integer"),
    (("[run]\nworkers = 2", "[run]\nworkers = 0"), "run.workers must be at least 1"),
    (("[run]\nworkers = 2", "[run]\nwrokers = 2"), "unknown key 'run.wrokers'"),
    (('provider = "fakeprov"\njobs', 'provider = "nope"\njobs'), "sources[0].provider: unknown provider 'nope'"),
    (('jobs = ["a", "b:table"]', 'jobs = "a"\nbbox = [1, 2]'), "unknown key 'sources[0].bbox'"),
    (('jobs = ["a", "b:table"]', 'jobs = [1, 2]'), "sources[0].jobs[0] must be a string"),
    (('assets = "remote"', 'assets = "cloud"'), "sources[1].assets must be"),
    (('path = "out/cat"\n', ''), "catalog.path is required"),
    (('prefix = "x"', 'prefix = "x"\nname = "fakeprov"'), "sources[1].name 'fakeprov' is used by another source"),
])
def test_bad_configs_name_the_key(tmp_path: Path, fake_provider: None, change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(change[0], change[1])))
    assert message in str(info.value)
    assert "harvest.toml" in str(info.value)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[catalog\npath="))
    with pytest.raises(ConfigError, match="nothing to harvest"):
        parse_config({"catalog": {"path": "x"}}, base_dir=tmp_path)


def test_the_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("[run]\nworkers = 2", "[run]\nworkers = -1"))
    result = subprocess.run([sys.executable, "-m", "harvester.cli", "run", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "run.workers must be at least 1, not -1" in result.stderr
