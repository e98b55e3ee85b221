"""The ``harvester`` command line: a thin layer over the library; the only place that prints.

Exit codes: 0 all done; 1 some items or objects failed (the rest was done); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
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
    except CatalogFormatError as exc:
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
    validate.add_argument("dir", type=Path, help="catalog folder or root JSON file")
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
    return parser


def _demo(args: argparse.Namespace) -> int:
    from harvester.demo import run_demo

    result = run_demo(args.out)
    print(f"demo catalog: {result.root / 'catalog.json'}")
    for collection, count in sorted(result.items.items()):
        print(f"  {collection}: {count} item(s)")
    print(result.report.format().rstrip())
    print(f"browse: harvester serve {result.root}  (then open STAC Browser on http://127.0.0.1:8000/catalog.json)")
    return EXIT_OK if result.report.ok else EXIT_FAILED


def _validate(args: argparse.Namespace) -> int:
    from catalogs.schemas import SchemaStore
    from catalogs.validate import validate_catalog

    store = SchemaStore(args.schemas, allow_network=args.allow_network)
    report = validate_catalog(args.dir, store)
    print(report.format(limit=args.max_errors).rstrip())
    return EXIT_OK if report.ok else EXIT_FAILED


def _serve(args: argparse.Namespace) -> int:
    from harvester.serve import make_server, server_url

    with make_server(args.dir, args.host, args.port) as server:
        url = server_url(server)
        print(f"serving {args.dir} at {url} (Ctrl-C to stop)", flush=True)
        print(f"STAC Browser: https://radiantearth.github.io/stac-browser/#/external/{url}catalog.json", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _setup_logging(level: int) -> None:
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    logging.basicConfig(
        level=levels.get(max(-2, min(1, level))),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _version() -> str:
    from harvester import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
