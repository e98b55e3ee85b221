"""The simulated Process API's outputs: GeoTIFFs as Sentinel Hub writes them, and ``userdata.json``.

Like the real outputs they are not COGs: striped (16 rows per strip), deflate, no overviews; in the CRS of the
request's bounds (CRS84 when it names none), with as many bands and the sample type the evalscript's
``setup()`` output asks (``AUTO`` is UINT8), nodata only when the evalscript names one. Every second response
(by position in ``output.responses``) is written big-endian. Sizes come from ``output.width/height`` or
``resx/resy``, scaled down to at most ``max_size`` pixels a side (1024 by default: the simulator keeps
products small).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.sentinelhub.names import request_bbox, request_crs

SAMPLE_TYPES = {"UINT8": "uint8", "AUTO": "uint8", "UINT16": "uint16", "FLOAT32": "float32", "INT8": "int8",
                "INT16": "int16"}
STRIP_ROWS = 16


@dataclass(frozen=True)
class OutputSpec:
    """One output of an evalscript's ``setup()``."""

    id: str
    bands: int
    sample_type: str
    nodata: float | None = None

    @property
    def dtype(self) -> str:
        return SAMPLE_TYPES.get(self.sample_type.upper(), "uint8")


def _balanced(text: str, start: int) -> str:
    """The bracketed text starting at ``text[start]`` (``{...}`` or ``[...]``)."""
    opening = text[start]
    closing = "}" if opening == "{" else "]"
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return text[start:]


def evalscript_outputs(evalscript: str) -> list[OutputSpec]:
    """The outputs an evalscript's ``setup()`` declares (``output: {...}`` or ``output: [{...}, ...]``)."""
    match = re.search(r"\boutput\s*:\s*([\[{])", evalscript)
    if not match:
        return [OutputSpec("default", 1, "AUTO")]
    block = _balanced(evalscript, match.start(1))
    objects = re.findall(r"\{[^{}]*\}", block) or [block]
    specs = []
    for obj in objects:
        ident = re.search(r"\bid\s*:\s*[\"'](\w+)[\"']", obj)
        bands = re.search(r"\bbands\s*:\s*(\d+)", obj)
        sample = re.search(r"\bsampleType\s*:\s*(?:SampleType\.)?[\"']?(\w+)", obj)
        nodata = re.search(r"\bno[dD]ataValue\s*:\s*(-?[\d.]+)", obj)
        specs.append(OutputSpec(ident.group(1) if ident else "default", int(bands.group(1)) if bands else 1,
                                (sample.group(1) if sample else "AUTO").upper(),
                                float(nodata.group(1)) if nodata else None))
    return specs


def output_size(request: Mapping[str, Any], bbox: list[float], max_size: int) -> tuple[int, int]:
    output = request.get("output") or {}
    width, height = output.get("width"), output.get("height")
    if not (width and height):
        resx, resy = output.get("resx"), output.get("resy")
        if resx and resy:
            width = max(1, round((bbox[2] - bbox[0]) / float(resx)))
            height = max(1, round((bbox[3] - bbox[1]) / float(resy)))
        else:
            width = width or 256
            height = height or max(1, round(width * (bbox[3] - bbox[1]) / max(bbox[2] - bbox[0], 1e-9)))
    width, height = int(width), int(height)
    scale = max(width, height) / max_size
    if scale > 1:
        width, height = max(1, math.floor(width / scale)), max(1, math.floor(height / scale))
    return width, height


def render_tiff(request: Mapping[str, Any], identifier: str, position: int, *, seed: str = "",
                max_size: int = 1024) -> bytes:
    """The GeoTIFF of response ``identifier`` of a Process API request."""
    import numpy as np
    import rasterio
    from rasterio.io import MemoryFile
    from affine import Affine

    specs = {spec.id: spec for spec in evalscript_outputs(str(request.get("evalscript") or ""))}
    spec = specs.get(identifier) or next(iter(specs.values()))
    bbox = request_bbox(request) or [-180.0, -90.0, 180.0, 90.0]
    width, height = output_size(request, bbox, max_size)
    crs = request_crs(request)
    rows, cols = np.mgrid[0:height, 0:width].astype("float64")
    phase = (sum(map(ord, seed + identifier)) % 97) / 97.0
    bands = []
    for band in range(spec.bands):
        wave = 0.5 + 0.5 * np.sin(cols / max(width, 1) * 6.0 + rows / max(height, 1) * 4.0 + band + phase * 6.28)
        bands.append(wave)
    values = np.stack(bands)
    dtype = spec.dtype
    if dtype == "float32":
        data = (values * 2.0 - 1.0).astype("float32")
    elif dtype in ("uint16", "int16"):
        data = (values * 10000).astype(dtype)
    else:
        data = (values * 255).astype(dtype) if dtype == "uint8" else (values * 127).astype(dtype)
    if spec.nodata is not None:
        data[:, : max(1, height // 10), : max(1, width // 10)] = spec.nodata
    profile = {"driver": "GTiff", "width": width, "height": height, "count": spec.bands, "dtype": dtype,
               "crs": rasterio.crs.CRS.from_string("EPSG:4326" if crs == "OGC:CRS84" else crs),
               "transform": Affine((bbox[2] - bbox[0]) / width, 0.0, bbox[0], 0.0, -(bbox[3] - bbox[1]) / height, bbox[3]), "compress": "deflate", "tiled": False,
               "blockysize": min(STRIP_ROWS, height), "interleave": "pixel",
               "ENDIANNESS": "BIG" if position % 2 else "LITTLE"}
    if spec.nodata is not None:
        profile["nodata"] = spec.nodata
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(data)
        return bytes(memory.read())


def userdata(request_id: str, request: Mapping[str, Any]) -> bytes:
    """What an evalscript's ``updateOutputMetadata`` would write: here, the outputs and the normalisation."""
    specs = evalscript_outputs(str(request.get("evalscript") or ""))
    body = {"request_id": request_id, "outputs": [{"id": s.id, "bands": s.bands, "sampleType": s.sample_type}
                                                  for s in specs], "norm_factor": 0.0001}
    return json.dumps(body, indent=2).encode()
