"""The HyP3 adapter from the command line: ``harvester simulate / submit / fetch / run / status`` run as a user
runs them (the installed console script in a subprocess) against the simulator on loopback, plus transport
faults injected into an in-process harvest.

Every subprocess gets the simulator's URL (``--url``, ``HYP3_API_URL`` or the config file) and an environment
without Earthdata credentials other than the ones a test gives it, so nothing can leave loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pystac
import pytest

from adapters.hyp3.jobs import API_EXAMPLES
from catalogs.validate import validate_catalog
from harvester import pipeline
from adapters.http import RetryPolicy, make_client
from tests.adapters.hyp3.conftest import CREDENTIAL_VARIABLES, Hyp3Server, hyp3_config
from tests.processes import HARVESTER, harvester_process

RTC = {**API_EXAMPLES[0], "name": "cli-rtc"}      # minimal RTC_GAMMA
INSAR = {**API_EXAMPLES[3], "name": "cli-insar"}  # minimal INSAR_GAMMA
RUN_FLAGS = ("--executor", "thread", "--poll-interval", "0.05")


# ------------------------------------------------------------------------------------------------ helpers


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any Earthdata credentials or HyP3 URLs (and a netrc file that does
    not exist), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    env["NETRC"] = str(tmp_path / "no-netrc")
    env.update(extra)
    return env


def harvester(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert HARVESTER, "the harvester console script is not installed next to this Python"
    return subprocess.run([HARVESTER, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _write_jobs(path: Path, jobs: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(jobs, indent=1))
    return path


def _named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {**spec, "name": name}


def _status(catalog: Path, env: dict[str, str]) -> dict[str, tuple[str, str, str, str]]:
    """``harvester status`` as {job id: (source, name, status, stage)}."""
    result = harvester("status", str(catalog), env=env)
    assert result.returncode == 0, _output(result)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["SOURCE", "JOB", "NAME", "STATUS", "STAGE"], result.stdout
    rows = {}
    for line in lines[1:]:
        source, job_id, name, status, stage = line.split()[:5]
        rows[job_id] = (source, name, status, stage)
    return rows


def _zip_path(record: dict[str, Any]) -> str:
    """The URL path of a finished job's product zip."""
    return httpx.URL(record["files"][0]["url"]).path


# ------------------------------------------------------------------------------------ 1. harvester simulate


