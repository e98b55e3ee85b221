#!/usr/bin/env python3
"""Set up a virtual environment and run the demo, the tests or the benchmarks.

    python3 dev.py demo [--out DIR]   set up, then harvest from the built-in simulators into a catalog
    python3 dev.py test [PYTEST ARGS] set up, then run the whole test suite
    python3 dev.py bench              set up, then run the benchmarks in benchmarks/
    python3 dev.py golden             set up, then rewrite the golden examples in examples/ from a fresh demo

Needs only Python 3.11+ and pip. The environment lives in .venv and is reinstalled when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_env() -> None:
    """Create .venv and install the project with its test extras, unless already done for this pyproject."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip>=23"], check=True)
    print("installing stac-harvester and its test dependencies", flush=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench", "golden"}:
        print(__doc__)
        return 2
    ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return subprocess.call([str(BIN / "harvester"), "demo", *rest], cwd=ROOT)
    if command == "golden":
        return subprocess.call([str(BIN / "python"), "-m", "tests.golden", *rest], cwd=ROOT)
    if command == "test":
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    status = 0
    for bench in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        print(f"== {bench.name}", flush=True)
        status |= subprocess.call([str(BIN / "python"), str(bench), *rest], cwd=ROOT)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
