"""Bounded host memory between DataLoader workers and the model (engine/host_memory.py): the budget arithmetic on
given numbers, the pipe transport's by-value tensors, the exact bf16 cast in the preparer, and engine runs on the
tiny model whose predictions never depend on workers, prefetch or transport."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from multiprocessing.reduction import ForkingPickler

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from transformers import BatchFeature

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunnerConfig, register_configs
from awaker_eval.engine import host_memory as hm
from awaker_eval.engine import runner
from awaker_eval.engine.batching import estimate_cost, visual_part
from awaker_eval.engine.loader import (
    BatchBuilder, ByValue, EncodedSamples, WorkerBatchBuilder, make_loader, ready_for_queue,
)
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.base import GenerationSettings
from awaker_eval.pipeline import evaluate
from awaker_eval.preflight import ConfigError, check_runner
from test_engine_support import encode, finalize, make_samples
from tiny_models import tiny

GB = 10 ** 9
N = 6
GEN = GenerationSettings(max_new_tokens=4)
FP32_TOKEN = 4 * 1176 * 4  # pixel bytes per visual token: 4 patches x 3*2*14*14 values x 4 bytes
GPU_BATCH = 65536 * FP32_TOKEN + 65536 * hm.TOKEN_BYTES  # runner=gpu: 65k visual tokens, fp32 pixels


# -- the arithmetic, on given numbers ------------------------------------------------------------------------------

def test_free_memory_is_memavailable_or_the_smaller_cgroup_headroom(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       64000000 kB\nMemFree:  1000 kB\nMemAvailable:   32000000 kB\n")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    (v2 / "memory.current").write_text("123\n")
    assert hm.mem_available(meminfo, v2) == 32_000_000 * 1024  # no limit: the host's MemAvailable
    (v2 / "memory.max").write_text(f"{8 * GB}\n")
    (v2 / "memory.current").write_text(f"{3 * GB}\n")
    assert hm.cgroup_headroom(v2) == 5 * GB
    assert hm.mem_available(meminfo, v2) == 5 * GB  # the container's limit is the smaller
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    (v1 / "memory" / "memory.usage_in_bytes").write_text(f"{GB}\n")
    assert hm.cgroup_headroom(v1) is None and hm.mem_available(meminfo, v1) == 32_000_000 * 1024
    (v1 / "memory" / "memory.limit_in_bytes").write_text(f"{2 * GB}\n")
    assert hm.mem_available(meminfo, v1) == GB
    assert hm.mem_available(tmp_path / "absent", tmp_path / "absent") is None


def test_shm_free_is_the_filesystems_free_space(tmp_path):
    st = os.statvfs(tmp_path)
    assert abs(hm.shm_free(tmp_path) - st.f_bavail * st.f_frsize) < 64 * 2 ** 20  # other writers move it a little
    assert hm.shm_free(tmp_path / "absent") is None


@pytest.mark.parametrize("requested, budget, batches, expected", [
    (8, 40 * GB, 500, (8, 4)),  # 32 batches fit: as asked
    (8, 20 * GB, 500, (8, 2)),  # prefetch lowered first: 16 fit
    (8, 10 * GB, 500, (8, 1)),  # 8 fit: one per worker
    (8, 5 * GB, 500, (4, 1)),  # not one per worker: 4 workers
    (8, GB, 500, (0, None)),  # not one batch: the main process prepares
    (8, 4 * GB, 3, (8, 4)),  # only 3 batches exist, and 3 fit
    (8, None, 500, (8, 4)),  # memory unknown: as asked
    (0, 40 * GB, 500, (0, None)),
])
def test_workers_and_prefetch_fit_the_budget(requested, budget, batches, expected):
    largest = 1_200_000_000
    workers, prefetch = hm.fit_workers(requested, largest, budget, batches)
    assert (workers, prefetch) == expected
    if budget is not None:
        assert hm.in_flight(workers, prefetch, batches, largest) <= budget


def test_gpu_runner_settings_on_a_64_gb_host_with_a_small_shm(caplog):
    """The issue's case: 8 workers x prefetch 4 x ~1.2 GB fp32 batches = 39.5 GB asked; a quarter of 64 GB free
    holds 13 batches: 8 workers, prefetch 1, and a 64 MB /dev/shm sends them through the pipes."""
    sizes = [GPU_BATCH] * 40
    assert 4 * 8 * GPU_BATCH == 39_510_343_680
    with caplog.at_level(logging.WARNING, logger=hm.__name__):
        plan = hm.plan_host_memory(sizes, 8, None, "float32", 64 * GB, 64 * 2 ** 20)
    assert (plan.budget_bytes, plan.budget_source) == (16 * GB, "derived")
    assert (plan.workers, plan.prefetch_factor, plan.transport) == (8, 1, "pipe")
    assert plan.in_flight_bytes == 8 * GPU_BATCH <= plan.budget_bytes
    assert [r.message.startswith("/dev/shm has 0.0671 GB free for 9.88 GB") for r in caplog.records] == [True]
    bf16 = hm.plan_host_memory([65536 * FP32_TOKEN // 2 + 65536 * hm.TOKEN_BYTES] * 40, 8, None, "bfloat16",
                               64 * GB, 32 * GB)
    assert (bf16.workers, bf16.prefetch_factor, bf16.transport) == (8, 3, "shared_memory")  # half the bytes
    ranks = hm.plan_host_memory(sizes, 8, None, "float32", 64 * GB, 32 * GB, local_ranks=8)  # 8 ranks share it
    assert (ranks.budget_bytes, ranks.workers, ranks.prefetch_factor) == (2 * GB, 1, 1)


def test_an_explicit_budget_below_one_batch_prepares_in_the_main_process(caplog):
    with caplog.at_level(logging.WARNING, logger=hm.__name__):
        plan = hm.plan_host_memory([GPU_BATCH, 10], 8, GB, "bfloat16", 500 * GB, 100 * GB)
    assert (plan.budget_bytes, plan.budget_source) == (GB, "runner.prefetch_bytes")
    assert (plan.workers, plan.prefetch_factor, plan.transport, plan.in_flight_bytes) == (0, None, "main_process", 0)
    assert len(caplog.records) == 1 and "runner.num_workers=8 lowered" in caplog.records[0].message
    assert "the main process prepares each batch" in caplog.records[0].message
    assert plan.to_dict()["largest_batch_bytes"] == GPU_BATCH and plan.to_dict()["pixel_dtype"] == "bfloat16"


def test_prefetch_bytes_must_be_zero_or_more_or_null():
    check_runner(RunnerConfig(prefetch_bytes=None))
    check_runner(RunnerConfig(prefetch_bytes=0))  # nothing in flight: the main process prepares
    with pytest.raises(ConfigError, match=r"^runner.prefetch_bytes=-1 is out of range: it must be >= 0 or null$"):
        check_runner(RunnerConfig(prefetch_bytes=-1))
    with pytest.raises(ValueError, match="prefetch_bytes must be >= 0"):
        hm.plan_host_memory([1], 2, -1, None, GB, GB)


# -- the pipe transport ---------------------------------------------------------------------------------------------

def test_tensors_travel_by_value_bit_for_bit(tmp_path):
    pixels = torch.randn(64, 1176).to(torch.bfloat16)
    batch = BatchFeature({"pixel_values": pixels.clone(), "input_ids": torch.arange(12).reshape(3, 4),
                          "grid": [torch.tensor([[1, 2, 2]])], "digests": ["a", "b"],
                          "odd": (torch.ones(3, 5)[:, 1], torch.tensor(True), torch.empty(0, 7))})
    wire = ForkingPickler.dumps(ready_for_queue(batch, "pipe"))
    assert len(wire) > pixels.nbytes  # the bytes themselves travel, not a /dev/shm handle
    back = ForkingPickler.loads(wire)
    assert type(back) is BatchFeature and back["digests"] == ["a", "b"]
    assert back["pixel_values"].dtype == torch.bfloat16 and torch.equal(back["pixel_values"].view(torch.int16),
                                                                         pixels.view(torch.int16))
    assert torch.equal(back["input_ids"], torch.arange(12).reshape(3, 4)) and back["input_ids"].dtype == torch.int64
    assert torch.equal(back["grid"][0], torch.tensor([[1, 2, 2]]))
    assert [t.shape for t in back["odd"]] == [(3,), (), (0, 7)] and back["odd"][1].item() is True
    builder = BatchBuilder(lambda convs: {"x": torch.ones(len(convs))})
    loader = make_loader(EncodedSamples([], encode), builder, [], 2, 1, "pipe")
    assert (type(loader.collate_fn), loader.collate_fn.transport, loader.prefetch_factor) == (WorkerBatchBuilder,
                                                                                              "pipe", 1)
    assert make_loader(EncodedSamples([], encode), builder, [], 0, None, "pipe").collate_fn is builder


def test_shared_memory_transport_moves_tensors_in_the_worker_and_falls_back_to_the_pipe(monkeypatch, caplog):
    """The move to /dev/shm happens in the collate, where a full /dev/shm is caught (in the queue's thread it
    hangs the run): the batch then goes by value."""
    shared = ready_for_queue({"x": torch.ones(4), "n": [torch.zeros(2)]}, "shared_memory")
    assert shared["x"].is_shared() and shared["n"][0].is_shared()

    def full(self):
        raise RuntimeError("unable to allocate shared memory(shm) for file </torch_1>: No space left on device (28)")

    monkeypatch.setattr(torch.Tensor, "share_memory_", full)
    with caplog.at_level(logging.WARNING):
        fallback = ready_for_queue({"x": torch.arange(5.0)}, "shared_memory")
    assert isinstance(fallback["x"], ByValue)
    assert torch.equal(ForkingPickler.loads(ForkingPickler.dumps(fallback))["x"], torch.arange(5.0))
    assert [r.message for r in caplog.records] == ["/dev/shm is full (RuntimeError: unable to allocate shared "
                                                   "memory(shm) for file </torch_1>: No space left on device (28)): "
                                                   "this batch goes through the pipe"]


# -- the preparer's cast --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return tmp_path_factory.mktemp("host_memory_images")


def test_bf16_cast_in_the_preparer_is_exact_and_halves_the_bytes(tiny_cache_dir, images):
    model = tiny("tiny", "bfloat16", str(tiny_cache_dir))
    convs = [encode(s) for s in make_samples(images, N)]
    cast = model.preparer()(convs)
    plain = dataclasses.replace(model.preparer(), pixel_dtype=None)(convs)  # the processor's fp32, as before
    assert (cast["pixel_values"].dtype, plain["pixel_values"].dtype) == (torch.bfloat16, torch.float32)
    assert cast["pixel_values"].nbytes * 2 == plain["pixel_values"].nbytes
    assert model.pixel_input() == type(model.pixel_input())("bfloat16", FP32_TOKEN // 2)
    with torch.inference_mode():
        a = model.hf_model.model.get_image_features(cast["pixel_values"], cast["image_grid_thw"]).pooler_output
        b = model.hf_model.model.get_image_features(plain["pixel_values"], plain["image_grid_thw"]).pooler_output
    assert all(torch.equal(x, y) for x, y in zip(a, b))  # the tower saw the same bf16 values
    assert [o.text for o in model.generate(cast, GEN)] == [o.text for o in model.generate(plain, GEN)]
    letters = [list("ABCD")] * N
    assert ([o.choice_logprobs for o in model.score_choices(cast, letters)]
            == [o.choice_logprobs for o in model.score_choices(plain, letters)])


def test_fp32_model_keeps_fp32_pixels_and_the_estimate_matches_them(tiny_model, images):
    """Within the image processor's own pixel bounds (56 x 56 at least) the header-only estimate is the tensor."""
    samples = make_samples(images, N)
    bounds = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
    convs = [[{**m, "content": [{**part, **bounds} if part.get("type") == "image" else part for part in m["content"]]}
              for m in encode(s)] for s in samples]
    prepared = tiny_model.preparer()(convs)
    assert prepared["pixel_values"].dtype == torch.float32
    assert tiny_model.pixel_input() == type(tiny_model.pixel_input())("float32", FP32_TOKEN)
    visual = [visual_part(s, estimate_cost(s, tiny_model.visual_tokens, *bounds.values())) for s in samples]
    assert sum(visual) * FP32_TOKEN == prepared["pixel_values"].nbytes and min(visual) >= 4


