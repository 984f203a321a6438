"""The ``openai_api`` backend: a model served behind an OpenAI-compatible endpoint (vLLM, SGLang, ...).

Same prompts, store and scorers as the local backends; only the transport differs.

Images. Each ``{"type": "image", "image": PIL.Image, "min_pixels": ..., "max_pixels": ...}`` part becomes
an ``image_url`` part holding a lossless PNG data URL. With ``model.api_client_resize`` (default) the image is
first resized with ``qwen_vl_utils.fetch_image`` using the part's min/max pixels, as the local Qwen2-VL path
does, so the server receives the pixels the local model would see (a Qwen2-VL processor leaves an aligned image
within its bounds unchanged). With ``model.api_forward_pixels`` (default) the bounds are also sent as vLLM's
per-request ``mm_processor_kwargs = {"min_pixels", "max_pixels"}``: a top-level request field that applies to
every image of the request, so all images of one conversation must share the same bounds. The image part
itself carries no extra fields. Servers that reject unknown fields (OpenAI's own API) need
``model.api_forward_pixels=false``.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import GenerationSettings, Messages, ModelOutput, PixelInput, VisionLanguageModel
from awaker_eval.openai_client import APIError, ChatClient, ChatResult

PIXEL_KEYS = ("min_pixels", "max_pixels")


@dataclass(frozen=True)
class ChatRequest:
    """One encoded conversation (plain data, picklable); ``error`` is set when encoding failed."""

    messages: list[dict[str, Any]]
    mm_processor_kwargs: dict[str, int] | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChatRequestEncoder:
    """Converts Qwen-layout conversations to chat-completions messages; picklable for DataLoader workers."""

    client_resize: bool = True
    forward_pixels: bool = True

    def __call__(self, conversations: list[Messages]) -> list[ChatRequest]:
        out = []
        for i, conversation in enumerate(conversations):
            try:
                out.append(self.encode(conversation))
            except Exception as exc:  # one bad sample is recorded, never fatal
                out.append(ChatRequest([], error=f"conversation {i}: cannot encode ({type(exc).__name__}: {exc})"))
        return out

    def encode(self, conversation: Messages) -> ChatRequest:
        bounds: set[tuple[int | None, int | None]] = set()
        messages = []
        for message in conversation:
            content = message["content"]
            if not isinstance(content, str):
                content = [self._part(part, bounds) for part in content]
            messages.append({"role": message["role"], "content": content})
        kwargs = None
        if self.forward_pixels and bounds:
            if len(bounds) > 1:
                raise ValueError(f"images of one conversation have different min/max pixels {sorted(bounds)}")
            kwargs = {k: v for k, v in zip(PIXEL_KEYS, bounds.pop()) if v is not None} or None
        return ChatRequest(messages, kwargs)

    def _part(self, part: dict[str, Any], bounds: set) -> dict[str, Any]:
        kind = part.get("type")
        if kind == "text":
            return {"type": "text", "text": part["text"]}
        if kind != "image":
            raise ValueError(f"unsupported content part type {kind!r}")
        from PIL import Image

        image = part["image"]
        if not isinstance(image, Image.Image):
            raise TypeError(f"image part must hold a PIL.Image, got {type(image).__name__}")
        if self.client_resize:
            from qwen_vl_utils import fetch_image

            image = fetch_image({"image": image, **{k: part[k] for k in PIXEL_KEYS if k in part}})
        bounds.add((part.get("min_pixels"), part.get("max_pixels")))
        return {"type": "image_url", "image_url": {"url": png_data_url(image)}}


def png_data_url(image: Any) -> str:
    """A ``data:image/png;base64,...`` URL of an RGB PIL image: lossless; zlib level 1 is ~2x faster than the
    default level 6 on photos for ~10% more bytes (1960x1484: ~0.6 s instead of ~1.1 s on one busy core)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIChatModel(VisionLanguageModel):
    """A ``VisionLanguageModel`` whose forward passes run on a remote OpenAI-compatible server.

    Built from a ``ModelConfig`` (``base_url``, ``api_model``, ``api_key_env``, ``max_concurrency``,
    ``max_retries``, ``timeout_s``, ``seed``, ``api_client_resize``, ``api_forward_pixels``). ``backoff_s``
    (first retry delay) and ``top_logprobs`` are constructor knobs, not config.
    """

    def __init__(self, cfg: ModelConfig, *, backoff_s: float = 1.0, top_logprobs: int = 20):
        if not cfg.base_url:
            raise ValueError("model.base_url is required for the openai_api backend (e.g. http://localhost:8000/v1)")
        if not cfg.api_model:
            raise ValueError("model.api_model (the served model name) is required for the openai_api backend")
        if cfg.max_concurrency < 1:
            raise ValueError(f"model.max_concurrency must be >= 1, got {cfg.max_concurrency}")
        self.base_url = cfg.base_url
        self.api_model = cfg.api_model
        self.max_concurrency = cfg.max_concurrency
        self.seed = cfg.seed
        self.top_logprobs = top_logprobs
        self.encoder = ChatRequestEncoder(cfg.api_client_resize, cfg.api_forward_pixels)
        self.client = ChatClient(cfg.base_url, cfg.api_key_env, cfg.timeout_s, cfg.max_retries, backoff_s)

    def fingerprint(self) -> dict[str, Any]:
        """Endpoint, served model and request shaping; never the key (nor the name of its variable)."""
        return {
            "backend": "openai_api",
            "base_url": self.base_url.rstrip("/"),
            "api_model": self.api_model,
            "image_encoding": "png",
            "client_resize": self.encoder.client_resize,
            "forward_pixels": self.encoder.forward_pixels,
            "greedy": "temperature=0",
            "top_logprobs": self.top_logprobs,
        }

    def prepare(self, conversations: list[Messages]) -> list[ChatRequest]:
        return self.encoder(conversations)

    def preparer(self) -> ChatRequestEncoder:
        return self.encoder

    def pixel_input(self) -> PixelInput:
        """A PNG data URL per image: at most about the raw RGB of its 28 x 28 pixels per token, in base64."""
        return PixelInput(None, 28 * 28 * 3 * 4 // 3)

    def generate(self, prepared: list[ChatRequest], settings: GenerationSettings) -> list[ModelOutput]:
        params: dict[str, Any] = {"max_tokens": settings.max_new_tokens}
        if settings.do_sample:
            params.update(temperature=1.0, seed=self.seed)
        else:
            params["temperature"] = 0.0
        if settings.repetition_penalty != 1.0:  # vLLM / SGLang extension of the OpenAI schema
            params["repetition_penalty"] = settings.repetition_penalty
        return self._run(prepared, lambda req: self._generate_one(req, params))

    def score_choices(self, prepared: list[ChatRequest], letters: list[list[str]]) -> list[ModelOutput]:
        """Log-probabilities of the option letters as the first generated token (``top_logprobs``).

        A letter absent from the server's top-``top_logprobs`` list gets no entry (listed in
        ``extra["letters_not_in_top_logprobs"]``). Raises NotImplementedError when the server returns no
        logprobs at all.
        """
        if len(letters) != len(prepared):
            raise ValueError(f"{len(prepared)} conversations but {len(letters)} letter lists")
        params = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": self.top_logprobs}
        jobs = list(zip(prepared, letters))
        outputs = self._run(jobs, lambda job: self._score_one(job[0], job[1], params))
        if any(o.extra.get("no_logprobs") for o in outputs):
            raise NotImplementedError(
                f"the server at {self.base_url} returned no logprobs for model {self.api_model!r}: choice scoring "
                "needs `logprobs`/`top_logprobs` support on chat completions (use runner.mode=generate)"
            )
        return outputs

    # -- internals ----------------------------------------------------------------------------------------

    def _run(self, jobs: list[Any], one: Callable[[Any], ModelOutput]) -> list[ModelOutput]:
        """Run ``one`` over ``jobs`` with at most ``max_concurrency`` requests in flight, in input order."""
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            return list(pool.map(one, jobs))

    def _request(self, request: ChatRequest, params: dict[str, Any]) -> ChatResult | ModelOutput:
        """Send one request; a failure comes back as an error ``ModelOutput`` instead of an exception."""
        if request.error:
            return ModelOutput(text=None, error=request.error)
        body: dict[str, Any] = {"model": self.api_model, "messages": request.messages, **params}
        if request.mm_processor_kwargs:
            body["mm_processor_kwargs"] = request.mm_processor_kwargs
        try:
            return self.client.chat_completion(body)
        except APIError as exc:
            return ModelOutput(text=None, error=str(exc), extra={"http_status": exc.status, "attempts": exc.attempts})
        except Exception as exc:  # never let one sample kill the batch
            return ModelOutput(text=None, error=f"{type(exc).__name__}: {exc}")

    def _generate_one(self, request: ChatRequest, params: dict[str, Any]) -> ModelOutput:
        result = self._request(request, params)
        if isinstance(result, ModelOutput):
            return result
        text = result.text
        extra = {"attempts": result.attempts, "finish_reason": _first_choice(result.body).get("finish_reason")}
        if text is None:
            return ModelOutput(text=None, error=f"response without message content: {result.body!r:.300}", extra=extra)
        if not text.strip():  # a server answering nothing failed, like null content (the MME extractor maps "" to A)
            return ModelOutput(text=None, error=f"empty completion (finish_reason {extra['finish_reason']!r})",
                               extra=extra)
        return ModelOutput(text=text, n_prompt_tokens=_prompt_tokens(result.body), extra=extra)

    def _score_one(self, request: ChatRequest, letters: list[str], params: dict[str, Any]) -> ModelOutput:
        result = self._request(request, params)
        if isinstance(result, ModelOutput):
            return result
        extra: dict[str, Any] = {"attempts": result.attempts}
        try:
            top = _first_choice(result.body)["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            extra["no_logprobs"] = True
            return ModelOutput(text=None, error="response without logprobs", extra=extra)
        found: dict[str, float] = {}
        for entry in top:
            token, logprob = entry.get("token"), entry.get("logprob")
            if token in letters and logprob is not None:
                found[token] = max(found.get(token, float("-inf")), float(logprob))
        scores = {letter: found[letter] for letter in letters if letter in found}
        missing = [letter for letter in letters if letter not in found]
        if missing:
            extra["letters_not_in_top_logprobs"] = missing
        if not scores:
            return ModelOutput(text=None, error=f"no option letter among the top {len(top)} logprobs", extra=extra)
        best = max(scores, key=scores.__getitem__)
        return ModelOutput(text=best, choice_logprobs=scores, n_prompt_tokens=_prompt_tokens(result.body), extra=extra)


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices") or [{}]
    return choices[0] if isinstance(choices[0], dict) else {}


def _prompt_tokens(body: dict[str, Any]) -> int | None:
    usage = body.get("usage")
    return usage.get("prompt_tokens") if isinstance(usage, dict) else None
