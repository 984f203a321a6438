"""The inference engine: samples in, one Prediction per sample out, crash-safe and resumable, on one or many ranks.

Flow per rank: read every shard file (resume) -> keep the samples without a successful prediction made from the
same content (prompt text + image bytes, answer, options, protocol fp, model fp; ``engine.identity``) -> take
this rank's share -> sort by estimated prompt length and cut token-budget batches -> encode + prepare in
DataLoader workers -> model (OOM / error isolation) -> ``finalize`` -> append to this rank's shard file
(fsync per batch). Then rank 0 merges all shard files into ``predictions.jsonl`` in sample order.

Fingerprints: the engine stamps ``prompt_hash`` (the content key), ``protocol_fp`` and ``model_fp`` on every
Prediction (``finalize`` need not set them); stale stored entries are counted by reason in ``invalidated``.
Failed samples (corrupt image, OOM alone, over-long prompt...) are passed to ``finalize`` as
``ModelOutput(text=None, error=...)``, stored, and count as wrong; a rerun retries them (``retry_failed``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm.auto import tqdm

from awaker_eval.engine import distributed as D
from awaker_eval.engine.batching import (
    PlannedBatch, estimate_cost, image_group, order_by_cost, plan_batches, visual_part,
)
from awaker_eval.engine.execute import BatchExecutor
from awaker_eval.engine.host_memory import HostMemoryPlan, batch_bytes, plan_host_memory, probe_host
from awaker_eval.engine.identity import (
    StoreView, current_predictions, prompt_keys as content_prompt_keys, relabel_line, resume_line, sample_fields_text,
    stale_line,
)
from awaker_eval.engine.loader import (
    BatchBuilder, EncodedSamples, describe_error, main_process_threads, make_loader, prepare_positions,
)
from awaker_eval.engine.shards import Part
from awaker_eval.engine.store import ShardWriter, iter_stored, set_aside_shards, write_merged
from awaker_eval.models.base import GenerationSettings, Messages, ModelOutput, VisionLanguageModel
from awaker_eval.types import Prediction, Sample

log = logging.getLogger(__name__)


class AllSamplesFailed(RuntimeError):
    """The first ``fail_fast`` samples of a rank all failed in the model: a broken model or pipeline, not bad data."""


@dataclass
class EngineSettings:
    """How the engine runs (built by the pipeline from RunnerConfig + BenchmarkConfig); never changes results
    except ``mode`` and ``generation``, which belong to the protocol fingerprint."""

    mode: str = "generate"  # generate | choice
    batch_size: int = 8  # upper bound on samples per batch
    max_batch_visual_tokens: int | None = None  # budget on (samples x longest estimated prompt) per batch
    num_workers: int = 0  # DataLoader worker processes for decode + preprocessing (a CPU model then gets the
    # cores they leave as torch threads for the run: loader.main_process_threads)
    resume: bool = True  # reuse finished predictions in run_dir (False: set old shards aside, recompute all)
    progress: bool = True
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    min_pixels: int | None = None  # the benchmark's resolution policy, used only to estimate prompt lengths
    max_pixels: int | None = None
    retry_failed: bool = True  # on resume, recompute samples whose stored prediction is a failure
    fail_fast: int = 32  # abort when the first N samples of this rank all fail (a broken model, not bad data)
    reuse_vision: bool = True  # encode each distinct image once and reuse its features (identical outputs)
    threads: int | None = None  # torch intra-op threads for the run (None: loader.main_process_threads decides)
    prefetch_bytes: int | None = None  # bound on prepared batches in flight (None: from free host memory; host_memory)
    # a job-array shard (runner.shard=I/N; the samples passed are its part): its shard files carry the part's tag
    # and predictions.jsonl is left to the merge of all N parts (awaker_eval/shard_runs.py)
    part: Part | None = None


@dataclass
class EngineCounts:
    total: int = 0  # samples asked for
    done: int = 0  # computed by this call (all ranks)
    skipped: int = 0  # reused from the store
    failed: int = 0  # final predictions carrying an error (all samples, reused or not)


@dataclass
class EngineTimings:
    """Seconds. ``total`` is the slowest rank's wall time; the others are this rank's."""

    plan: float = 0.0  # resume scan + header-only image sizing + batch planning
    preprocess: float = 0.0  # CPU seconds of encode + prepare (summed over workers)
    data_wait: float = 0.0  # main process blocked waiting for the next prepared batch
    model: float = 0.0  # generate / score_choices calls
    store: float = 0.0  # finalize + JSONL append + fsync
    merge: float = 0.0
    total: float = 0.0


@dataclass
class EngineResult:
    predictions: list[Prediction]  # one per sample, in sample order
    counts: EngineCounts
    timings: EngineTimings
    samples_per_s: float  # samples computed by this call / total wall time (all ranks)
    world_size: int = 1
    batches: int = 0  # batches run by this rank
    oom_splits: int = 0
    error_splits: int = 0
    predictions_path: Path | None = None
    main_threads: int | None = None  # torch intra-op threads of this rank's model calls (see main_process_threads)
    invalidated: dict[str, int] = field(default_factory=dict)  # stale stored predictions recomputed, by reason
    relabelled: int = 0  # stored predictions reused under the labels (task, subtask, ...) the data now gives them
    shards: dict[str, Any] | None = None  # per-rank estimated cost / samples of this call (distributed.Share)
    vision: dict[str, int] | None = None  # vision_images_encoded / vision_images_reused of this rank (local tower)
    attention: dict[str, Any] | None = None  # attention paths of this rank's model (model.attention_info())
    self_checks: list[dict[str, Any]] | None = None  # run-start self-check records (models/self_checks.py)
    host_memory: dict[str, Any] | None = None  # DataLoader workers / prefetch / transport of this rank (host_memory)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the predictions, JSON-ready (for run.json)."""
        return {
            "counts": dataclasses.asdict(self.counts),
            "timings_s": dataclasses.asdict(self.timings),
            "samples_per_s": self.samples_per_s,
            "world_size": self.world_size,
            "batches": self.batches,
            "oom_splits": self.oom_splits,
            "error_splits": self.error_splits,
            "main_threads": self.main_threads,
            "invalidated": dict(self.invalidated),
            "relabelled": self.relabelled,
            **({"shards": self.shards} if self.shards is not None else {}),
            **(self.vision or {}),
            **({"attention": self.attention} if self.attention is not None else {}),
            **({"self_checks": self.self_checks} if self.self_checks is not None else {}),
            **({"host_memory": self.host_memory} if self.host_memory is not None else {}),
        }


