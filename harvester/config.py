"""The run configuration: a TOML file (``harvester run CONFIG.toml``) or CLI flags, validated up front.

    [catalog]
    path = "catalogs/arctic"          # relative to the config file's folder
    title = "Arctic ground motion"
    description = "…"
    license = "CC-BY-4.0"             # overrides the providers' default collection license

    [run]                             # all optional
    workers = 2                       # size of the process pool for conversions (default: CPU count)
    executor = "process"              # or "thread", "inline" (in the main process), "dask" (harvester.cluster)
    scheduler = "tcp://host:8786"     # executor = "dask" only: a running cluster, or "local" (the default)
    work_dir = "/shared/harvest"      # downloads and work files (default: <catalog>/.harvest); with a cluster,
                                      # a folder every worker sees at the same path
    downloads = 4                     # concurrent downloads
    poll_interval = 30                # seconds between polls at first (backs off to poll_max_interval)
    poll_max_interval = 300
    timeout = 21600                   # give up waiting for jobs after this many seconds
    keep_downloads = false            # keep the raw downloads under .harvest/downloads
    lock_wait = 5                     # seconds to wait for another run on the same catalog

    [publish]                         # optional: publish the catalog at the end of the run (harvester.publish)
    url = "s3://bucket/prefix"
    base_url = "https://bucket.example/prefix"   # optional: an absolute root self link

    [[sources]]
    provider = "hyp3"                 # a name from adapters.registry
    name = "svalbard-rtc"             # unique; default: the provider name (+ a number)
    assets = "download"               # or "remote" where the provider supports it
    …                                 # the provider's own keys (its adapter's Settings dataclass)

Every error is a `ConfigError` naming the key (``sources[2].bbox``, or the flag ``--bbox``) and what is wrong
with it. Provider settings fields with ``metadata={"env": "NAME"}`` are provider URLs (`adapters.base.url_settings`):
that environment variable overrides them, and whatever value they get must be an absolute http(s) URL with a
host. The catalog path must be a folder, or a path a folder can be made at.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import urlsplit

from adapters import registry
from adapters.base import Adapter, AssetsMode, SourceAction, url_settings
from adapters.redact import redact_url
from catalogs.errors import HarvestError


class ConfigError(HarvestError):
    """A configuration file or flag that cannot be used; the message names the key."""


@dataclass
class CatalogConfig:
    path: Path
    title: str | None = None
    description: str | None = None
    license: str | None = None


@dataclass
class RunOptions:
    workers: int | None = None
    executor: Literal["process", "thread", "inline", "dask"] = "process"
    #: executor = "dask": the scheduler's address (tcp://host:8786), or "local" for a cluster of this machine
    scheduler: str | None = None
    #: where downloads and the workers' files go (default: the catalog's .harvest folder)
    work_dir: Path | None = None
    downloads: int = 4
    poll_interval: float = 30.0
    poll_max_interval: float = 300.0
    timeout: float = 6 * 3600.0
    keep_downloads: bool = False
    lock_wait: float = 5.0

    @property
    def worker_count(self) -> int:
        """The workers of the executor the pipeline makes: as configured, else one per CPU."""
        return self.workers or os.cpu_count() or 1


@dataclass
class PublishConfig:
    """``[publish]``: where `harvester run` publishes the catalog when it is done."""

    url: str
    base_url: str | None = None


@dataclass
class SourceConfig:
    """One source: which adapter, and its validated settings."""

    name: str
    provider: str
    adapter: type[Adapter]
    settings: Any
    assets: AssetsMode = "download"
    action: SourceAction = "auto"

    @functools.cached_property
    def digest(self) -> str:
        """Identifies what the source asks for: a changed request is a new submission.

        Computed once (it reads the files the source names), so one run records one digest throughout.

        Settings that say where the provider is (the ones an environment variable can override, such as
        ``HYP3_API_URL``) are left out: moving the service (a simulator on another port, a proxy) does
        not change what was asked of it. A file the source names (a job list) counts by its content, so
        that editing it is a new request.
        """
        settings = _plain(self.settings)
        if dataclasses.is_dataclass(self.settings):
            urls = url_settings(type(self.settings))
            for f in dataclasses.fields(self.settings):
                value = getattr(self.settings, f.name)
                if f.name in urls:
                    settings.pop(f.name, None)
                elif isinstance(value, Path) and value.is_file():
                    settings[f.name] = {"path": str(value), "sha256": hashlib.sha256(value.read_bytes()).hexdigest()}
        data = {"provider": self.provider, "settings": settings, "assets": self.assets}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Config:
    catalog: CatalogConfig
    run: RunOptions = field(default_factory=RunOptions)
    sources: list[SourceConfig] = field(default_factory=list)
    publish: PublishConfig | None = None


_GENERIC_SOURCE_KEYS = {"provider", "name", "assets"}


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file. Relative paths in it are relative to its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, base_dir=path.parent, env=env, origin=str(path))


def parse_config(raw: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str] | None = None,
                 origin: str = "config") -> Config:
    env = os.environ if env is None else env
    _only_keys(raw, {"catalog", "run", "sources", "publish"}, "", origin)
    catalog_raw = raw.get("catalog")
    if not isinstance(catalog_raw, Mapping):
        raise ConfigError(f"{origin}: [catalog] is missing (it needs at least path = \"...\")")
    catalog = parse_dataclass(CatalogConfig, catalog_raw, "catalog", origin=origin, base_dir=base_dir, env={})
    check_catalog_path(catalog.path, "catalog.path", origin)
    run = parse_dataclass(RunOptions, raw.get("run", {}), "run", origin=origin, base_dir=base_dir, env={})
    _check_run(run, origin)
    sources_raw = raw.get("sources", [])
    if not isinstance(sources_raw, list) or not all(isinstance(s, Mapping) for s in sources_raw):
        raise ConfigError(f"{origin}: sources must be a list of tables ([[sources]])")
    if not sources_raw:
        raise ConfigError(f"{origin}: no [[sources]]: there is nothing to harvest")
    sources = [parse_source(s, f"sources[{i}]", base_dir=base_dir, env=env, origin=origin)
               for i, s in enumerate(sources_raw)]
    _name_sources(sources, origin)
    publish = None
    if "publish" in raw:
        publish = parse_dataclass(PublishConfig, raw["publish"], "publish", origin=origin, env={})
        check_publish(publish.url, publish.base_url, origin)
    return Config(catalog, run, sources, publish)


def parse_source(raw: Mapping[str, Any], where: str, *, base_dir: Path, env: Mapping[str, str],
                 origin: str = "config", action: SourceAction = "auto",
                 keys: Callable[[str], str] | None = None) -> SourceConfig:
    """One source from its table (or flags). ``keys`` names a settings field in messages (default:
    ``where.field``; the command line names its flags)."""
    provider = raw.get("provider")
    if not isinstance(provider, str) or not provider:
        raise ConfigError(f"{origin}: {where}.provider is missing (one of: {', '.join(registry.names()) or 'none'})")
    try:
        adapter = registry.get(provider)
    except registry.UnknownProviderError as exc:
        raise ConfigError(f"{origin}: {where}.provider: {exc}") from None
    assets = raw.get("assets", "download")
    if assets not in ("download", "remote"):
        raise ConfigError(f"{origin}: {where}.assets must be \"download\" or \"remote\", not {assets!r}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{origin}: {where}.name must be a string")
    specific = {k: v for k, v in raw.items() if k not in _GENERIC_SOURCE_KEYS}
    settings = parse_dataclass(adapter.Settings, specific, where, origin=origin, base_dir=base_dir, env=env,
                               keys=keys)
    return SourceConfig(name, provider, adapter, settings, assets, action)


def check_catalog_path(path: Path, key: str, origin: str) -> None:
    """Refuse a catalog path that is a file, or lies inside one: the catalog is a folder."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{origin}: {key} {path} is a file, not a catalog folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{origin}: {key} {path} is inside {parent}, which is a file, not a folder")
            return


