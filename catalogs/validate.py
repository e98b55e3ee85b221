"""Validation of STAC objects and of whole static catalogs, offline.

:func:`validate_object` checks one STAC dict against its core schema and every extension schema it declares.
:func:`validate_catalog` walks a catalog from its root through ``child`` and ``item`` links and checks every
object it reaches, plus what schemas cannot see: that relative link targets exist and parse, that local assets
exist (and have the ``file:size`` they claim), and that each file is readable JSON. Remote hrefs are not fetched.

Both return error strings instead of raising: a catalog with a thousand bad items gives a report that names
each of them, not one exception.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit


from catalogs.errors import CatalogFormatError, SchemaUnavailableError
from catalogs.schemas import SchemaStore
from catalogs.stac import STAC_VERSION

if TYPE_CHECKING:  # jsonschema and referencing load only to explain an invalid object
    from jsonschema.exceptions import ValidationError

log = logging.getLogger(__name__)

#: STAC ``type`` -> the kind of object, and the name of its core schema
KINDS = {"Catalog": "catalog", "Collection": "collection", "Feature": "item"}
KIND_LABELS = {"Catalog": "Catalog", "Collection": "Collection", "Feature": "Item"}
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$")
_MAX_MESSAGE = 240

#: links whose targets must exist locally; ``child`` and ``item`` targets are also validated
_CHECKED_RELS = ("child", "item", "parent", "root", "collection")
_EXPECTED_TYPES = {"child": ("Catalog", "Collection"), "item": ("Feature",)}


def core_schema_url(stac_type: str, version: str) -> str:
    kind = KINDS[stac_type]
    return f"https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"


def schema_label(url: str) -> str:
    """A short name for a schema URL: ``STAC 1.1.0 item``, ``projection v2.0.0``, or the URL itself."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.hostname == "schemas.stacspec.org" and len(segments) >= 2 and segments[1].endswith("-spec"):
        return f"STAC {segments[0].lstrip('v')} {segments[1][: -len('-spec')]}"
    if parts.hostname == "stac-extensions.github.io" and len(segments) == 3:
        return f"{segments[0]} {segments[1]}"
    return url


def validate_object(obj: dict[str, Any], store: SchemaStore) -> list[str]:
    """Validate one STAC object (Catalog, Collection or Item) against its core and extension schemas.

    Returns readable error strings, each prefixed with the schema that failed and the JSON path of the problem;
    a schema that cannot be had offline gives an error string too. An empty list means valid.
    """
    if not isinstance(obj, dict):
        return [f"not a JSON object but {type(obj).__name__}"]
    stac_type = obj.get("type")
    if stac_type not in KINDS:
        return [f"$.type: {stac_type!r} is not a STAC object type (expected 'Catalog', 'Collection' or 'Feature')"]

    errors: list[str] = []
    version = obj.get("stac_version")
    if not isinstance(version, str) or not _VERSION.match(version):
        version = STAC_VERSION  # whose core schema then says what is wrong with stac_version
    urls = [core_schema_url(stac_type, version)]
    extensions = obj.get("stac_extensions", [])
    if isinstance(extensions, list):  # anything else is reported by the core schema
        urls += [url for url in dict.fromkeys(extensions) if isinstance(url, str)]
    for url in urls:
        errors.extend(_validate_with(obj, url, store))
    return errors


def _validate_with(obj: dict[str, Any], url: str, store: SchemaStore) -> list[str]:
    try:
        if store.is_valid(url, obj):
            return []
        found = list(store.validator(url).iter_errors(obj))
        if not found:
            log.debug("accelerated validator rejects what jsonschema accepts (%s, id %r)", url, obj.get("id"))
    except SchemaUnavailableError as exc:
        return [str(exc)]
    except Exception as exc:
        from referencing.exceptions import Unresolvable

        if not isinstance(exc, Unresolvable):
            raise
        # a $ref the store could not resolve while validating
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not isinstance(cause, SchemaUnavailableError):
            cause = cause.__cause__ or cause.__context__
        return [f"[{schema_label(url)}] {cause if cause is not None else f'unresolvable $ref {exc.ref}'}"]
    label = schema_label(url)
    messages: list[str] = []
    for error in found:
        for leaf, alternative in _explain(error):
            message = f"[{label}] {leaf.json_path}: {_message(leaf)}"
            if alternative:
                message += f" (or give {', '.join(map(repr, alternative))})"
            if message not in messages:
                messages.append(message)
    return messages


