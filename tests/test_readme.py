"""The README's "Using the catalog" snippets, run as they are written against a fresh demo catalog.

Each snippet names the demo as ``catalogs/demo`` and the server as ``http://127.0.0.1:8000`` (what the README's
commands give a user); here they run in a folder where ``catalogs/demo`` is the demo, and the server address is
that of a `harvester serve --api` process started on a free port (a process of its own, as a user runs it:
GDAL's `/vsicurl/` reads hold the interpreter's lock, so a server thread in the test process would never answer).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo_items import catalog_items, collections_of
from tests.processes import HARVESTER, harvester_process

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
    with harvester_process("-q", "serve", str(folder / "catalogs" / "demo"), "--api", "--port", "0") as served:
        first = served.lines(1)[0]
        yield folder, first.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")


def run_snippet(code: str, folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace(SERVER, url), "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    return out.getvalue()


def test_the_readme_has_the_snippets() -> None:
    assert len(snippets()) == 5


@pytest.mark.parametrize("index", range(5))
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
    elif index == 3:  # the mean NDVI of each date, from odc-stac's cube: the same as read file by file
        assert printed == ndvi_means(demo)
    else:  # items per collection from DuckDB, and the frame
        assert printed[-1] == f"{len(items)} items, EPSG:4326"
        counts = dict(eval(printed[0]))  # noqa: S307 - the list of tuples DuckDB's fetchall printed
        assert sum(counts.values()) == len(items) and set(counts) == set(collections_of(demo))


def ndvi_means(demo: Path) -> list[str]:
    """The lines the odc-stac snippet prints, computed without it: each NDVI item's COG read with rasterio, its
    valid pixels scaled and averaged, in time order."""
    import numpy as np
    import rasterio

    lines = []
    for item in sorted((i for i in catalog_items(demo).values() if "250m_16_days_NDVI" in i["assets"]),
                       key=lambda i: i["properties"]["datetime"]):
        asset = item["assets"]["250m_16_days_NDVI"]
        with rasterio.open(asset["href"]) as cog:  # catalog_items made the hrefs absolute
            values = cog.read(1).astype("float64")
            valid = values[values != cog.nodata]
        mean = float(np.mean(valid * asset["bands"][0]["raster:scale"]))
        lines.append(f"{item['properties']['datetime'][:10]} {round(mean, 4)}")
    assert len(lines) >= 2  # a time series
    return lines


# -- "Harvesting, provider by provider": every command, as written, against `harvester simulate PROVIDER`

#: the simulator each command's provider argument is served by
SIMULATOR_OF = {"hyp3": "hyp3", "appeears": "appeears", "ngu": "ngu", "sentinelhub": "sentinelhub",
                "sentinelhub-async": "sentinelhub", "sentinelhub-process": "sentinelhub",
                "sentinelhub-catalog": "sentinelhub"}
#: what a developer's shell may hold that must not reach the simulated harvests (real accounts, endpoints)
PROVIDER_VARIABLES = re.compile(r"^(EARTHDATA_|HYP3_|APPEEARS_|NGU_|SH_|AWS_)")


def guide_commands() -> list[list[str]]:
    """The commands of the README's bash blocks in "Harvesting, provider by provider", in order (a line ending
    in a backslash goes on on the next)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Harvesting, provider by provider\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def simulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    """Each simulator the guide needs, started as the README says (`harvester simulate PROVIDER`), with the
    variables of the `export` line it prints."""
    names = sorted({SIMULATOR_OF[c[2]] for c in guide_commands() if c[1] in ("submit", "fetch", "search")})
    with contextlib.ExitStack() as stack:
        exports = {}
        for name in names:
            simulator = stack.enter_context(harvester_process("-q", "simulate", name, "--port", "0"))
            printed: list[str] = []
            while not (printed and printed[-1].strip().startswith("export ")):
                assert len(printed) < 10, (name, printed)
                printed += simulator.lines(1)
            exports[name] = dict(item.split("=", 1) for item in shlex.split(printed[-1])[1:])
        yield exports


