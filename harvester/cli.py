"""The ``harvester`` command line: a thin layer over the library; the only place that prints.

Exit codes: 0 all done; 1 some items or objects failed (the rest was done); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from catalogs.errors import CatalogFormatError, HarvestError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_DEMO_DIR = Path("catalogs/demo")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose - args.quiet)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CatalogFormatError, *_usage_errors()) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HarvestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harvester",
        description="Harvest Earth-observation processing outputs into a static STAC catalog with COG assets.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output (repeatable)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="build a demo catalog and validate it",
                          description="Build a complete demo catalog, validate it and say how to browse it.")
    demo.add_argument("--out", type=Path, default=DEFAULT_DEMO_DIR, help=f"catalog folder (default {DEFAULT_DEMO_DIR})")
    demo.set_defaults(handler=_demo)

    validate = sub.add_parser("validate", help="validate a static catalog offline",
                              description="Validate every catalog, collection and item against STAC 1.1 core "
                                          "and the extension schemas it declares, without network by default.")
    validate.add_argument("dir", help="catalog folder or root JSON file, or s3://bucket/prefix (a published catalog)")
    validate.add_argument("--schemas", type=Path, default=None,
                          help="schema folder laid out by URL (default: $HARVESTER_SCHEMA_DIR)")
    validate.add_argument("--allow-network", action="store_true",
                          help="fetch schemas that are not available locally, and cache them")
    validate.add_argument("--max-errors", type=int, default=50, help="invalid objects to list (default 50)")
    validate.set_defaults(handler=_validate)

    serve = sub.add_parser("serve", help="serve a catalog over HTTP with CORS, for STAC Browser",
                           description="Serve a catalog folder read-only over HTTP, with CORS and range requests.")
    serve.add_argument("dir", type=Path, help="catalog folder")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.set_defaults(handler=_serve)
    serve.add_argument("--api", action="store_true",
                       help="also answer STAC API requests (collections, item search with CQL2 filter) at the root")
    _add_export(sub)

    run = sub.add_parser("run", help="harvest every source of a config file into its catalog",
                         description="Harvest every source a TOML config file declares into the catalog it "
                                     "names. Re-running does only what is new.")
    run.add_argument("config", type=Path, help="the TOML config file")
    _add_run_flags(run)
    run.set_defaults(handler=_run)

    for action, text in (("submit", "start new jobs at a provider and harvest them"),
                         ("fetch", "harvest existing jobs of a provider")):
        # no automatic -h: after the provider, --help belongs to the provider's own flags
        cmd = sub.add_parser(action, help=text, add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                             usage="%(prog)s PROVIDER --catalog DIR [FLAGS...]",
                             description=f"{text[0].upper()}{text[1:]}, from flags instead of a config file.")
        cmd.add_argument("-h", "--help", action=_ProvidersHelp, help="list the providers and how to get their flags")
        cmd.add_argument("provider", nargs="?", metavar="PROVIDER", help="provider name")
        cmd.add_argument("rest", nargs=argparse.REMAINDER, metavar="FLAGS",
                         help="--catalog DIR and the provider's flags")
        cmd.set_defaults(handler=_one_source, action=action, parser=cmd)

    _add_search_command(sub)

    simulate = sub.add_parser("simulate", help="run a provider simulator on loopback, for trying things by hand",
                              description="Serve a provider's simulator on a loopback port until interrupted.")
    simulate.add_argument("provider", choices=("hyp3", "appeears", "ngu", "sentinelhub"), help="which simulator")
    simulate.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the simulated products (default 0)")
    simulate.set_defaults(handler=_simulate)

    publish = sub.add_parser("publish", help="upload a catalog to S3-compatible object storage, incrementally",
                             description="Upload a catalog folder to s3://bucket/prefix: only what changed since "
                                         "the last publish, in an order that keeps the online copy valid "
                                         "throughout. S3 through AWS_ENDPOINT_URL and the AWS credential chain.")
    publish.add_argument("dir", type=Path, help="catalog folder")
    publish.add_argument("target", help="s3://bucket/prefix")
    publish.add_argument("--base-url", default=None,
                         help="URL the published catalog is read at: gives the root an absolute self link")
    publish.add_argument("--concurrency", type=int, default=16, help="parallel uploads (default 16)")
    publish.set_defaults(handler=_publish)

    status = sub.add_parser("status", help="list the jobs of a catalog and their states",
                            description="List the jobs recorded in a catalog's state database.")
    status.add_argument("dir", type=Path, help="catalog folder")
    status.add_argument("--source", default=None, help="only this source")
    status.set_defaults(handler=_status)
    return parser


def _add_export(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="export a catalog's items to another format",
                            description="Export the items of a harvested catalog to another format.")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    geoparquet = formats.add_parser(
        "geoparquet", help="all items as one stac-geoparquet file",
        description="Write every item of the catalog (or of one collection) to one stac-geoparquet file, for "
                    "DuckDB, geopandas and stac-geoparquet readers. When OUT is an earlier export of the same "
                    "catalog, only new or changed items are read; relative hrefs are rewritten relative to OUT.")
    geoparquet.add_argument("dir", help="catalog folder, or s3://bucket/prefix of a published catalog")
    geoparquet.add_argument("out", type=Path, help="the .parquet file to write")
    geoparquet.add_argument("--collection", default=None, help="only this collection's items")
    geoparquet.set_defaults(handler=_export_geoparquet)


def _export_geoparquet(args: argparse.Namespace) -> int:
    from catalogs.geoparquet import export_geoparquet

    if args.dir.startswith("s3://"):
        from harvester.readback import mirror

        with mirror(args.dir, placeholders=False) as folder:  # its JSON objects only: the items are all it needs
            result = export_geoparquet(folder, args.out, collection=args.collection, published_at=args.dir)
    else:
        _catalog_folder(Path(args.dir))
        result = export_geoparquet(Path(args.dir), args.out, collection=args.collection)
    state = "written" if result.written else "unchanged"
    print(f"{result.path}: {result.items} item(s), {state} ({result.read} item file(s) read, {result.kept} row(s) "
          f"kept from the previous export)")
    return EXIT_OK


def _usage_errors() -> tuple[type[Exception], ...]:
    from harvester.config import ConfigError
    from harvester.serve import ServeError
    from harvester.state import StateLockedError

    return ConfigError, ServeError, StateLockedError


class _ProvidersHelp(argparse.Action):
    """``harvester submit --help``: the command's help, then every provider and how to get its flags."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        parser.epilog = _providers_text(parser.prog)
        parser.print_help()
        parser.exit()