def _explain(error: ValidationError, depth: int = 0) -> list[tuple[ValidationError, list[str]]]:
    """The errors that say what is wrong, instead of 'is not valid under any of the given schemas'.

    For ``oneOf``/``anyOf``, branches that fail only because they are for another object type (``type`` is
    ``Collection`` in a branch for Items) are dropped; of the branches left, the one with the fewest errors is
    the one the author most likely meant. Each error comes with the fields that other branches only lacked
    (``start_datetime``/``end_datetime`` as the alternative to a non-null ``datetime``).
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context or depth > 8:
        return [(error, [])]
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0] if sub.relative_schema_path else None].append(sub)
    plausible = [errs for errs in branches.values() if not any(_is_type_mismatch(e) for e in errs)]
    if not plausible:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        return [(error, [])] if best is None else _explain(best, depth + 1)
    fewest = min(len(errs) for errs in plausible)
    candidates = [errs for errs in plausible if len(errs) == fewest]
    if len(candidates) > 1:
        return [(error, [])]
    others = [errs for errs in plausible if errs is not candidates[0]]
    alternative: list[str] = []
    if len(others) == 1 and all(e.validator == "required" for e in others[0]):
        alternative = list(dict.fromkeys(_missing_fields(others[0])))
    return [(leaf, alt or alternative) for sub in candidates[0] for leaf, alt in _explain(sub, depth + 1)]


def _is_type_mismatch(error: ValidationError) -> bool:
    return error.validator in ("const", "enum") and list(error.relative_path) == ["type"]


def _message(error: ValidationError) -> str:
    if error.validator in ("oneOf", "anyOf"):
        message = f"{_short(error.instance)} is not valid under any of the given schemas"
        missing = list(dict.fromkeys(_missing_fields(error.context)))
        if missing:
            message += f"; it needs one of {', '.join(map(repr, missing[:8]))}"
            message += ", ..." if len(missing) > 8 else ""
    elif error.validator == "not" and error.validator_value == {"type": "null"}:
        message = "must not be null"
    elif error.validator == "not" and error.validator_value in ({}, True):
        message = "must not be present"
    else:
        message = error.message
    if error.validator == "format" and error.cause is not None:
        message += f" ({error.cause})"
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "\u2026"


def _missing_fields(errors: Iterable[ValidationError]) -> Iterable[str]:
    """The names of missing required fields anywhere in a tree of ``oneOf``/``anyOf`` branch errors."""
    for error in errors:
        if error.validator == "required" and isinstance(error.instance, dict):
            yield from (name for name in error.validator_value if name not in error.instance)
        yield from _missing_fields(error.context)


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) <= 60:
        return text
    if isinstance(value, dict):
        return "the object"
    if isinstance(value, list):
        return f"the array of {len(value)}"
    return text[:57] + "..."


# -- whole catalogs ---------------------------------------------------------------------------------------------


@dataclass
class ObjectReport:
    """The result for one file of the catalog."""

    path: Path
    kind: str  # Catalog, Collection, Item, or "file" when it could not be read as a STAC object
    id: str | None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ValidationReport:
    """The results for every object reached from a catalog's root."""

    objects: list[ObjectReport]
    root: Path | None = None

    @property
    def ok(self) -> bool:
        return all(obj.ok for obj in self.objects)

    @property
    def failed(self) -> list[ObjectReport]:
        return [obj for obj in self.objects if obj.errors]

    @property
    def counts(self) -> dict[str, int]:
        """How many objects of each kind were checked."""
        return dict(Counter(obj.kind for obj in self.objects))

    @property
    def error_count(self) -> int:
        return sum(len(obj.errors) for obj in self.objects)

    def _display(self, path: Path) -> str:
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return str(path)

    def format(self, limit: int | None = 50) -> str:
        """Each invalid object with its errors (the first ``limit`` of them; ``None`` for all), then a count line."""
        lines: list[str] = []
        failed = self.failed
        for obj in failed if limit is None else failed[:limit]:
            name = f"{obj.kind} {obj.id!r}" if obj.id is not None else obj.kind
            lines.append(f"{self._display(obj.path)} ({name}): {len(obj.errors)} error(s)")
            lines.extend(f"  - {error}" for error in obj.errors)
        if limit is not None and len(failed) > limit:
            lines.append(f"... and {len(failed) - limit} more invalid object(s)")
        counts = ", ".join(f"{n} {kind.lower()}{'' if n == 1 else 's'}" for kind, n in sorted(self.counts.items()))
        summary = f"checked {len(self.objects)} object(s) ({counts or 'none'}): "
        summary += "all valid" if not failed else f"{len(failed)} invalid, {self.error_count} error(s)"
        lines.append(summary)
        return "\n".join(lines)