def test_simulate_serves_the_api_until_interrupted(tmp_path: Path) -> None:
    with harvester_process("simulate", "hyp3", "--port", "0", env=_env(tmp_path)) as simulator:
        first = simulator.lines(1, timeout=30)[0]
        match = re.match(r"HyP3 simulator at (http://127\.0\.0\.1:(\d+)) ", first)
        assert match, first
        url = match.group(1)
        assert int(match.group(2)) > 0

        with httpx.Client(timeout=10) as client:
            ok = client.get(f"{url}/user", headers={"Authorization": "Bearer sim-token"})
            assert ok.status_code == 200, ok.text
            assert ok.json()["user_id"] == "sim-user"
            refused = client.get(f"{url}/user")
            assert refused.status_code == 401
            assert refused.json()["detail"] == "No authorization token provided"
            wrong = client.get(f"{url}/user", headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401

        rc, _, stderr = simulator.interrupt()
        assert rc == 0, stderr
        assert "Traceback" not in stderr
        with pytest.raises(httpx.ConnectError):  # the port is closed
            httpx.get(f"{url}/user", timeout=5)


# ----------------------------------------------------------------------------------- 2. harvester submit


def test_submit_with_the_url_from_the_environment_then_status_validate_and_rerun(
        hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = _write_jobs(tmp_path / "jobs.json", [RTC, INSAR])
    catalog = tmp_path / "cat"
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token, HYP3_API_URL=hyp3.url)
    args = ("submit", "hyp3", "--catalog", str(catalog), "--jobs", str(jobs), *RUN_FLAGS)

    first = harvester(*args, env=env)
    assert first.returncode == 0, _output(first)
    assert "Traceback" not in first.stderr
    assert f"catalog: {catalog / 'catalog.json'}" in first.stdout
    assert "jobs: 2 (2 harvested now, 0 done before)" in first.stdout
    assert "items: 2 written" in first.stdout
    posts = hyp3.log.records("/jobs", "POST")
    assert len(posts) == 1 and posts[0].status == 200
    submitted = {job_id: job.name for job_id, job in hyp3.sim.jobs.items()}
    assert sorted(submitted.values()) == ["cli-insar", "cli-rtc"]

    validated = harvester("validate", str(catalog), env=env)
    assert validated.returncode == 0, _output(validated)
    assert "2 items" in validated.stdout and "all valid" in validated.stdout

    status = _status(catalog, env)
    assert status == {job_id: ("hyp3", name, "succeeded", "harvested") for job_id, name in submitted.items()}

    hyp3.log.clear()
    second = harvester(*args, env=env)
    assert second.returncode == 0, _output(second)
    assert "jobs: 2 (0 harvested now, 2 done before)" in second.stdout
    assert "downloads: 0 file(s)" in second.stdout and "items: 0 written" in second.stdout
    assert not hyp3.log.records("/jobs", "POST")
    assert len(hyp3.log) == 0  # a recorded submission of finished jobs needs no request at all
    assert len(hyp3.sim.jobs) == 2


def test_submit_with_the_url_flag_and_a_relative_jobs_path(hyp3: Hyp3Server, tmp_path: Path) -> None:
    _write_jobs(tmp_path / "jobs.json", [RTC, INSAR])
    # the flag wins over the environment variable (which would send everything to a closed port)
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token, HYP3_API_URL="http://127.0.0.1:9")
    result = harvester("submit", "hyp3", "--catalog", "cat", "--jobs", "jobs.json", "--url", hyp3.url,
                       *RUN_FLAGS, env=env, cwd=tmp_path)
    assert result.returncode == 0, _output(result)
    assert "jobs: 2 (2 harvested now, 0 done before)" in result.stdout
    assert len(hyp3.log.records("/jobs", "POST")) == 1
    catalog = pystac.Catalog.from_file(str(tmp_path / "cat" / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    assert sorted(i.collection_id for i in items) == ["hyp3-insar-gamma", "hyp3-rtc-gamma"]
    assert {i.properties["hyp3:job_id"] for i in items} == set(hyp3.sim.jobs)


# ------------------------------------------------------------------------------------ 3. harvester fetch


def test_fetch_by_job_name_and_by_job_ids(hyp3: Hyp3Server, tmp_path: Path) -> None:
    sim = hyp3.sim
    rtc = sim.add_job(_named(RTC, "svalbard"))["job_id"]
    insar = sim.add_job(_named(INSAR, "svalbard"))["job_id"]
    other = sim.add_job(_named(RTC, "elsewhere"))["job_id"]
    assert len({rtc, insar, other}) == 3
    env = _env(tmp_path, EARTHDATA_TOKEN=sim.token)

    by_name = harvester("fetch", "hyp3", "--catalog", str(tmp_path / "by-name"), "--job-name", "svalbard",
                        "--url", hyp3.url, *RUN_FLAGS, env=env)
    assert by_name.returncode == 0, _output(by_name)
    assert "jobs: 2 (2 harvested now, 0 done before)" in by_name.stdout
    status = _status(tmp_path / "by-name", env)
    assert status == {rtc: ("hyp3", "svalbard", "succeeded", "harvested"),
                      insar: ("hyp3", "svalbard", "succeeded", "harvested")}
    listings = hyp3.log.records("/jobs", "GET")
    assert listings and all("name=svalbard" in r.query for r in listings)
    assert not hyp3.log.records(f"/jobs/{other}")

    hyp3.log.clear()
    by_ids = harvester("fetch", "hyp3", "--catalog", str(tmp_path / "by-ids"), "--job-ids", f"{rtc},{other}",
                       "--url", hyp3.url, *RUN_FLAGS, env=env)
    assert by_ids.returncode == 0, _output(by_ids)
    assert "jobs: 2 (2 harvested now, 0 done before)" in by_ids.stdout
    assert set(_status(tmp_path / "by-ids", env)) == {rtc, other}
    assert not hyp3.log.records("/jobs", "GET")  # no listing: the jobs are read by id
    assert not hyp3.log.records(f"/jobs/{insar}")
    assert not [r for r in hyp3.log.records() if r.path.startswith(f"/files/{insar}/")]
    assert not hyp3.log.records("/jobs", "POST")


# ------------------------------------------------------------------------------------ 4. harvester run


def test_run_a_config_file_with_a_jobs_path_relative_to_it(hyp3: Hyp3Server, tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    _write_jobs(folder / "jobs.json", [RTC])
    config = folder / "harvest.toml"
    config.write_text(f"""
[catalog]
path = "catalog"
title = "From a config file"

[run]
executor = "thread"
workers = 2
poll_interval = 0.05
poll_max_interval = 0.2

[[sources]]
provider = "hyp3"
name = "from-config"
url = "{hyp3.url}"
jobs = "jobs.json"
""")
    elsewhere = tmp_path / "elsewhere"  # neither the config's folder nor the one holding jobs.json
    elsewhere.mkdir()
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token)
    result = harvester("run", "../conf/harvest.toml", env=env, cwd=elsewhere)
    assert result.returncode == 0, _output(result)
    assert "jobs: 1 (1 harvested now, 0 done before)" in result.stdout
    assert (folder / "catalog" / "catalog.json").is_file()
    assert not (elsewhere / "catalog").exists()
    (job_id,) = hyp3.sim.jobs
    assert _status(folder / "catalog", env) == {job_id: ("from-config", "cli-rtc", "succeeded", "harvested")}
    assert pystac.Catalog.from_file(str(folder / "catalog" / "catalog.json")).title == "From a config file"


# ------------------------------------------------------------------------------------------ 5. bad input


def test_an_unknown_job_type_is_refused_naming_file_job_and_field(hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = _write_jobs(tmp_path / "jobs.json", [RTC, {"name": "bad", "job_type": "RTC_FOO", "job_parameters": {}}])
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token)
    result = harvester("submit", "hyp3", "--catalog", str(tmp_path / "cat"), "--jobs", str(jobs),
                       "--url", hyp3.url, *RUN_FLAGS, env=env)
    # a failure of that source (exit 1), as when a provider refuses the list: other sources would still run
    assert result.returncode == 1, _output(result)
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "1 failure(s):",
        f"  - source hyp3: {jobs}: job 2: job_type 'RTC_FOO' is not one of RTC_GAMMA, INSAR_GAMMA, "
        "INSAR_ISCE_BURST, INSAR_ISCE_MULTI_BURST, AUTORIFT, ARIA_S1_GUNW, OPERA_RTC_S1",
    ], _output(result)
    assert not hyp3.log.records("/jobs", "POST")
    assert not hyp3.sim.jobs


def test_an_unknown_config_key_exits_2_naming_it(hyp3: Hyp3Server, tmp_path: Path) -> None:
    config = tmp_path / "harvest.toml"
    config.write_text(f'[catalog]\npath = "cat"\n\n[[sources]]\nprovider = "hyp3"\nurl = "{hyp3.url}"\n'
                      'job_nmae = "svalbard"\n')
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token)
    result = harvester("run", str(config), env=env)
    assert result.returncode == 2, _output(result)
    assert "unknown key 'sources[0].job_nmae'" in result.stderr
    assert "Traceback" not in result.stderr
    # the flags are checked as strictly
    flags = harvester("fetch", "hyp3", "--catalog", str(tmp_path / "cat"), "--url", hyp3.url, "--job-nmae", "x",
                      env=env)
    assert flags.returncode == 2, _output(flags)
    assert "unrecognized arguments: --job-nmae" in flags.stderr
    assert len(hyp3.log) == 0
    assert not (tmp_path / "cat").exists()