def _providers_text(prog: str) -> str:
    """The providers with one line each, and how to list a provider's flags (adapters are imported here only)."""
    from adapters import registry

    names = registry.names()
    width = max((len(name) for name in names), default=0)
    lines = ["providers:"]
    for name in names:
        try:
            doc = registry.get(name).__doc__ or ""
        except ImportError as exc:
            doc = f"(cannot be loaded: {exc})"
        lines.append(f"  {name.ljust(width)}  {doc.strip().splitlines()[0] if doc.strip() else ''}".rstrip())
    if not names:
        lines.append("  (none)")
    lines.append("")
    lines.append(f"'{prog} PROVIDER --help' lists a provider's flags.")
    return "\n".join(lines)


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, help="worker processes for conversions")
    parser.add_argument("--executor", choices=("process", "thread", "inline", "dask"), default=None,
                        help="where conversions run (default: process pool; dask: a Dask cluster)")
    parser.add_argument("--scheduler", default=None,
                        help="with --executor dask: tcp://host:8786 (a running cluster) or local (the default)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for jobs to finish")
    parser.add_argument("--poll-interval", type=float, default=None, help="first polling interval, seconds")


def _apply_run_flags(config: object, args: argparse.Namespace) -> None:
    from harvester.config import check_scheduler

    run = config.run  # type: ignore[attr-defined]
    for name in ("workers", "executor", "scheduler", "timeout", "poll_interval"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(run, name, value)
    run.poll_max_interval = max(run.poll_max_interval, run.poll_interval)
    if args.executor is not None or args.scheduler is not None:
        check_scheduler(run, "--", "command line")


def _run(args: argparse.Namespace) -> int:
    from harvester.config import load_config

    config = load_config(args.config)
    _apply_run_flags(config, args)
    return _harvest(config, args)


def _harvest(config: object, args: argparse.Namespace) -> int:
    from harvester import pipeline
    from harvester.progress import progress_for

    executor = None
    if config.run.executor == "dask":  # type: ignore[attr-defined]
        # joined here rather than by the pipeline, to say where its dashboard is before the work starts
        executor = pipeline.make_executor(config)  # type: ignore[arg-type]
        print(f"Dask dashboard: {getattr(executor, 'dashboard_link', None) or 'none (the scheduler serves none)'}",
              flush=True)
    progress = progress_for(quiet=args.quiet > 0)
    try:
        summary = pipeline.run(config, progress=progress, executor=executor)  # type: ignore[arg-type]
    finally:
        progress.close()
        if executor is not None:
            executor.shutdown()
    root = config.catalog.path  # type: ignore[attr-defined]
    print(f"catalog: {Path(root) / 'catalog.json'}")
    print(f"jobs: {summary.jobs} ({summary.jobs_harvested} harvested now, {summary.jobs_skipped} done before"
          + (f", {summary.jobs_waiting} still running" if summary.jobs_waiting else "") + ")")
    print(f"downloads: {summary.downloads} file(s), {summary.bytes_downloaded / 1e6:.1f} MB; "
          f"conversions: {summary.conversions}; items: {summary.items_written} written, "
          f"{summary.items_untouched} unchanged")
    if summary.published is not None:
        print(summary.published)
    for failure in summary.earlier:  # listed, but not failures of this run: they leave the exit code alone
        print(f"earlier: {failure}")
    for warning in summary.warnings:  # harvested, with a caveat: the exit code stays 0
        print(f"warning: {warning}")
    if summary.failures:
        print(f"{len(summary.failures)} failure(s):")
        for failure in summary.failures:
            print(f"  - {failure}")
        return EXIT_FAILED
    return EXIT_OK


def _one_source(args: argparse.Namespace) -> int:
    from adapters import registry
    from adapters.base import url_settings
    from harvester.config import CatalogConfig, Config, ConfigError, RunOptions, check_catalog_path, parse_source

    if args.provider is None:
        raise ConfigError(f"{args.parser.prog} needs a provider (one of: {', '.join(registry.names()) or 'none'}); "
                          f"'{args.parser.prog} --help' says more")
    try:
        adapter = registry.get(args.provider)
    except registry.UnknownProviderError as exc:
        raise ConfigError(str(exc)) from None
    flags = _source_parser(args, adapter)
    opts = flags.parse_args(args.rest)
    check_catalog_path(opts.catalog, "--catalog", "command line")
    raw = {"provider": args.provider, "name": opts.name or args.provider, "assets": opts.assets}
    for name in _settings_fields(adapter):
        value = getattr(opts, name)
        if value is None:
            value = getattr(opts, f"{name}_given", None)
        if value is not None:
            raw[name] = value
    # a flag given on the command line wins over the environment variable that overrides its setting
    given = {env_name for name, env_name in url_settings(adapter.Settings).items() if name in raw}
    env = {key: value for key, value in os.environ.items() if key not in given}
    source = parse_source(raw, "flags", base_dir=Path.cwd(), env=env, origin="command line", action=args.action,
                          keys=_flag)
    config = Config(CatalogConfig(opts.catalog, opts.title, None, None), RunOptions(), [source])
    _apply_run_flags(config, opts)
    return _harvest(config, args)


def _source_parser(args: argparse.Namespace, adapter: type) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"harvester {args.action} {args.provider}",
                                     description=(adapter.__doc__ or "").strip().splitlines()[0] if adapter.__doc__ else None)
    parser.add_argument("--catalog", type=Path, required=True, help="catalog folder to harvest into")
    parser.add_argument("--title", default=None, help="catalog title")
    parser.add_argument("--name", default=None, help="source name in the state database (default: the provider)")
    parser.add_argument("--assets", choices=("download", "remote"), default="download",
                        help="download assets, or link to the provider's copies")
    _add_run_flags(parser)
    for f in dataclasses.fields(adapter.Settings):
        help_text = f.metadata.get("help", "")
        if f.metadata.get("env"):
            help_text += f" (env ${f.metadata['env']})"
        parser.add_argument(_flag(f.name), dest=f.name, default=None, help=help_text.strip())
        if f.metadata.get("positional"):  # also given without its flag: harvester submit PROVIDER FILE ...
            parser.add_argument(f"{f.name}_given", nargs="?", default=None, metavar=f.name.upper(),
                                help=f"same as {_flag(f.name)}")
    return parser


