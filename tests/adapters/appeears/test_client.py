"""The AppEEARS client and product cache against the simulator: 303, paging, verbatim errors, conditional GETs,
and downloads whose redirect target never sees the token."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from adapters.appeears.client import AppeearsClient, appeears_auth
from adapters.appeears.products import ProductCache
from adapters.auth import BasicThenToken
from adapters.errors import RequestRejectedError
from adapters.http import make_client
from harvester import pipeline
from harvester.downloads import Downloader, DownloadRequest
from adapters.base import RemoteFile
from tests.adapters.appeears.conftest import AREA_TASK, POINT_TASK, AppeearsServer, appeears_config


@pytest.fixture
def api(appeears: AppeearsServer) -> AppeearsClient:
    with make_client() as client:
        yield AppeearsClient(client, appeears.url, appeears_auth(appeears.url))


def test_status_303_means_done_and_is_not_followed(appeears: AppeearsServer, api: AppeearsClient) -> None:
    task_id = appeears.sim.add_task(AREA_TASK)
    done, answer = api.status(task_id)
    assert done is True and answer["status"] == "done"
    (record,) = appeears.log.records(f"/api/status/{task_id}")
    assert record.status == 303
    assert appeears.sim.requests["task"] == 0  # the Location (/api/task/<id>) was not fetched


def test_status_while_processing_shows_the_progress(appeears: AppeearsServer, api: AppeearsClient) -> None:
    appeears.sim.polls_to_finish = 3
    task_id = api.submit(AREA_TASK)["task_id"]
    done, answer = api.status(task_id)
    assert done is False and answer["status"] == "processing"
    assert answer["progress"]["summary"] == 33
    assert [d["desc"] for d in answer["progress"]["details"]][:2] == ["Initializing", "Downloading"]


def test_a_400_message_surfaces_verbatim(api: AppeearsClient) -> None:
    with pytest.raises(RequestRejectedError) as caught:
        api.submit({"task_type": "area", "params": {}})
    assert str(caught.value) == "AppEEARS: submitting task None: 'task_name' is a required property"


def test_tasks_are_listed_page_by_page_with_the_status_filter(appeears: AppeearsServer, api: AppeearsClient) -> None:
    done = [appeears.sim.add_task({**AREA_TASK, "task_name": f"t{i}"}) for i in range(5)]
    appeears.sim.add_task({**POINT_TASK, "task_name": "running"}, status="processing")
    assert {t["task_id"] for t in api.tasks(status="done", page_size=2)} == set(done)
    offsets = [r.query for r in appeears.log.records("/api/task", "GET")]
    assert offsets == ["limit=2&offset=0&status=done", "limit=2&offset=2&status=done", "limit=2&offset=4&status=done"]


def test_the_export_of_a_finished_task_submits_unchanged(appeears: AppeearsServer, tmp_path: Path,
                                                         samples: Path) -> None:
    exported = samples / "appeears" / "polygon" / "polygon-request.json"
    summary = pipeline.run(appeears_config(tmp_path / "catalog", appeears.url, name="polygon", task=str(exported)))
    assert summary.failures == []
    (task,) = appeears.sim.tasks.values()
    assert task.request == json.loads(exported.read_text())  # every field, the service's own ones included


def test_the_product_lists_are_cached_and_asked_again_conditionally(appeears: AppeearsServer, tmp_path: Path) -> None:
    with make_client() as client:
        first = ProductCache(client, appeears.url, tmp_path / "cache")
        assert first.product("MOD13Q1.061")["DOI"] == "10.5067/MODIS/MOD13Q1.061"
        assert first.answers == {"/product?limit=1000&offset=0": "fetched"}
        second = ProductCache(client, appeears.url, tmp_path / "cache")
        assert second.product("MCD12Q2.006")["TemporalGranularity"] == "Yearly"
        assert second.answers == {"/product?limit=1000&offset=0": "revalidated"}
    (_, again) = appeears.log.records("/api/product")
    assert again.status == 304


def test_credentials_go_to_the_api_but_not_to_where_it_redirects(appeears: AppeearsServer, tmp_path: Path) -> None:
    task_id = appeears.sim.add_task(AREA_TASK)
    with make_client() as client:
        auth = appeears_auth(appeears.url)
        assert isinstance(auth, BasicThenToken)
        api = AppeearsClient(client, appeears.url, auth)
        entry = api.bundle(task_id)["files"][0]
        remote = RemoteFile(api.file_url(task_id, entry["file_id"]), "a.tif", entry["file_size"],
                            f"sha256:{entry['sha256']}", auth=True)
        result = Downloader(client).fetch(DownloadRequest(remote, tmp_path, auth))
    assert result.error is None and result.size == entry["file_size"]
    bundle, storage = [r for r in appeears.log.records() if "/bundle/" in r.path or r.path.startswith("/s3/")][-2:]
    assert (bundle.status, storage.status) == (302, 200)
    assert appeears.sim.auth_at_s3 == 0
    assert auth.signed_in  # the token was sent to the API (it signed in for it)


def test_httpx_alone_would_send_the_token_to_the_same_host_redirect(appeears: AppeearsServer) -> None:
    """Why the downloader follows redirects itself: httpx keeps Authorization on a same-origin redirect, and the
    (simulated) storage refuses such a request."""
    task_id = appeears.sim.add_task(AREA_TASK)
    with make_client() as client:
        api = AppeearsClient(client, appeears.url, appeears_auth(appeears.url))
        entry = api.bundle(task_id)["files"][0]
        response = client.get(api.file_url(task_id, entry["file_id"]), auth=api.auth)
    assert response.status_code == 400 and appeears.sim.auth_at_s3 == 1


def test_logout_disposes_of_the_token(appeears: AppeearsServer, api: AppeearsClient) -> None:
    assert api.logout() is False  # never signed in: nothing sent
    api.tasks()
    list(api.tasks())
    assert api.logout() is True
    assert appeears.sim.logouts == 1
    assert not api.auth.signed_in  # type: ignore[union-attr]


def test_an_earthdata_token_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, no_credentials: None) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "edl-token")
    auth = appeears_auth("http://127.0.0.1:9/api")
    request = next(auth.auth_flow(httpx.Request("GET", "http://127.0.0.1:9/api/task")))
    assert request.headers["Authorization"] == "Bearer edl-token"
    assert "edl-token" not in repr(auth)
