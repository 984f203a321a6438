"""The openai_api backend against a scripted in-test chat-completions server (loopback only)."""

from __future__ import annotations

import base64
import io
import json
import pickle
import threading
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image
from test_openai_fakeserver import FakeChatServer, Reply, chat_reply, logprob_reply, prompt_text

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.openai_api import OpenAIChatModel

REPO = Path(__file__).resolve().parents[1]
GREEDY = GenerationSettings(max_new_tokens=7)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def make_model(server: FakeChatServer, **overrides) -> OpenAIChatModel:
    cfg = ModelConfig(name="api", kind="openai_api", base_url=server.url, api_model="served-x",
                      api_key_env="AWAKER_TEST_KEY", max_concurrency=4, max_retries=3, timeout_s=5.0)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return OpenAIChatModel(cfg, backoff_s=0.02)


def text_conv(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def gradient(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(3 * x % 256, 5 * y % 256, (x * y) % 256) for y in range(height) for x in range(width)])
    return image


def test_request_layout_image_text_and_secret(monkeypatch):
    monkeypatch.setenv("AWAKER_TEST_KEY", "sk-test-secret-123")
    image = gradient(56, 42)
    conv = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "image", "image": image, "min_pixels": 12544, "max_pixels": 1003520},
            {"type": "text", "text": "Question: what?\nOptions:\nA. x\nB. y"},
        ]},
    ]
    with FakeChatServer(lambda body: chat_reply("B", prompt_tokens=42)) as server:
        model = make_model(server)
        [out] = model.generate(model.prepare([conv]), GREEDY)
    assert (out.text, out.error, out.n_prompt_tokens) == ("B", None, 42)
    assert out.extra == {"attempts": 1, "finish_reason": "stop"}
    [body] = server.bodies
    assert body["model"] == "served-x" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    assert set(body) == {"model", "messages", "max_tokens", "temperature", "mm_processor_kwargs"}
    assert body["mm_processor_kwargs"] == {"min_pixels": 12544, "max_pixels": 1003520}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    image_part, text_part = body["messages"][1]["content"]
    assert text_part == {"type": "text", "text": "Question: what?\nOptions:\nA. x\nB. y"}
    assert set(image_part) == {"type", "image_url"} and image_part["type"] == "image_url"
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    # qwen_vl_utils smart_resize of 56x42 with min_pixels 12544 (factor 28) -> 140x112, sent losslessly
    assert sent.size == (140, 112)
    assert sent.convert("RGB").tobytes() == image.resize((140, 112)).tobytes()
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret-123"
    fingerprint = json.dumps(model.fingerprint())
    assert "sk-test" not in fingerprint and "AWAKER_TEST_KEY" not in fingerprint
    assert "sk-test" not in json.dumps(out.extra) and "sk-test" not in pickle.dumps(model.preparer()).decode("latin1")


def test_pixel_options_off_sends_original_image_without_kwargs():
    image = gradient(30, 20)
    conv = [{"role": "user", "content": [{"type": "image", "image": image, "min_pixels": 12544},
                                         {"type": "text", "text": "hi"}]}]
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        model = make_model(server, api_client_resize=False, api_forward_pixels=False)
        model.generate(model.prepare([conv]), GREEDY)
    body = server.bodies[0]
    assert "mm_processor_kwargs" not in body
    assert "Authorization" not in server.headers[0]  # key variable unset: no header at all
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert sent.size == (30, 20) and sent.tobytes() == image.tobytes()


def test_fingerprint_and_picklable_prepare():
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        model = make_model(server)
    assert model.fingerprint() == {
        "backend": "openai_api", "base_url": server.url, "api_model": "served-x", "image_encoding": "png",
        "client_resize": True, "forward_pixels": True, "greedy": "temperature=0", "top_logprobs": 20,
    }
    conv = [{"role": "user", "content": [{"type": "image", "image": gradient(28, 28)}, {"type": "text", "text": "q"}]}]
    prepared = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(model.preparer()))([conv])))
    assert prepared[0].error is None and prepared[0].mm_processor_kwargs is None  # no bounds given: none sent
    assert prepared[0].messages[0]["content"][1] == {"type": "text", "text": "q"}


