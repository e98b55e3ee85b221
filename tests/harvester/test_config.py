"""Config files and flags: every mistake is a ConfigError naming the key; env overrides provider URLs."""

from __future__ import annotations

import os
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


URL_MESSAGE = "must be an absolute http(s) URL such as https://host/path, not"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1234", "https://hyp3-api.asf.alaska.edu/", "http://[::1]:8080/api",
                                 "HTTPS://Example.org"])
def test_provider_urls_that_are_accepted(tmp_path: Path, fake_provider: None, url: str) -> None:
    path = write(tmp_path, GOOD.replace('jobs = ["a", "b:table"]', f'jobs = ["a"]\nurl = "{url}"'))
    assert load_config(path, env={}).sources[0].settings.url == url


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:8000", "ftp://host/x", "file:///etc/passwd", "http://",
                                 "http:///path", "//host/path", "http://host:99999/", "http://host:port/",
                                 "http://[::1/"])
def test_a_provider_url_that_is_not_http_is_refused_naming_the_key(tmp_path: Path, fake_provider: None,
                                                                   url: str) -> None:
    path = write(tmp_path, GOOD.replace('jobs = ["a", "b:table"]', f'jobs = ["a"]\nurl = "{url}"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: sources[0].url {URL_MESSAGE} {url!r}"


def test_a_provider_url_from_the_environment_is_checked_naming_the_variable(tmp_path: Path,
                                                                           fake_provider: None) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"FAKEPROV_URL": "notaurl"})
    assert str(info.value) == f"{path}: sources[0].url (from $FAKEPROV_URL) {URL_MESSAGE} 'notaurl'"


def test_a_refused_url_never_shows_its_credentials(tmp_path: Path, fake_provider: None) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"FAKEPROV_URL": "ftp://user:s3cret@host/x?token=t0ken"})
    assert str(info.value) == f"{path}: sources[0].url (from $FAKEPROV_URL) {URL_MESSAGE} 'ftp://host/x?token=REDACTED'"


def test_every_adapter_url_setting_is_checked() -> None:
    # the declaration that makes a setting a provider URL (metadata "env"), on every built-in adapter
    from adapters import registry
    from adapters.base import url_settings

    assert url_settings(registry.get("hyp3").Settings) == {"url": "HYP3_API_URL", "auth_url": "HYP3_AUTH_URL"}
    with pytest.raises(ConfigError, match=r"sources\[0\].auth_url \(from \$HYP3_AUTH_URL\) must be an absolute"):
        parse_config({"catalog": {"path": "c"}, "sources": [{"provider": "hyp3"}]}, base_dir=Path.cwd(),
                     env={"HYP3_AUTH_URL": "urs.earthdata.nasa.gov/oauth"}, origin="test")


def test_a_catalog_path_that_is_a_file_is_refused(tmp_path: Path, fake_provider: None) -> None:
    (tmp_path / "out").write_text("not a folder")
    path = write(tmp_path, GOOD.replace('path = "out/cat"', 'path = "out"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: catalog.path {tmp_path / 'out'} is a file, not a catalog folder"

    inside = write(tmp_path, GOOD)  # out/cat: inside the file
    with pytest.raises(ConfigError) as info:
        load_config(inside)
    assert str(info.value) == (f"{inside}: catalog.path {tmp_path / 'out' / 'cat'} is inside {tmp_path / 'out'}, "
                               "which is a file, not a folder")


def test_a_catalog_folder_that_does_not_exist_yet_is_fine(tmp_path: Path, fake_provider: None) -> None:
    config = load_config(write(tmp_path, GOOD.replace('path = "out/cat"', 'path = "new/deeper/cat"')))
    assert config.catalog.path == tmp_path / "new" / "deeper" / "cat"


HYP3_CONFIG = """
[catalog]
path = "cat"

[[sources]]
provider = "hyp3"
job_name = "x"
url = "hyp3-api.asf.alaska.edu"
"""


def test_the_cli_refuses_a_url_that_is_not_http_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, HYP3_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYP3_")}
    by_file = subprocess.run([sys.executable, "-m", "harvester.cli", "run", str(path)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert by_file.returncode == 2
    assert by_file.stderr == f"error: {path}: sources[0].url {URL_MESSAGE} 'hyp3-api.asf.alaska.edu'\n"

    by_env = subprocess.run([sys.executable, "-m", "harvester.cli", "fetch", "hyp3", "--catalog", str(tmp_path / "c")],
                            cwd=ROOT, env={**env, "HYP3_API_URL": "notaurl"}, capture_output=True, text=True,
                            timeout=60)
    assert by_env.returncode == 2
    assert by_env.stderr == f"error: command line: --url (from $HYP3_API_URL) {URL_MESSAGE} 'notaurl'\n"
    assert not (tmp_path / "c").exists()
