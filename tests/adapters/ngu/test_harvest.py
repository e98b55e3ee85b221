"""End to end: the NGU adapter harvesting the simulator over loopback HTTP through the real pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer

from adapters.http import RetryPolicy, make_client
from adapters.ngu.simdata import SUBSIDENCE_MM_YR, subsidence_centre
from catalogs.cog import validate_cog
from catalogs.validate import validate_catalog
from harvester import pipeline
from harvester.config import ConfigError
from tests.adapters.ngu.conftest import EXAMPLE_AREA, NguServer, ngu_config

ITEMS = ["160-IW1-414-in-asc1-v20a", "160-IW2-414-in-asc1-v20a"]


def _items(root: Path) -> dict[str, pystac.Item]:
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    return {item.id: item for item in catalog.get_items(recursive=True)}


def test_a_box_across_two_swaths_is_harvested_end_to_end(tmp_path: Path, ngu: NguServer) -> None:
    root = tmp_path / "catalog"
    config = ngu_config(root, ngu.url)
    summary = pipeline.run(config)
    assert summary.ok, summary.failures
    assert (summary.jobs, summary.jobs_harvested, summary.downloads, summary.items_written) == (1, 1, 2, 2)
    assert validate_catalog(root).ok

    items = _items(root)
    assert sorted(items) == ITEMS
    collection = pystac.Collection.from_file(str(root / "ngu-insar-in-asc1-v20a" / "collection.json"))
    assert collection.title == "InSAR Norway: Sentinel-1 Ascending 1"
    assert collection.license == "NLOD-2.0"
    assert [(p.name, p.roles) for p in collection.providers] == [
        ("Geological Survey of Norway (NGU)", ["producer", "licensor", "host"]),
        ("InSAR Norway (Norwegian Ground Motion Service)", ["processor"])]
    assert [link.href for link in collection.links if link.rel == "license"] == ["https://data.norge.no/nlod/en/2.0"]
    assert "Attribution: 2015-2019." in collection.description

    # the velocity COG passes strict validation and shows the subsiding patch where the simulator put it
    item = items["160-IW2-414-in-asc1-v20a"]
    velocity = Path(item.assets["velocity"].get_absolute_href() or "")
    ok, errors, warnings = validate_cog(velocity)
    assert (ok, errors, warnings) == (True, [], [])
    assert item.properties["proj:code"] == "EPSG:32634"
    with rasterio.open(velocity) as ds:
        data = ds.read(1)
        row, col = np.unravel_index(np.nanargmin(data), data.shape)
        x, y = ds.xy(row, col)
        assert ds.units == ("mm/yr",)
    lon, lat = Transformer.from_crs("EPSG:32634", "EPSG:4326", always_xy=True).transform(x, y)
    centre = subsidence_centre(EXAMPLE_AREA)
    assert abs(lon - centre[0]) < 0.003 and abs(lat - centre[1]) < 0.0015  # within ~100 m
    assert np.nanmin(data) < 0.7 * SUBSIDENCE_MM_YR
    assert abs(float(np.nanmedian(data))) < 5.0  # elsewhere: near zero
    band = item.assets["velocity"].extra_fields["bands"][0]
    assert band["unit"] == "mm/yr" and band["statistics"]["minimum"] == pytest.approx(float(np.nanmin(data)))
    assert item.assets["data"].media_type == "application/vnd.apache.parquet"
    assert item.assets["thumbnail"].media_type == "image/png"
    ngu.log.clear()

    again = pipeline.run(ngu_config(root, ngu.url))
    assert again.ok and (again.jobs_skipped, again.downloads, again.items_written) == (1, 0, 0)
    assert len(ngu.log) == 0  # nothing asked of the service


def test_results_that_expire_before_the_download_are_asked_for_again_once(
        tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(expire_at_download=1)
    root = tmp_path / "catalog"
    summary = pipeline.run(ngu_config(root, server.url))
    assert summary.ok, summary.failures
    assert server.sim.requests["query"] == 2
    first, second = server.sim.queries.values()
    assert first.gone and not second.gone
    assert sorted(server.sim.downloads) == sorted(f"{second.id}/{name}.csv.gz" for name in ITEMS)
    assert sorted(_items(root)) == ITEMS
    assert {item.properties["ngu:query_id"] for item in _items(root).values()} == {second.id}


def test_a_query_that_expires_again_after_its_resubmission_fails_as_expired(
        tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(lifetime=0.0)  # gone as soon as complete: before any download
    summary = pipeline.run(ngu_config(tmp_path / "catalog", server.url))
    assert server.sim.requests["query"] == 2  # re-submitted once, not more
    assert server.sim.downloads == {}
    assert len(summary.failures) == 1
    failure = summary.failures[0]
    assert failure.job == next(iter(server.sim.queries))
    points = sum(spec.points for spec in list(server.sim.queries.values())[1].files.values())
    assert failure.error == f"the job's results expired before they were downloaded (complete: {points} points)"


def test_an_error_state_surfaces_the_servers_messages(tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(errors={"in-asc1-v20a": ["Failed to read tile 3", "Query aborted: storage unavailable"]})
    summary = pipeline.run(ngu_config(tmp_path / "catalog", server.url))
    assert [f.error for f in summary.failures] == [
        "the job failed at the provider: Determining overlapping tiles; Got 2 tiles; Approximately 2786 points "
        "to store; Failed to read tile 3; Query aborted: storage unavailable"]  # the last five


def test_a_bad_bbox_is_refused_before_any_request(tmp_path: Path, ngu: NguServer) -> None:
    with pytest.raises(ConfigError) as info:
        ngu_config(tmp_path / "catalog", ngu.url, bbox=[20.1, 69.3, 200.0, 69.4])
    assert str(info.value) == "config: sources[0]: bbox: longitude 200 is outside [-180, 180]"
    assert len(ngu.log) == 0


def test_an_unknown_dataset_is_refused_before_any_query(tmp_path: Path, ngu: NguServer) -> None:
    summary = pipeline.run(ngu_config(tmp_path / "catalog", ngu.url, dataset="in-asc9-v99z"))
    assert [f.error for f in summary.failures] == [
        "source ngu: unknown NGU dataset(s) in-asc9-v99z (list-datasets gives: in-asc1-v20a, in-asc2-v20a, "
        "in-asc3-v20a, in-dsc1-v20a, in-dsc2-v20a, in-dsc3-v20a)"]
    assert ngu.sim.requests["query"] == 0


def test_a_query_not_visible_right_after_submission_is_polled_again(
        tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(not_visible_polls=3)
    summary = pipeline.run(ngu_config(tmp_path / "catalog", server.url))
    assert summary.ok, summary.failures
    assert server.sim.requests["query"] == 1
    assert summary.items_written == 2


def test_malformed_rows_are_counted_in_the_summary_and_the_items(
        tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(malformed_rows=2)
    root = tmp_path / "catalog"
    summary = pipeline.run(ngu_config(root, server.url))
    assert summary.ok, summary.failures
    assert sorted((w.item, w.error.split(" (")[0]) for w in summary.warnings) == [
        (ITEMS[0], f"2 malformed row(s) of {ITEMS[0]}.csv.gz skipped"),
        (ITEMS[1], f"2 malformed row(s) of {ITEMS[1]}.csv.gz skipped")]
    assert {item.properties["ngu:bad_rows"] for item in _items(root).values()} == {2}


def test_all_datasets_is_one_query_each(tmp_path: Path, ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(density=20.0, dates=6)
    root = tmp_path / "catalog"
    summary = pipeline.run(ngu_config(root, server.url, dataset="all"))
    assert summary.ok, summary.failures
    assert sorted(q.dataset for q in server.sim.queries.values()) == [
        "in-asc1-v20a", "in-asc2-v20a", "in-asc3-v20a", "in-dsc1-v20a", "in-dsc2-v20a", "in-dsc3-v20a"]
    assert summary.items_written == 12
    assert validate_catalog(root).ok


def test_downloads_decompressed_on_the_way_are_harvested(tmp_path: Path,
                                                          ngu_server: Callable[..., NguServer]) -> None:
    server = ngu_server(plain_downloads=True)
    root = tmp_path / "catalog"
    summary = pipeline.run(ngu_config(root, server.url))
    assert summary.ok, summary.failures
    assert {item.assets["source"].media_type for item in _items(root).values()} == {"text/csv"}


def test_transport_faults_are_retried_and_a_cut_download_resumed(tmp_path: Path, ngu: NguServer) -> None:
    ngu.faults.add(r"^/query-state", method="GET", status=503, times=2)
    ngu.faults.add(r"^/in-asc1-v20a/query", method="POST", status=429, retry_after=0.1)
    ngu.faults.add(r"^/query-download", method="GET", drop_after_bytes=1000)
    with make_client(retries=RetryPolicy(random=lambda: 0.0)) as client:
        summary = pipeline.run(ngu_config(tmp_path / "catalog", ngu.url), client=client)
    assert summary.ok, summary.failures
    assert ngu.faults.pending() == []  # every fault fired
    assert ngu.sim.requests["query"] == 1  # the 429 was refused before the query was made, then sent again
    assert summary.items_written == 2
    cut = [r for r in ngu.log.records() if r.fault and r.fault.startswith("drop")]
    assert len(cut) == 1
    again = [r for r in ngu.log.records("/query-download", "GET") if r.query == cut[0].query and r is not cut[0]]
    assert [(r.status, r.range) for r in again] == [(206, "bytes=1000-")]


def test_the_querys_progress_and_point_count_drive_the_polling_bar(tmp_path: Path, ngu: NguServer) -> None:
    from harvester.progress import Progress

    class Recorder(Progress):
        def __init__(self) -> None:
            self.jobs: list[tuple[float | None, str | None]] = []

        def job(self, key: str, job_id: str, fraction: float | None, message: str | None) -> None:
            assert key == "poll"
            self.jobs.append((fraction, message))

    recorder = Recorder()
    summary = pipeline.run(ngu_config(tmp_path / "catalog", ngu.url), progress=recorder)
    assert summary.ok, summary.failures
    running = [entry for entry in recorder.jobs if entry != (None, None)]
    # the states the simulator goes through before 'complete', each poll's progress as it said
    assert [message.split(":")[0] for _, message in running if message] == ["created", "queued", "init",
                                                                              "tiles", "process"]
    assert [fraction for fraction, _ in running] == sorted(fraction for fraction, _ in running)
    assert any(message and message.startswith("process: ") and message.endswith(" points")
               for _, message in running)
    assert recorder.jobs[-1] == (None, None)  # the job left the bar when it completed