def _fallback_prediction(sample: Sample, error: str) -> Prediction:
    """A failed Prediction built without ``finalize`` (used only when ``finalize`` itself raised)."""
    return Prediction.of_sample(
        sample, prompt_hash="", protocol_fp="", model_fp="", raw_output=None, extracted="", extract_method="none",
        correct=None if sample.answer is None else False, error=error,
    )


def _finalize_one(finalize, sample: Sample, output: ModelOutput, prompt_key: str, protocol_fp: str,
                  model_fp: str) -> Prediction:
    try:
        pred = finalize(sample, output)
    except Exception as exc:  # a bug in answer extraction must not lose the model output or stop the run
        log.warning("finalize failed for sample %r", sample.id, exc_info=True)
        pred = _fallback_prediction(sample, f"finalize failed: {describe_error(exc)}")
        pred.raw_output = output.text
    if output.error is not None and pred.error is None:
        pred.error = output.error
    if pred.error is not None and pred.answer is not None:
        pred.correct = False  # a failed sample counts as wrong, never as absent
    pred.prompt_hash, pred.protocol_fp, pred.model_fp = prompt_key, protocol_fp, model_fp
    return pred


def _check_unique_ids(samples: Sequence[Sample]) -> None:
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise ValueError(f"sample id {s.id!r} ({s.benchmark}) occurs twice: ids must be unique within a run")
        seen.add(s.id)


