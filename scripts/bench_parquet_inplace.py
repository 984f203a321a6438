"""Disk and memory of the parquet layout read in place vs through ``datasets`` (issue 11 item 5).

Writes an lmms-eval-shaped MME-RealWorld parquet (``--rows`` rows of ``--image-mb`` MB base64 images, ``--group``
rows per row group), then reports: bytes on disk of the parquet and of the arrow cache ``datasets`` writes beside
it, load time and peak RSS of each path, and the time of a random image read in place (one row-group column read).
Run each path in its own process for a clean peak RSS: ``--path inplace`` / ``--path datasets``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import sys
import time
from pathlib import Path


def write(folder: Path, rows: int, image_mb: float, group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    blob = base64.b64encode(os.urandom(int(image_mb * 2**20 * 3 / 4))).decode()  # incompressible, like JPEG
    table = pa.table({
        "index": list(range(rows)),
        "question": [f"Question {i}?" for i in range(rows)],
        "multi-choice options": [["(A) a", "(B) b", "(C) c", "(D) d", "(E) e"]] * rows,
        "answer": ["A"] * rows,
        "category": ["Perception/Remote Sensing"] * rows,
        "l2-category": ["count"] * rows,
        "bytes": [blob[:-8] + f"{i:08d}" for i in range(rows)],
    })
    pq.write_table(table, folder / "train-00000-of-00001.parquet", row_group_size=group)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_parquet_inplace"))
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--image-mb", type=float, default=1.3)
    ap.add_argument("--group", type=int, default=100)
    ap.add_argument("--path", choices=["inplace", "datasets"], required=True)
    ap.add_argument("--reads", type=int, default=20)
    args = ap.parse_args(argv)
    data = args.dir / "data"
    if not data.exists():
        write(data, args.rows, args.image_mb, args.group)
    from awaker_eval.tasks.mme_realworld import loader as mme_realworld
    from awaker_eval.data.parquet_inplace import ParquetTable, parquet_files
    from awaker_eval.data.tables import TableSource, open_table
    from awaker_eval.engine.metadata import data_footprint

    t0 = time.perf_counter()
    if args.path == "inplace":
        table = ParquetTable(parquet_files(data))
    else:
        table = open_table(TableSource(str(data), cache_dir=str(args.dir / "hf_cache")))
    samples = mme_realworld.load_table(table, "mme_realworld", "en", None, str(data))
    load_s = time.perf_counter() - t0
    rng = random.Random(0)
    t1 = time.perf_counter()
    for _ in range(args.reads):
        samples[rng.randrange(len(samples))].images[0].encoded_bytes()
    read_ms = (time.perf_counter() - t1) / args.reads * 1000
    parquet_bytes = sum(f.stat().st_size for f in data.iterdir())
    print(json.dumps({
        "path": args.path, "rows": len(samples), "parquet_bytes": parquet_bytes,
        "bytes_read_from": data_footprint(samples), "load_s": round(load_s, 2),
        "random_image_read_ms": round(read_ms, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
