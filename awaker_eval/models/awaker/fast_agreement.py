"""How far ``adapter_dtype_mode=fast`` is from ``parity`` on the same inputs: letters, routing, greedy ids, logits.

Fast mode changes only the rounding of the decoder's adapted Linears; the routers read the layer-0 input embeddings
(token embeddings and vision features, neither touched by the adapters), so their decisions must be identical, and
the letters / greedy ids should be on all but near-tied rows. ``run_mode`` records one model's outputs (kept on the
host, so the two models never need to be resident together) and ``agreement`` compares two records; the tests and
``scripts/gpu_perf_awaker7b.py`` both use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from awaker_eval.models.base import Messages


@dataclass
class ModeRun:
    """One model's outputs on a list of batches, row by row."""

    letters: list[str] = field(default_factory=list)  # score_choices' pick
    letter_logprobs: list[dict[str, float]] = field(default_factory=list)
    routing: list[Any] = field(default_factory=list)  # (choice record, generate record) per row
    greedy_ids: list[list[int]] = field(default_factory=list)
    logits: list[torch.Tensor] = field(default_factory=list)  # [steps, vocab] fp32, on the host


@torch.inference_mode()
def run_mode(model, batches: list[tuple[list[Messages], list[list[str]]]], max_new_tokens: int = 4) -> ModeRun:
    """Choice scoring, then greedy generation with per-step logits, of every ``(conversations, letters)`` batch."""
    from transformers import GenerationConfig

    gen_cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=model.eos_token_id,
                               pad_token_id=model.pad_token_id, output_logits=True, return_dict_in_generate=True)
    run = ModeRun()
    for conversations, letters in batches:
        prepared = model.prepare(conversations)
        choices = model.score_choices(prepared, letters)
        with model._call_inputs(prepared) as inputs, model._generation_context(inputs):
            out = model.hf_model.generate(**inputs, generation_config=gen_cfg)
        records = model._routing_records() or [None] * len(choices)
        logits = torch.stack(out.logits, dim=1).float().cpu()
        new_ids = out.sequences[:, inputs["input_ids"].shape[1]:].tolist()
        for row, choice in enumerate(choices):
            run.letters.append(choice.text)
            run.letter_logprobs.append(choice.choice_logprobs)
            run.routing.append((choice.routing, records[row]))
            run.greedy_ids.append(new_ids[row])
            run.logits.append(logits[row])
    return run


def _common_steps(a: list[int], b: list[int]) -> int:
    """Steps whose logits share their context: up to and including the first differing token."""
    same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)) - 1)
    return same + 1


def agreement(parity: ModeRun, fast: ModeRun) -> dict[str, Any]:
    """Counts of equal letters / routing records / greedy id rows, and the largest |logit| and letter log-prob
    differences (logits over the steps before the greedy ids part, where both saw the same tokens)."""
    n = len(parity.letters)
    if len(fast.letters) != n:
        raise ValueError(f"the two runs cover {n} and {len(fast.letters)} rows")
    logit_diff = max((float((a[:k] - b[:k]).abs().max()) for a, b, k in
                      ((a, b, _common_steps(ia, ib)) for a, b, ia, ib in
                       zip(parity.logits, fast.logits, parity.greedy_ids, fast.greedy_ids))), default=0.0)
    letter_diff = max((abs(a[k] - b[k]) for a, b in zip(parity.letter_logprobs, fast.letter_logprobs) for k in a),
                      default=0.0)
    return {"rows": n,
            "same_letters": sum(a == b for a, b in zip(parity.letters, fast.letters)),
            "same_routing": sum(a == b for a, b in zip(parity.routing, fast.routing)),
            "same_greedy_ids": sum(a == b for a, b in zip(parity.greedy_ids, fast.greedy_ids)),
            "max_abs_logit_diff": logit_diff, "max_letter_logprob_diff": letter_diff}


def compare_modes(build: Callable[[str], Any], batches, max_new_tokens: int = 4) -> dict[str, Any]:
    """Build the model in ``parity`` then in ``fast`` mode (one at a time) and compare them on ``batches``."""
    runs = {}
    for mode in ("parity", "fast"):
        model = build(mode)
        runs[mode] = run_mode(model, batches, max_new_tokens)
        del model
    return agreement(runs["parity"], runs["fast"])