def _plan_rank(samples: Sequence[Sample], pending: list[int], model: VisionLanguageModel, settings: EngineSettings,
               dist: D.DistInfo) -> tuple[D.Share, list[PlannedBatch]]:
    """This rank's share of the pending positions (balanced by estimated cost) cut into batches. The plan never
    depends on reuse_vision (batch composition moves float rounding): outputs identical on / off."""
    share = D.balanced_share(
        pending, lambda p: estimate_cost(samples[p], model.visual_tokens, settings.min_pixels, settings.max_pixels),
        dist.rank, dist.world_size,
    )
    mine, costs = share.positions, share.costs
    if dist.world_size > 1 and dist.is_main:
        log.info("shards by estimated cost: %s", share.balance())
    order = [mine[i] for i in order_by_cost([costs[p] for p in mine], [image_group(samples[p]) for p in mine])]
    return share, plan_batches(order, costs, settings.batch_size, settings.max_batch_visual_tokens)


def _host_memory(samples: Sequence[Sample], costs: Mapping[int, int], plan: Sequence[PlannedBatch],
                 model: VisionLanguageModel, settings: EngineSettings) -> HostMemoryPlan:
    """DataLoader workers / prefetch / transport for this plan under the host-memory budget (engine/host_memory.py);
    a batch's visual tokens are its estimated costs less their text part."""
    pixels = model.pixel_input()
    sizes = [batch_bytes(sum(visual_part(samples[p], costs[p]) for p in b.indices), b.padded_tokens,
                         pixels.bytes_per_visual_token) for b in plan]
    mem, shm = probe_host()
    return plan_host_memory(sizes, settings.num_workers, settings.prefetch_bytes, pixels.dtype, mem, shm,
                            D.local_world_size())


def _pending_positions(samples: Sequence[Sample], stored: dict[str, Prediction], retry_failed: bool) -> list[int]:
    def finished(p: Prediction | None) -> bool:
        return p is not None and (p.error is None or not retry_failed)

    return [i for i, s in enumerate(samples) if not finished(stored.get(s.id))]


def _reused_relabelled(view: StoreView, samples: Sequence[Sample], pending: Sequence[int]) -> list[Prediction]:
    """The relabelled stored predictions this run reuses (a pending sample is recomputed with its labels anyway)."""
    recomputed = {samples[p].id for p in pending}
    return [view.predictions[sid] for sid in view.relabelled if sid not in recomputed]


