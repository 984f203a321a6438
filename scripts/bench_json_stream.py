"""Benchmark of the streaming Base64 JSON reader (``awaker_eval.data.json_stream``) on a generated array.

Writes one JSON array of MME-RealWorld Base64-layout items (random base64 "images" of ``--image-kb`` each) of
``--size-gb`` (default 2.6 GB, above the 2 GiB arrow block limit the ``datasets`` json builder hits) into a
temporary folder, loads it through ``load_samples(layout=base64_json)`` and prints the load time and the peak
RSS of that load (measured in a child process, so the generator's memory does not count). Target: peak RSS
under 2 GB. Example: ``python scripts/bench_json_stream.py --size-gb 0.3``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATEGORIES = ["Perception/Remote Sensing", "Perception/Autonomous_Driving", "Reasoning/Monitoring"]


def generate(path: Path, size_bytes: int, image_kb: int) -> int:
    """Write the array element by element (never held in memory); returns the item count."""
    blob = base64.b64encode(os.urandom(image_kb * 768)).decode()  # ~image_kb KB of base64 text
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        while fh.tell() < size_bytes:
            item = {"index": n, "image": blob[n % 97:] + blob[:n % 97], "question": f"Question {n}?",
                    "multi-choice options": ["(A) 1", "(B) 2", "(C) 3", "(D) 4", "(E) none"],
                    "answer": "ABCDE"[n % 5], "category": CATEGORIES[n % 3], "l2-category": "count"}
            fh.write(("," if n else "") + json.dumps(item))
            n += 1
        fh.write("]")
    return n


def load(folder: str, cache: str) -> None:
    """Child process: load through the harness and report time, rows and peak RSS as one JSON line."""
    from awaker_eval.config.schema import BenchmarkConfig
    from awaker_eval.resolve import load_samples

    t0 = time.perf_counter()
    samples = load_samples(BenchmarkConfig(name="bench", layout="base64_json", source=folder, cache_dir=cache))
    seconds = time.perf_counter() - t0
    last = samples[-1].images[0].encoded_bytes()  # random access to the last row of the memory-mapped table
    table = samples[0].images[0].loader.dataset.data
    print(json.dumps({"load_s": round(seconds, 2), "items": len(samples), "last_image_bytes": len(last),
                      "image_chunks": table.column("image").num_chunks,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.6)
    parser.add_argument("--image-kb", type=int, default=2048, help="base64 text per item (real images: 1-20 MB)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return load(*args.child)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_json_stream_"))
    try:
        (work / "data").mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        n = generate(work / "data" / "MME_RealWorld_base64_0.json", int(args.size_gb * 1e9), args.image_kb)
        size = (work / "data" / "MME_RealWorld_base64_0.json").stat().st_size
        print(f"generated {size / 1e9:.2f} GB, {n} items in {time.perf_counter() - t0:.1f} s")
        out = subprocess.run([sys.executable, __file__, "--child", str(work / "data"), str(work / "cache")],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        result["input_gb"] = round(size / 1e9, 3)
        result["mb_per_s"] = round(size / 1e6 / result["load_s"], 1)
        print(json.dumps(result))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
