"""Secrets out of everything the harness writes: URL userinfo, secret-bearing query parameters, URL path segments
that look like keys (``/sk-live-.../v1``, long hex or base64 runs) and whatever the user's ``model.secret_patterns``
match become ``***``.

Keys come from the environment and are never stored, but a user may still paste ``http://user:pw@host/v1``,
``...?token=abc`` or ``https://host/<key>/v1`` into a base_url; ``redact`` is applied by every writer of settings
(config.yaml, run.json, the report that reads them, log records and one-line errors), and the command line is
masked before Hydra writes or logs it (awaker_eval/overrides.py), so such a value never reaches disk or a terminal.
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
# Path segments that are credentials by their shape: vendor key prefixes (matched anywhere in text too) ...
KEY_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(?:sk[-_][A-Za-z0-9_-]{8,}|rk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{30,}"
                       r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}"
                       r"|glpat-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35})")
# ... and, in URL paths only, long hex runs and long base64 runs mixing upper case, lower case and digits (model
# names and hub ids always break their words with - _ . /). A segment right after one of these names is a pinned
# revision or a content digest, which is provenance, not a credential.
HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
BASE64_RUN = re.compile(r"[A-Za-z0-9+=]{32,}")
REVISION_PARENTS = frozenset({"resolve", "blob", "blobs", "tree", "commit", "commits", "raw", "refs", "snapshots",
                              "revision", "revisions"})
_user_patterns: tuple[re.Pattern, ...] = ()  # model.secret_patterns and the literal secrets the command line held
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>\\]+")
_PARAM = re.compile(r"([?&])([A-Za-z0-9_.\-]+)=([^&\s'\"<>#]*)")


def _secret_param(name: str) -> bool:
    low = name.lower()
    return low in SECRET_PARAMS or low.endswith(SECRET_SUFFIXES)


def set_secret_patterns(patterns: list[str] | tuple[str, ...]) -> None:
    """Mask every match of these regexes too, wherever text is redacted: the run's ``model.secret_patterns`` (checked
    by ``preflight.check_secret_patterns``) and the literal secrets found on its command line (so a server echoing
    them back is masked as well). Replaces the previous set: each run installs its own."""
    global _user_patterns
    _user_patterns = tuple(re.compile(p) for p in dict.fromkeys(patterns))


def _mixed_case_run(run: str) -> bool:
    return any(c.islower() for c in run) and any(c.isupper() for c in run) and any(c.isdigit() for c in run)


def key_like_segment(segment: str, previous: str = "") -> bool:
    """Whether a URL path segment looks like a credential (``previous`` is the segment before it)."""
    if KEY_TOKEN.fullmatch(segment):
        return True
    if previous.lower() in REVISION_PARENTS:
        return False
    return bool(HEX_RUN.search(segment)) or any(_mixed_case_run(run) for run in BASE64_RUN.findall(segment))


def _redact_path(path: str) -> str:
    segments = path.split("/")
    return "/".join(MASK if seg and key_like_segment(seg, segments[i - 1] if i else "") else seg
                    for i, seg in enumerate(segments))


def _mask_tokens(text: str) -> str:
    """Vendor-prefixed keys and the user's patterns, anywhere in ``text``."""
    text = KEY_TOKEN.sub(MASK, text)
    for pattern in _user_patterns:
        text = pattern.sub(MASK, text)
    return text


def redact_url(url: str) -> str:
    """``url`` with userinfo, secret query values, key-like path segments and the user's patterns replaced by
    ``***``; an unparsable URL keeps its shape but still loses any userinfo."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:  # unparsable (a bad port): still drop any userinfo
        return _mask_tokens(re.sub(r"//[^/?#]*@", f"//{MASK}@", url, count=1))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:  # piece by piece, so the parameters that stay are byte-identical
        pieces = [piece.partition("=") for piece in query.split("&")]
        query = "&".join(f"{k}={MASK}" if _secret_param(unquote_plus(k)) else k + eq + v for k, eq, v in pieces)
    path = _redact_path(parts.path)
    if (netloc, path, query) != (parts.netloc, parts.path, parts.query):
        url = urlunsplit(parts._replace(netloc=netloc, path=path, query=query))
    return _mask_tokens(url)


def redact_text(text: str) -> str:
    """Every URL inside free text (an error message, a log line) redacted, secret ``?name=value`` /
    ``&name=value`` pieces without a scheme too (a server echoing the request path), vendor-prefixed keys and the
    user's patterns anywhere."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    if "=" in text:
        text = _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}" if _secret_param(m.group(2)) else m.group(0),
                          text)
    return _mask_tokens(text)


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