def check_http_url(value: str, key: str, origin: str) -> None:
    """Refuse anything but an absolute http(s) URL with a host (the message never shows credentials)."""
    try:
        parts = urlsplit(value)
        # .port raises ValueError for a port that is not a number in range
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{origin}: {key} must be an absolute http(s) URL such as https://host/path, "
                          f"not {_shown_url(value)!r}")


def _shown_url(value: str) -> str:
    try:
        return redact_url(value)
    except ValueError:  # not even parseable as a URL: show no part that could hold credentials
        return value.rpartition("@")[2]


def _name_sources(sources: list[SourceConfig], origin: str) -> None:
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if not source.name:
            base, n = source.provider, 1
            source.name = base
            while source.name in seen:
                n += 1
                source.name = f"{base}-{n}"
        elif source.name in seen:
            raise ConfigError(f"{origin}: sources[{i}].name {source.name!r} is used by another source")
        seen.add(source.name)


def _check_run(run: RunOptions, origin: str) -> None:
    checks = [
        ("workers", run.workers is None or run.workers >= 1, "at least 1"),
        ("downloads", run.downloads >= 1, "at least 1"),
        ("poll_interval", run.poll_interval > 0, "positive"),
        ("poll_max_interval", run.poll_max_interval >= run.poll_interval, "at least poll_interval"),
        ("timeout", run.timeout > 0, "positive"),
        ("lock_wait", run.lock_wait >= 0, "zero or more"),
    ]
    for key, ok, want in checks:
        if not ok:
            raise ConfigError(f"{origin}: run.{key} must be {want}, not {getattr(run, key)!r}")
    check_scheduler(run, "run.", origin)


#: what to install for ``executor = "dask"``
DASK_EXTRA = "pip install 'stac-harvester[dask]'"


