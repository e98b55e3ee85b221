"""Publishing a catalog to S3 against the floor of uploading the same files with boto3's own bulk transfer.

    python benchmarks/bench_publish.py [--items 10000] [--concurrency 16] [--rounds 2]

A catalog of N items (the writer's, as bench_catalog.py makes them: one JSON file per item, remote assets)
is published to moto's S3 server on loopback (`adapters.s3sim.LoopbackS3`, in this process) by
`harvester.publish.publish` (a first publish to an empty prefix: hashing, the manifest, content types,
ordered steps), against the floor: the same files uploaded to another empty prefix by s3transfer's
transfer manager (boto3's bulk upload) with the same concurrency and client, and nothing else. Rounds
alternate the order; best of R. Then, for information: a re-publish with nothing changed, and a publish
after 1% of the items changed. Target (issue #15): publish <= 1.5x the floor.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_catalog import make_items  # noqa: E402

from adapters.s3 import Upload, make_s3_client, upload_all  # noqa: E402
from adapters.s3sim import REGION, LoopbackS3  # noqa: E402
from catalogs.store import CatalogStore, CollectionSpec  # noqa: E402
from harvester.publish import publish  # noqa: E402

TARGET = 1.5  # publish time / bulk upload time, at most
BUCKET = "bench"


def write_catalog(root: Path, items: list) -> None:
    with CatalogStore(root, title="bench") as store:
        store.ensure_collection(CollectionSpec("bench", "benchmark items", summaries=["platform"]))
        failed = [outcome for outcome in store.add_many(items) if outcome.error]
        assert not failed, failed[:3]


def floor(client: object, root: Path, prefix: str, concurrency: int) -> float:
    """The files of the catalog, uploaded by s3transfer alone (what publish must add to: listing them)."""
    start = time.perf_counter()
    uploads = [Upload(f"{prefix}/{path.relative_to(root).as_posix()}", "application/json", path=path)
               for path in sorted(root.rglob("*.json")) if ".harvest" not in path.parts]
    upload_all(client, BUCKET, uploads, concurrency=concurrency)  # type: ignore[arg-type]
    return time.perf_counter() - start


def ours(client: object, root: Path, prefix: str, concurrency: int) -> float:
    start = time.perf_counter()
    result = publish(root, f"s3://{BUCKET}/{prefix}", client=client, concurrency=concurrency)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    UPLOADED.append(len(result.uploaded))
    return seconds


UPLOADED: list[int] = []  # files each publish uploaded


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="parallel uploads of both (16)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request from moto's server, otherwise
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    work = Path(tempfile.mkdtemp(prefix="bench_publish_"))
    try:
        root = work / "catalog"
        start = time.perf_counter()
        items = make_items(args.items)
        write_catalog(root, items)
        files = [p for p in root.rglob("*") if p.is_file() and ".harvest" not in p.parts]
        mb = sum(p.stat().st_size for p in files) / 1e6
        print(f"catalog: {args.items:,} items, {len(files):,} files, {mb:.1f} MB "
              f"(written in {time.perf_counter() - start:.1f} s)")
        with LoopbackS3() as s3:
            for key, value in s3.environment().items():
                os.environ[key] = value
            client = make_s3_client()
            s3.client().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            best = {"publish": float("inf"), "floor": float("inf")}
            runs = {"publish": ours, "floor": floor}
            for index in range(args.rounds):
                for name in (("floor", "publish") if index % 2 == 0 else ("publish", "floor")):
                    seconds = runs[name](client, root, f"{name}-{index}", args.concurrency)
                    best[name] = min(best[name], seconds)
                    print(f"  round {index + 1}: {name:<8} {seconds:7.2f} s")
            again = ours(client, root, "publish-0", args.concurrency)
            # 1% of the items changed (new ones would pass 10,000 in the collection: every item relinked)
            changed = items[:args.items // 100]
            for item in changed:
                item.properties["bench:revision"] = 2
            write_catalog(root, changed)
            more = ours(client, root, "publish-0", args.concurrency)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = best["publish"] / best["floor"]
    print(f"best of {args.rounds}: publish {best['publish']:.2f} s ({len(files) / best['publish']:,.0f} files/s), "
          f"bulk upload {best['floor']:.2f} s ({len(files) / best['floor']:,.0f} files/s)")
    print(f"publish / bulk upload time {ratio:.2f}  (target <= {TARGET})  {'PASS' if ratio <= TARGET else 'FAIL'}")
    print(f"re-publish, nothing changed: {again:.2f} s ({UPLOADED[-2]} files uploaded); after "
          f"{args.items // 100:,} changed items: {more:.2f} s ({UPLOADED[-1]} files uploaded) (for information)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