@D.failing_together()
def run_inference(
    samples: Sequence[Sample],
    encode: Callable[[Sample], Messages],
    model: VisionLanguageModel,
    finalize: Callable[[Sample, ModelOutput], Prediction],
    run_dir: Path,
    protocol_fp: str,
    model_fp: str,
    settings: EngineSettings,
    prompt_keys: Mapping[str, str] | None = None,
) -> EngineResult:
    """Predict every sample (reusing finished ones in ``run_dir`` made from the same content); all ranks of a
    torchrun group call this, and an exception on any rank stops them all. ``prompt_keys`` (sample id -> key of
    prompt text + image bytes) comes from the encoder that builds the prompts (``SampleEncoder.prompt_keys``);
    without it the key covers the sample's prompt fields and image bytes."""
    samples = list(samples)
    _check_unique_ids(samples)
    # the content keys belong to the data stage (evaluate times them with data loading), not to engine timings
    keys = dict(prompt_keys) if prompt_keys is not None else content_prompt_keys(samples, sample_fields_text)

    t_start = time.perf_counter()
    dist = D.dist_info()
    run_dir = Path(run_dir)
    timings = EngineTimings()
    current = _store_reader(samples, run_dir, keys, protocol_fp, model_fp)
    view, pending, relabelled = _read_store(samples, run_dir, current, settings, dist)
    share, plan = _plan_rank(samples, pending, model, settings, dist)
    host = _host_memory(samples, share.costs, plan, model, settings)
    timings.plan = time.perf_counter() - t_start

    executor, loader, bar = _batch_pipeline(samples, encode, model, plan, host, len(share.positions), settings, dist)
    threads = main_process_threads(getattr(model, "device", None), host.workers, override=settings.threads)
    with threads as main_threads, ShardWriter(run_dir, dist.rank, _part_tag(settings)) as writer:
        if dist.is_main and relabelled:  # the relabelled copies win from now on: a later rerun has none left
            writer.append(relabelled)
        finish = _finisher(finalize, samples, keys, protocol_fp, model_fp)
        done_here = _run_batches(loader, executor, model, finish, writer, bar, timings, settings, dist)
    bar.close()
    model.end_batch()  # an empty last "batch": the vision features of the final batch are released too
    timings.model = executor.model_seconds

    done_total, = D.sum_ints([done_here])
    predictions, path = _merge(samples, run_dir, current, timings, dist, write=settings.part is None)
    timings.total = D.max_float(time.perf_counter() - t_start)
    counts = EngineCounts(
        total=len(samples), done=done_total, skipped=len(samples) - len(pending),
        failed=sum(p.error is not None for p in predictions),
    )
    return EngineResult(
        predictions=predictions, counts=counts, timings=timings,
        samples_per_s=done_total / timings.total if timings.total > 0 else 0.0,
        world_size=dist.world_size, batches=len(plan), oom_splits=executor.oom_splits,
        error_splits=executor.error_splits, predictions_path=path, main_threads=main_threads,
        invalidated=view.invalidated,
        relabelled=len(relabelled),
        shards=share.balance(),
        vision=model.vision_counts(),
        attention=model.attention_info(),
        host_memory=host.to_dict(),
    )


def _part_tag(settings: EngineSettings) -> str:
    """A job-array shard's own store files (``runner.shard``, engine/shards.py); empty for a whole run."""
    return settings.part.tag if settings.part else ""


def _store_reader(samples: list[Sample], run_dir: Path, keys: Mapping[str, str], protocol_fp: str,
                  model_fp: str) -> Callable[[], StoreView]:
    """Reads what the store holds for this content now (before the run and again at the merge)."""
    def current() -> StoreView:
        return current_predictions(samples, iter_stored(run_dir), keys, protocol_fp, model_fp)
    return current


def _finisher(finalize: Callable[[Sample, ModelOutput], Prediction], samples: list[Sample], keys: Mapping[str, str],
              protocol_fp: str, model_fp: str) -> Callable[[dict[int, ModelOutput]], list[Prediction]]:
    """A batch's outputs (by sample position) -> its predictions in position order, stamped with the run's keys."""
    def finish(outputs: dict[int, ModelOutput]) -> list[Prediction]:
        return [_finalize_one(finalize, samples[pos], outputs[pos], keys[samples[pos].id], protocol_fp, model_fp)
                for pos in sorted(outputs)]
    return finish


def _batch_pipeline(samples: list[Sample], encode: Callable[[Sample], Messages], model: VisionLanguageModel,
                    plan: list, host: HostMemoryPlan, n_here: int, settings: EngineSettings, dist):
    """The executor, the worker loader over this rank's planned batches, and the progress bar of its samples."""
    dataset = EncodedSamples(samples, encode)
    model.set_vision_reuse(settings.reuse_vision)
    builder = BatchBuilder(model.preparer())
    executor = BatchExecutor(
        model, settings.mode, settings.generation,
        rebuild=lambda positions: prepare_positions(positions, dataset, builder),
        letters_of=lambda pos: samples[pos].letters,
    )
    loader = make_loader(dataset, builder, [b.indices for b in plan], host.workers, host.prefetch_factor,
                         host.transport)
    bar = tqdm(
        total=n_here, unit="sample", dynamic_ncols=True, desc=f"{settings.mode}",
        disable=not (settings.progress and dist.is_main and n_here),  # no empty bar when all are reused
        unit_scale=dist.world_size if dist.world_size > 1 else False,
    )
    return executor, loader, bar


