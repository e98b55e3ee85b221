"""The README's "Using the catalog" snippets, run as they are written against a fresh demo catalog.

Each snippet names the demo as ``catalogs/demo`` and the server as ``http://127.0.0.1:8000`` (what the README's
commands give a user); here they run in a folder where ``catalogs/demo`` is the demo, and the server address is
that of a `harvester serve --api` process started on a free port (a process of its own, as a user runs it:
GDAL's `/vsicurl/` reads hold the interpreter's lock, so a server thread in the test process would never answer).
"""

from __future__ import annotations

import contextlib
import io
import re
import selectors
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo_items import catalog_items, collections_of
from tests.harvester.test_cli import HARVESTER, _default_sigint

README = Path(__file__).resolve().parent.parent / "README.md"
SERVER = "http://127.0.0.1:8000"


def snippets() -> list[str]:
    """The python blocks of the README's "Using the catalog" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Using the catalog\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def user_folder(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder with the demo at ``catalogs/demo`` and the URL of `serve --api` serving it."""
    folder = tmp_path_factory.mktemp("user")
    shutil.copytree(demo, folder / "catalogs" / "demo", symlinks=True)
    process = subprocess.Popen([HARVESTER, "-q", "serve", str(folder / "catalogs" / "demo"), "--api", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            assert selector.select(timeout=120), "harvester serve --api printed nothing within 120 s"
        first = process.stdout.readline()  # type: ignore[union-attr]
        yield folder, first.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def run_snippet(code: str, folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace(SERVER, url), "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    return out.getvalue()


def test_the_readme_has_the_snippets() -> None:
    assert len(snippets()) == 4


@pytest.mark.parametrize("index", range(4))
def test_each_snippet_runs_against_the_demo(index: int, user_folder: tuple[Path, str], demo: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder, url = user_folder
    printed = run_snippet(snippets()[index], folder, url, monkeypatch).splitlines()
    items = catalog_items(demo)
    if index == 0:  # one line per collection, with its item count
        expected = {cid: sum(1 for i in items.values() if i["collection"] == cid) for cid in collections_of(demo)}
        assert {line.split()[0]: int(line.split()[1]) for line in printed} == expected
    elif index == 1:  # the COG's grid, read over HTTP
        (line,) = printed
        assert line.startswith("S1A_IW_") and "EPSG:" in line and "overviews: [" in line
    elif index == 2:  # every ascending item, through the API's pages of 2
        expected = sorted(i for i, item in items.items() if item["properties"].get("sat:orbit_state") == "ascending")
        assert expected and sorted(line.split()[1] for line in printed) == expected
    else:  # items per collection from DuckDB, and the frame
        assert printed[-1] == f"{len(items)} items, EPSG:4326"
        counts = dict(eval(printed[0]))  # noqa: S307 - the list of tuples DuckDB's fetchall printed
        assert sum(counts.values()) == len(items) and set(counts) == set(collections_of(demo))