def check_scheduler(run: RunOptions, prefix: str, origin: str) -> None:
    """``scheduler`` only with the Dask executor, as ``local`` or an address; Dask distributed installed.

    ``prefix`` is how keys are named (``run.`` in a config file, ``--`` on the command line)."""
    if run.executor != "dask":
        if run.scheduler is not None:
            raise ConfigError(f"{origin}: {prefix}scheduler is for the Dask executor: set {prefix}executor "
                              f"to \"dask\" too, not {run.executor!r}")
        return
    scheduler = run.scheduler or "local"
    if scheduler != "local":
        parts = urlsplit(scheduler)
        try:
            ok = bool(parts.scheme) and bool(parts.hostname) and parts.port is not None and not parts.path.strip("/")
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"{origin}: {prefix}scheduler must be \"local\" or a scheduler address such as "
                              f"tcp://host:8786, not {scheduler!r}")
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(f"{origin}: {prefix}executor = \"dask\" needs Dask distributed, an optional extra: "
                          f"{DASK_EXTRA}")


def check_publish(url: str, base_url: str | None, origin: str, *, url_key: str = "publish.url",
                  base_key: str = "publish.base_url") -> None:
    """A publish target must be an ``s3://bucket/prefix``, a base URL an absolute http(s) URL."""
    from adapters.s3 import BadLocationError, S3Location

    try:
        S3Location.parse(url, what=url_key)
    except BadLocationError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if base_url is not None:
        check_http_url(base_url, base_key, origin)


# -- typed parsing of dataclasses (shared by the config file and the CLI flags)

def parse_dataclass(cls: type, raw: Mapping[str, Any], where: str, *, origin: str = "config",
                    base_dir: Path | None = None, env: Mapping[str, str] | None = None,
                    keys: Callable[[str], str] | None = None) -> Any:
    """Build ``cls`` from ``raw``, checking every key and type; strings are accepted for any scalar
    or list (so CLI flags parse the same way: ``"1,2,3,4"`` is a list, ``"true"`` a bool). Fields that
    are provider URLs (`adapters.base.url_settings`) must be absolute http(s) URLs, wherever they came
    from. ``keys`` names a field in messages (default: ``where.field``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: {where} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    urls = url_settings(cls)
    _only_keys(raw, set(fields), where, origin)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = keys(name) if keys else f"{where}.{name}" if where else name
        env_name = f.metadata.get("env")
        if env and env_name and env.get(env_name):
            key = f"{key} (from ${env_name})"
            values[name] = coerce(hints[name], env.get(env_name), key, origin, base_dir)
        elif name in raw:
            values[name] = coerce(hints[name], raw[name], key, origin, base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{origin}: {key} is required")
        if name in urls and isinstance(values.get(name), str):
            check_http_url(values[name], key, origin)
    try:
        obj = cls(**values)
    except (ValueError, TypeError) as exc:  # the dataclass's own checks (__post_init__)
        raise ConfigError(f"{origin}: {where}: {exc}") from exc
    return obj


def coerce(hint: Any, value: Any, key: str, origin: str = "config", base_dir: Path | None = None) -> Any:
    """``value`` as type ``hint`` (str, int, float, bool, Path, Literal, list/tuple of those, dict, X | None)."""
    def fail(want: str) -> ConfigError:
        return ConfigError(f"{origin}: {key} must be {want}, not {value!r}")

    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin_type in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none") and type(None) in args):
            if type(None) in args:
                return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(option, value, key, origin, base_dir)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[-1] if len(options) == 1 else fail(" or ".join(_type_name(a) for a in options))
    if origin_type is Literal:
        if value in args:
            return value
        raise fail("one of " + ", ".join(repr(a) for a in args))
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise fail("true or false")
    if hint in (int, float):
        accepted = (int,) if hint is int else (int, float)
        if isinstance(value, accepted + (str,)) and not isinstance(value, bool):
            try:
                return hint(value)
            except ValueError:
                pass
        raise fail("an integer" if hint is int else "a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise fail("a string")
    if hint is Path:
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            return p if p.is_absolute() or base_dir is None else (base_dir / p)
        raise fail("a path")
    if origin_type in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin_type is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} values")
            return tuple(coerce(a, v, f"{key}[{i}]", origin, base_dir) for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        items = [coerce(inner, v, f"{key}[{i}]", origin, base_dir) for i, v in enumerate(value)]
        return tuple(items) if origin_type is tuple else items
    if origin_type is dict or hint is dict:
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return parsed
        raise fail("a table")
    raise ConfigError(f"{origin}: {key}: unsupported setting type {hint!r}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _only_keys(raw: Mapping[str, Any], known: set[str], where: str, origin: str) -> None:
    for key in raw:
        if key not in known:
            place = f"{where}.{key}" if where else key
            raise ConfigError(f"{origin}: unknown key {place!r} (known here: {', '.join(sorted(known))})")


def _plain(settings: Any) -> Any:
    return dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else settings