def _settings_fields(adapter: type) -> list[str]:
    return [f.name for f in dataclasses.fields(adapter.Settings)]


def _flag(name: str) -> str:
    """The command-line flag of a settings field."""
    return f"--{name.replace('_', '-')}"


# -- harvester search sentinelhub: the Sentinel Hub Catalog searched into the catalog


def _add_search_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    search = sub.add_parser(
        "search", help="search a provider's STAC API (sentinelhub) into the catalog",
        description="Search the Sentinel Hub Catalog (a STAC API) and add the items found to the catalog "
                    "(assets stay remote). Re-running the same search adds only new or changed items.")
    search.add_argument("provider", choices=("sentinelhub",), help="whose catalog")
    search.add_argument("--catalog", type=Path, default=None, help="catalog folder (required unless --distinct)")
    search.add_argument("--collection", action="append", required=True,
                        help="collection to search (repeatable or comma-separated; each is searched on its own)")
    search.add_argument("--datetime", default=None, help="required: instant or interval, open ends allowed")
    where = search.add_mutually_exclusive_group()
    where.add_argument("--bbox", default=None, help="west,south,east,north (CRS84)")
    where.add_argument("--intersects", default=None, help="a GeoJSON geometry (CRS84), as JSON")
    search.add_argument("--ids", default=None, help="only these item ids (comma-separated)")
    search.add_argument("--filter", default=None, help="CQL2 text, or CQL2 JSON")
    search.add_argument("--fields", default=None, help="fields to include, -fields to exclude (comma-separated)")
    search.add_argument("--limit", type=int, default=None, help="items per page (at most 100)")
    search.add_argument("--max-items", type=int, default=None, help="stop after this many items")
    search.add_argument("--method", choices=("POST", "GET"), default=None, help="search with POST (default) or GET")
    search.add_argument("--distinct", metavar="PROPERTY", default=None,
                        help="print the distinct values of PROPERTY instead of harvesting")
    search.add_argument("--deployment", choices=("sentinelhub", "cdse"), default=None,
                        help="Sentinel Hub or the Copernicus Data Space Ecosystem (default sentinelhub)")
    search.add_argument("--name", default=None, help="source name in the state database (default: from the "
                                                     "collections)")
    search.add_argument("--title", default=None, help="catalog title")
    search.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    from harvester.config import CatalogConfig, Config, ConfigError, RunOptions, check_catalog_path, parse_source

    collections = [c.strip() for value in args.collection for c in value.split(",") if c.strip()]
    raw: dict[str, object] = {"provider": "sentinelhub-catalog",
                              "name": args.name or "search-" + "-".join(collections), "collection": collections}
    for key in ("datetime", "bbox", "intersects", "ids", "filter", "fields", "limit", "max_items", "method",
                "deployment"):
        value = getattr(args, key)
        if value is not None:
            raw[key] = value
    source = parse_source(raw, "flags", base_dir=Path.cwd(), env=dict(os.environ), origin="command line",
                          keys=_flag)
    if args.distinct:
        from adapters.base import SourceInfo
        from adapters.http import make_client

        with make_client() as client:
            adapter = source.adapter(source.settings, client, SourceInfo(source.name))
            for value in adapter.distinct(args.distinct):  # type: ignore[attr-defined]
                print(value if isinstance(value, str) else json.dumps(value))
        return EXIT_OK
    if args.catalog is None:
        raise ConfigError("command line: --catalog DIR is required (unless --distinct)")
    check_catalog_path(args.catalog, "--catalog", "command line")
    config = Config(CatalogConfig(args.catalog, args.title, None, None), RunOptions(), [source])
    return _harvest(config, args)