def test_concurrency_is_bounded_and_order_kept():
    with FakeChatServer(lambda body: chat_reply("re:" + prompt_text(body), delay_s=0.15)) as server:
        model = make_model(server, max_concurrency=3)
        outs = model.generate(model.prepare([text_conv(f"q{i}") for i in range(9)]), GREEDY)
    assert [o.text for o in outs] == [f"re:q{i}" for i in range(9)]
    assert len(server.bodies) == 9
    assert server.max_inflight == 3


def test_retries_with_backoff_on_500_then_429_then_success():
    script = {"flaky": [Reply(500, {"error": {"message": "overloaded"}}), Reply(429, {"error": {"message": "slow"}})]}
    lock = threading.Lock()

    def respond(body):
        with lock:
            queue = script.get(prompt_text(body), [])
            return queue.pop(0) if queue else chat_reply("ok:" + prompt_text(body))

    with FakeChatServer(respond) as server:
        model = make_model(server)
        outs = model.generate(model.prepare([text_conv("flaky")]), GREEDY)
    assert [(o.text, o.error, o.extra["attempts"]) for o in outs] == [("ok:flaky", None, 3)]
    gaps = [b - a for a, b in zip(server.times, server.times[1:])]
    # backoff_s=0.02: first delay in [0.01, 0.02], second in [0.02, 0.04]
    assert len(gaps) == 2 and gaps[0] >= 0.01 and gaps[1] >= 0.02


def test_one_bad_sample_is_recorded_while_others_succeed():
    def respond(body):
        text = prompt_text(body)
        if text == "bad":
            return Reply(400, {"error": {"message": "image too large"}})
        if text == "down":
            return Reply(503, {"error": {"message": "unavailable"}})
        return chat_reply("ok:" + text)

    conversations = [text_conv("a"), text_conv("bad"), text_conv("down"),
                     [{"role": "user", "content": [{"type": "image", "image": "not-an-image"}]}], text_conv("b")]
    with FakeChatServer(respond) as server:
        model = make_model(server, max_retries=2)
        outs = model.generate(model.prepare(conversations), GREEDY)
    assert [o.text for o in outs] == ["ok:a", None, None, None, "ok:b"]
    assert outs[0].error is None and outs[4].error is None
    assert "HTTP 400" in outs[1].error and "image too large" in outs[1].error and outs[1].extra["attempts"] == 1
    assert "HTTP 503" in outs[2].error and "gave up after 3 attempts" in outs[2].error
    assert outs[3].error == "conversation 3: cannot encode (TypeError: image part must hold a PIL.Image, got str)"
    sent = sorted(prompt_text(b) for b in server.bodies)
    assert sent == ["a", "b", "bad", "down", "down", "down"]  # 400 not retried, 503 retried twice, bad image not sent


def test_timeout_is_retried():
    calls = []

    def respond(body):
        calls.append(1)
        return chat_reply("late", delay_s=2.0) if len(calls) == 1 else chat_reply("fast")

    with FakeChatServer(respond) as server:
        model = make_model(server, timeout_s=0.5)
        [out] = model.generate(model.prepare([text_conv("t")]), GREEDY)
    assert (out.text, out.extra["attempts"]) == ("fast", 2)


