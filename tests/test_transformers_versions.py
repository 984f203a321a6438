"""The supported transformers range (pyproject) and the names that differ inside it.

5.17 (the lower bound, what the GPU machines run) names the KV cache ``past_key_values``; 5.25 names it ``cache``.
The helpers in ``models/hf_compat`` ask the object which name it uses; these tests give them fakes of either kind,
and check the installed transformers against them (``.ci/lowest_transformers.sh`` runs this file on the lower bound).
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from awaker_eval.models import greedy_right as greedy_module
from awaker_eval.models.hf_compat import CACHE_NAMES, cache_keyword, kwargs_cache, output_cache

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
OLDEST_CHECKED = Version("5.17")  # the oldest transformers whose names the helpers were run against


def transformers_requirement() -> Requirement:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "transformers"]
    return req


def test_pyproject_lower_bound_is_a_version_whose_names_the_code_supports():
    req = transformers_requirement()
    lower = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert len(lower) == 1, f"pyproject states no single lower bound for transformers: {req}"
    assert lower[0] >= OLDEST_CHECKED, (
        f"transformers {lower[0]} is older than {OLDEST_CHECKED}, the oldest whose names models/hf_compat knows")
    assert not req.specifier.contains("6.0"), "a new major version is not supported until it is tested"


def test_installed_transformers_is_in_the_supported_range_and_uses_known_names():
    import transformers
    from transformers import Qwen2VLForConditionalGeneration
    from transformers.modeling_outputs import BaseModelOutputWithPast
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLModel

    assert transformers_requirement().specifier.contains(transformers.__version__)
    for cls in (Qwen2VLForConditionalGeneration, Qwen2VLModel):
        assert cache_keyword(cls) in CACHE_NAMES
    fields = set(BaseModelOutputWithPast.__dataclass_fields__)
    (name,) = fields & set(CACHE_NAMES)
    marker = object()
    assert output_cache(BaseModelOutputWithPast(last_hidden_state=torch.zeros(1), **{name: marker})) is marker
    assert output_cache(BaseModelOutputWithPast(last_hidden_state=torch.zeros(1))) is None  # use_cache=False


@pytest.mark.parametrize("name", CACHE_NAMES)
def test_output_cache_reads_whichever_attribute_the_output_has(name):
    marker = object()
    assert output_cache(SimpleNamespace(last_hidden_state=None, **{name: marker})) is marker
    assert kwargs_cache({"input_ids": None, name: marker}) is marker


def test_output_cache_fails_clearly_without_a_cache_attribute():
    with pytest.raises(AttributeError, match="no cache attribute"):
        output_cache(SimpleNamespace(last_hidden_state=None))
    assert kwargs_cache({"input_ids": None}) is None


def _hf_like(forward):
    """A decorator like HF's (functools.wraps): the signature is read through it."""
    @functools.wraps(forward)
    def wrapper(*args, **kwargs):
        return forward(*args, **kwargs)
    return wrapper


class _FakeBase:
    """The base model: its prefill output carries the cache under the class's ``CACHE_NAME``."""

    def __init__(self, cache_name: str, cache):
        self.cache_name, self.cache = cache_name, cache

    def __call__(self, input_ids, attention_mask=None, position_ids=None, use_cache=None, **kwargs):
        batch, length = input_ids.shape
        return SimpleNamespace(last_hidden_state=torch.zeros(batch, length, 2), **{self.cache_name: self.cache})


class _FakeLM:
    VOCAB, TOKEN = 7, 3  # every step picks TOKEN, never an eos

    def __init__(self, cache_name: str):
        self.cache = object()
        self.model = _FakeBase(cache_name, self.cache)
        self.decode_calls: list[dict] = []

    def lm_head(self, hidden):
        return torch.nn.functional.one_hot(torch.full(hidden.shape[:-1], self.TOKEN), self.VOCAB).float()

    def __call__(self, **kwargs):
        return self.forward(**kwargs)

    def _step(self, kwargs):
        self.decode_calls.append(kwargs)
        return SimpleNamespace(logits=self.lm_head(torch.zeros(kwargs["input_ids"].shape[0], 1, 2)))


class _LMNamingCache(_FakeLM):  # transformers 5.25
    @_hf_like
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None, **kwargs):
        return self._step(dict(kwargs, input_ids=input_ids, cache=cache))


class _LMNamingPastKeyValues(_FakeLM):  # transformers 5.17
    @_hf_like
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None,
                **kwargs):
        return self._step(dict(kwargs, input_ids=input_ids, past_key_values=past_key_values))


@pytest.mark.parametrize("cls, name", [(_LMNamingCache, "cache"), (_LMNamingPastKeyValues, "past_key_values")])
def test_greedy_right_passes_the_cache_under_the_keyword_the_forward_declares(cls, name):
    lm = cls(name)
    assert cache_keyword(lm) == name
    inputs = {"input_ids": torch.tensor([[5, 6, 1], [5, 1, 0]]), "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])}
    tokens = greedy_module.greedy_right(lm, inputs, max_new_tokens=3, eos_token_id=[0], pad_token_id=0)
    assert tokens.tolist() == [[_FakeLM.TOKEN] * 3] * 2
    assert len(lm.decode_calls) == 2
    for call in lm.decode_calls:
        assert call[name] is lm.cache  # the prefill's cache, under the declared name; no other name passed
        assert set(call) & set(CACHE_NAMES) == {name}
