"""The NGU simulator answers as the API page says: datasets, queries, the state progression, files, expiry."""

from __future__ import annotations

import gzip

import httpx

from adapters.ngu.simulator import NguSimulator

EXAMPLE = "20.1404,69.3438,20.1827,69.3293"


class Clock:
    def __init__(self) -> None:
        self.now = 1_579_177_130.0

    def __call__(self) -> float:
        return self.now


def _client(sim: NguSimulator) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://ngu.test")


def test_a_query_moves_through_every_state_to_complete_and_lists_a_file_per_swath() -> None:
    clock = Clock()
    sim = NguSimulator(seed=1, dates=8, clock=clock)
    with _client(sim) as client:
        query_id = client.post("/in-asc1-v20a/query", params={"bbox": EXAMPLE}).json()["id"]
        seen = []
        for _ in range(6):
            clock.now += 1.0
            state = client.get("/query-state", params={"id": query_id}).json()
            seen.append(state["state"])
        assert seen == ["created", "queued", "init", "tiles", "process", "complete"]
        assert state["complete"] is True and state["progress"] == 1.0 and state["version"] == "1.0.0"
        assert state["csv"] == ["160-IW1-414-in-asc1-v20a.csv.gz", "160-IW2-414-in-asc1-v20a.csv.gz"]
        assert state["dataset"] == "in-asc1-v20a" and state["bbox"] == EXAMPLE
        assert state["num_points"] == sum(spec.points for spec in sim.queries[query_id].files.values())
        assert state["expires"] == state["updated"] + 3600.0
        assert state["messages"][:4] == ["Queued", "Query initializing", "Determining overlapping tiles",
                                         "Got 2 tiles"]
        assert state["messages"][-1] == "All done"

        body = client.get("/query-download", params={"id": query_id, "csv": state["csv"][0]})
        assert body.status_code == 200 and body.content[:2] == b"\x1f\x8b"
        header = gzip.decompress(body.content).split(b"\n", 1)[0].decode()
        assert header.startswith("pid, track, mode, burst, line, pixel, latitude, longitude, height, height_wgs84, "
                                 "mean_velocity, rmse, temporal_coherence, amplitude_quality, pixel, line, ")
        assert header.endswith(", 20150612, 20150624, 20150706, 20150718, 20150730, 20150811, 20150823, 20150904")

        # an hour after completion the query and its files are gone
        clock.now = state["updated"] + 3600.5
        assert client.get("/query-state", params={"id": query_id}).status_code == 404
        assert client.get("/query-download", params={"id": query_id, "csv": state["csv"][0]}).status_code == 404


def test_with_step_seconds_a_query_also_moves_on_by_time() -> None:
    """As `harvester simulate ngu` serves it: a query first polled 30 s after its submission is complete, with
    every state's messages; one polled early has moved by time, never back."""
    clock = Clock()
    sim = NguSimulator(seed=1, dates=8, step_seconds=1.0, clock=clock)
    with _client(sim) as client:
        late = client.post("/in-asc1-v20a/query", params={"bbox": EXAMPLE}).json()["id"]
        early = client.post("/in-dsc1-v20a/query", params={"bbox": EXAMPLE}).json()["id"]
        clock.now += 2.5
        assert client.get("/query-state", params={"id": early}).json()["state"] == "init"
        clock.now += 27.5
        state = client.get("/query-state", params={"id": late}).json()
        assert state["state"] == "complete" and state["messages"][-1] == "All done" and state["csv"]
        assert "Got 2 tiles" in state["messages"]
        assert client.get("/query-state", params={"id": early}).json()["state"] == "complete"


def test_datasets_and_refusals() -> None:
    sim = NguSimulator()
    with _client(sim) as client:
        datasets = client.get("/list-datasets").json()
        assert datasets[0] == {"attribution": "2015-2019", "displayName": "Sentinel-1 Ascending 1",
                               "name": "in-asc1-v20a"}
        assert len(datasets) == 6
        unknown = client.post("/in-xyz/query", params={"bbox": EXAMPLE})
        assert (unknown.status_code, unknown.json()) == (400, {"message": "Unknown dataset: in-xyz"})
        bad = client.post("/in-asc1-v20a/query", params={"bbox": "1,2,3"})
        assert bad.status_code == 400
        assert client.get("/query-state", params={"id": "nope"}).status_code == 404


def test_the_newer_release_style_has_its_own_columns() -> None:
    sim = NguSimulator(dates=3, styles={"in-dsc1-v20a": "2023"})
    with _client(sim) as client:
        query_id = client.post("/in-dsc1-v20a/query", params={"bbox": "20.16,69.33,20.19,69.34"}).json()["id"]
        for _ in range(6):
            state = client.get("/query-state", params={"id": query_id}).json()
        body = client.get("/query-download", params={"id": query_id, "csv": state["csv"][0]}).content
        header = gzip.decompress(body).split(b"\n", 1)[0].decode().split(", ")
        assert {"easting", "northing", "vertical_velocity", "amplitude_dispersion"} <= set(header)
        assert "amplitude_quality" not in header
        assert header.count("pixel") == 2 and header.count("line") == 2
