"""The pipeline end to end against the fake provider on loopback: submit, poll, download, translate,
convert, write; failures of one job or file reported while the rest lands; re-runs that do nothing."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import sqlite3
from pathlib import Path

import pystac
import pytest

from catalogs import stac
from catalogs import store as catalog_store
from catalogs.cog import validate_cog
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.config import parse_config
from adapters.http import RetryPolicy, make_client
from harvester.state import StateDB, StateLockedError
from tests.harvester.conftest import FakeServer, fake_config
from tests.harvester.fakeprovider import COLLECTION, LEAKED_SECRET, TABLE_COLLECTION


def fast_client() -> object:
    """A client whose retries do not wait in real time."""
    return make_client(retries=RetryPolicy(max_attempts=5, backoff_base=0.001, backoff_cap=0.01, max_wait=0.01))


def items_of(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def item_files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and ".harvest" not in p.parts}


def test_submit_poll_download_translate_write(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["alpha", "beta", "points:table"])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)

    assert summary.ok, summary.failures
    assert (summary.jobs, summary.jobs_harvested, summary.jobs_skipped) == (3, 3, 0)
    assert fake_server.service.submissions == 1
    assert all(job.polls >= 2 for job in fake_server.service.jobs.values())  # polled until finished
    # two rasters + README per raster job, one CSV: every file transferred once
    assert summary.downloads == 7
    assert summary.conversions == 4  # the plain GeoTIFFs became COGs
    assert summary.items_written == 3

    report = validate_catalog(root)
    assert report.ok, report.format()
    items = items_of(root)
    assert set(items) == {"ALPHA", "BETA", "POINTS"}
    alpha = items["ALPHA"]
    assert alpha.collection_id == COLLECTION
    assert set(alpha.assets) == {"VV", "mask", "readme", "thumbnail"}
    assert alpha.assets["VV"].media_type == stac.COG
    assert alpha.properties["proj:code"] == "EPSG:32633"
    vv = Path(alpha.assets["VV"].get_absolute_href())
    assert vv.parent == root / COLLECTION / "ALPHA"
    assert validate_cog(vv)[0]
    assert items["POINTS"].collection_id == TABLE_COLLECTION
    assert items["POINTS"].assets["data"].media_type == stac.CSV

    with StateDB(root) as state:
        assert {j.job_id: j.stage for j in state.jobs("fake")} == {j.id: "harvested" for j in fake_server.service.jobs.values()}
        assert state.item_count() == 3
        alpha_job = next(j for j in state.jobs("fake") if j.name == "alpha")
        files = state.files("fake", alpha_job.job_id)
        assert {f.status for f in files.values()} == {"done"} and len(files) == 3
    # downloads and work files are cleaned up once a job is harvested
    assert not (root / ".harvest" / "downloads" / "fake").exists() or not any((root / ".harvest" / "downloads" / "fake").iterdir())
    assert not (root / ".harvest" / "work" / "fake").exists() or not any((root / ".harvest" / "work" / "fake").iterdir())


def test_rerun_downloads_converts_and_rewrites_nothing(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["alpha", "beta", "points:table"])
    with fast_client() as client:
        first = pipeline.run(config, client=client)
        assert first.ok and first.downloads == 7
        before = item_files(root)
        gets = dict(fake_server.service.file_gets)
        requests = len(fake_server.log)
        second = pipeline.run(config, client=client)

    assert second.ok
    assert (second.downloads, second.conversions, second.items_written) == (0, 0, 0)
    assert (second.jobs, second.jobs_skipped, second.jobs_harvested) == (3, 3, 0)
    assert item_files(root) == before  # same files, same mtimes
    assert fake_server.service.file_gets == gets
    assert fake_server.service.submissions == 1  # the recorded submission is not sent again
    assert len(fake_server.log) == requests  # a submitted source with nothing left asks the provider nothing


def test_failed_and_expired_jobs_are_reported_and_the_rest_lands(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["good", "broken:fail", "stale:expired"])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)

    assert not summary.ok
    by_job = {f.job: f.error for f in summary.failures}
    ids = {j.name: j.id for j in fake_server.service.jobs.values()}
    assert set(by_job) == {ids["broken"], ids["stale"]}
    assert "failed at the provider" in by_job[ids["broken"]] and "no overlap with the DEM" in by_job[ids["broken"]]
    assert "expired" in by_job[ids["stale"]]
    assert set(items_of(root)) == {"GOOD"}
    assert fake_server.service.file_gets.keys() == {k for k in fake_server.service.file_gets if k.startswith(ids["good"])}
    with StateDB(root) as state:
        stages = {j.name: j.stage for j in state.jobs("fake")}
    assert stages == {"good": "harvested", "broken": "failed", "stale": "expired"}


def test_wrong_checksum_rejects_the_file_and_a_rerun_fetches_only_it(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    service = fake_server.service
    job = service.add_job("gamma")
    service.add_job("delta")
    bad = "GAMMA_mask.tif"
    good_bytes = job.files[bad]
    config = fake_config(root, fake_server.url, ["gamma", "delta"])
    with fast_client() as client:
        # the listing announces the checksum of the good bytes; the body served is different
        service.corrupt = {f"{job.id}/{bad}"}
        summary = pipeline.run(config, client=client)
        assert [(f.job, f.file) for f in summary.failures] == [(job.id, bad)]
        assert "checksum" in summary.failures[0].error.lower()
        assert set(items_of(root)) == {"DELTA"}
        with StateDB(root) as state:
            files = state.files("fake", job.id)
            assert files[bad].status == "failed" and files["GAMMA_VV.tif"].status == "done"
            assert state.job("fake", job.id).stage == "error"
        assert not list(root.rglob(f"{bad}*")), "the rejected file was kept"

        service.corrupt = set()
        gets = dict(service.file_gets)
        again = pipeline.run(config, client=client)
    assert again.ok, again.failures
    assert again.downloads == 1
    assert {k: v - gets.get(k, 0) for k, v in service.file_gets.items() if v != gets.get(k, 0)} == {f"{job.id}/{bad}": 1}
    assert set(items_of(root)) == {"DELTA", "GAMMA"}
    with StateDB(root) as state:  # the file fetched again is the good one
        assert state.files("fake", job.id)[bad].sha256 == hashlib.sha256(good_bytes).hexdigest()


def test_file_names_escaping_the_folder_are_refused(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["evil:badname", "fine"])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)
    refused = {f.file for f in summary.failures}
    assert refused == {"../escape.txt", "..\\evil.txt"}
    assert sorted(f.error for f in summary.failures) == ["unsafe file name '../escape.txt': contains '..'",
                                                         "unsafe file name '..\\\\evil.txt': contains a backslash"]
    assert "FINE" in items_of(root)
    assert not list(tmp_path.rglob("escape.txt")) and not list(tmp_path.rglob("*evil.txt"))


def test_rate_limits_server_errors_and_a_dropped_connection_are_survived(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    service = fake_server.service
    job = service.add_job("omega")
    faults = fake_server.faults
    faults.add(rf"^/jobs/{job.id}$", status=429, retry_after=1, times=1)
    faults.add(rf"^/files/{job.id}/OMEGA_mask\.tif$", status=503, times=3)
    size = len(job.files["OMEGA_VV.tif"])
    faults.add(rf"^/files/{job.id}/OMEGA_VV\.tif$", drop_after_bytes=size // 2, times=1)
    config = fake_config(root, fake_server.url, ["omega"])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)

    assert summary.ok, summary.failures
    assert "OMEGA" in items_of(root)
    assert not faults.pending()
    vv = fake_server.log.records(f"/files/{job.id}/OMEGA_VV.tif")
    assert len(vv) == 2
    assert vv[1].range is not None and vv[1].range.startswith("bytes=")
    offset = int(vv[1].range.split("=")[1].split("-")[0])
    assert 0 < offset <= size // 2 + 1
    assert fake_server.log.total_bytes(f"/files/{job.id}/OMEGA_VV.tif") < size * 1.6  # resumed, not restarted


def test_a_job_that_never_finishes_times_out_and_the_rest_lands(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["forever:slow", "quick"], timeout=0.5)
    with fast_client() as client:
        summary = pipeline.run(config, client=client)
    assert summary.jobs_waiting == 1
    assert [f.job for f in summary.failures] == [fake_server.service.jobs[next(
        j for j in fake_server.service.jobs if fake_server.service.jobs[j].name == "forever")].id]
    assert "run again later" in summary.failures[0].error
    assert set(items_of(root)) == {"QUICK"}


def test_missing_token_fails_the_source_with_a_clear_message(fake_server: FakeServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKEPROV_TOKEN")
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["alpha"])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)
    assert len(summary.failures) == 1
    assert "HTTP 401" in summary.failures[0].error and "No authorization token" in summary.failures[0].error


def test_conversions_run_in_a_process_pool(fake_server: FakeServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["pool-a", "pool-b"], executor="process", workers=2)
    made: list[object] = []
    real = pipeline._make_executor
    monkeypatch.setattr(pipeline, "_make_executor", lambda c, **kw: made.append(real(c, **kw)) or made[-1])
    with fast_client() as client:
        summary = pipeline.run(config, client=client)
    assert summary.ok, summary.failures
    assert len(made) == 1 and isinstance(made[0], concurrent.futures.ProcessPoolExecutor)
    assert summary.conversions == 4
    assert validate_catalog(root).ok


def test_process_workers_start_with_the_gdal_stack_already_loaded(fake_provider: None, tmp_path: Path) -> None:
    # forked from a server that imported it once: no worker (nor a replacement) pays that import again
    config = fake_config(tmp_path / "cat", "http://127.0.0.1:9", ["a"], executor="process", workers=1)
    heavy = ("rasterio", "rio_cogeo.cogeo", "numpy", "catalogs.cog", "catalogs.items", "harvester.work")
    with pipeline._make_executor(config) as executor:
        assert isinstance(executor, concurrent.futures.ProcessPoolExecutor)
        # eval pickles by name and imports nothing in the worker: it sees what the worker started with
        loaded = executor.submit(eval, f"[m for m in {heavy!r} if m in __import__('sys').modules]").result(120)
    assert loaded == list(heavy)


def test_a_second_run_on_the_same_catalog_is_refused(fake_server: FakeServer, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    config = fake_config(root, fake_server.url, ["alpha"], lock_wait=0.2)
    with StateDB(root):
        with pytest.raises(StateLockedError, match="another harvester run"):
            pipeline.run(config)


def test_credentials_never_reach_the_catalog_the_state_or_the_logs(fake_server: FakeServer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    canary = "CANARY-5e1f0c9a-secret"
    fake_server.service.token = canary
    monkeypatch.setenv("FAKEPROV_TOKEN", canary)
    root = tmp_path / "cat"
    job = fake_server.service.add_job("canary")
    fake_server.faults.add(rf"^/files/{job.id}/CANARY\.README\.txt$", status=403, times=10)  # an auth'd download fails
    config = fake_config(root, fake_server.url, ["canary", "other", "broken:fail"])
    caplog.set_level(logging.DEBUG)
    with fast_client() as client:
        summary = pipeline.run(config, client=client)
    assert summary.failures  # errors happened, and were reported
    texts = [caplog.text, "\n".join(str(f) for f in summary.failures), repr(summary)]
    for path in root.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    db = sqlite3.connect(root / ".harvest" / "state.sqlite")
    texts.append(json.dumps([db.execute(f"SELECT * FROM {t}").fetchall() for t in ("sources", "jobs", "files", "items")]))
    db.close()
    for text in texts:
        assert canary not in text
    assert "OTHER" in items_of(root)


def test_search_sources_add_items_with_remote_assets(fake_provider: None, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    raw = {"catalog": {"path": str(root)}, "run": {"executor": "inline"},
           "sources": [{"provider": "fakesearch", "name": "scenes", "count": 3}]}
    config = parse_config(raw, base_dir=tmp_path, env={})
    summary = pipeline.run(config)
    assert summary.ok and summary.items_written == 3
    items = items_of(root)
    assert items["S2_SCENE_1"].assets["B04"].href == "https://example.com/scenes/1/B04.tif"
    assert validate_catalog(root).ok
    again = pipeline.run(config)
    assert (again.items_written, again.items_unchanged) == (0, 3)


def test_search_keeps_what_it_found_when_items_or_the_search_fail(
    fake_provider: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_store, "BATCH", 4)  # several batches, and a partial one when the search fails
    root = tmp_path / "cat"
    raw = {"catalog": {"path": str(root)}, "run": {"executor": "inline"},
           "sources": [{"provider": "fakesearch", "name": "scenes", "count": 12, "bad_ids": [2, 9], "fail_after": 10}]}
    summary = pipeline.run(parse_config(raw, base_dir=tmp_path, env={}))
    expected = {f"S2_SCENE_{i}" for i in range(10) if i not in (2, 9)}
    assert set(items_of(root)) == expected
    assert validate_catalog(root).ok
    failures = [str(f) for f in summary.failures]
    assert sum("'S2 SCENE 2'" in f for f in failures) == 1 and sum("'S2 SCENE 9'" in f for f in failures) == 1
    assert any("page 10 could not be fetched" in f for f in failures)
    with StateDB(root) as state:
        assert {item_id for _, item_id, _ in state.items("scenes", "search")} == expected


def test_an_item_the_catalog_refuses_fails_alone(fake_server: FakeServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine side of an item (pystac reading the worker's dict, the writer) fails it, not the run
    real = pipeline.build_item

    def build(draft, workdir):  # noqa: ANN001, ANN202 - the pipeline's own signature
        built = real(draft, workdir)
        if draft.id == "BAD":
            del built.item["geometry"], built.item["bbox"], built.item["properties"]
        return built

    monkeypatch.setattr(pipeline, "build_item", build)
    root = tmp_path / "cat"
    with fast_client() as client:
        summary = pipeline.run(fake_config(root, fake_server.url, ["good", "bad"]), client=client)
    bad = next(job.id for job in fake_server.service.jobs.values() if job.name == "bad")
    assert [(f.job, f.item, f.error) for f in summary.failures] == [(bad, "BAD", "KeyError: 'properties'")]
    assert summary.jobs_harvested == 1
    assert validate_catalog(root).ok


def test_error_text_quoting_a_signed_url_is_kept_redacted(fake_server: FakeServer, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    # a library's error (GDAL naming the /vsicurl/ URL it could not read) reaches the summary, the log and
    # the state database with the signature's value replaced
    root = tmp_path / "cat"
    with fast_client() as client:
        summary = pipeline.run(fake_config(root, fake_server.url, ["good", "odd:leaky"]), client=client)
    [failure] = summary.failures
    job = failure.job
    assert failure.error == (f"FakeAdapter.translate failed: OSError: '/vsicurl/https://bucket.example/{job}_VV.tif"
                             "?X-Amz-Signature=REDACTED' not recognized as being in a supported file format")
    assert LEAKED_SECRET not in caplog.text
    with sqlite3.connect(root / ".harvest" / "state.sqlite") as db:
        stored = " ".join(str(value) for row in db.execute("SELECT * FROM jobs") for value in row)
    assert LEAKED_SECRET not in stored and "X-Amz-Signature=REDACTED" in stored


def test_each_adapter_is_closed_once_after_its_source_also_when_the_source_fails(
        fake_server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.errors import ProviderUnavailableError
    from tests.harvester.fakeprovider import FakeAdapter

    events: list[str] = []
    real_translate_done = pipeline._Harvest._translate_done

    def translate_done(self: object, *args: object) -> None:
        events.append("translated")
        real_translate_done(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline._Harvest, "_translate_done", translate_done)
    monkeypatch.setattr(FakeAdapter, "close", lambda self: events.append(f"closed {self.source.name}"))
    with fast_client() as client:
        summary = pipeline.run(fake_config(tmp_path / "cat", fake_server.url, ["quick"]), client=client)
    assert summary.ok, summary.failures
    assert events == ["translated", "closed fake"]  # after everything the source's jobs needed

    def unavailable(self: object) -> None:
        raise ProviderUnavailableError("fake: down")

    events.clear()
    monkeypatch.setattr(FakeAdapter, "submit", unavailable)
    monkeypatch.setattr(FakeAdapter, "find", unavailable)
    with fast_client() as client:
        summary = pipeline.run(fake_config(tmp_path / "other", fake_server.url, ["again"]), client=client)
    assert [f.error for f in summary.failures] == ["fake: down"]
    assert events == ["closed fake"]
