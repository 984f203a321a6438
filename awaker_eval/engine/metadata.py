"""Facts about a run for ``run.json``: code version, package versions, device, fingerprints, timings, counts."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata as importlib_metadata
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

PACKAGES = ("torch", "transformers", "datasets", "qwen-vl-utils", "awaker-eval", "tokenizers", "pillow")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Commit of the repository holding the code, and whether the package's sources differ from it (modified or
    untracked files under the package directory); None when not a git checkout."""
    where = Path(path) if path else Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:  # a read-only query: never refresh (write) the index, which would race the user's own git commands
            out = subprocess.run(["git", "--no-optional-locks", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", ".") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def device_info(device: str | None = None) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": device, "python": sys.version.split()[0], "platform": platform.platform(),
        "cuda_available": torch.cuda.is_available(), "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def failure_summary(predictions: Sequence[Any]) -> dict[str, int]:
    """Failed samples by error type (the text before the first colon), so run.json says *why* samples failed."""
    counts = Counter((p.error.split(":", 1)[0].strip() or "error") for p in predictions if p.error is not None)
    return dict(sorted(counts.items()))


def data_files_of(samples: Sequence[Any]) -> dict[str, str]:
    """The files the samples' images are read from, by kind: ``parquet_in_place`` (``ParquetTable`` files),
    ``arrow_cache`` (the ``datasets`` cache a table was converted into) or ``image_file``."""
    files: dict[str, str] = {}
    tables: set[int] = set()
    for sample in samples:
        for ref in sample.images:
            if ref.path is not None:
                files.setdefault(str(ref.path), "image_file")
            table = getattr(ref.loader, "dataset", None)
            if table is None or id(table) in tables:
                continue
            tables.add(id(table))
            kind = "parquet_in_place" if hasattr(table, "short_string_rows") else "arrow_cache"
            for entry in getattr(table, "cache_files", ()):
                files.setdefault(str(entry["filename"]), kind)
    return files


def data_footprint(samples: Sequence[Any]) -> dict[str, Any]:
    """For run.json ``data``: bytes on disk of the files the images are read from (the download, or the arrow
    cache ``datasets`` built from it: then the download sits beside it too), by kind."""
    by_kind: dict[str, dict[str, int]] = {}
    for path, kind in data_files_of(samples).items():
        try:
            size = Path(path).stat().st_size
        except OSError:
            continue  # a missing image is reported by the sample that needs it
        entry = by_kind.setdefault(kind, {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += size
    return {"disk_bytes": sum(e["bytes"] for e in by_kind.values()), "by_kind": dict(sorted(by_kind.items()))}


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process so far (Linux / macOS), None where unknown."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def collect_run_metadata(
    *,
    config: dict[str, Any] | None = None,
    result: Any = None,
    model: Any = None,
    protocol_fp: str | None = None,
    model_fp: str | None = None,
    timings: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run.json dict: git commit + dirty flag, package versions, device, dtype, fingerprints (hashes and the
    model's full fingerprint dict), timings (the pipeline's ``timings`` plus the engine's), throughput, counts,
    stale predictions recomputed by reason (``invalidated``), reused ones given the data's new labels
    (``relabelled``) and failures by type. ``config`` is the run's settings as a plain dict (recorded as given;
    secrets are never in it: keys come from the environment), ``result`` an EngineResult, ``model`` the loaded
    VisionLanguageModel."""
    device = getattr(model, "device", None)
    dtype = getattr(model, "dtype", None)
    meta: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git_state(),
        "packages": package_versions(),
        "device": device_info(None if device is None else str(device)),
        "dtype": None if dtype is None else str(dtype).replace("torch.", ""),
        "protocol_fp": protocol_fp,
        "model_fp": model_fp,
        "model_fingerprint": model.fingerprint() if model is not None else None,
        "timings_s": dict(timings or {}),
        "memory": {"peak_rss_bytes": peak_rss_bytes()},  # this process (rank 0): data tables, model, outputs
    }
    if result is not None:
        engine = result.to_dict()
        meta["timings_s"].update({f"engine_{k}": v for k, v in engine.pop("timings_s").items()})
        meta["throughput_samples_per_s"] = engine.pop("samples_per_s")
        meta["counts"] = engine.pop("counts")
        meta["invalidated"] = engine.pop("invalidated")
        meta["relabelled"] = engine.pop("relabelled")
        meta["failures_by_type"] = failure_summary(result.predictions)
        meta["engine"] = engine
    if config is not None:
        meta["config"] = config
    if extra:
        meta.update(extra)
    return meta
