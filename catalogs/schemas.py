"""Offline JSON-schema resolution for STAC validation.

A :class:`SchemaStore` maps schema URLs to parsed JSON. It looks, in this order, in

1. a schema folder laid out by URL host and path (constructor argument, else ``HARVESTER_SCHEMA_DIR``), e.g.
   ``<dir>/stac-extensions.github.io/projection/v2.0.0/schema.json``;
2. the STAC core and GeoJSON schemas bundled with pystac (``https://schemas.stacspec.org/v1.1.0/...``,
   ``https://geojson.org/schema/...``), and the JSON Schema meta-schemas bundled with jsonschema;
3. the PROJJSON schema shipped with rasterio and pyproj (``https://proj.org/schemas/v0.7/projjson.schema.json``);
4. a cache folder of schemas fetched earlier, same layout (constructor argument, else ``HARVESTER_SCHEMA_CACHE``,
   else ``$XDG_CACHE_HOME/stac-harvester/schemas`` or ``~/.cache/stac-harvester/schemas``);
5. the network, only when ``allow_network=True``; what it fetches is saved into the cache (atomically).

A schema that cannot be had raises :class:`~catalogs.errors.SchemaUnavailableError`, naming the URL and where it
looked. ``$ref`` between schemas resolve through the same store (a ``referencing.Registry``), and the compiled
validator of every schema URL is kept, so that validating many objects costs one compilation per schema.

:meth:`SchemaStore.is_valid` answers "is this object valid?" with ``jsonschema_rs`` when it is installed (same
schemas, same date-time check, no network), else with jsonschema; error messages always come from jsonschema,
which is the reference: an object is only reported invalid when jsonschema finds errors in it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin, urlsplit


from catalogs.errors import OutputNotWritableError, SchemaUnavailableError
from catalogs.fsio import atomic_write_bytes

if TYPE_CHECKING:
    import httpx
    import jsonschema
    from jsonschema.protocols import Validator
    from referencing import Registry, Resource

try:  # optional accelerator: a compiled validator for the yes/no question, ~100x faster than jsonschema
    import jsonschema_rs
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema_rs = None

log = logging.getLogger(__name__)

#: the extension schemas that ship with the harvester (package data), laid out by URL
SHIPPED_SCHEMAS = Path(__file__).resolve().parent / "schemas_data"
SCHEMA_DIR_ENV = "HARVESTER_SCHEMA_DIR"
SCHEMA_CACHE_ENV = "HARVESTER_SCHEMA_CACHE"
NETWORK_TIMEOUT = 10.0  # seconds, for each schema fetched with allow_network
_CACHE_WRITE = threading.Lock()

#: the PROJJSON schema versions shipped with rasterio and pyproj, and where to find the file in each package
_PROJJSON_URL = re.compile(r"^https?://proj\.org/schemas/(v[0-9.]+)/projjson\.schema\.json$")
_PROJJSON_FILES = (
    ("rasterio", "proj_data/projjson.schema.json"),
    ("pyproj", "proj_dir/share/proj/projjson.schema.json"),
)

# RFC 3339 date-time, the format STAC requires; jsonschema only checks it when an optional package is installed,
# so the check is done here, the same in every environment.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$"
)


def _is_rfc3339(value: object) -> bool:
    """The date-time format check (raises ValueError saying what is wrong)."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.match(value)
    if not match:
        raise ValueError("not an RFC 3339 date-time such as 2024-05-01T10:20:30Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    date(year, month, day)  # raises ValueError for a day that does not exist
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time of day out of range")
    if match.group(9) is not None and (int(match.group(9)) > 23 or int(match.group(10)) > 59):
        raise ValueError("time zone offset out of range")
    return True


# jsonschema, referencing and the meta-schemas are loaded on first use: with jsonschema-rs, validating a
# valid catalog needs none of them (they explain what is invalid), and they are a fifth of a small run's start.
@functools.cache
def format_checker() -> jsonschema.FormatChecker:
    """jsonschema's format checker with only the date-time check, the same in every environment."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_rfc3339)
    return checker


@functools.cache
def meta_schemas() -> Any:
    """The JSON Schema meta-schemas bundled with jsonschema (a ``referencing.Registry`` by URL)."""
    from jsonschema_specifications import REGISTRY

    return REGISTRY


def is_meta_schema(url: str) -> bool:
    """Whether ``url`` is a JSON Schema meta-schema (told by its host first, loading nothing for others)."""
    return _on_json_schema_org(url) and url in meta_schemas()


def _on_json_schema_org(url: str) -> bool:
    """Where the meta-schemas live; both validators carry their own copies, nothing there is ever fetched."""
    return urlsplit(url).hostname == "json-schema.org"


def _resource(contents: Any) -> Resource[Any]:
    from referencing import Resource
    from referencing.jsonschema import DRAFT7

    return Resource.from_contents(contents, default_specification=DRAFT7)


def normalize_url(url: str) -> str:
    """The URL without its fragment (``...schema.json#`` and ``...schema.json`` are the same schema)."""
    return urldefrag(url).url


def url_to_relpath(url: str) -> Path | None:
    """The path of a schema URL inside a folder laid out by host and path, or ``None`` if it has no safe one.

    ``https://stac-extensions.github.io/file/v2.1.0/schema.json`` ->
    ``stac-extensions.github.io/file/v2.1.0/schema.json``;
    a port becomes part of the host folder name (``127.0.0.1_8000``). URLs with ``..``, empty or hidden segments,
    queries or backslashes get ``None``: they could point outside the folder.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        return None
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        return None
    if port is not None:
        host = f"{host}_{port}"
    segments = parts.path.split("/")[1:]
    if not segments or segments[-1] == "":
        return None
    for segment in [host, *segments]:
        if not segment or segment.startswith(".") or "\\" in segment or "\x00" in segment:
            return None
    return Path(host, *segments)


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stac-harvester" / "schemas"


def _package_folder(package: str, *parts: str) -> Path | None:
    """The folder ``parts`` inside the installed top-level ``package``, found without importing it.

    (`importlib.resources.files` would import the package: for rasterio or pystac that is a tenth of a second or
    more that `harvester validate` has no other use for.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)), *parts)
    return folder if folder.is_dir() else None


