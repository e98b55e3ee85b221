"""Orchestration: CLI, config, state, downloads, the pipeline, the demo."""

from catalogs import __version__

__all__ = ["__version__"]
