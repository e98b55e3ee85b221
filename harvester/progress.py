"""Progress display: bars on a terminal (rich), nothing otherwise (the log lines say what happens).

The pipeline reports through the `Progress` interface; `NullProgress` ignores everything, `RichProgress`
draws bars for polling, downloads (bytes) and item building on stderr.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class Progress:
    """What the pipeline reports. Keys name a bar (``poll``, ``items``); totals may be unknown (None)."""

    def start(self, key: str, total: int | None, description: str) -> None:
        """Show bar ``key`` (again); a bar already shown keeps its count and grows its total."""

    def advance(self, key: str, amount: int = 1) -> None:
        """Move bar ``key`` on."""

    def update_bytes(self, name: str, done: int, total: int | None) -> None:
        """A download's progress (called from download threads)."""

    def job(self, key: str, job_id: str, fraction: float | None, message: str | None) -> None:
        """How far a job that bar ``key`` counts has got, as its provider says (``fraction`` 0-1, a
        message such as ``process: 120000 points``); ``None`` for both once it has left the bar."""

    def stop(self, key: str) -> None:
        """Hide bar ``key``."""

    def close(self) -> None:
        """Hide everything."""


class NullProgress(Progress):
    """No display."""


class RichProgress(Progress):
    """Bars drawn with rich on stderr."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bars, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self._bars = Bars(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                          TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)
        self._tasks: dict[str, Any] = {}
        self._files: dict[str, tuple[Any, int]] = {}
        self._lock = threading.Lock()
        self._download_task: Any = None
        #: per bar: the description it was started with, and the running jobs' fractions and messages
        self._described: dict[str, str] = {}
        self._running: dict[str, dict[str, tuple[float, str | None]]] = {}
        self._bars.start()

    def start(self, key: str, total: int | None, description: str) -> None:
        with self._lock:
            task = self._tasks.get(key)
            self._described[key] = description
            if task is None:
                self._tasks[key] = self._bars.add_task(description, total=total)
            elif total is not None:
                current = self._bars.tasks[task].total or 0
                self._bars.update(task, total=current + total, description=description, visible=True)

    def advance(self, key: str, amount: int = 1) -> None:
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._bars.advance(task, amount)

    def update_bytes(self, name: str, done: int, total: int | None) -> None:
        with self._lock:
            if self._download_task is None:
                self._download_task = self._bars.add_task("downloading", total=0)
            previous, known_total = self._files.get(name, (0, 0))
            grow = (total or 0) - known_total
            task = self._bars.tasks[self._download_task]
            self._bars.update(self._download_task, total=(task.total or 0) + max(grow, 0),
                              advance=done - previous)
            self._files[name] = (done, max(known_total, total or 0))

    def job(self, key: str, job_id: str, fraction: float | None, message: str | None) -> None:
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                return
            running = self._running.setdefault(key, {})
            before = sum(f for f, _ in running.values())
            if fraction is None and message is None:
                running.pop(job_id, None)
            else:
                running[job_id] = (min(max(fraction or 0.0, 0.0), 1.0), message)
            # the bar counts finished jobs; a running job adds the part its provider says is done
            latest = next((m for _, m in reversed(running.values()) if m), None)
            description = self._described.get(key, "")
            self._bars.update(task, advance=sum(f for f, _ in running.values()) - before,
                              description=f"{description} ({latest})" if latest else description)

    def stop(self, key: str) -> None:
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._bars.update(task, visible=False)

    def close(self) -> None:
        self._bars.stop()


def progress_for(stream: Any = None, *, quiet: bool = False) -> Progress:
    """Bars when ``stream`` (stderr) is a terminal, else nothing."""
    stream = stream or sys.stderr
    if quiet or not getattr(stream, "isatty", lambda: False)():
        return NullProgress()
    return RichProgress()