def _bundled_stac_schemas() -> dict[str, Any]:
    """STAC core and GeoJSON schemas bundled with pystac: URL -> path."""
    found: dict[str, Any] = {}
    root = _package_folder("pystac", "validation", "jsonschemas")
    if root is None:
        return found
    spec = root / "stac-spec"
    if spec.is_dir():
        for version_dir in spec.iterdir():
            if not version_dir.is_dir() or not version_dir.name.startswith("v"):
                continue
            base = f"https://schemas.stacspec.org/{version_dir.name}"
            for file in version_dir.iterdir():
                if not file.name.endswith(".json"):
                    continue
                stem = file.name[: -len(".json")]
                if stem in ("item", "catalog", "collection"):
                    found[f"{base}/{stem}-spec/json-schema/{file.name}"] = file
                else:  # the shared pieces (common, bands, datetime, ...) live beside item.json
                    found[f"{base}/item-spec/json-schema/{file.name}"] = file
    geojson = root / "geojson"
    if geojson.is_dir():
        for file in geojson.iterdir():
            if file.name.endswith(".json"):
                found[f"https://geojson.org/schema/{file.name}"] = file
    return found


def _projjson_files() -> Iterator[Path]:
    for package, relpath in _PROJJSON_FILES:
        folder = _package_folder(package)
        if folder is not None and (file := folder / relpath).is_file():
            yield file