def find_root(root: Path) -> Path:
    """The root JSON file of a catalog given as a folder (``catalog.json``, else ``collection.json``) or a file."""
    root = Path(root)
    if root.is_dir():
        for name in ("catalog.json", "collection.json"):
            if (root / name).is_file():
                return root / name
        raise CatalogFormatError(f"{root}: no catalog.json or collection.json in this folder")
    if not root.is_file():
        raise CatalogFormatError(f"{root}: no such catalog file or folder")
    return root


def _local_path(href: str) -> str | None:
    """The relative file path an href names, or ``None`` for absolute URLs and absolute paths."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    return parts.path


def _resolve(base_dir: str, relpath: str) -> str:
    path = os.path.normpath(os.path.join(base_dir, relpath))
    if not os.path.exists(path):
        decoded = unquote(relpath)
        if decoded != relpath:
            alternative = os.path.normpath(os.path.join(base_dir, decoded))
            if os.path.exists(alternative):
                return alternative
    return path


def _multihash_problem(value: str) -> str | None:
    """Why a hex string is not a multihash (code varint, length varint, digest of that length), or ``None``."""
    if len(value) % 2:
        return "odd number of hex digits"
    data = bytes.fromhex(value)
    pos = 0
    for _ in range(2):  # the hash function code, then the digest length
        number = shift = 0
        while True:
            if pos >= len(data):
                return "truncated header"
            byte = data[pos]
            pos += 1
            number |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
    if len(data) - pos != number:
        return f"header says a {number}-byte digest, found {len(data) - pos} bytes"
    return None


class _Walker:
    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self.seen: set[str] = set()  # real paths of the files already queued
        # normalized path -> why it is not a readable JSON object (or None), for targets of parent/root/collection
        # links: catalogs, collections and unreadable files (not every item, to stay small on huge catalogs)
        self.status: dict[str, str | None] = {}

    def read(self, path: str) -> tuple[Any, str | None]:
        try:
            with open(path, "rb") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            problem = "file not found"
        except OSError as exc:
            problem = f"cannot read: {exc.strerror or exc}"
        except UnicodeDecodeError as exc:
            problem = f"not valid JSON: not UTF-8 text ({exc.reason})"
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        else:
            problem = None if isinstance(data, dict) else f"JSON {type(data).__name__}, not an object"
            return data, problem
        return None, problem

    def target_problem(self, path: str) -> str | None:
        if path not in self.status:
            if not os.path.exists(path):
                return "file not found"
            self.status[path] = self.read(path)[1]
        return self.status[path]

    def walk(self, root: str) -> Iterable[ObjectReport]:
        self.seen.add(os.path.realpath(root))
        stack: list[tuple[str, str | None, str | None]] = [(root, None, None)]  # path, via rel, from file
        while stack:
            path, rel, holder = stack.pop()
            report, children = self.check(path, rel, holder)
            yield report
            stack.extend(reversed(children))

    def check(
        self, path: str, via: str | None, holder: str | None
    ) -> tuple[ObjectReport, list[tuple[str, str | None, str | None]]]:
        obj, problem = self.read(path)
        if problem is not None:
            self.status[path] = problem
            return ObjectReport(Path(path), "file", None, [problem]), []
        stac_type = obj.get("type")
        if stac_type != "Feature":
            self.status[path] = None
        kind = KIND_LABELS.get(stac_type, "file")
        obj_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        errors = validate_object(obj, self.store)
        if via in _EXPECTED_TYPES and stac_type in KINDS and stac_type not in _EXPECTED_TYPES[via]:
            errors.append(f"linked as rel={via!r} from {holder} but its type is {stac_type!r}")

        base_dir = os.path.dirname(path)
        children: list[tuple[str, str | None, str | None]] = []
        links = obj.get("links")
        for link in links if isinstance(links, list) else ():
            if not isinstance(link, dict):
                continue
            rel, href = link.get("rel"), link.get("href")
            if rel not in _CHECKED_RELS or not isinstance(href, str):
                continue
            relpath = _local_path(href)
            if relpath is None:
                continue  # absolute URL: not fetched
            target = _resolve(base_dir, relpath)
            if rel in ("child", "item"):
                if not os.path.isfile(target):
                    errors.append(f"link rel={rel!r} href={href!r}: file not found ({target})")
                    continue
                real = os.path.realpath(target)
                if real not in self.seen:
                    self.seen.add(real)
                    children.append((target, rel, path))
            else:
                problem = self.target_problem(target)
                if problem is not None:
                    errors.append(f"link rel={rel!r} href={href!r}: {problem} ({target})")

        assets = obj.get("assets")
        if isinstance(assets, dict):
            for key, asset in assets.items():
                if isinstance(asset, dict):
                    errors.extend(self.check_asset(base_dir, key, asset))
        return ObjectReport(Path(path), kind, obj_id, errors), children

    def check_asset(self, base_dir: str, key: str, asset: dict[str, Any]) -> list[str]:
        errors: list[str] = []
        href = asset.get("href")
        checksum = asset.get("file:checksum")
        if isinstance(checksum, str) and re.fullmatch(r"[0-9a-f]+", checksum):
            problem = _multihash_problem(checksum)
            if problem is not None:
                errors.append(f"asset {key!r}: file:checksum is not a multihash ({problem})")
        relpath = _local_path(href) if isinstance(href, str) else None
        if relpath is None:
            return errors
        target = _resolve(base_dir, relpath)
        try:
            stat = os.stat(target)
        except OSError:
            errors.append(f"asset {key!r} href={href!r}: file not found ({target})")
            return errors
        size = asset.get("file:size")
        if isinstance(size, int) and os.path.isfile(target) and stat.st_size != size:
            errors.append(f"asset {key!r} href={href!r}: file:size is {size} but the file has {stat.st_size} bytes")
        return errors


def iter_validate_catalog(root: Path, store: SchemaStore | None = None) -> Iterable[ObjectReport]:
    """Validate a catalog object by object, as the walk reaches them (see :func:`validate_catalog`)."""
    root_file = find_root(Path(root))
    walker = _Walker(store if store is not None else SchemaStore())
    yield from walker.walk(os.path.abspath(root_file))


def validate_catalog(root: Path, store: SchemaStore | None = None) -> ValidationReport:
    """Validate every object of a static catalog, from its root through ``child`` and ``item`` links.

    ``root`` is a catalog folder (its ``catalog.json``, else ``collection.json``) or a catalog JSON file.
    Each object is validated once (cycles are harmless) against its core and extension schemas, offline unless
    ``store`` allows the network. Also checked: relative ``child``/``item``/``parent``/``root``/``collection``
    link targets exist and are JSON objects; local asset files exist and have the ``file:size`` they claim;
    ``file:checksum`` is a well-formed multihash. Absolute hrefs (http, s3, ...) are not fetched.
    Raises :class:`~catalogs.errors.CatalogFormatError` only when there is no root to start from.
    """
    root = Path(root)
    objects = list(iter_validate_catalog(root, store))
    report = ValidationReport(objects, root=Path(os.path.abspath(root if root.is_dir() else root.parent)))
    log.debug("validated %s: %s", root, report.format(limit=0).splitlines()[-1])
    return report