def test_the_guide_commands_run_against_the_simulators(simulators: dict[str, dict[str, str]],
                                                        tmp_path: Path) -> None:
    """Each command in a folder holding the README's request files (``docs/requests/``), with the variables its
    simulator printed; `submit` and `fetch` get ``--poll-interval 0.2`` (the simulators finish jobs in moments;
    the default first wait is 30 s). Every command succeeds, each harvest adds what it asked for, the
    catalog they share is valid and `status` lists every job."""
    shutil.copytree(README.parent / "docs" / "requests", tmp_path / "docs" / "requests")
    base = {k: v for k, v in os.environ.items() if not PROVIDER_VARIABLES.match(k)}
    base["APPEEARS_CACHE_DIR"] = str(tmp_path / "appeears-cache")
    printed: dict[str, str] = {}
    for command in guide_commands():
        assert command[0] == "harvester", command
        verb = command[1]
        env = dict(base)
        if verb in ("submit", "fetch", "search"):
            env.update(simulators[SIMULATOR_OF[command[2]]])
        extra = ["--poll-interval", "0.2"] if verb in ("submit", "fetch") else []
        done = subprocess.run([HARVESTER, *command[1:], *extra], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (command, done.stdout, done.stderr[-3000:])
        printed[" ".join(command[1:3])] = done.stdout
    jobs = json.loads((tmp_path / "docs" / "requests" / "hyp3-jobs.json").read_text())
    written = {what: int(re.search(r"items: (\d+) written, (\d+) unchanged", out).group(1))  # type: ignore[union-attr]
               for what, out in printed.items() if "items:" in out}
    assert all(written[w] > 0 for w in written if not w.startswith("fetch")), written
    # the fetch finds the RTC job the submit harvested: nothing new, the item unchanged
    rtc = sum(1 for job in jobs if job["job_type"] == "RTC_GAMMA")
    assert re.search(rf"items: 0 written, {rtc} unchanged", printed["fetch hyp3"]), printed["fetch hyp3"]
    assert "all valid" in printed["validate catalogs/mine"]
    status = printed["status catalogs/mine"]
    task = json.loads((tmp_path / "docs" / "requests" / "appeears-ndvi-task.json").read_text())
    for name in [job["name"] for job in jobs] + [task["task_name"]]:
        assert re.search(rf"\s{re.escape(name)}\s+succeeded\s+harvested", status), (name, status)
    items = catalog_items(tmp_path / "catalogs" / "mine")
    # a collection per HyP3 job type, the AppEEARS product, the NGU dataset, the searched and the processed
    assert {item["collection"] for item in items.values()} == {
        "hyp3-rtc-gamma", "hyp3-insar-gamma", "appeears-mod13q1-061", "ngu-insar-in-asc1-v20a", "sentinel-2-l2a",
        "sentinelhub-async"}


# -- "Troubleshooting": each message shown there, provoked against the simulators


def troubleshooting_messages() -> list[re.Pattern[str]]:
    """The ``text`` blocks of the README's "Troubleshooting", each a line the harvester prints, ``<...>`` standing
    for any text."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```text\n(.*?)\n```", section, flags=re.S)
    return [re.compile("^" + ".+?".join(re.escape(part) for part in re.split(r"<[^>]+>", block)) + "$", re.M)
            for block in blocks]


def test_each_troubleshooting_message_is_what_the_harvester_prints(simulators: dict[str, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    shutil.copytree(README.parent / "docs" / "requests", tmp_path / "docs" / "requests")
    base = {k: v for k, v in os.environ.items() if not PROVIDER_VARIABLES.match(k)}
    base["APPEEARS_CACHE_DIR"] = str(tmp_path / "appeears-cache")
    (tmp_path / "expired.json").write_text(json.dumps(
        [dict(job, name=f"sim-expired-{n}") for n, job in
         enumerate(json.loads((tmp_path / "docs" / "requests" / "hyp3-jobs.json").read_text()))][:1]))
    edited = tmp_path / "edited"  # a catalog that declares an extension whose schema is not bundled
    edited.mkdir()
    (edited / "catalog.json").write_text(json.dumps({
        "type": "Catalog", "stac_version": "1.1.0", "id": "edited", "description": "edited by hand", "links": [],
        "stac_extensions": ["https://stac-extensions.github.io/render/v2.0.0/schema.json"]}))

    logged: list[str] = []  # what each run wrote to stderr (its log): no secret may be there either

    def run(*args: str, simulator: str | None = None, **variables: str) -> str:
        env = {**base, **(simulators[simulator] if simulator else {}), **variables}
        done = subprocess.run([HARVESTER, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 1, (args, done.stdout, done.stderr[-3000:])
        logged.append(done.stderr)
        return done.stdout

    hyp3_jobs = ("submit", "hyp3", "--jobs", "docs/requests/hyp3-jobs.json", "--poll-interval", "0.2")
    printed = [
        run(*hyp3_jobs, "--catalog", "catalogs/a", simulator="hyp3", EARTHDATA_TOKEN="an-expired-token"),
        run("submit", "appeears", "--task", "docs/requests/appeears-ndvi-task.json", "--catalog", "catalogs/b",
            simulator="appeears", EARTHDATA_PASSWORD="not-the-password"),
        run("search", "sentinelhub", "--collection", "sentinel-2-l2a", "--datetime", "2020-12-01/2020-12-31",
            "--catalog", "catalogs/c", simulator="sentinelhub", SH_CLIENT_SECRET="not-the-secret"),
        run("submit", "hyp3", "--jobs", "expired.json", "--poll-interval", "0.2", "--catalog", "catalogs/d",
            simulator="hyp3"),
        run("validate", str(edited)),
    ]
    with harvester_process("-q", "simulate", "hyp3", "--port", "0") as simulator:  # its own: faults stay in it
        url = simulator.lines(1)[0].split(" at ", 1)[1].split(" ", 1)[0]
        httpx.post(f"{url}/_simkit/faults", json={"path": "^/jobs$", "status": 429, "retry_after": 0.1, "times": 50},
                   timeout=10).raise_for_status()
        printed.append(run(*hyp3_jobs, "--catalog", "catalogs/e", HYP3_API_URL=url, EARTHDATA_TOKEN="sim-token"))

    messages = troubleshooting_messages()
    assert len(messages) == len(printed)
    for message, output in zip(messages, printed):
        assert message.search(output), (message.pattern, output)
    assert not any(secret in output for output in printed + logged
                   for secret in ("an-expired-token", "not-the-password", "not-the-secret"))


def test_the_readme_lists_exactly_the_extensions_the_harvester_writes(demo: Path) -> None:
    """The table in "The catalog it writes" names the extension schemas of `catalogs.stac`, and the demo's own
    objects declare no other (the Catalog search's items keep their server's, and are not ours)."""
    from catalogs import stac

    text = README.read_text(encoding="utf-8")
    section = text.split("### The catalog it writes\n", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"^\| \[[^\]]+\]\((https://stac-extensions\.github\.io/[^)]+)\)", section, flags=re.M))
    written = {value for name, value in vars(stac).items()
               if name.isupper() and isinstance(value, str) and value.startswith("https://stac-extensions.github.io/")}
    assert listed == written
    searched = {"sentinel-2-l2a"}  # the demo's Catalog search
    declared = {ext for item in catalog_items(demo).values() if item["collection"] not in searched
                for ext in item.get("stac_extensions", [])}
    assert declared <= listed, declared - listed
