"""MMBench / MMBench-CN (v1.0, v1.1; dev, test) loaders: VLMEvalKit TSVs and the HF mirrors
(benchmarks.md sections 3.1, 3.2, 4).

Every circular copy is a row of its own (index ``i + k * 1,000,000``); all rows are inferred and scoring
groups them by ``index mod 1,000,000``. Copies reference their question's image by index.
"""

from __future__ import annotations

from typing import Any

from awaker_eval.data.errors import DataError
from awaker_eval.data.images import table_image_refs
from awaker_eval.data.options import is_missing
from awaker_eval.data.tables import describe, iter_rows
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.tasks.vlmevalkit_mcq.rows import normalise_keys, question_options_answer, row_indices
from awaker_eval.types import Sample

KIND = "mmbench"
CIRCULAR_BASE = 1_000_000
TSV_URL_BASE = "https://opencompass.openxlab.space/utils/benchmarks/MMBench/"

# VLMEvalKit TSV names and MD5s (benchmarks.md 3.1; TEST v1.1 files changed after 2024: HEAD MD5 here).
TSV_MD5 = {
    "MMBench_DEV_EN": "b6caf1133a01c6bb705cf753bb527ed8",
    "MMBench_TEST_EN": "6939fadb0ce626fefc0bdc9c64efc528",
    "MMBench_DEV_CN": "08b8fc3324a5ed74155350f57be69fbd",
    "MMBench_TEST_CN": "7e1239baf0ee4c8b513e19705a0f317e",
    "MMBench_DEV_EN_V11": "30c05be8f2f347a50be25aa067248184",
    "MMBench_TEST_EN_V11": "8d1a704e791df6f5d9fb3ef782b65365",
    "MMBench_DEV_CN_V11": "593f9b5f6bea453d870a798b34ae4f37",
    "MMBench_TEST_CN_V11": "156e6569f9547afb16603eca16e85373",
}


def tsv_name(version: str, split: str, language: str) -> str:
    """VLMEvalKit dataset name, e.g. ``MMBench_DEV_EN_V11``."""
    if version not in ("v10", "v11") or split not in ("dev", "test") or language not in ("en", "cn"):
        raise DataError(
            f"MMBench has version v10|v11, split dev|test, language en|cn; got {version!r}, {split!r}, {language!r}"
        )
    return f"MMBench_{split.upper()}_{language.upper()}" + ("_V11" if version == "v11" else "")


def load_table(ds, benchmark: str, language: str, answers_required: bool, where: str | None = None,
               warnings: DataWarnings | None = None, pandas_na: bool = False) -> list[Sample]:
    """MMBench rows from a memory-mapped table (TSV, ``HuggingFaceM4/MMBench`` or ``lmms-lab/MMBench``).

    ``pandas_na``: the option columns were read raw from a TSV (``tables.open_table``), so a cell upstream's
    pandas reads as NaN (``None``, ``N/A``...) is dropped here as VLMEvalKit drops it, and reported."""
    where = where or describe(ds)
    warnings = warnings if warnings is not None else DataWarnings()
    rows = [normalise_keys(r) for r in iter_rows(ds, skip=("image",))]
    indices = row_indices(rows, where)
    images = table_image_refs(ds, "image", indices, where)
    samples = []
    n_options: dict[str, int] = {}
    for i, (row, index, image) in enumerate(zip(rows, indices, images)):
        label = f"{i} (index {index})"
        question, choices, dropped, answer = question_options_answer(row, where, label, index, warnings, pandas_na,
                                                                     answers_required)
        hint = row.get("hint")
        group = str(index % CIRCULAR_BASE)
        samples.append(
            Sample(
                id=str(index),
                benchmark=benchmark,
                language=language,
                question=question,
                choices=choices,
                answer=answer,
                images=(image,),
                hint=None if is_missing(hint) else str(hint),
                category=_opt_str(row.get("category")),
                l2_category=_opt_str(row.get("l2-category")),
                group=group,
                cluster=group,
                extra={
                    "kind": KIND,
                    "index": index,
                    "circular_pass": index // CIRCULAR_BASE,
                    **{k: row[k] for k in ("source", "comment", "split") if k in row and not is_missing(row[k])},
                },
            )
        )
        n_options[group] = max(n_options.get(group, 0), len(choices) + len(dropped))
    _check_circular_passes(samples, n_options, where, warnings)
    return samples


def _check_circular_passes(samples: list[Sample], n_options: dict[str, int], where: str,
                           warnings: DataWarnings) -> None:
    """A question needs one circular pass per option (passes 0..N-1); otherwise CircularEval would score it on
    a subset of its rotations: reported (an error under strict)."""
    passes: dict[str, list[int]] = {}
    for s in samples:
        passes.setdefault(s.group, []).append(s.extra["circular_pass"])
    for group, found in passes.items():
        expected = list(range(n_options[group]))
        if sorted(found) != expected:
            warnings.note("incomplete_circular_question", where, f"question {group}", group,
                          f"question {group} has circular pass(es) {sorted(found)}, expected {expected} (one per "
                          "option)")


def _opt_str(value: Any) -> str | None:
    return None if is_missing(value) else str(value)