def _status(args: argparse.Namespace) -> int:
    from harvester.config import ConfigError
    from harvester.state import read_jobs

    _catalog_folder(args.dir)
    jobs = read_jobs(args.dir)
    if args.source:
        sources = sorted({j.source for j in jobs})
        if args.source not in sources:
            raise ConfigError(f"no source {args.source} in {args.dir} (sources: {', '.join(sources) or 'none'})")
        jobs = [j for j in jobs if j.source == args.source]
    if not jobs:
        print(f"{args.dir}: no jobs recorded")
        return EXIT_OK
    header = ("SOURCE", "JOB", "NAME", "STATUS", "STAGE", "UPDATED", "ERROR")
    rows = [(j.source, j.job_id, j.name or "", j.status, j.stage, j.updated, (j.error or "")[:120]) for j in jobs]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + str(row[-1]))
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from harvester.demo import run_demo
    from harvester.progress import progress_for
    from harvester.serve import browse_hint

    progress = progress_for(quiet=args.quiet > 0)
    try:
        result = run_demo(args.out, progress=progress)
    finally:
        progress.close()
    summary = result.summary
    print(f"demo catalog: {result.root / 'catalog.json'}")
    for collection, count in sorted(result.items.items()):
        print(f"  {collection}: {count} item(s)")
    print(f"jobs: {summary.jobs} ({summary.jobs_harvested} harvested now, {summary.jobs_skipped} done before); "
          f"downloads: {summary.downloads}; conversions: {summary.conversions}; "
          f"items: {summary.items_written} written, {summary.items_untouched} unchanged")
    for failure in summary.earlier:
        print(f"  earlier: {failure}")
    for warning in summary.warnings:
        print(f"  warning: {warning}")
    for failure in summary.failures:
        print(f"  failure: {failure}")
    print(result.report.format().rstrip())
    print(f"browse: {browse_hint(result.root, _program())}")
    return EXIT_OK if result.report.ok and not summary.failures else EXIT_FAILED


