"""Benchmark `harvester.downloads.Downloader` against curl, on loopback, and check resuming.

    python benchmarks/bench_download.py [--size-mb 2048] [--rounds 2] [--dir DIR]

A generated body of ``--size-mb`` MiB (deterministic, with range support) is served by `adapters.simkit` in
a subprocess, so the server's CPU and memory do not count against the clients. It is downloaded with
``curl -s -o`` and with our Downloader (in a subprocess of its own, verifying size and SHA-256), alternating,
best of ``--rounds`` each. Targets: throughput ours/curl >= 0.8, peak RSS of the downloader process
<= 150 MB. Then the server cuts the connection at 50% and the Downloader must resume: the resumed request
must ask for ``Range: bytes=<half>-`` and receive about the other half (total sent ~= the size, not twice).
Exit 1 when a target is missed, 2 when curl is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 0.8  # our throughput / curl's, at least
RSS_TARGET_MB = 150.0  # peak RSS of the downloader process, at most
RESUME_TOLERANCE = 0.01  # resumed bytes within 1% of the remaining half
PATH = "/blob.bin"


# ------------------------------------------------------------------------------------ worker process


def worker(url: str, dest: str, size: int, checksum: str | None) -> int:
    """Download ``url`` into ``dest`` with our Downloader; print one JSON line with what happened."""
    from adapters.base import RemoteFile
    from harvester.downloads import Downloader, DownloadRequest
    from adapters.http import RetryPolicy, make_client

    remote = RemoteFile(url=url, name="blob.bin", size=size, checksum=checksum)
    policy = RetryPolicy(backoff_base=0.05)
    with make_client(retries=policy) as client:
        downloader = Downloader(client, retries=policy)
        start = time.perf_counter()
        result = downloader.fetch(DownloadRequest(remote, Path(dest)))
        seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "ok": result.ok, "error": str(result.error) if result.error else None,
        "bytes_transferred": result.bytes_transferred, "resumed": result.resumed, "sha256": result.sha256,
    }), flush=True)
    return 0 if result.ok else 1




# ------------------------------------------------------------------------------------ parent process


class Server:
    """`python -m adapters.simkit` in a subprocess, with its control API."""

    def __init__(self, size: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "adapters.simkit", "--size", str(size)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit(f"the simulator did not start (said {self.url!r})")

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        response = httpx.request(method, self.url + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def run_curl(url: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(out), url], check=True)
    return time.perf_counter() - start


def run_ours(url: str, dest: Path, size: int, checksum: str | None) -> dict[str, Any]:
    """Our Downloader in a subprocess; its report plus the peak RSS the kernel accounted for it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--url", url, "--dest", str(dest),
           "--size", str(size)] + (["--checksum", checksum] if checksum else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"the downloader process failed (exit {proc.returncode})")
    report = json.loads(lines[-1])
    report["max_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return report


def expected_sha256(size: int) -> str:
    from adapters.simkit import PatternBody

    return PatternBody(size).digest("sha256")


def throughput(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def bench_speed(server: Server, size: int, rounds: int, workdir: Path, digest: str) -> tuple[float, float, float]:
    """Best MB/s of curl and of ours (alternating, the order swapped each round), and our peak RSS in MB."""
    url = server.url + PATH
    best_curl = best_ours = 0.0
    peak_rss = 0.0
    for round_ in range(rounds):
        order = ("curl", "ours") if round_ % 2 == 0 else ("ours", "curl")
        for who in order:
            if who == "curl":
                out = workdir / "curl.bin"
                mbps = throughput(size, run_curl(url, out))
                ok = out.stat().st_size == size
                out.unlink()
                best_curl = max(best_curl, mbps)
                print(f"  round {round_ + 1} curl: {mbps:8.1f} MB/s{'' if ok else '  WRONG SIZE'}", flush=True)
            else:
                dest = workdir / "ours"
                report = run_ours(url, dest, size, f"sha256:{digest}")
                shutil.rmtree(dest, ignore_errors=True)
                if not report["ok"]:
                    raise SystemExit(f"our download failed: {report['error']}")
                mbps = throughput(size, report["seconds"])
                best_ours = max(best_ours, mbps)
                peak_rss = max(peak_rss, report["max_rss_mb"])
                print(f"  round {round_ + 1} ours: {mbps:8.1f} MB/s  (peak RSS {report['max_rss_mb']:.1f} MB, "
                      f"verified sha256)", flush=True)
    return best_curl, best_ours, peak_rss


def bench_resume(server: Server, size: int, workdir: Path, digest: str) -> tuple[bool, str]:
    """Cut the connection at 50%; the Downloader must resume from there. Returns (ok, report)."""
    half = size // 2
    server.control("DELETE", "/_simkit/requests")
    server.control("POST", "/_simkit/faults", {"path": "^" + PATH + "$", "drop_after_bytes": half})
    dest = workdir / "resume"
    report = run_ours(server.url + PATH, dest, size, f"sha256:{digest}")
    shutil.rmtree(dest, ignore_errors=True)
    records = [r for r in server.control("GET", "/_simkit/requests") if r["path"] == PATH]
    if not report["ok"] or len(records) != 2:
        return False, f"download ok={report['ok']} ({report['error']}), {len(records)} requests"
    first, second = records
    sent = first["bytes_sent"] + second["bytes_sent"]
    remaining = size - first["bytes_sent"]
    ok = (second["range"] == f"bytes={first['bytes_sent']}-" and first["bytes_sent"] > 0
          and abs(second["bytes_sent"] - remaining) <= RESUME_TOLERANCE * size and report["resumed"])
    text = (f"cut after {first['bytes_sent']} bytes; resumed request {second['range']!r} got "
            f"{second['bytes_sent']} bytes ({second['bytes_sent'] / size:.3f} of the file, remaining half "
            f"{remaining / size:.3f}); server sent {sent / size:.3f} x the size in all")
    return ok, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048, help="body size in MiB (default 2048)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each client; the best counts")
    parser.add_argument("--dir", type=Path, default=None, help="where to download (default: a temp folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--checksum", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.url, args.dest, args.size, args.checksum)

    if shutil.which("curl") is None:
        print("curl is not installed: it is the reference this benchmark compares with; install curl and rerun",
              file=sys.stderr)
        return 2
    size = args.size_mb << 20
    print(f"body: {size} bytes ({args.size_mb} MiB); computing its SHA-256 ...", flush=True)
    digest = expected_sha256(size)
    server = Server(size)
    workdir = Path(tempfile.mkdtemp(prefix="bench-download-", dir=args.dir))
    try:
        print(f"server: {server.url} (subprocess {server.proc.pid})", flush=True)
        best_curl, best_ours, peak_rss = bench_speed(server, size, args.rounds, workdir, digest)
        resume_ok, resume_text = bench_resume(server, size, workdir, digest)
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)

    ratio = best_ours / best_curl
    print(f"curl      : {best_curl:8.1f} MB/s (best of {args.rounds})")
    print(f"ours      : {best_ours:8.1f} MB/s (best of {args.rounds}), including SHA-256 verification")
    print(f"ratio     : {ratio:.2f}  (target >= {RATIO_TARGET})")
    print(f"peak RSS  : {peak_rss:.1f} MB  (target <= {RSS_TARGET_MB:.0f})")
    print(f"resume    : {resume_text}  ({'ok' if resume_ok else 'FAILED'})")
    missed = [name for name, ok in (("throughput ratio", ratio >= RATIO_TARGET),
                                    ("peak RSS", peak_rss <= RSS_TARGET_MB), ("resume", resume_ok)) if not ok]
    if missed:
        print("missed: " + ", ".join(missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
