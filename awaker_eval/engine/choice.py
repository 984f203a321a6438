"""How often choice-by-scoring agrees with the official generation protocol, on the same samples."""

from __future__ import annotations

from typing import Any, Sequence

from awaker_eval.types import Prediction


def choice_agreement(gen_predictions: Sequence[Prediction], choice_predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Compare the extracted letters of a generation run and a choice run, matched by sample id.

    Only samples present and not failed in both runs are compared. ``agreement`` is the fraction with the same
    letter; ``gen_accuracy`` / ``choice_accuracy`` are over the compared samples with a known answer.
    """
    choice_by_id = {p.id: p for p in choice_predictions}
    n = agree = n_answered = gen_right = choice_right = 0
    disagreements: list[dict[str, str]] = []
    for g in gen_predictions:
        c = choice_by_id.get(g.id)
        if c is None or g.error is not None or c.error is not None:
            continue
        n += 1
        if g.extracted == c.extracted:
            agree += 1
        elif len(disagreements) < 20:
            disagreements.append({"id": g.id, "generate": g.extracted, "choice": c.extracted})
        if g.answer is not None:
            n_answered += 1
            gen_right += bool(g.correct)
            choice_right += bool(c.correct)
    return {
        "compared": n,
        "agree": agree,
        "agreement": agree / n if n else None,
        "answered": n_answered,
        "gen_accuracy": gen_right / n_answered if n_answered else None,
        "choice_accuracy": choice_right / n_answered if n_answered else None,
        "disagreements_sample": disagreements,
    }