def external_refs(schema: Any, base: str) -> set[str]:
    """URLs (without fragment) of the other documents that ``schema``, identified by ``base``, refers to."""
    found: set[str] = set()

    def walk(node: Any, base: str) -> None:
        if isinstance(node, dict):
            node_id = node.get("$id")
            if isinstance(node_id, str):
                base = urljoin(base, node_id)
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):  # "#/definitions/...": this document
                target = normalize_url(urljoin(base, ref))
                if target and target != normalize_url(base):
                    found.add(target)
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value, base)
        elif isinstance(node, list):
            for value in node:
                walk(value, base)

    walk(schema, base)
    return found


class SchemaStore:
    """Schema URL -> parsed JSON and compiled validator, offline unless ``allow_network`` is set."""

    def __init__(
        self,
        schema_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        allow_network: bool = False,
        client: httpx.Client | None = None,
        accelerate: bool = True,
    ) -> None:
        if schema_dir is None and os.environ.get(SCHEMA_DIR_ENV):
            schema_dir = os.environ[SCHEMA_DIR_ENV]
        if cache_dir is None:
            cache_dir = os.environ.get(SCHEMA_CACHE_ENV) or _default_cache_dir()
        self.schema_dir: Path | None = Path(schema_dir) if schema_dir is not None else None
        self.cache_dir: Path = Path(cache_dir)
        self.allow_network = allow_network
        self._client = client
        self._bundled: dict[str, Any] | None = None
        self._schemas: dict[str, dict[str, Any]] = {}
        self._sources: dict[str, str] = {}
        self._missing: dict[str, SchemaUnavailableError] = {}
        self._validators: dict[str, Validator] = {}
        self.accelerate = accelerate and jsonschema_rs is not None
        self._checks: dict[str, Callable[[Any], bool]] = {}
        self._refs: dict[str, set[str]] = {}
        self._registry: Registry[Any] | None = None  # made when jsonschema first needs it
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"SchemaStore(schema_dir={self.schema_dir}, cache_dir={self.cache_dir}, "
            f"allow_network={self.allow_network})"
        )

    # -- documents -------------------------------------------------------------------------------------------

    def get(self, url: str) -> dict[str, Any]:
        """The parsed schema at ``url``; raises :class:`SchemaUnavailableError` when it cannot be had."""
        url = normalize_url(url)
        schema = self._schemas.get(url)
        if schema is not None:
            return schema
        with self._lock:
            if url in self._schemas:
                return self._schemas[url]
            if url in self._missing:
                raise self._missing[url]
            try:
                schema, source = self._load(url)
            except SchemaUnavailableError as exc:
                self._missing[url] = exc
                raise
            self._schemas[url] = _with_id(schema, url)
            self._sources[url] = source
            log.debug("schema %s from %s", url, source)
            return self._schemas[url]

    def source(self, url: str) -> str:
        """Where the schema at ``url`` was found (a file path, or ``network``); loads it if needed."""
        self.get(url)
        return self._sources[normalize_url(url)]

    def _load(self, url: str) -> tuple[dict[str, Any], str]:
        relpath = url_to_relpath(url)
        looked: list[str] = []

        if self.schema_dir is not None and relpath is not None:
            file = self.schema_dir / relpath
            looked.append(f"schema folder: {file}")
            if file.is_file():
                return _read_schema_file(url, file), str(file)
        elif self.schema_dir is None:
            looked.append(f"no schema folder (set {SCHEMA_DIR_ENV})")

        if relpath is not None:
            # The extension schemas the harvester itself writes ship with it: its own output always validates offline.
            shipped = SHIPPED_SCHEMAS / relpath
            if shipped.is_file():
                return _read_schema_file(url, shipped), f"stac-harvester: {shipped}"
            looked.append("schemas shipped with stac-harvester")

        if is_meta_schema(url):
            return dict(meta_schemas()[url].contents), "jsonschema-specifications"
        if self._bundled is None:
            self._bundled = _bundled_stac_schemas()
        bundled = self._bundled.get(url)
        if bundled is not None:
            return _read_schema_file(url, bundled), f"pystac: {bundled}"
        match = _PROJJSON_URL.match(url)
        if match:
            for file in _projjson_files():
                schema = _read_schema_file(url, file)
                if normalize_url(str(schema.get("$id", ""))) == url:
                    return schema, str(file)
            looked.append("PROJJSON schema of rasterio/pyproj (a different version)")
        else:
            looked.append("schemas bundled with pystac (STAC core, GeoJSON)")

        cached = self.cache_dir / relpath if relpath is not None else None
        if cached is not None:
            looked.append(f"cache: {cached}")
            if cached.is_file():
                return _read_schema_file(url, cached), str(cached)

        if not self.allow_network:
            looked.append("network not allowed")
            hint = "; ".join(looked)
            if relpath is not None:
                hint += (
                    f". Put the schema at <schema folder>/{relpath.as_posix()} and set {SCHEMA_DIR_ENV}, "
                    "or allow network access once (harvester validate --allow-network) to fetch it into the cache"
                )
            raise SchemaUnavailableError(url, hint)
        if relpath is None:
            raise SchemaUnavailableError(url, "; ".join(looked) + "; not an http(s) URL that can be fetched")
        return self._fetch(url, cached, looked), "network"

    def _fetch(self, url: str, cached: Path | None, looked: list[str]) -> dict[str, Any]:
        import httpx  # only with allow_network: offline validation never loads an HTTP stack

        try:
            if self._client is not None:
                response = self._client.get(url, timeout=NETWORK_TIMEOUT, follow_redirects=True)
            else:
                response = httpx.get(url, timeout=NETWORK_TIMEOUT, follow_redirects=True)
            response.raise_for_status()
            schema = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SchemaUnavailableError(url, "; ".join([*looked, f"fetching failed: {exc}"])) from exc
        if not isinstance(schema, dict):
            raise SchemaUnavailableError(url, "; ".join([*looked, "the fetched document is not a JSON object"]))
        if cached is not None:
            _save_atomically(cached, response.content)
        log.info("fetched schema %s%s", url, f" into {cached}" if cached else "")
        return schema

    # -- references and validators ---------------------------------------------------------------------------

    def _retrieve(self, uri: str) -> Resource[Any]:
        """``referencing`` retrieval hook: every ``$ref`` not yet registered resolves through the store."""
        return _resource(self.get(uri))

    def dependencies(self, url: str) -> list[str]:
        """``url`` and the URL of every schema it refers to, directly or not (JSON Schema meta-schemas aside).

        Raises :class:`SchemaUnavailableError` for the first one that cannot be had.
        """
        order: list[str] = []
        pending = [normalize_url(url)]
        while pending:
            current = pending.pop()
            if current in order or _on_json_schema_org(current):
                continue
            order.append(current)
            refs = self._refs.get(current)
            if refs is None:
                refs = self._refs[current] = external_refs(self.get(current), current)
            pending.extend(sorted(refs))
        return order

    def registry_for(self, url: str) -> Registry[Any]:
        """A registry holding the schema at ``url`` and every schema it refers to, directly or not."""
        with self._lock:
            if self._registry is None:
                from referencing import Registry

                self._registry = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
            added = [
                (uri, _resource(self.get(uri)))
                for uri in self.dependencies(url)
                if uri not in self._registry
            ]
            if added:
                self._registry = self._registry.with_resources(added).crawl()
            return self._registry

    def validator(self, url: str) -> Validator:
        """The compiled validator of the schema at ``url`` (kept for the life of the store)."""
        url = normalize_url(url)
        validator = self._validators.get(url)
        if validator is not None:
            return validator
        with self._lock:
            if url in self._validators:
                return self._validators[url]
            if url in self._missing:
                raise self._missing[url]
            schema = self.get(url)
            import jsonschema

            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            try:
                cls.check_schema(schema)
                registry = self.registry_for(url)
            except jsonschema.exceptions.SchemaError as exc:
                error = SchemaUnavailableError(
                    url, f"{self._sources.get(url, '?')} is not a valid JSON schema: {exc.message}"
                )
                self._missing[url] = error
                raise error from exc
            except SchemaUnavailableError as exc:
                if exc.url == url:
                    raise
                error = SchemaUnavailableError(url, f"it needs another schema: {exc}")
                self._missing[url] = error
                raise error from exc
            validator = cls(schema, registry=registry, format_checker=format_checker())
            self._validators[url] = validator
            return validator

    def is_valid(self, url: str, instance: Any) -> bool:
        """Whether ``instance`` is valid against the schema at ``url``, as fast as this environment allows.

        Raises :class:`SchemaUnavailableError` like :meth:`validator`. When it says ``False``, ask
        ``validator(url).iter_errors(instance)`` for the reasons.
        """
        check = self._checks.get(normalize_url(url))
        if check is None:
            check = self._compile_check(normalize_url(url))
        return check(instance)

    def _compile_check(self, url: str) -> Callable[[Any], bool]:
        check: Callable[[Any], bool] | None = None
        if self.accelerate:
            # The compiled validator loads every schema it needs and checks each against its metaschema, so
            # jsonschema's own validator (whose set-up costs more than a small catalog's whole validation)
            # is only built when an object is invalid and its errors are asked for.
            with self._lock:
                try:
                    check = self._compiled_check(url)
                except Exception as exc:  # noqa: BLE001 - any failure means the slower path, which says why
                    log.debug("no accelerated validator for %s (%s); using jsonschema", url, exc)
        if check is None:
            check = self.validator(url).is_valid  # loads every schema it needs, or raises
        self._checks[url] = check
        return check

    def _compiled_check(self, url: str) -> Callable[[Any], bool]:
        documents = [(uri, self.get(uri)) for uri in self.dependencies(url)]
        # no meta-schemas among them: jsonschema-rs resolves those (a collection's summaries refer to one) itself
        registry = jsonschema_rs.Registry(documents, retriever=self.get)
        compiled = jsonschema_rs.validator_for(
            self.get(url), registry=registry, validate_formats=True, formats=_RS_FORMATS
        )
        return compiled.is_valid  # type: ignore[no-any-return]


