"""The golden examples in ``examples/``: what the demo writes, checked in so that every change to the output
shows in review.

For each collection of the demo: ``examples/<collection>/collection.json`` and the item with the smallest id,
``examples/<collection>/<item-id>.json``, byte for byte as the demo writes them but for the simulators'
loopback ports, which change with every run (`LOOPBACK` becomes ``http://127.0.0.1:PORT``). `differences`
compares a demo catalog with them, ignoring the fields that say when something was harvested
(`HARVEST_TIMES`).

Regenerate them after an intended change of the output: ``python3 dev.py golden`` (it runs the demo into a
temporary folder and rewrites ``examples/``).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: fields whose value is the time of a harvest, not a property of the product
HARVEST_TIMES = frozenset({"created", "updated"})
#: a simulator's address in what the demo wrote (a search's `via` links)
LOOPBACK = re.compile(rb"http://127\.0\.0\.1:\d+")


def _fixed_ports(data: bytes) -> bytes:
    return LOOPBACK.sub(b"http://127.0.0.1:PORT", data)


def golden_files(catalog: Path) -> dict[str, bytes]:
    """The files the examples hold for the catalog at ``catalog``: ``<collection>/<name>`` -> bytes."""
    files: dict[str, bytes] = {}
    root = json.loads((catalog / "catalog.json").read_bytes())
    for link in root["links"]:
        if link["rel"] != "child":
            continue
        folder = (catalog / link["href"]).parent
        cid = folder.name
        files[f"{cid}/collection.json"] = _fixed_ports((folder / "collection.json").read_bytes())
        items = sorted(p for p in folder.glob("*/*.json") if p.stem == p.parent.name)
        if items:
            files[f"{cid}/{items[0].name}"] = _fixed_ports(items[0].read_bytes())
    return files


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in HARVEST_TIMES}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def differences(catalog: Path, examples: Path = EXAMPLES) -> list[str]:
    """How the catalog differs from the examples: files missing on either side, and files whose JSON differs
    other than in harvest times (named, with the first differing key)."""
    made = golden_files(catalog)
    kept = {str(p.relative_to(examples)): p.read_bytes() for p in sorted(examples.glob("*/*.json"))}
    found = [f"{name}: in the demo, not in {examples.name}/" for name in sorted(made.keys() - kept.keys())]
    found += [f"{name}: in {examples.name}/, not in the demo" for name in sorted(kept.keys() - made.keys())]
    for name in sorted(made.keys() & kept.keys()):
        new, old = _without_times(json.loads(made[name])), _without_times(json.loads(kept[name]))
        if new != old:
            keys = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
            found.append(f"{name}: differs in {', '.join(keys)}")
    return found


def regenerate(examples: Path = EXAMPLES) -> list[str]:
    """Run the demo into a temporary folder and write its golden files into ``examples`` (replacing them)."""
    from harvester.demo import run_demo

    with tempfile.TemporaryDirectory() as scratch:
        result = run_demo(Path(scratch) / "demo")
        if not result.report.ok or result.summary.failures:
            raise SystemExit(f"the demo failed, examples left as they were:\n{result.report.format()}")
        files = golden_files(result.root)
    shutil.rmtree(examples, ignore_errors=True)
    for name, body in files.items():
        (examples / name).parent.mkdir(parents=True, exist_ok=True)
        (examples / name).write_bytes(body)
    return sorted(files)


if __name__ == "__main__":
    written = regenerate()
    sys.stdout.write(f"wrote {len(written)} file(s) into {EXAMPLES}\n")
