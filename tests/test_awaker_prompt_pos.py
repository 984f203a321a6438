"""``prompt_pos`` span rules (spec §4, §7.2), with token ids from a token table / tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from awaker_eval.models.awaker.prompt_pos import PromptSpanError, SpecialTokens, prompt_spans, row_span

# Golden-fixture ids (same relative layout as Qwen2-VL): pad 768, im_start 769, im_end 770, vision_start 777,
# vision_end 778, image_pad 780, video_pad 781; system 11, user 12, assistant 13, "\n" 10.
TOK = SpecialTokens(im_start=769, im_end=770, vision_start=777, image_pad=780)
PAD, VS, VE, IMG, VID, NL = 768, 777, 778, 780, 781, 10
SYSTEM = [769, 11, NL, 500, 501, 770, NL]
ASSISTANT = [769, 13, NL]


def user(*content: int) -> list[int]:
    return [769, 12, NL, *content, 770, NL]


def span(ids: list[int]) -> tuple[int, int]:
    return row_span(ids, TOK)


def test_image_first_starts_at_vision_start_and_end_is_exclusive():
    ids = SYSTEM + user(VS, IMG, IMG, VE, 300, 301) + ASSISTANT
    start, end = span(ids)
    assert (start, end) == (10, 16)
    assert ids[start] == VS and ids[end] == 770 and ids[start:end] == [VS, IMG, IMG, VE, 300, 301]


def test_text_before_the_image_is_excluded():
    ids = SYSTEM + user(300, 301, VS, IMG, VE, 302) + ASSISTANT
    assert span(ids) == (12, 16)


def test_text_only_starts_on_the_newline_after_user():
    ids = SYSTEM + user(300, 301, 302) + ASSISTANT
    start, end = span(ids)
    assert (start, end) == (9, 13) and ids[start] == NL


def test_video_only_uses_the_text_rule():
    ids = SYSTEM + user(VS, VID, VID, VE, 300) + ASSISTANT
    assert span(ids) == (9, 15)


def test_only_the_first_user_turn_counts():
    with_image_first_turn = SYSTEM + user(VS, IMG, VE) + [769, 13, NL, 400, 770, NL] + user(301) + ASSISTANT
    assert span(with_image_first_turn) == (10, 13)
    text_first_turn = SYSTEM + user(300, 301) + [769, 13, NL, 400, 770, NL] + user(302) + ASSISTANT
    assert span(text_first_turn) == (9, 12)
    # an image only in a later turn still selects the image rule; its <|vision_start|> lies past the end: error
    with pytest.raises(PromptSpanError, match="empty routing span"):
        span(SYSTEM + user(300) + [769, 13, NL, 400, 770, NL] + user(VS, IMG, VE, 301) + ASSISTANT)


def test_missing_tokens_and_empty_spans_fail_with_the_row():
    with pytest.raises(PromptSpanError, match="row 0: no a second <|im_start|>"):
        span([769, 12, NL, 300, 770])
    with pytest.raises(PromptSpanError, match="second <|im_end|>"):
        span(SYSTEM + [769, 12, NL, 300])
    with pytest.raises(PromptSpanError, match="empty routing span"):
        span(SYSTEM + [769, 12, 770, NL] + ASSISTANT)  # start = im_start + 2 lies past the im_end


def test_left_padded_batch_is_unpadded_span_plus_pads_and_mixes_rules():
    rows = [SYSTEM + user(VS, IMG, IMG, IMG, VE, 300) + ASSISTANT, SYSTEM + user(300, 301) + ASSISTANT]
    length = max(map(len, rows))
    padded = [[PAD] * (length - len(r)) + r for r in rows]
    mask = [[0] * (length - len(r)) + [1] * len(r) for r in rows]
    spans = prompt_spans(torch.tensor(padded), TOK, torch.tensor(mask))
    n_pad = [length - len(r) for r in rows]
    assert n_pad == [0, 4]
    assert spans.tolist() == [[s + n, e + n] for (s, e), n in zip(map(span, rows), n_pad)]
    assert spans.tolist() == [[10, 16], [13, 16]]


def test_golden_inputs_spans(golden_dir):
    meta = json.loads((golden_dir / "inputs.json").read_text())
    tokens = SpecialTokens.from_mapping(meta["special_ids"])
    for sample in meta["samples"]:
        assert list(row_span(sample["input_ids"], tokens)) == sample["prompt_pos"], sample["name"]


def test_ids_come_from_the_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    names = ["<unk>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "user"]
    vocab = {tok: 40 + i for i, tok in enumerate(names)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")), unk_token="<unk>")
    assert SpecialTokens.from_tokenizer(tok) == SpecialTokens(im_start=41, im_end=42, vision_start=43, image_pad=44)
    del vocab["<|image_pad|>"]
    poor = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")), unk_token="<unk>")
    with pytest.raises(PromptSpanError, match="image_pad"):
        SpecialTokens.from_tokenizer(poor)
