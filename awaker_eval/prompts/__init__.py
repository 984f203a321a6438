"""Prompt stage: ``Sample`` -> exact benchmark prompt text -> Qwen2-VL chat messages.

Public API: ``build_prompt``, ``to_messages``, ``protocol_fingerprint``, ``prompt_hash``, ``protocols``.
"""

from awaker_eval.prompts.builder import (
    PromptError,
    build_prompt,
    canonical_protocol,
    prompt_hash,
    protocol_fingerprint,
    protocols,
)
from awaker_eval.prompts.messages import to_messages

__all__ = [
    "PromptError",
    "build_prompt",
    "canonical_protocol",
    "prompt_hash",
    "protocol_fingerprint",
    "protocols",
    "to_messages",
]