def test_submit_without_credentials_is_a_clear_error(hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = _write_jobs(tmp_path / "jobs.json", [RTC])
    result = harvester("submit", "hyp3", "--catalog", str(tmp_path / "cat"), "--jobs", str(jobs),
                       "--url", hyp3.url, *RUN_FLAGS, env=_env(tmp_path))
    assert result.returncode == 1, _output(result)
    assert ("  - source hyp3: HyP3: no Earthdata credentials: set EARTHDATA_TOKEN, or EARTHDATA_USERNAME and "
            "EARTHDATA_PASSWORD, or add a ~/.netrc entry for machine urs.earthdata.nasa.gov") in result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    assert len(hyp3.log) == 0  # not even the user check: nothing to check with


# ------------------------------------------------------------------------------------ 6. transport faults


def test_transport_faults_are_retried_and_resumed(hyp3: Hyp3Server, tmp_path: Path) -> None:
    sim, faults = hyp3.sim, hyp3.faults
    rtc = sim.add_job(_named(RTC, "faulty"))
    insar = sim.add_job(_named(INSAR, "faulty"))
    rtc_zip, insar_zip = _zip_path(rtc), _zip_path(insar)
    insar_size = insar["files"][0]["size"]
    cut = insar_size // 2
    faults.add(r"^/jobs/", method="GET", status=503, times=2)
    faults.add(re.escape(rtc_zip) + "$", method="GET", status=429, retry_after=0.1)
    faults.add(re.escape(insar_zip) + "$", method="GET", drop_after_bytes=cut)

    root = tmp_path / "cat"
    config = hyp3_config(root, hyp3.url, name="faulty", job_ids=[rtc["job_id"], insar["job_id"]],
                         run={"keep_downloads": True})
    # the production client, but its jittered backoff always 0: a wait before a retry is the Retry-After
    with make_client(retries=RetryPolicy(random=lambda: 0.0)) as client:
        summary = pipeline.run(config, client=client)
    assert summary.ok, [str(f) for f in summary.failures]
    assert summary.jobs == summary.jobs_harvested == 2
    assert faults.pending() == []  # every fault fired
    assert validate_catalog(root).ok

    # the 503 burst: two refusals of the same job read, then the retry got through
    records = hyp3.log.records()
    refused = [r for r in records if r.fault == "status 503"]
    assert len(refused) == 2 and {r.status for r in refused} == {503}
    assert refused[0].path == refused[1].path and refused[0].path.startswith("/jobs/")
    after = records[records.index(refused[1]) + 1:]
    assert any(r.path == refused[0].path and r.status == 200 for r in after)

    # the 429: retried, after the Retry-After the server asked for (the backoff alone would not wait)
    rtc_gets = hyp3.log.records(rtc_zip, "GET")
    assert [(r.status, r.fault) for r in rtc_gets] == [(429, "status 429"), (200, None)]
    assert rtc_gets[1].started - rtc_gets[0].started >= 0.1

    # the cut body: resumed with a Range request from where it stopped, not fetched again
    insar_gets = hyp3.log.records(insar_zip, "GET")
    assert len(insar_gets) == 2, [(r.range, r.status, r.bytes_sent, r.fault) for r in insar_gets]
    dropped, resumed = insar_gets
    assert dropped.fault == f"drop after {cut} bytes" and dropped.range is None and dropped.bytes_sent == cut
    match = re.fullmatch(r"bytes=(\d+)-", resumed.range or "")
    assert match and 0 < int(match.group(1)) <= cut, resumed.range
    assert resumed.status == 206 and resumed.if_range
    assert resumed.bytes_sent == insar_size - int(match.group(1))
    (kept,) = (root / ".harvest" / "downloads").rglob(insar["files"][0]["filename"])
    archive = sim.product(insar["job_id"]).files[insar["files"][0]["filename"]]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == hashlib.sha256(archive).hexdigest()


# ------------------------------------------------------------------------------------ 7. expired results


def test_expired_results_are_a_named_failure_without_downloads(hyp3: Hyp3Server, tmp_path: Path) -> None:
    expired = hyp3.sim.add_job(_named(RTC, "sim-expired-x"))["job_id"]
    env = _env(tmp_path, EARTHDATA_TOKEN=hyp3.sim.token)
    result = harvester("fetch", "hyp3", "--catalog", str(tmp_path / "cat"), "--job-name", "sim-expired-x",
                       "--url", hyp3.url, *RUN_FLAGS, env=env)
    assert result.returncode == 1, _output(result)
    assert "jobs: 1 (0 harvested now, 0 done before)" in result.stdout
    assert "1 failure(s):" in result.stdout
    assert (f"  - source hyp3, job {expired}: the job's results expired before they were downloaded"
            in result.stdout.splitlines()), result.stdout
    assert "Traceback" not in result.stderr
    assert not [r for r in hyp3.log.records() if r.path.startswith("/files/")]
    assert _status(tmp_path / "cat", env)[expired][3] == "expired"


# --------------------------------------------------------------------- bugs found by these tests, fixed


def test_status_accepts_a_relative_catalog_folder(tmp_path: Path) -> None:
    from harvester.state import StateDB

    with StateDB(tmp_path / "cat"):
        pass
    result = harvester("status", "cat", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, _output(result)
    assert "no jobs recorded" in result.stdout


def test_an_edited_jobs_file_is_submitted(hyp3: Hyp3Server, tmp_path: Path) -> None:
    jobs = _write_jobs(tmp_path / "jobs.json", [RTC])
    config = hyp3_config(tmp_path / "cat", hyp3.url, jobs=str(jobs))
    assert pipeline.run(config).ok
    _write_jobs(jobs, [RTC, INSAR])
    summary = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=str(jobs)))
    assert summary.ok, [str(f) for f in summary.failures]
    assert sorted(job.job_type for job in hyp3.sim.jobs.values()) == ["INSAR_GAMMA", "RTC_GAMMA"]  # RTC reused
    assert summary.jobs == 2 and summary.jobs_harvested == 1 and summary.jobs_skipped == 1


def test_a_corrected_jobs_file_does_not_adopt_another_job_of_the_same_name(hyp3: Hyp3Server, tmp_path: Path) -> None:
    older = hyp3.sim.add_job(_named(API_EXAMPLES[1], "reused"))["job_id"]  # another granule, same name
    jobs = _write_jobs(tmp_path / "jobs.json",
                       [_named(RTC, "reused"), {"name": "bad", "job_type": "RTC_FOO", "job_parameters": {}}])
    first = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=str(jobs)))
    assert not first.ok and not hyp3.log.records("/jobs", "POST")
    _write_jobs(jobs, [_named(RTC, "reused")])
    second = pipeline.run(hyp3_config(tmp_path / "cat", hyp3.url, jobs=str(jobs)))
    assert second.ok, [str(f) for f in second.failures]
    assert len(hyp3.log.records("/jobs", "POST")) == 1
    (submitted,) = set(hyp3.sim.jobs) - {older}
    assert hyp3.sim.jobs[submitted].name == "reused"
    items = list(pystac.Catalog.from_file(str(tmp_path / "cat" / "catalog.json")).get_items(recursive=True))
    assert [i.properties["hyp3:job_id"] for i in items] == [submitted]
