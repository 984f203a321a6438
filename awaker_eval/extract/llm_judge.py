"""Optional LLM choice extractor for MMBench passes the rules cannot parse (spec ``benchmarks.md`` §3.4).

The VLMEvalKit flow: fill the EN (or, when the question has CJK characters, CN) matching prompt, ask an
OpenAI-compatible judge up to ``retries`` times, parse each reply with the rule-based ``can_infer``. Unlike
VLMEvalKit, exhausting the retries is never silently filled: the judge returns ``None`` and counts a failure
(a seeded uniform pick among the letters + ``Z`` exists only as the explicit ``random_fallback`` option).

A judge *call* that fails (HTTP error after the transport retries, timeout, refused connection, non-JSON body,
no ``choices`` / no content, an empty reply) is not an unparsed pass: ``__call__`` raises ``JudgeCallError``,
the pass is recorded as ``extract_method="judge_failed"`` with the error (so it counts as failed, and the
engine recomputes it on the next run), it is counted in ``JudgeStats.errors`` and never cached, and the random
fallback never applies to it. ``check_judge_failures`` makes the run exit non-zero past
``benchmark.judge.max_failures``.

Only real replies are cached on disk (JSONL keyed by sha256 of model + prompt), so a rerun makes no HTTP
calls for them; an entry without a real reply (empty replies written by older versions) or an unreadable line
is ignored with a warning naming ``file:line``. ``reuse_cache=False`` (``runner.resume=false``) ignores the
existing entries (new ones are still appended, and later entries win when read back). Every call is recorded
(model, prompt hash, replies, attempts, error).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from awaker_eval.extract.dispatch import JUDGE_FAILED, JudgeCallError
from awaker_eval.tasks.vlmevalkit_mcq.extract import can_infer_2024
from awaker_eval.config.schema import JudgeConfig
from awaker_eval.openai_client import APIError, ChatClient
from awaker_eval.tasks.vlmevalkit_mcq.prompts import has_cjk, option_lines
from awaker_eval.types import Choice, Prediction

log = logging.getLogger(__name__)
Parse = Callable[[str, Mapping[str, str]], "str | None"]

# Byte-exact copies of the spec's JSON string literals (VLMEvalKit MCQ matching prompts); filled by str.format.
EN_TEMPLATE = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice question. You are provided with a question, several options, and an answer, and you need to find which option is most similar to the answer. If the meaning of all options are significantly different from the answer, output Z. Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \nExample 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\nExample 2: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: Z\nExample 3: \nQuestion: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)
CN_TEMPLATE = (
    "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。如果所有选项的意义都与答案显著不同，则输出 Z。你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。例 1:问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n例 2: \n问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n例 3: \n问题: {}?\n选项: {}\n答案: {}\n输出: "
)
OPTIONS_HEAD = "There are several options: \n"


def judge_config_from_dict(values: Mapping[str, Any]) -> JudgeConfig:
    """Build from a plain mapping; unknown keys and missing ``base_url`` / ``model`` fail with their names."""
    known = {f.name for f in fields(JudgeConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"benchmark.judge: unknown key(s) {unknown}; known keys are {sorted(known)}")
    missing = [k for k in ("base_url", "model") if not values.get(k)]
    if missing:
        raise ValueError(f"benchmark.judge: missing required key(s) {missing}")
    return JudgeConfig(**dict(values))


@dataclass
class JudgeStats:
    """Counts the report prints: judge calls, cache hits, HTTP requests, failures (no letter decided), errors
    (the subset whose call failed: no real reply), random fallbacks."""

    calls: int = 0
    cache_hits: int = 0
    requests: int = 0
    failures: int = 0
    random_fallbacks: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class JudgeRecord:
    """One judge call: what was asked, what came back and how the letter was decided."""

    model: str
    prompt_sha256: str
    template: str  # "en" | "cn"
    replies: list[str] = field(default_factory=list)
    attempts: int = 0
    letter: str | None = None
    method: str = "failed"  # "judge" | "random_fallback" | "failed"
    cached: bool = False
    error: str | None = None


def options_string(choices: list[Choice]) -> str:
    """``"There are several options: \\n"`` + ``"A. text\\n"`` per option (VLMEvalKit layout)."""
    return OPTIONS_HEAD + option_lines(choices)


def build_prompt(question: str, choices: list[Choice], prediction: str) -> tuple[str, str]:
    """``(prompt, "en" | "cn")``: the CN template when the question contains U+4E00..U+9FFF."""
    lang = "cn" if has_cjk(question) else "en"
    template = CN_TEMPLATE if lang == "cn" else EN_TEMPLATE
    return template.format(question, options_string(choices), prediction), lang


class LLMJudge:
    """``judge(question, choices, prediction) -> letter | "Z" | None``; thread-safe; see the module docstring."""

    def __init__(self, config: JudgeConfig, parse: Parse = can_infer_2024, client: ChatClient | None = None,
                 reuse_cache: bool = True):
        if config.retries < 1:
            raise ValueError(f"benchmark.judge.retries must be >= 1, got {config.retries}")
        if config.max_failures < 0:
            raise ValueError(f"benchmark.judge.max_failures must be >= 0, got {config.max_failures}")
        self.config = config
        self.parse = parse
        self.client = client or ChatClient(
            config.base_url, config.api_key_env, config.timeout_s, config.http_retries, config.backoff_s
        )
        self.stats = JudgeStats()
        self.records: list[JudgeRecord] = []
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = _load_cache(config.cache_path) if reuse_cache else {}

    def __call__(self, question: str, choices: list[Choice], prediction: str) -> str | None:
        """The letter, ``"Z"`` or ``None`` (replies unparsable); ``JudgeCallError`` when the call failed."""
        record = self.judge(question, choices, prediction)
        if record.error is not None:
            raise JudgeCallError(record.error)
        return record.letter

    def judge(self, question: str, choices: list[Choice], prediction: str) -> JudgeRecord:
        """Ask (or read the cache), parse, and record one decision."""
        prompt, lang = build_prompt(question, choices, prediction)
        key = hashlib.sha256(json.dumps([self.config.model, prompt], ensure_ascii=False).encode()).hexdigest()
        options = {c.letter: c.text for c in choices}
        with self._lock:
            self.stats.calls += 1
            cached = self._cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
        record = JudgeRecord(self.config.model, key, lang, cached=cached is not None)
        if cached is not None:
            record.replies, record.attempts = list(cached["replies"]), int(cached["attempts"])
            record.letter = cached["letter"]
        else:
            self._ask(record, prompt, options)
        record.method = "judge" if record.letter else "failed"
        if record.letter is None and record.error is None and self.config.random_fallback:
            rng = random.Random(f"{self.config.seed}:{key}")
            record.letter, record.method = rng.choice([*options, "Z"]), "random_fallback"
        with self._lock:
            self.stats.failures += record.method != "judge"
            self.stats.random_fallbacks += record.method == "random_fallback"
            self.stats.errors += record.error is not None
            self.records.append(record)
        return record

    def _ask(self, record: JudgeRecord, prompt: str, options: dict[str, str]) -> None:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.config.temperature,
        }
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        for _ in range(self.config.retries):
            record.attempts += 1
            with self._lock:
                self.stats.requests += 1
            try:
                reply = self.client.chat_completion(body).text
            except APIError as exc:  # endpoint unusable: a failure, not cached (a rerun asks again)
                record.error = f"judge call failed: {exc}"
                return
            if reply is None or not reply.strip():  # no real reply: a failure, not cached
                record.error = "judge call failed: " + ("response without message content" if reply is None
                                                        else "empty reply")
                return
            record.replies.append(reply)
            letter = self.parse(reply, options)
            if letter:
                record.letter = letter
                break
        self._store(record)

    def _store(self, record: JudgeRecord) -> None:
        entry = {
            "key": record.prompt_sha256, "model": record.model, "replies": record.replies,
            "attempts": record.attempts, "letter": record.letter,
        }
        with self._lock:
            self._cache[record.prompt_sha256] = entry
            if self.config.cache_path:
                path = Path(self.config.cache_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a+b") as fh:  # appends always land at the end
                    if fh.seek(0, 2) > 0:
                        fh.seek(-1, 2)
                        if fh.read(1) != b"\n":  # a torn last line: start a fresh one
                            fh.write(b"\n")
                    fh.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")


def _real_entry(entry: Any) -> bool:
    """A cache entry holding real replies: a list of non-blank strings, one per attempt."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        return False
    replies = entry.get("replies")
    return (isinstance(replies, list) and bool(replies) and entry.get("attempts") == len(replies)
            and all(isinstance(r, str) and r.strip() for r in replies)
            and (entry.get("letter") is None or isinstance(entry.get("letter"), str)))


