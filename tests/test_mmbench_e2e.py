"""MMBench end to end on the tiny model: circular TSV -> prompts -> generation -> rules + LLM judge ->
CircularEval; then choice mode on the same benchmark reports its agreement with generation."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import register_configs
from awaker_eval.engine.store import read_jsonl_predictions
from awaker_eval.pipeline import evaluate
from test_openai_fakeserver import FakeChatServer, chat_reply, prompt_text


def _circular_tsv(fixtures_dir, path, n_questions=3):
    """VLMEvalKit layout: pass k of question i has index i + k*1e6, rotated options, re-mapped answer, and an
    image field holding pass 0's index."""
    items = json.loads((fixtures_dir / "mmbench_samples" / "mmbench_samples.json").read_text())["items"]
    rows = []
    for i, item in enumerate(items[:n_questions], start=1):
        letters = sorted(item["options_en"])
        texts = [item["options_en"][L] for L in letters]
        image = base64.b64encode((fixtures_dir / "mmbench_samples" / item["image"]).read_bytes()).decode()
        for k in range(len(letters)):
            rotated = texts[k:] + texts[:k]
            answer = letters[rotated.index(item["options_en"][item["answer_en"]])]
            rows.append({"index": i + k * 1_000_000, "question": item["question_en"], "hint": float("nan"),
                         **dict(zip(letters, rotated)), "answer": answer,
                         "category": "image_style", "l2-category": "coarse_perception",
                         "image": image if k == 0 else str(i), "split": "dev", "source": "fixture"})
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return len(rows)


def _cfg(tmp_path, tiny_cache_dir, tsv, server_url, *extra):
    register_configs()
    overrides = [
        "benchmark=mmbench", "benchmark.layout=tsv", f"benchmark.source={tsv}", "benchmark.min_pixels=3136",
        "benchmark.max_pixels=50176", "benchmark.max_new_tokens=8", f"benchmark.cache_dir={tmp_path / 'data'}",
        f"benchmark.judge.base_url={server_url}", "benchmark.judge.model=judge-model",
        "benchmark.judge.api_key_env=null", "benchmark.judge.backoff_s=0.01",
        f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}", "runner.progress=false",
        "runner.bootstrap_samples=100", *extra,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


@pytest.fixture(scope="module")
def mmbench_runs(tmp_path_factory, tiny_cache_dir):
    from conftest import shared_path

    fixtures = shared_path("benchmark_fixtures")
    tmp_path = tmp_path_factory.mktemp("mmbench")
    tsv = tmp_path / "MMBench_DEV_EN_V11.tsv"
    n_rows = _circular_tsv(fixtures, tsv)
    with FakeChatServer(lambda body: chat_reply("B" if "Example 3" in prompt_text(body) else "?")) as server:
        gen_cfg = _cfg(tmp_path, tiny_cache_dir, tsv, server.url)
        gen_dir = evaluate(gen_cfg)
        n_requests = len(server.bodies)
        # choice mode parses every letter itself: the judge is configured (same run settings) but never asked
        choice_dir = evaluate(_cfg(tmp_path, tiny_cache_dir, tsv, server.url, "runner=choice"))
        assert len(server.bodies) == n_requests
    return n_rows, gen_dir, choice_dir, n_requests


def test_circular_eval_with_judge(mmbench_runs):
    n_rows, gen_dir, _, n_requests = mmbench_runs
    preds = list(read_jsonl_predictions(gen_dir / "predictions.jsonl"))
    assert n_rows == 12 and len(preds) == 12
    scores = json.loads((gen_dir / "scores.json").read_text())
    assert scores["n_questions"] == 3 and scores["n_rows"] == 12
    by_group: dict[str, list] = {}
    for p in preds:
        by_group.setdefault(p.group, []).append(p)
        assert p.extract_method in ("rule", "judge", "none")
        if p.extract_method == "judge":
            assert p.extracted == "B"
    hits = [all(p.extracted == p.answer for p in passes) for passes in by_group.values()]
    assert scores["overall"] == sum(hits) / 3
    judged = sum(p.extract_method == "judge" for p in preds)
    assert scores["n_judge"] == judged
    meta = json.loads((gen_dir / "run.json").read_text())
    assert meta["judge"]["config"]["model"] == "judge-model"
    assert meta["judge"]["calls"] == judged + sum(p.extract_method == "none" for p in preds)
    assert n_requests >= judged


def test_choice_mode_reports_agreement_with_generation(mmbench_runs):
    _, gen_dir, choice_dir, _ = mmbench_runs
    assert choice_dir != gen_dir
    gen = {p.id: p for p in read_jsonl_predictions(gen_dir / "predictions.jsonl")}
    choice = list(read_jsonl_predictions(choice_dir / "predictions.jsonl"))
    assert all(set(p.choice_logprobs) == {"A", "B", "C", "D"} for p in choice)
    agreement = json.loads((choice_dir / "scores.json").read_text())["choice_vs_generate"]
    assert agreement["compared"] == 12
    assert agreement["agree"] == sum(gen[p.id].extracted == p.extracted for p in choice)
    assert (choice_dir / "report.html").is_file()
