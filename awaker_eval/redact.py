"""Secrets out of everything the harness writes: URL userinfo and secret-bearing query parameters become ``***``.

Keys come from the environment and are never stored, but a user may still paste ``http://user:pw@host/v1`` or
``...?token=abc`` into a base_url; ``redact`` is applied by every writer of settings (config.yaml, run.json, the
report that reads them, log records and one-line errors), so such a value never reaches disk or a terminal log.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
# Query parameter names that carry credentials (compared lower-case; also any name ending in one of the suffixes).
SECRET_PARAMS = frozenset({
    "token", "key", "api_key", "apikey", "api-key", "access_token", "auth", "authorization", "password", "passwd",
    "pwd", "secret", "signature", "sig", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "code",
})
SECRET_SUFFIXES = ("token", "_key", "-key", "apikey", "secret", "signature", "password", "credential")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>\\]+")
_PARAM = re.compile(r"([?&])([A-Za-z0-9_.\-]+)=([^&\s'\"<>#]*)")


def _secret_param(name: str) -> bool:
    low = name.lower()
    return low in SECRET_PARAMS or low.endswith(SECRET_SUFFIXES)


def redact_url(url: str) -> str:
    """``url`` with userinfo and secret query values replaced by ``***``; anything unparsable is returned as is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:  # unparsable (a bad port): still drop any userinfo
        return re.sub(r"//[^/?#]*@", f"//{MASK}@", url, count=1)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:  # piece by piece, so the parameters that stay are byte-identical
        pieces = [piece.partition("=") for piece in query.split("&")]
        query = "&".join(f"{k}={MASK}" if _secret_param(unquote_plus(k)) else k + eq + v for k, eq, v in pieces)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Every URL inside free text (an error message, a log line) redacted, and secret ``?name=value`` /
    ``&name=value`` pieces without a scheme too (a server echoing the request path)."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    if "=" in text:
        text = _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}" if _secret_param(m.group(2)) else m.group(0),
                          text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` (dataclass, dict, list, tuple or string, nested) with every URL in it redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: redact(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Logging filter that redacts URLs in the formatted message of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach ``RedactingFilter`` to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
