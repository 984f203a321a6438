"""Greedy decoding with a right-padded prefill (``model.generate_padding=right``): no 4D mask in the prefill.

Why: HF ``generate`` needs left padding, so a padded batch's prefill runs SDPA with a materialised 4D mask (no
flash / GQA path, K/V copied per head group). Right-padded, every pad comes after every real token: the prefill
runs with ``attention_mask=None`` (SDPA ``is_causal``) and each row's last real hidden state gives its first token.
Decode steps then feed one token per row with a 2-D mask that is 0 on that row's pad slots of the cache, and the
positions HF ``generate`` gives the same row left-padded (transformers 5.x ``_update_model_kwargs_for_generation``:
the prompt's last ``[4, B]`` position + 1 per step; row 0 text positions, rows 1-3 M-RoPE). Greedy selection,
pad-filling of finished rows and the eos / max-length stops are those of ``GenerationMixin._sample``.

It is only used when that is the whole of what HF would do: ``plain_greedy_reason`` asks transformers itself which
logits processors and decoding mode the merged generation config gives, and anything beyond plain argmax (sampling,
repetition penalty, a processor from the checkpoint's generation_config) falls back to HF ``generate``.
"""

from __future__ import annotations

from typing import Any

import torch

from awaker_eval.models.hf_compat import cache_keyword, output_cache


def plain_greedy_reason(hf_model: Any, gen_cfg: Any, device: torch.device) -> str | None:
    """None when HF ``generate`` with ``gen_cfg`` is plain greedy argmax stopped by eos / max length only;
    otherwise why not (the caller then runs HF ``generate``). Any failure of the query counts as "not plain"."""
    try:
        from transformers.generation.configuration_utils import GenerationMode

        cfg, _ = hf_model._prepare_generation_config(gen_cfg)
        hf_model._prepare_special_tokens(cfg, True, device=device, batch_size=1)
        mode = cfg.get_generation_mode()
        if mode != GenerationMode.GREEDY_SEARCH:
            return f"decoding mode {mode.value} is not greedy search"
        processors = hf_model._get_logits_processor(generation_config=cfg, input_ids_seq_length=1, device=device)
        if len(processors):
            return "logits processors " + ", ".join(type(p).__name__ for p in processors)
        if cfg.stop_strings is not None or cfg.max_time is not None:
            return "stop_strings / max_time stopping criteria"
    except Exception as exc:  # a transformers version whose private API differs: never guess
        return f"cannot query transformers' generation setup ({type(exc).__name__}: {exc})"
    return None


def prompt_positions(base_model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``([3, B, L] M-RoPE positions of the right-padded prompt (pads 0), [B] M-RoPE position of each row's
    next token)``, computed as HF computes them for the same rows left-padded (real tokens start at 0)."""
    mask = inputs["attention_mask"]
    n_real = mask.sum(dim=1)
    if inputs.get("image_grid_thw") is None and inputs.get("video_grid_thw") is None:
        text = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        return text.unsqueeze(0).expand(3, -1, -1), n_real
    positions, deltas = base_model.get_rope_index(
        inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], image_grid_thw=inputs.get("image_grid_thw"),
        video_grid_thw=inputs.get("video_grid_thw"), attention_mask=mask)
    return positions, n_real + deltas.view(-1).to(n_real.device)


def greedy_right(hf_model: Any, inputs: dict[str, Any], max_new_tokens: int, eos_token_id: int | list[int],
                 pad_token_id: int) -> torch.Tensor:
    """``[B, T]`` new tokens of a right-padded batch (``models/padding.right_padded``), T <= max_new_tokens;
    rows that stopped are filled with ``pad_token_id`` as HF ``generate`` fills them."""
    mask = inputs["attention_mask"]
    batch = mask.shape[0]
    device = mask.device
    positions, next_mrope = prompt_positions(hf_model.model, inputs)
    next_text = mask.sum(dim=1)  # HF's text row: cumsum of the left mask - 1 at the last prompt token, then + 1
    model_inputs = {k: v for k, v in inputs.items() if k != "attention_mask"}
    out = hf_model.model(**model_inputs, attention_mask=None, position_ids=positions, use_cache=True)
    rows = torch.arange(batch, device=device)
    logits = hf_model.lm_head(out.last_hidden_state[rows, next_text - 1]).float()  # HF: logits[:, -1].float()
    cache = output_cache(out)
    cache_kw = cache_keyword(hf_model)  # `cache` or `past_key_values`, as this transformers names it
    eos = torch.tensor(eos_token_id if isinstance(eos_token_id, (list, tuple)) else [eos_token_id], device=device)
    unfinished = torch.ones(batch, dtype=torch.long, device=device)
    tokens = []
    decode_mask = mask
    for step in range(max_new_tokens):
        if step:
            decode_mask = torch.cat([decode_mask, decode_mask.new_ones(batch, 1)], dim=1)
            offset = step - 1
            step_positions = torch.stack([next_text + offset] + [next_mrope + offset] * 3).unsqueeze(-1)  # [4, B, 1]
            logits = hf_model(input_ids=tokens[-1].unsqueeze(1), attention_mask=decode_mask, position_ids=step_positions,
                              use_cache=True, **{cache_kw: cache}).logits[:, -1].float()
        chosen = logits.argmax(dim=-1)
        chosen = chosen * unfinished + pad_token_id * (1 - unfinished)
        tokens.append(chosen)
        unfinished = unfinished * (~torch.isin(chosen, eos)).long()
        if int(unfinished.max()) == 0:  # HF's StopCheck: one host read per step
            break
    return torch.stack(tokens, dim=1) if tokens else torch.empty(batch, 0, dtype=torch.long, device=device)