def _load_cache(cache_path: str | None) -> dict[str, dict[str, Any]]:
    """Read the JSONL cache; a torn, corrupt or reply-less line is skipped with a warning naming file:line."""
    if not cache_path or not Path(cache_path).exists():
        return {}
    cache = {}
    with open(cache_path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError as exc:
                log.warning("%s:%d: unreadable judge cache line ignored (%s)", cache_path, number, exc)
                continue
            if not _real_entry(entry):
                log.warning("%s:%d: judge cache entry without a real reply ignored (asked again)", cache_path, number)
                continue
            cache[entry["key"]] = entry
    return cache


class JudgeFailuresExceeded(RuntimeError):
    """More judge calls failed than ``benchmark.judge.max_failures`` allows (raised after every output is written)."""


def check_judge_failures(predictions: list[Prediction], max_failures: int) -> int:
    """The number of passes whose judge call failed; raises ``JudgeFailuresExceeded`` above ``max_failures``,
    else prints a warning line when there are any."""
    failed = sum(p.extract_method == JUDGE_FAILED for p in predictions)
    message = (f"{failed} judge call(s) failed (benchmark.judge.max_failures={max_failures}); those passes are "
               "recorded with their error, count as wrong and are retried when you rerun the same command")
    if failed > max_failures:
        raise JudgeFailuresExceeded(message)
    if failed:
        print(f"warning: {message}", file=sys.stderr)
    return failed
