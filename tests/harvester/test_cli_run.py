"""`harvester run`, `submit`, `fetch` and `status` against the fake provider (in-process CLI calls, since
the fake provider is registered in this process only)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from harvester.cli import main
from tests.harvester import fakeprovider
from tests.harvester.conftest import FakeServer
from tests.harvester.test_cli import PROVIDER_LINES


def write_config(tmp_path: Path, url: str, jobs: list[str]) -> Path:
    return fakeprovider.write_config(tmp_path / "harvest.toml", "cat", url, jobs)


def test_run_then_status(fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_server.url, ["cli-a", "cli-b"])
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"catalog: {tmp_path / 'cat' / 'catalog.json'}" in out
    assert "jobs: 2 (2 harvested now, 0 done before)" in out
    assert "items: 2 written, 0 unchanged" in out

    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "jobs: 2 (0 harvested now, 2 done before)" in out
    assert "downloads: 0 file(s)" in out and "conversions: 0" in out

    assert main(["status", str(tmp_path / "cat")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["SOURCE", "JOB", "NAME", "STATUS", "STAGE"]
    assert sorted(line.split()[2:5] for line in lines[1:]) == [["cli-a", "succeeded", "harvested"],
                                                               ["cli-b", "succeeded", "harvested"]]

    assert main(["status", str(tmp_path / "cat"), "--source", "fake"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["status", str(tmp_path / "cat"), "--source", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: no source nope in {tmp_path / 'cat'} (sources: fake)\n"
    assert captured.out == ""


def test_run_reports_failures_with_exit_1(fake_server: FakeServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake_server.url, ["ok", "nope:fail"])
    assert main(["run", str(config)]) == 1
    out = capsys.readouterr().out
    job_id = next(j.id for j in fake_server.service.jobs.values() if j.name == "nope")
    assert "1 failure(s):" in out
    assert f"source fake, job {job_id}: the job failed at the provider" in out


def test_fetch_and_submit_from_flags(fake_server: FakeServer, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake_server.service.add_job("flag-one")
    fake_server.service.add_job("flag-two")
    fake_server.service.add_job("other")
    catalog = tmp_path / "flags"
    common = ["--catalog", str(catalog), "--url", fake_server.url, "--executor", "inline", "--poll-interval", "0.02"]
    assert main(["fetch", "fakeprov", *common, "--prefix", "flag-"]) == 0
    assert "jobs: 2 (2 harvested now" in capsys.readouterr().out
    assert fake_server.service.submissions == 0

    assert main(["submit", "fakeprov", *common, "--name", "mine", "--jobs", "sub-x,sub-y:table"]) == 0
    assert "jobs: 2 (2 harvested now" in capsys.readouterr().out
    assert fake_server.service.submissions == 1
    ids = sorted(p.name for p in catalog.glob("*/*") if p.is_dir() and p.parent.name != ".harvest")
    assert ids == ["FLAG_ONE", "FLAG_TWO", "SUB_X", "SUB_Y"]


def test_provider_flags_are_listed_and_checked(fake_server: FakeServer, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fetch", "fakeprov", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--prefix" in out and "--url" in out and "$FAKEPROV_URL" in out
    assert main(["fetch", "nosuch", "--catalog", str(tmp_path)]) == 2
    assert "unknown provider 'nosuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["fetch", "fakeprov", "--catalog", str(tmp_path), "--workers", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_a_run_on_a_locked_catalog_exits_2(fake_server: FakeServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from harvester.state import StateDB

    config = write_config(tmp_path, fake_server.url, ["x"])
    text = config.read_text().replace("[run]\n", "[run]\nlock_wait = 0.1\n")
    config.write_text(text)
    with StateDB(tmp_path / "cat"):
        assert main(["run", str(config)]) == 2
    assert "another harvester run is working on this catalog" in capsys.readouterr().err


def test_status_of_a_file_or_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    assert main(["status", str(tmp_path / "a-file")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'a-file'}: not a folder (give the catalog's folder)\n"
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such catalog folder\n"


URL_MESSAGE = "must be an absolute http(s) URL such as https://host/path, not 'notaurl'"


def test_a_provider_url_flag_that_is_not_http_exits_2(fake_provider: None, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tmp_path / "cat"
    assert main(["fetch", "fakeprov", "--catalog", str(catalog), "--url", "notaurl"]) == 2
    assert capsys.readouterr().err == f"error: command line: --url {URL_MESSAGE}\n"

    monkeypatch.setenv("FAKEPROV_URL", "notaurl")
    assert main(["submit", "fakeprov", "--catalog", str(catalog), "--jobs", "a"]) == 2
    assert capsys.readouterr().err == f"error: command line: --url (from $FAKEPROV_URL) {URL_MESSAGE}\n"
    assert not catalog.exists()


def test_a_catalog_that_is_a_file_exits_2(fake_server: FakeServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "cat"
    blocker.write_text("not a catalog")
    config = write_config(tmp_path, fake_server.url, ["x"])  # its catalog is tmp_path / "cat"
    assert main(["run", str(config)]) == 2
    assert capsys.readouterr().err == f"error: {config}: catalog.path {blocker} is a file, not a catalog folder\n"

    for action in ("fetch", "submit"):
        assert main([action, "fakeprov", "--catalog", str(blocker / "sub"), "--url", fake_server.url]) == 2
        assert capsys.readouterr().err == (f"error: command line: --catalog {blocker / 'sub'} is inside {blocker}, "
                                           "which is a file, not a folder\n")
    assert fake_server.service.submissions == 0
    assert blocker.read_text() == "not a catalog"


@pytest.mark.parametrize("action", ["submit", "fetch"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_submit_and_fetch_help_list_the_providers(fake_provider: None, capsys: pytest.CaptureFixture[str],
                                                  action: str, flag: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([action, flag])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: harvester {action} PROVIDER --catalog DIR [FLAGS...]\n")
    providers = out[out.index("providers:\n"):].splitlines()
    fakes = ["  fakeprov             Harvests the fake EO service (tests only).",
             "  fakesearch           A search-type source: items of a (pretend) STAC API, assets left where they are."]
    assert providers == [
        "providers:",
        *sorted([*PROVIDER_LINES, *fakes]),
        "",
        f"'harvester {action} PROVIDER --help' lists a provider's flags.",
    ]


def test_submit_without_a_provider_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit"]) == 2
    assert capsys.readouterr().err == ("error: harvester submit needs a provider (one of: appeears, hyp3, ngu, "
                                       "sentinelhub-async, sentinelhub-catalog, sentinelhub-process); "
                                       "'harvester submit --help' says more\n")


def test_serve_defaults_are_the_address_the_browse_hints_name() -> None:
    from harvester.cli import build_parser
    from harvester.serve import DEFAULT_HOST, DEFAULT_PORT

    args = build_parser().parse_args(["serve", "somewhere"])
    assert (args.host, args.port) == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8000)


def test_the_program_named_in_hints_is_one_the_shell_can_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harvester.cli import _program

    bin_dir = tmp_path / "my env" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "harvester"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", str(bin_dir))
    assert _program() == "harvester"
    monkeypatch.setenv("PATH", str(tmp_path))  # not on the PATH (python3 dev.py demo): the full path, quoted
    assert _program() == f"'{script}'"
    monkeypatch.setattr(sys, "argv", [str(Path(main.__code__.co_filename)), "demo"])  # python -m harvester.cli
    assert _program() == f"{shlex.quote(sys.executable)} -m harvester.cli"
