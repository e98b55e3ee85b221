"""Orchestration: CLI, config, state, HTTP and downloads, the pipeline, the demo."""

__version__ = "0.1.0"