def _is_datetime(value: object) -> bool:
    try:
        return _is_rfc3339(value)
    except ValueError:
        return False


# jsonschema_rs checks formats the way format_checker() does: date-time strictly, the others not at all
_RS_FORMATS: dict[str, Callable[[Any], bool]] = {
    "date-time": _is_datetime,
    **{name: (lambda value: True) for name in ("iri", "iri-reference", "uri", "uri-reference", "uri-template",
                                               "email", "idn-email", "hostname", "idn-hostname", "ipv4", "ipv6",
                                               "date", "time", "duration", "regex", "json-pointer",
                                               "relative-json-pointer", "uuid")},
}


def _with_id(schema: dict[str, Any], url: str) -> dict[str, Any]:
    """``schema`` identified by the URL it was requested under.

    Some published schemas carry a wrong ``$id`` (processing v1.1.0 says v1.0.0, table v1.0.1 says v1.0.0,
    pystac's STAC 1.1.0 ``common.json`` says ``commonjson``); their ``#`` references would otherwise resolve
    into another document.
    """
    current = schema.get("$id")
    if isinstance(current, str) and normalize_url(current) != url:
        log.debug("schema %s declares $id %s; using %s", url, current, url)
        return {**schema, "$id": url}
    return schema


def _read_schema_file(url: str, file: Any) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            schema = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SchemaUnavailableError(url, f"{file} cannot be read as JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise SchemaUnavailableError(url, f"{file} is not a JSON object")
    return schema


def _save_atomically(path: Path, data: bytes) -> None:
    """Write a fetched schema into the cache; a failure to cache is logged, not raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # stores in several threads may fetch the same schema, and the temporary name is one per process
        with _CACHE_WRITE:
            atomic_write_bytes(path, data)
    except (OSError, OutputNotWritableError) as exc:
        log.warning("could not cache schema at %s: %s", path, exc)
