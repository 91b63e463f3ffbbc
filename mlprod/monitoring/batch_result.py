"""What scoring one batch gives (:class:`BatchResult`) and the scoring time records carry: shared by the
single-process inbox (:mod:`.inbox`) and the Dask workers (:mod:`mlprod.scale.score`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    status: str  # scored | skipped (committed earlier) | quarantined
    source: str
    rows: int | None = None
    detail: str = ""
    serving: dict[str, Any] | None = None  # scored through the resilient predictor: the marker's serving entry
    traffic: dict[str, Any] | None = None  # scored under an ab or canary deployment: the marker's traffic entry

    def degraded(self) -> str | None:
        """One line when rows of this batch fell to the rules or the default score, else None."""
        tiers = (self.serving or {}).get("tiers") or {}
        low = tiers.get("rules", 0) + tiers.get("default", 0)
        if not low:
            return None
        reasons = (self.serving or {}).get("fallback_reasons") or {}
        why = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"batch {self.batch_id}: {low:,} of {self.rows:,} rows were scored by the rules or the default "
                f"score, not a model (rules {tiers.get('rules', 0):,}, default {tiers.get('default', 0):,}"
                + (f"; why: {why}" if why else "") + "); see tier and fallback_reason in its predictions")


def now_utc() -> str:
    """The scoring time written into records and markers (UTC, to the second)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
