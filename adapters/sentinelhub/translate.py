"""Process API outputs (Async from S3, or a synchronous response) -> one item draft per request (pure).

Each TIFF response becomes a COG asset keyed by its identifier (the file's stem); bbox, geometry and projection
come from the file (`catalogs.items`); ``start_datetime``/``end_datetime`` from the inputs'
``dataFilter.timeRange``; the evalscript is ``processing:expression``; the input types and their data filters
are properties; the request (credentials removed) and ``userdata.json`` are ``metadata`` assets; the scenes
the adapter found in the Catalog are ``derived_from`` links, their count ``sentinelhub:scene_count``.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapters.base import JobRef, JobStatus
from adapters.errors import BadProductError
from adapters.sentinelhub.names import input_collection, sanitized_request
from catalogs import stac
from catalogs.drafts import AssetDraft, ItemDraft

TIFF_SUFFIXES = (".tif", ".tiff")


def translate_outputs(collection: str, job: JobRef, status: JobStatus, files: Mapping[str, Path],
                      workdir: Path) -> list[ItemDraft]:
    """The item of one finished request (``files``: output name -> local path)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = dict(files)
    for name, path in list(files.items()):
        if name.lower().endswith(".tar"):
            del files[name]
            files.update(_untar(job, name, path, workdir / "tar"))
    request = job.meta.get("request")
    assets: dict[str, AssetDraft] = {}
    for name in sorted(files):
        path = files[name]
        stem, suffix = Path(name).stem, Path(name).suffix.lower()
        if suffix in TIFF_SUFFIXES:
            assets[stem] = AssetDraft(path=path, roles=("data",), title=f"Response {stem!r}",
                                      media_type=stac.COG, kind="continuous")
        elif name == "userdata.json":
            assets["userdata"] = AssetDraft(path=path, roles=("metadata",), media_type=stac.JSON,
                                            title="userdata.json (written by the evalscript)")
        elif name.endswith(".json") and "request" in name and request is None:
            request = _read_json(job, name, path)
        elif suffix == ".json":
            assets[stem] = AssetDraft(path=path, roles=("metadata",), media_type=stac.JSON)
    if not any("data" in a.roles for a in assets.values()):
        raise BadProductError(f"Sentinel Hub request {job.id}: no TIFF among the outputs "
                              f"({', '.join(sorted(files)) or 'none'})")
    props: dict[str, Any] = {"sentinelhub:request_id": job.id,
                             "processing:software": {"Sentinel Hub Process API": "v1"}}
    extensions = [stac.PROCESSING]
    start = end = None
    if isinstance(request, dict):
        request = sanitized_request(request)  # also for a copy of the request found among the outputs
        request_path = workdir / "request.json"
        request_path.write_text(json.dumps(request, indent=2, sort_keys=True), encoding="utf-8")
        assets["request"] = AssetDraft(path=request_path, roles=("metadata",), media_type=stac.JSON,
                                       title="The Process API request (delivery credentials removed)")
        props.update(_request_properties(request))
        start, end = _time_range(request)
    scenes = status.meta.get("scenes")
    links = []
    if isinstance(scenes, list):
        props["sentinelhub:scene_count"] = len(scenes)
        links = [{"rel": "derived_from", "href": s["href"], "type": stac.GEOJSON,
                  "title": f"{s.get('collection')} scene {s.get('id')}"} for s in scenes]
    finished = status.finished or datetime.now(timezone.utc)
    if start is None or end is None:
        start = end = None
    draft = ItemDraft(
        id=f"{collection}-{job.id}",
        collection=collection,
        datetime=None if start else finished,
        start_datetime=start,
        end_datetime=end,
        properties=props,
        assets=assets,
        stac_extensions=extensions,
        links=links,
    )
    return [draft]


def _request_properties(request: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    script = request.get("evalscript")
    if isinstance(script, str) and script:
        props["processing:expression"] = {"format": "evalscript", "expression": script}
    data = (request.get("input") or {}).get("data") or []
    types = [str(d.get("type")) for d in data if isinstance(d, dict) and d.get("type")]
    if types:
        props["sentinelhub:input_types"] = types
        props["sentinelhub:inputs"] = [{"type": d.get("type"), "collection": input_collection(d),
                                        "dataFilter": d.get("dataFilter") or {},
                                        **({"processing": d["processing"]} if d.get("processing") else {})}
                                       for d in data if isinstance(d, dict)]
    output = request.get("output") or {}
    responses = [r.get("identifier") for r in output.get("responses") or [] if isinstance(r, dict)]
    if responses:
        props["sentinelhub:responses"] = responses
    return props


def _time_range(request: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    starts, ends = [], []
    for data in (request.get("input") or {}).get("data") or []:
        time_range = ((data or {}).get("dataFilter") or {}).get("timeRange") or {}
        for value, bucket in ((time_range.get("from"), starts), (time_range.get("to"), ends)):
            if value:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                bucket.append(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _read_json(job: JobRef, name: str, path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadProductError(f"Sentinel Hub request {job.id}: {name} is not JSON ({exc})") from exc


def _untar(job: JobRef, name: str, path: Path, folder: Path) -> dict[str, Path]:
    """The regular files of a Process API tar response, unpacked safely into ``folder`` (flat names only)."""
    folder.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if not member.isfile() or not base or base.startswith(".") or base != member.name.lstrip("./"):
                    raise BadProductError(f"Sentinel Hub request {job.id}: {name}: unexpected entry {member.name!r}")
                source = tar.extractfile(member)
                if source is None:
                    continue
                target = folder / base
                with source, open(target, "wb") as out:
                    while block := source.read(1 << 20):
                        out.write(block)
                found[base] = target
    except tarfile.TarError as exc:
        raise BadProductError(f"Sentinel Hub request {job.id}: {name} is not a readable tar ({exc})") from exc
    return found
