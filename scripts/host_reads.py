"""Host reads of tensor values (``item``, ``tolist``, ``bool(t)``, ...) during one batch, per optimisation switch.

Why: on a GPU each read of a device tensor is a host synchronisation that stalls the launch queue; the issue-12
optimisations (routing decided once per call, batched vision attention, right-padded choice prefill) remove them.
``device`` counts reads of non-CPU tensors (the real syncs on a GPU); ``all`` counts every read, the only figure a
CPU dry run can give (there every tensor is a host tensor).
"""

from __future__ import annotations

import contextlib

import torch

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def counting_host_reads():
    """Count every call of the ``READS`` methods of any tensor while the block runs."""
    counts = {"all": 0, "device": 0}
    saved = {name: getattr(torch.Tensor, name) for name in READS}

    def counted(method):
        def read(self, *args, **kwargs):
            counts["all"] += 1
            counts["device"] += self.device.type != "cpu"
            return method(self, *args, **kwargs)
        return read

    for name, method in saved.items():
        setattr(torch.Tensor, name, counted(method))
    try:
        yield counts
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def one_batch_reads(model, conversations, letters, new_tokens: int) -> dict[str, dict[str, int]]:
    """Reads during one choice call and one ``generate`` call on the same prepared batch (vision cache emptied
    before each, so both run the vision tower)."""
    from awaker_eval.models.base import GenerationSettings

    prepared = model.prepare(conversations)
    out = {}
    for key, call in (("choice", lambda: model.score_choices(prepared, letters)),
                      (f"generate_{new_tokens}", lambda: model.generate(
                          prepared, GenerationSettings(max_new_tokens=new_tokens)))):
        model.end_batch(), model.end_batch()  # twice: releases every cached image
        with torch.inference_mode(), counting_host_reads() as counts:
            call()
        out[key] = dict(counts)
    return out


def host_reads(bench, switches, questions: int = 2, new_tokens: int = 16) -> dict:
    """The GPU benchmark's stage: reads of one batch of ``questions``, everything on and each of ``switches``
    (``perf_switches.OPTIMISATIONS_OFF`` rows) off; rows that only change engine settings (vision reuse: it saves
    tower calls, not reads within one) are left out."""
    samples = bench.samples[:questions]
    convs, letters = [bench.encode(s) for s in samples], [list(s.letters) for s in samples]
    out = {"questions": len(samples), "all_on": one_batch_reads(bench.model, convs, letters, new_tokens)}
    for name, _, _, _, switch, engine_kwargs in switches:
        if not engine_kwargs:
            with switch(bench):
                out[name] = one_batch_reads(bench.model, convs, letters, new_tokens)
    return out
