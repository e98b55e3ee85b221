"""The demo reproduces the golden examples in ``examples/`` (harvest times aside): a change to what the
harvester writes shows in review as a change to those files (``python3 dev.py golden`` rewrites them)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.golden import EXAMPLES, differences, golden_files


def test_the_demo_reproduces_the_golden_examples(demo: Path) -> None:
    assert differences(demo) == [], "run `python3 dev.py golden` if the change is intended"


def test_the_examples_hold_each_collection_of_the_demo_and_one_of_its_items(demo: Path) -> None:
    catalog = json.loads((demo / "catalog.json").read_text())
    collections = sorted(link["href"].split("/")[1] for link in catalog["links"] if link["rel"] == "child")
    assert sorted(p.parent.name for p in EXAMPLES.glob("*/collection.json")) == collections
    for cid in collections:
        items = [p for p in (EXAMPLES / cid).glob("*.json") if p.name != "collection.json"]
        assert len(items) == 1, cid
        assert json.loads(items[0].read_text())["collection"] == cid


def test_a_changed_field_is_reported_and_a_harvest_time_is_not(demo: Path, tmp_path: Path) -> None:
    files = golden_files(demo)
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(body)
    assert differences(demo, tmp_path) == []
    name = sorted(n for n in files if not n.endswith("collection.json"))[0]
    item = json.loads(files[name])
    item["properties"]["created"] = "2000-01-01T00:00:00Z"
    (tmp_path / name).write_text(json.dumps(item))
    assert differences(demo, tmp_path) == []
    item["properties"]["platform"] = "somewhere else"
    (tmp_path / name).write_text(json.dumps(item))
    assert differences(demo, tmp_path) == [f"{name}: differs in properties"]
    (tmp_path / name).unlink()
    assert differences(demo, tmp_path) == [f"{name}: in the demo, not in {tmp_path.name}/"]