def _simulate(args: argparse.Namespace) -> int:
    if args.provider == "appeears":
        return _simulate_appeears(args)
    if args.provider == "ngu":
        return _simulate_ngu(args)
    if args.provider == "sentinelhub":
        return _simulate_sentinelhub(args)
    from adapters.hyp3.simulator import serve

    with serve(args.port, seed=args.seed) as served:
        sim = served.sim
        print(f"HyP3 simulator at {served.url} (Ctrl-C to stop)", flush=True)
        print(f"  token: {sim.token}; Earthdata users: {', '.join(f'{u}:{p}' for u, p in sim.users.items())}",
              flush=True)
        print(f"  export HYP3_API_URL={served.url} EARTHDATA_TOKEN={sim.token}", flush=True)
        print(f"  sign-in URL (for EARTHDATA_USERNAME/PASSWORD): export HYP3_AUTH_URL={served.url}/oauth/authorize",
              flush=True)
        print(f"  faults: POST {served.url}/_simkit/faults; job names starting with sim-fail, sim-expired, "
              "sim-zip-traversal, sim-zip-truncated, sim-zip-bomb, sim-never", flush=True)
        _wait_for_ctrl_c()
    return EXIT_OK


def _simulate_appeears(args: argparse.Namespace) -> int:
    from adapters.appeears.simulator import FAULTS, serve

    with serve(args.port, seed=args.seed) as served:
        users = ", ".join(f"{u}:{p}" for u, p in served.sim.users.items())
        print(f"AppEEARS simulator at {served.url} (Ctrl-C to stop)", flush=True)
        print(f"  Earthdata users: {users}", flush=True)
        user, password = next(iter(served.sim.users.items()))
        print(f"  export APPEEARS_API_URL={served.url} EARTHDATA_USERNAME={user} EARTHDATA_PASSWORD={password}",
              flush=True)
        print(f"  faults: POST {served.server.url}/_simkit/faults; task names starting with {', '.join(FAULTS)}",
              flush=True)
        _wait_for_ctrl_c()
    return EXIT_OK


def _simulate_ngu(args: argparse.Namespace) -> int:
    from adapters.ngu.simulator import HAND_STEP_SECONDS, serve

    # queries move on by time as well as by poll: a harvest's first poll (30 s by default) finds them complete
    with serve(args.port, seed=args.seed, step_seconds=HAND_STEP_SECONDS) as served:
        print(f"NGU InSAR simulator at {served.url} (Ctrl-C to stop)", flush=True)
        print(f"  export NGU_API_URL={served.url}", flush=True)
        print(f"  try: curl -X POST '{served.url}/in-asc1-v20a/query?bbox=20.1404,69.3438,20.1827,69.3293'", flush=True)
        print(f"  faults: POST {served.url}/_simkit/faults; results expire {served.sim.lifetime:g} s after a query "
              "completes", flush=True)
        _wait_for_ctrl_c()
    return EXIT_OK

