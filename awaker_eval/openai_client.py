"""A minimal client for OpenAI-compatible ``/chat/completions`` endpoints (vLLM, SGLang, OpenAI, ...).

One client serves the ``openai_api`` model backend and the LLM choice extractor. Standard library only
(``urllib``), so no new dependency. Transient failures (HTTP 429 / 5xx, timeouts, dropped connections) are
retried with exponential backoff; other HTTP errors fail at once. The API key is read from the environment
variable named by ``api_key_env`` at request time: it is never stored on the object (which stays picklable),
never logged and never put into an error message.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from awaker_eval.redact import redact_text, redact_url

RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class APIError(RuntimeError):
    """A request that failed for good: ``status`` is the last HTTP status (None for network errors / timeouts)."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if any
        self.attempts = 1


@dataclass(frozen=True)
class ChatResult:
    """A parsed response body plus how many HTTP attempts it took."""

    body: dict[str, Any]
    attempts: int

    @property
    def text(self) -> str | None:
        """``choices[0].message.content`` (None when the server returned no content)."""
        try:
            return self.body["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class ChatClient:
    """POSTs chat-completion requests to ``{base_url}/chat/completions``.

    ``max_retries`` is the number of retries after the first attempt. The delay before retry ``k`` (0-based) is
    ``backoff_s * 2**k`` capped at ``backoff_max_s``, scaled by a random factor in [0.5, 1] so concurrent
    workers do not retry in lockstep; a numeric ``Retry-After`` header (capped the same way) takes precedence.
    """

    base_url: str
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.base_url or not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if self.max_retries < 0 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ValueError("max_retries >= 0, timeout_s > 0 and backoff_s >= 0 are required")

    @property
    def url(self) -> str:
        """``{base_url}/chat/completions``, any query string of the base URL kept after the path."""
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))

    def chat_completion(self, body: dict[str, Any]) -> ChatResult:
        """Send one request; retry transient failures; raise ``APIError`` when it cannot succeed."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = 1 + self.max_retries
        for attempt in range(attempts):
            try:
                return ChatResult(self._post_once(data), attempt + 1)
            except APIError as exc:
                exc.attempts = attempt + 1
                if not exc.retryable or attempt + 1 == attempts:
                    if exc.retryable:
                        exc.args = (f"{exc.args[0]} (gave up after {attempts} attempts)",)
                    raise
                time.sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max_s)
        return min(self.backoff_s * 2**attempt, self.backoff_max_s) * random.uniform(0.5, 1.0)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None  # the API_KEY secret, never stored
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, data: bytes) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        shown = redact_url(self.url)  # error messages are recorded per sample and printed: no URL secrets
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = redact_text(_snippet(exc.read() if exc.fp is not None else b""))
            wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            raise APIError(
                f"HTTP {exc.code} from {shown}: {detail}", exc.code, exc.code in RETRYABLE_STATUS, wait
            ) from None
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise APIError(
                f"request to {shown} failed: {type(reason).__name__}: {redact_text(str(reason))}", None, True
            ) from None
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise APIError(f"non-JSON response from {shown}: {redact_text(_snippet(raw))}") from None
        if not isinstance(parsed, dict):
            raise APIError(f"unexpected response from {shown}: {redact_text(_snippet(raw))}")
        return parsed


def _snippet(raw: bytes, limit: int = 300) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: fall back to exponential backoff
        return None
