"""Which adapter serves which provider name: an explicit table, no import-time registration.

Built-in providers are listed in `BUILTIN` as ``"module:Class"`` strings, imported only when used (so
the CLI starts fast and one broken provider does not break the others). `register` adds a provider at
run time: tests use it for their own provider, and so can a user's plug-in.
"""

from __future__ import annotations

import importlib

from adapters.base import Adapter
from catalogs.errors import HarvestError

#: provider name -> "module:Class"; adapters are added here as they are written
BUILTIN: dict[str, str] = {
    "hyp3": "adapters.hyp3.adapter:Hyp3Adapter",
    "appeears": "adapters.appeears.adapter:AppeearsAdapter",
    "ngu": "adapters.ngu.adapter:NguAdapter",
    "sentinelhub-catalog": "adapters.sentinelhub.adapter:SentinelHubCatalogAdapter",
    "sentinelhub-async": "adapters.sentinelhub.adapter:SentinelHubAsyncAdapter",
    "sentinelhub-process": "adapters.sentinelhub.adapter:SentinelHubProcessAdapter",
}
_extra: dict[str, type[Adapter] | str] = {}


class UnknownProviderError(HarvestError):
    """A provider name that no adapter serves."""


def register(name: str, adapter: type[Adapter] | str) -> None:
    """Serve provider ``name`` with ``adapter`` (a class or a ``"module:Class"`` string)."""
    _extra[name] = adapter


def unregister(name: str) -> None:
    _extra.pop(name, None)


def names() -> list[str]:
    return sorted(set(BUILTIN) | set(_extra))


def get(name: str) -> type[Adapter]:
    """The adapter class for provider ``name``."""
    target = _extra.get(name) or BUILTIN.get(name)
    if target is None:
        known = ", ".join(names()) or "none"
        raise UnknownProviderError(f"unknown provider {name!r} (known: {known})")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target