def _simulate_sentinelhub(args: argparse.Namespace) -> int:
    from adapters.s3sim import LoopbackS3
    from adapters.sentinelhub.simulator import serve

    with LoopbackS3() as s3, serve(args.port, seed=args.seed, s3=s3.client) as served:
        print(f"Sentinel Hub simulator at {served.url}, its S3 deliveries at {s3.url} (Ctrl-C to stop)", flush=True)
        exports = {**served.environment(), **s3.environment()}
        print("  export " + " ".join(f"{key}={value}" for key, value in exports.items()), flush=True)
        print(f"  Catalog: {served.sim.catalog_url}; collections "
              f"{', '.join(served.sim.collections)}", flush=True)
        print(f"  faults: POST {served.url}/_simkit/faults; an evalscript containing 'sim-fail' fails its request "
              "(error.json)", flush=True)
        _wait_for_ctrl_c()
    return EXIT_OK



def _wait_for_ctrl_c() -> None:
    """Block until the user presses Ctrl-C (a simulator serves on its own threads meanwhile)."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def _validate(args: argparse.Namespace) -> int:
    from catalogs.schemas import SchemaStore
    from catalogs.validate import validate_catalog

    store = SchemaStore(args.schemas, allow_network=args.allow_network)
    if args.dir.startswith("s3://"):
        from harvester.readback import mirror

        with mirror(args.dir) as folder:  # its JSON objects, and placeholders of its assets' listed sizes
            report = validate_catalog(folder, store)
    else:
        report = validate_catalog(Path(args.dir), store)
    print(report.format(limit=args.max_errors).rstrip())
    return EXIT_OK if report.ok else EXIT_FAILED


def _publish(args: argparse.Namespace) -> int:
    from harvester.config import ConfigError, check_publish
    from harvester.publish import publish

    check_publish(args.target, args.base_url, "command line", url_key="the target", base_key="--base-url")
    _catalog_folder(args.dir)
    if args.concurrency < 1:
        raise ConfigError(f"command line: --concurrency must be at least 1, not {args.concurrency}")
    print(publish(args.dir, args.target, base_url=args.base_url, concurrency=args.concurrency))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from catalogs.stac import root_document
    from harvester.serve import browser_link, make_server, server_url

    with make_server(args.dir, args.host, args.port, api=args.api) as server:
        url = server_url(server)
        print(f"serving {args.dir} at {url} (Ctrl-C to stop)", flush=True)
        if args.api:
            print(f"STAC API: {url} (pystac_client.Client.open({url!r}))", flush=True)
        root = root_document(args.dir)
        if root:
            print(f"STAC Browser: {browser_link(url, root)}", flush=True)
        else:
            print(f"(no catalog.json or collection.json in {args.dir} for STAC Browser to open)", flush=True)
        try:
            server.serve_forever()  # werkzeug's returns on Ctrl-C
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _catalog_folder(path: Path) -> None:
    """Refuse, as bad usage, a catalog argument that is missing or not a folder."""
    if not path.exists():
        raise CatalogFormatError(f"{path}: no such catalog folder")
    if not path.is_dir():
        raise CatalogFormatError(f"{path}: not a folder (give the catalog's folder)")


def _program() -> str:
    """The command that runs this harvester from a shell: ``harvester`` when the PATH finds this one, else
    the console script's full path (``python3 dev.py demo`` runs .venv/bin/harvester without it on the PATH),
    or ``python -m harvester.cli``."""
    script = Path(sys.argv[0])
    if script.name == "cli.py" and script.parent.name == "harvester":
        return f"{shlex.quote(sys.executable)} -m harvester.cli"
    if script.stem == "harvester" and script.is_file():
        found = shutil.which("harvester")
        if not (found and Path(found).resolve() == script.resolve()):
            return shlex.quote(str(script.resolve()))
    return "harvester"


def _setup_logging(level: int) -> None:
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    logging.basicConfig(
        level=levels.get(max(-2, min(1, level))),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # stac-geoparquet logs its memory use at INFO on every call
    logging.getLogger("stac_geoparquet").setLevel(logging.WARNING)
    # httpx logs every request at INFO (thousands of lines in a search), botocore each time a client finds the
    # credentials: both are for -v
    for chatty in ("httpx", "botocore"):
        logging.getLogger(chatty).setLevel(logging.WARNING if level < 1 else logging.NOTSET)


def _version() -> str:
    from harvester import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
