"""The NGU InSAR Norway API client (``seeds/ngu-insar-api.txt``): datasets, queries, their state, downloads.

No authentication. Every answer that is not a success becomes a `ProviderError` here, in `_request`; a
404 of ``query-state`` is `NotFoundError` (the query expired, was dropped, or is not visible yet: the
adapter decides which).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters.errors import ProviderError, error_for_response
from adapters.http import transport_error
from adapters.ngu.names import API_URL, BBox, bbox_text

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Dataset:
    """One entry of ``list-datasets``."""

    name: str
    display_name: str
    attribution: str | None = None
    group: str | None = None


class NguClient:
    """The API at ``url`` through the harvester's ``client``."""

    def __init__(self, client: httpx.Client, url: str = API_URL) -> None:
        self.client = client
        self.url = url.rstrip("/")

    def datasets(self) -> list[Dataset]:
        """``GET list-datasets``."""
        answer = self._request("GET", "/list-datasets", "NGU: listing datasets")
        if not isinstance(answer, list):
            raise ProviderError("NGU: listing datasets: the answer is not a JSON array")
        found = []
        for entry in answer:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                found.append(Dataset(entry["name"], str(entry.get("displayName") or entry["name"]),
                                     _text(entry.get("attribution")), _text(entry.get("group"))))
        return found

    def submit(self, dataset: str, bbox: BBox) -> str:
        """``POST /<dataset>/query?bbox=...``: the new query's id."""
        what = f"NGU: querying dataset {dataset} in {bbox_text(bbox)}"
        answer = self._request("POST", f"/{dataset}/query", what, params={"bbox": bbox_text(bbox)})
        query_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not isinstance(query_id, str) or not query_id:
            raise ProviderError(f"{what}: the answer has no query id")
        return query_id

    def state(self, query_id: str) -> dict[str, Any]:
        """``GET query-state?id=``: the query's state object (`NotFoundError` on 404)."""
        answer = self._request("GET", "/query-state", f"NGU query {query_id}", params={"id": query_id})
        if not isinstance(answer, dict):
            raise ProviderError(f"NGU query {query_id}: the state is not a JSON object")
        return answer

    def download_url(self, query_id: str, csv: str) -> str:
        """The ``query-download`` URL of one result file."""
        return f"{self.url}/query-download?{urlencode({'id': query_id, 'csv': csv})}"

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        url = f"{self.url}{path}"
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            where = httpx.URL(url)
            raise transport_error(exc, f"{what} at {where.host}:{where.port or where.scheme}") from exc
        if response.status_code >= 400:
            raise error_for_response(response, what, _detail(response))
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{what}: the answer is not JSON (HTTP {response.status_code})") from exc


def _detail(response: httpx.Response) -> str | None:
    """The server's own words, when its error body has any (JSON ``message``/``error``, or short text)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200] if text and "<" not in text else None
    if isinstance(body, Mapping):
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
