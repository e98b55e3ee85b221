"""Every error class of catalogs, adapters and harvester survives a pickle round trip (they cross the
executor seam from worker processes), with its type, message, args and attributes.

The classes are found, not listed: every module of the three packages is imported and the subclasses of
`HarvestError` are walked, so an error class added later is checked without touching this file.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import adapters
import catalogs
import harvester
from catalogs.errors import HarvestError

PACKAGES = (catalogs, adapters, harvester)


def _import_everything() -> None:
    for package in PACKAGES:
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def error_classes() -> list[type[HarvestError]]:
    """HarvestError and every subclass defined in the three packages."""
    _import_everything()
    ours = {c for c in _subclasses(HarvestError) if c.__module__.split(".")[0] in {p.__name__ for p in PACKAGES}}
    return sorted({HarvestError} | ours, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _value(name: str, annotation: Any) -> Any:
    """A plausible, distinct argument for a constructor parameter, from its annotation (a string here)."""
    text = str(annotation)
    if text == "bool":
        return False
    if "float" in text:
        return 12.5
    if "int" in text and "str" not in text:
        return 7
    if "Path" in text:
        return Path(f"/data/job-1/{name}.tif")
    return f"{name} of job 1"


def make(cls: type[HarvestError]) -> HarvestError:
    """An instance of ``cls`` built the way its constructor expects."""
    if cls.__init__ is BaseException.__init__:
        return cls(f"{cls.__name__}: something about job 1")
    kwargs = {}
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        kwargs[param.name] = _value(param.name, param.annotation)
    return cls(**kwargs)


def test_the_walk_finds_the_error_classes_of_every_package() -> None:
    names = {c.__name__ for c in error_classes()}
    # one or more from each package, among them those with their own constructor arguments
    assert {"NotARasterError", "CogConversionError", "InvalidIdError", "SchemaUnavailableError",
            "RateLimitedError", "UnknownProviderError", "UnknownProductNameError", "ConfigError",
            "StateLockedError", "WorkerError", "WorkerLostError"} <= names


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__qualname__)
def test_error_survives_a_pickle_round_trip(cls: type[HarvestError]) -> None:
    error = make(cls)
    error.add_note("noted by the test")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    assert vars(error)  # the note at least: the comparison above compared something


def test_attributes_set_by_a_constructor_come_back() -> None:
    from adapters.errors import RateLimitedError
    from catalogs.errors import NotARasterError

    raster = pickle.loads(pickle.dumps(NotARasterError("VV.tif", "HTTP 404")))
    assert (raster.path, raster.reason, str(raster)) == ("VV.tif", "HTTP 404", "VV.tif: not a readable raster (HTTP 404)")
    limited = pickle.loads(pickle.dumps(RateLimitedError("HyP3 jobs: HTTP 429", retry_after=30.0)))
    assert (limited.retry_after, str(limited)) == (30.0, "HyP3 jobs: HTTP 429")
