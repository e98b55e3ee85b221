"""Progress bars on a terminal, nothing otherwise."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from harvester import pipeline
from harvester.progress import NullProgress, RichProgress, progress_for
from tests.harvester.conftest import FakeServer, fake_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal() -> None:
    assert isinstance(progress_for(io.StringIO()), NullProgress)
    assert isinstance(progress_for(Terminal(), quiet=True), NullProgress)
    bars = progress_for(Terminal())
    assert isinstance(bars, RichProgress)
    bars.close()


def test_a_run_drives_the_bars(fake_server: FakeServer, tmp_path: Path) -> None:
    screen = Terminal()
    bars = RichProgress(Console(file=screen, force_terminal=True, width=100))
    summary = pipeline.run(fake_config(tmp_path / "cat", fake_server.url, ["bar-a", "bar-b"]), progress=bars)
    tasks = {t.description: t for t in bars._bars.tasks}
    bars.close()
    assert summary.ok
    assert tasks["fake: waiting for jobs"].completed == 2
    assert tasks["building items"].completed == tasks["building items"].total == 2
    download = tasks["downloading"]
    assert download.total and download.completed == download.total == summary.bytes_downloaded
    assert "waiting for jobs" in screen.getvalue()


def test_a_running_jobs_progress_and_message_move_its_bar() -> None:
    bars = RichProgress(Console(file=Terminal(), force_terminal=True, width=100))
    try:
        bars.start("poll", 2, "ngu: waiting for jobs")
        (task,) = bars._bars.tasks
        bars.job("poll", "q1", 0.5, "process: 1200 points")
        assert (task.completed, task.description) == (0.5, "ngu: waiting for jobs (process: 1200 points)")
        bars.job("poll", "q2", 0.25, "tiles")
        assert (task.completed, task.description) == (0.75, "ngu: waiting for jobs (tiles)")
        bars.job("poll", "q1", 0.75, "process: 2400 points")
        assert task.completed == 1.0
        bars.job("poll", "q1", None, None)  # q1 left the polling: its share goes, the finished count comes
        bars.advance("poll")
        assert (task.completed, task.description) == (1.25, "ngu: waiting for jobs (tiles)")
    finally:
        bars.close()
