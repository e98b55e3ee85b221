"""`harvester serve` and `harvester simulate` for tests: the console script run as a user runs it (a subprocess
of this environment's script, until Ctrl-C), or the server ``serve`` makes, on a thread of the test process."""

from __future__ import annotations

import contextlib
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from harvester.serve import make_server, server_url

HARVESTER = shutil.which("harvester", path=str(Path(sys.executable).parent))


def default_sigint() -> None:
    """A child inherits an ignored SIGINT (as under a non-interactive shell's '&'); Python then never raises
    KeyboardInterrupt, so give the process the disposition an interactive user's process has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """A started `harvester` process: the lines it prints, read as they come, and Ctrl-C."""

    def __init__(self, process: subprocess.Popen[str], name: str) -> None:
        self.process = process
        self.name = name
        self._printed: queue.Queue[str | None] = queue.Queue()
        # a thread reads what it prints: select() on the pipe cannot see lines already in the reader's buffer
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._printed.put(line)
        self._printed.put(None)

    def lines(self, n: int, timeout: float = 120) -> list[str]:
        """The next ``n`` lines it prints, each within ``timeout`` seconds."""
        got = []
        for _ in range(n):
            try:
                line = self._printed.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"harvester {self.name} printed nothing within {timeout:g} s") from None
            assert line is not None, f"harvester {self.name} ended after printing {got}"
            got.append(line)
        return got

    def interrupt(self, timeout: float = 15) -> tuple[int, str, str]:
        """Ctrl-C; its exit code, what it printed after the lines read so far, and its stderr."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        err = self.process.stderr.read()  # type: ignore[union-attr]
        rest = []
        while (line := self._printed.get_nowait()) is not None:
            rest.append(line)
        return self.process.returncode, "".join(rest), err


@contextlib.contextmanager
def harvester_process(*args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    """``harvester ARGS`` running for the block; interrupted (then killed, if it must be) when the block ends."""
    assert HARVESTER
    process = subprocess.Popen([HARVESTER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint, env=env)
    running = Running(process, args[0] if args[0] != "-q" else args[1])
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        running._reader.join(15)  # it ends at the end of the output, before the pipe is closed under it
        for stream in (process.stdout, process.stderr):
            stream.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def serving(directory: Path, *, api: bool = False) -> Iterator[str]:
    """``directory`` served as ``harvester serve`` (``--api`` with ``api``) serves it, on a free loopback port and
    a thread of this process; yields its URL."""
    server = make_server(directory, port=0, api=api)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="test-serve", daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
