"""One error-reporting wrapper for every subcommand: a user error is one line on stderr and exit 2, Ctrl-C is one
line and exit 130, a full / read-only disk is one line that says what was saved. Never a traceback for these.

The exception types are resolved lazily (at catch time), so ``awaker-eval --help`` imports nothing heavy; a module
that raised one of them is already imported by then.
"""

from __future__ import annotations

import errno
import importlib
import sys
from typing import Callable

from awaker_eval.redact import redact_text

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# (module, class name) of the errors that mean "fix your input", never "bug in the harness".
USER_ERROR_NAMES = (
    ("awaker_eval.preflight", "ConfigError"),
    ("awaker_eval.models.loading", "CheckpointNotFound"),
    ("awaker_eval.data.errors", "DataError"),
    ("awaker_eval.models.awaker.checkpoint", "CheckpointError"),
    ("awaker_eval.models.weights_check", "CorruptWeights"),
    ("awaker_eval.prompts.builder", "PromptError"),
    ("safetensors", "SafetensorError"),
    ("awaker_eval.engine.runner", "AllSamplesFailed"),  # every stored prediction is kept; the message says why
    ("awaker_eval.engine.rank_sync", "PeerFailure"),  # another rank failed or died: its message, one line
    ("awaker_eval.models.self_checks", "SelfCheckFailed"),  # runner.self_check=strict: nothing was predicted
    # runner.mode the backend cannot run at all (choice on a server without logprobs): a per-sample failure would
    # send every request only to record the same error on every sample, so it is a setting to fix, at once
    ("awaker_eval.engine.execute", "UnsupportedMode"),
)
# File-system errors that are the user's environment: missing / existing paths, permissions, full or read-only disk.
USER_OS_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS,
                  errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# What to do about a write that failed, by errno: {saved} is what is already on disk.
DISK_HINTS = {**{code: "disk full or not writable; {saved}; free space or fix permissions and rerun"
                 for code in DISK_ERRNOS},
              errno.EFBIG: "a file size limit was reached; {saved}; raise the limit (ulimit -f) or write to another "
                           "file system and rerun"}


def user_error_types() -> tuple[type[BaseException], ...]:
    """The user-error classes whose modules are importable (imported only when an exception is being reported)."""
    found = []
    for module, name in USER_ERROR_NAMES:
        if module not in sys.modules:  # not imported: nothing could have raised it
            continue
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in USER_OS_ERRNOS:
        return True
    if isinstance(exc, UnicodeDecodeError):
        return True
    return isinstance(exc, user_error_types())


def describe(exc: BaseException) -> str:
    """One line: the exception's own message (URLs redacted), newlines folded."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"input is not UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        text = str(exc) or type(exc).__name__
    return redact_text(" ".join(text.split()))


def _saved_text(saved: Callable[[], str] | None) -> str:
    """What is already on disk; a failure to count it must not replace the message being printed."""
    try:
        return saved() if saved else "work finished so far is kept"
    except Exception:  # noqa: BLE001 - the original error is what the user needs to see
        return "work finished so far is kept"


def report(exc: BaseException, saved: Callable[[], str] | None = None, prog: str = "error") -> int:
    """Print the one line for a user error / interrupt / full disk and return its exit status."""
    if isinstance(exc, KeyboardInterrupt):
        print(f"interrupted: {_saved_text(saved)}, rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    line = f"{prog}: {describe(exc)}"
    if isinstance(exc, OSError) and exc.errno in DISK_HINTS:
        line += f" ({DISK_HINTS[exc.errno].format(saved=_saved_text(saved))})"
    print(line, file=sys.stderr)
    return EXIT_USER_ERROR


def run_reported(fn: Callable[[], int | None], saved: Callable[[], str] | None = None, prog: str = "error") -> int:
    """``fn()``'s exit status, or the one-line report of a user error / Ctrl-C; other exceptions propagate."""
    try:
        return int(fn() or 0)
    except KeyboardInterrupt as exc:
        return report(exc, saved, prog)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        return report(exc, saved, prog)