# -- engine runs on the tiny model ----------------------------------------------------------------------------------

def run(model, run_dir, images, **kw):
    settings = EngineSettings(progress=False, generation=GEN, min_pixels=28 * 28, max_pixels=56 * 56, batch_size=2,
                              **kw)
    return run_inference(make_samples(images, N), encode, model, finalize, run_dir, "p", "tiny", settings)


def test_a_budget_below_one_batch_or_one_per_worker_gives_identical_predictions(tiny_model, tmp_path, images):
    default = run(tiny_model, tmp_path / "default", images)
    starved = run(tiny_model, tmp_path / "starved", images, num_workers=2, prefetch_bytes=1000)
    largest = starved.host_memory["largest_batch_bytes"]
    one_each = run(tiny_model, tmp_path / "one_each", images, num_workers=2, prefetch_bytes=2 * largest)
    texts = [p.raw_output for p in default.predictions]
    assert len(set(texts)) > 1 and default.counts.failed == 0
    assert [p.raw_output for p in starved.predictions] == texts == [p.raw_output for p in one_each.predictions]
    assert default.host_memory["transport"] == "main_process" and default.host_memory["budget_source"] == "derived"
    host = starved.host_memory
    assert (host["budget_bytes"], host["budget_source"], host["requested_workers"], host["workers"],
            host["transport"], host["batches"]) == (1000, "runner.prefetch_bytes", 2, 0, "main_process", 3)
    assert FP32_TOKEN < largest < 2 * 4 * FP32_TOKEN + 2 * 200 * hm.TOKEN_BYTES  # 2 images of <= 4 tokens + text
    assert (one_each.host_memory["workers"], one_each.host_memory["prefetch_factor"]) == (2, 1)
    assert one_each.host_memory["in_flight_bytes"] == 2 * largest and one_each.timings.preprocess > 0