def test_score_choices_from_top_logprobs():
    top = [("B", -0.1), ("A", -2.5), (" C", -3.0), ("A", -4.0), ("Z", -5.0)]
    with FakeChatServer(lambda body: logprob_reply(top)) as server:
        model = make_model(server)
        [out] = model.score_choices(model.prepare([text_conv("pick")]), [["A", "B", "C"]])
    body = server.bodies[0]
    assert (body["max_tokens"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (1, 0.0, True, 20)
    assert out.choice_logprobs == {"A": -2.5, "B": -0.1}  # exact letter tokens only; " C" is another token
    assert out.text == "B" and out.error is None
    assert out.extra["letters_not_in_top_logprobs"] == ["C"]


def test_score_choices_without_logprobs_support_raises():
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        model = make_model(server)
        with pytest.raises(NotImplementedError, match="returned no logprobs.*runner.mode=generate"):
            model.score_choices(model.prepare([text_conv("pick")]), [["A", "B"]])


def test_conf_model_openai_api_yaml_matches_schema():
    cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(REPO / "conf/model/openai_api.yaml"))
    cfg = OmegaConf.to_object(cfg)
    assert (cfg.name, cfg.kind, cfg.base_url, cfg.api_key_env, cfg.max_concurrency) == (
        None, "openai_api", "http://localhost:8000/v1", "OPENAI_API_KEY", 16)  # unnamed: labelled api_model@host
    model = OpenAIChatModel(cfg)
    assert model.client.url == "http://localhost:8000/v1/chat/completions" and model.client.max_retries == 3


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="model.api_model"):
        OpenAIChatModel(ModelConfig(kind="openai_api", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(ValueError, match="model.base_url"):
        OpenAIChatModel(ModelConfig(kind="openai_api", api_model="m"))


def test_engine_stops_when_the_server_cannot_score_choices(tmp_path):
    """Choice mode on a server without logprobs is one clear fatal error, not an error recorded on every sample."""
    from test_engine_support import encode, finalize, make_samples

    from awaker_eval.engine.execute import UnsupportedMode
    from awaker_eval.engine.runner import EngineSettings, run_inference

    samples = make_samples(tmp_path / "images", 6)
    settings = EngineSettings(mode="choice", batch_size=6, progress=False)
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        with pytest.raises(UnsupportedMode, match="OpenAIChatModel cannot run engine mode 'choice'.*no logprobs"):
            run_inference(samples, encode, make_model(server), finalize, tmp_path / "run", "p", "m", settings)
        assert len(server.bodies) == 6  # one pass over the batch, no bisection into single-sample retries


def test_empty_completion_is_a_failure_never_an_answer():
    """A server returning "" (or only whitespace) failed: the MME-RealWorld extractor would score "" as A."""
    replies = {"a": chat_reply(""), "b": chat_reply("  \n"), "c": chat_reply("B")}
    with FakeChatServer(lambda body: replies[prompt_text(body)]) as server:
        model = make_model(server)
        outs = model.generate(model.prepare([text_conv("a"), text_conv("b"), text_conv("c")]), GREEDY)
    assert [(o.text, o.error) for o in outs] == [
        (None, "empty completion (finish_reason 'stop')"), (None, "empty completion (finish_reason 'stop')"),
        ("B", None)]


def test_choice_mode_on_a_server_without_logprobs_is_one_line_exit_2(tmp_path, capsys):
    """Not a traceback, and not N recorded failures: no sample could succeed, so it is a setting to change."""
    from awaker_eval import cli

    with FakeChatServer(lambda body: chat_reply("A")) as server:
        with pytest.raises(SystemExit) as stop:
            cli.main(["model=openai_api", f"model.base_url={server.url}", "model.api_model=served-x",
                      "model.api_key_env=AWAKER_NO_SUCH_KEY", "runner.mode=choice", "benchmark.limit=2",
                      "runner.progress=false", f"benchmark.cache_dir={tmp_path / 'data'}",
                      f"output_dir={tmp_path / 'run'}"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: model backend OpenAIChatModel cannot run engine mode 'choice': the server at {server.url} returned "
        "no logprobs for model 'served-x': choice scoring needs `logprobs`/`top_logprobs` support on chat "
        "completions (use runner.mode=generate). Choose another mode (runner.mode) or backend; nothing was recorded "
        "for this batch.\n")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["attempts"][-1]["status"] == "failed"