def _read_store(samples: list[Sample], run_dir: Path, current: Callable[[], StoreView], settings: EngineSettings,
                dist) -> tuple[StoreView, list[int], list[Prediction]]:
    """What the store already holds for this content (nothing without ``resume``: old shards are set aside), the
    positions still to predict and the reused predictions relabelled; every rank returns the same."""
    if not settings.resume and dist.is_main:
        moved = set_aside_shards(run_dir)
        if moved is not None:
            log.info("resume disabled: previous shard files moved to %s", moved)
    D.barrier()

    view = current() if settings.resume else StoreView()
    stored, invalidated = view.predictions, view.invalidated
    pending = _pending_positions(samples, stored, settings.retry_failed)
    relabelled = _reused_relabelled(view, samples, pending)
    if dist.is_main:
        for line in filter(None, (stale_line(invalidated), relabel_line(len(relabelled)))):
            log.warning("%s", line)
        if len(pending) < len(samples):  # a resumed run: one line, stdout like the run's other results
            print(resume_line(len(samples) - len(pending), len(pending)), flush=True)
    D.barrier()  # every rank has read the store before anyone appends to it: identical pending lists
    return view, pending, relabelled


def _run_batches(loader, executor: BatchExecutor, model: VisionLanguageModel,
                 finish: Callable[[dict[int, ModelOutput]], list[Prediction]], writer: ShardWriter, bar,
                 timings: EngineTimings, settings: EngineSettings, dist) -> int:
    """Run every batch of this rank, store its predictions and advance the bar; stops the run (all ranks) when
    the first ``fail_fast`` samples all failed. Returns how many samples this rank predicted."""
    done_here = failed_here = model_ok_here = 0
    first_error: str | None = None
    t_wait = time.perf_counter()
    for batch in loader:
        timings.data_wait += time.perf_counter() - t_wait
        timings.preprocess += batch.prep_seconds
        outputs = executor.run(batch)
        model.end_batch()
        t_store = time.perf_counter()
        preds = finish(outputs)
        writer.append(preds)
        timings.store += time.perf_counter() - t_store
        D.check_peers()  # a failed or dead rank stops this one after its current batch
        n_failed = sum(p.error is not None for p in preds)
        done_here += len(preds)
        failed_here += n_failed
        # fail-fast judges the model alone: a pass whose judge call failed had a good model output
        model_ok_here += sum(outputs[pos].error is None for pos in outputs)
        first_error = first_error or next((outputs[pos].error for pos in sorted(outputs) if outputs[pos].error),
                                          None)
        bar.update(len(preds))
        if failed_here:
            bar.set_postfix(failed=failed_here * max(1, dist.world_size), refresh=False)
        if settings.fail_fast and model_ok_here == 0 and done_here >= settings.fail_fast:
            raise AllSamplesFailed(
                f"the first {done_here} samples all failed (first error: {first_error}); this looks like a "
                f"broken model or input pipeline, not bad data. Fix it and rerun: failed samples are retried."
            )
        t_wait = time.perf_counter()
    return done_here


def _merge(samples: list[Sample], run_dir: Path, current: Callable[[], StoreView], timings: EngineTimings,
           dist, write: bool = True) -> tuple[list[Prediction], Path | None]:
    """Once every rank's shards are complete: the predictions in sample order, written merged by the main rank
    (unless ``write`` is off: a job-array shard leaves the merge to ``engine/shard_merge.py``); every rank stops
    together when a sample has none."""
    D.barrier()  # all shard files complete
    t_merge = time.perf_counter()
    merged = current().predictions
    ids = [s.id for s in samples]
    missing = [i for i in ids if i not in merged]
    if missing:  # every rank sees the same files, so every rank stops here together (no one waits at a barrier)
        raise RuntimeError(
            f"{run_dir}: {len(missing)} samples have no stored prediction after the run (first: {missing[:5]})"
        )
    path = write_merged(run_dir, ids, merged) if dist.is_main and write else None
    D.barrier()  # the merged file exists before anyone returns
    timings.merge = time.perf_counter() - t_merge
    return [merged[i] for i in ids], path