def test_pipe_transport_with_workers_gives_identical_predictions(tiny_cache_dir, tmp_path, images, monkeypatch):
    model = tiny("tiny", "bfloat16", str(tiny_cache_dir))
    default = run(model, tmp_path / "default", images)
    monkeypatch.setattr(runner, "probe_host", lambda: (64 * GB, 2 ** 16))  # 64 kB of /dev/shm free
    piped = run(model, tmp_path / "piped", images, num_workers=2)
    host = piped.host_memory
    assert (host["workers"], host["prefetch_factor"], host["transport"], host["pixel_dtype"]) == (2, 4, "pipe",
                                                                                                 "bfloat16")
    assert (host["shm_free_bytes"], host["mem_available_bytes"], host["budget_bytes"]) == (2 ** 16, 64 * GB, 16 * GB)
    assert host["in_flight_bytes"] > 2 ** 15  # more than half of /dev/shm: shared memory would not do
    assert [p.raw_output for p in piped.predictions] == [p.raw_output for p in default.predictions]
    assert len({p.raw_output for p in piped.predictions}) > 1 and piped.counts.failed == 0


def test_run_json_records_host_memory(tmp_path, tiny_cache_dir):
    register_configs()
    overrides = [f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}", "benchmark.limit=4",
                 f"results_root={tmp_path / 'results'}", "runner.progress=false", "runner.bootstrap_samples=20",
                 "runner.num_workers=2", "runner.prefetch_bytes=0"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("config", overrides=overrides))
    run_dir = evaluate(cfg)
    host = json.loads((run_dir / "run.json").read_text())["engine"]["host_memory"]
    assert (host["budget_bytes"], host["budget_source"], host["requested_workers"], host["workers"],
            host["prefetch_factor"], host["transport"], host["pixel_dtype"], host["in_flight_bytes"]) == (
        0, "runner.prefetch_bytes", 2, 0, None, "main_process", "float32", 0)
    assert host["largest_batch_bytes"] > FP32_TOKEN and host["mem_available_bytes"] > 0
    assert set(host) >= {"budget_bytes", "budget_source", "mem_available_bytes", "shm_free_bytes",
                         "largest_batch_bytes", "workers", "prefetch_factor", "transport", "pixel_dtype"}
