"""The tiers a row can be scored by, in order: primary model -> fallback model (optional) -> rules -> default.

A model tier calls ``predict_proba(frame)[:, 1]`` through its :class:`~mlprod.serving.budget.BoundedCaller`.
A call that fails as a whole (it raised, timed out, the breaker is open, the result has the wrong shape or
length) sends all its rows down; otherwise the output is checked per row (vectorised) and only the rows whose
score is not finite (``nan``) or outside [0, 1] (``out_of_bounds``) go down.

The rules tier evaluates ``serving.rules`` in order with mlprod's rule language (parsed with :mod:`ast` and a
whitelist, evaluated on columns; never ``eval``): the first rule that is true for a row gives its score; a row no
rule matches (or that a rule cannot judge because of a missing value) gets the constant default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .budget import BoundedCaller
from .settings import Rule

BAD_SHAPE, NAN, OUT_OF_BOUNDS = "bad_shape", "nan", "out_of_bounds"


class ModelTier:
    """One model behind a bounded, budgeted caller."""

    def __init__(self, name: str, model: Any, caller: BoundedCaller) -> None:
        self.name = name
        self.model = model
        self.caller = caller

    def score(self, frame: Any) -> tuple[np.ndarray | None, np.ndarray | str | None]:
        """``(scores, reasons)`` for ``frame``'s rows: ``(None, reason)`` when the call failed as a whole, else
        the scores and None (all good) or a per-row array of reasons (None where the score is good)."""
        n = len(frame)
        return _scores(*self.caller.call(self.model.predict_proba, frame, lambda out: _shape_problem(out, n)))

    async def ascore(self, frame: Any) -> tuple[np.ndarray | None, np.ndarray | str | None]:
        """:meth:`score` awaited on an event loop (:meth:`BoundedCaller.acall`)."""
        n = len(frame)
        return _scores(*await self.caller.acall(self.model.predict_proba, frame, lambda out: _shape_problem(out, n)))

    def close(self) -> None:
        self.caller.close()


def _scores(proba: Any, reason: str | None) -> tuple[np.ndarray | None, np.ndarray | str | None]:
    if reason is not None:
        return None, reason
    scores = np.asarray(proba)[:, 1].astype("float64", copy=False)
    return scores, row_problems(scores)


def _shape_problem(out: Any, n: int) -> str | None:
    """``bad_shape`` unless ``out`` is an (n, 2+) array of numbers."""
    try:
        out = np.asarray(out)
    except Exception:
        return BAD_SHAPE
    if out.ndim != 2 or out.shape[0] != n or out.shape[1] < 2 or out.dtype.kind not in "iuf":
        return BAD_SHAPE
    return None


def row_problems(scores: np.ndarray) -> np.ndarray | None:
    """None when every score is a finite number in [0, 1]; else per row ``nan`` / ``out_of_bounds`` / None."""
    with np.errstate(invalid="ignore"):
        good = (scores >= 0) & (scores <= 1)  # False for NaN
    if good.all():
        return None
    reasons = np.full(scores.shape[0], None, dtype=object)
    reasons[~good] = OUT_OF_BOUNDS
    reasons[np.isnan(scores)] = NAN
    return reasons


class RuleTier:
    """``serving.rules`` compiled against the model's input columns; a bad rule is a ConfigError at build time."""

    def __init__(self, rules: tuple[Rule, ...], column_types: dict[str, str], *, default_score: float,
                 where: str = "params.yaml serving.rules") -> None:
        from ..validation.expressions import compile_expression

        self.rules = tuple(rules)
        self.default_score = float(default_score)
        self._compiled = [(compile_expression(rule.when, column_types, where=f"{where}[{i}].when"), rule.score)
                          for i, rule in enumerate(self.rules)]

    def score(self, frame: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, matched)``: per row the first matching rule's score (matched True) or the default."""
        n = len(frame)
        scores = np.full(n, self.default_score, dtype="float64")
        matched = np.zeros(n, dtype=bool)
        for expression, score in self._compiled:
            if matched.all():
                break
            try:
                failing, unknown = expression.evaluate(frame)  # mlprod.validation.rule_eval.evaluate
            except Exception:  # a rule that cannot be evaluated on these values matches nothing
                continue
            true = ~failing & ~unknown & ~matched
            scores[true] = score
            matched |= true
        return scores, matched
