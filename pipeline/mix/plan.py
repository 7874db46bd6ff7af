"""The mix plan: from each bucket's available tokens, the target token shares and the most epochs
a bucket may be repeated, how many tokens each bucket contributes and at what rate.

Total: the requested `total_tokens`, or, when none is requested or it is more than the input
allows, the largest total at which every bucket meets its share (the scarcest bucket, with its
allowed repetition, sets it). A bucket with no tokens at all cannot meet any share: it is reported
unmet and the others' shares are renormalised among themselves.

Rate r_b = goal_b / available_b: every document of b gets floor(r_b) copies, and documents taken
in a seeded order until the remaining (r_b - floor(r_b)) * available_b tokens are reached get
one more (pipeline/mix/cuts.py)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class BucketPlan:
    available_tokens: int
    target_share: float  # as configured, normalised to sum 1
    planned_share: float  # after renormalising away buckets with no tokens
    max_epochs: float
    goal_tokens: float
    rate: float

    @property
    def whole_copies(self) -> int:
        return math.floor(self.rate)

    @property
    def fraction(self) -> float:
        return self.rate - self.whole_copies


@dataclass
class MixPlan:
    buckets: dict[str, BucketPlan]
    requested_tokens: int | None
    total_tokens: float
    limited_by: str | None  # the bucket whose tokens x max epochs set the total, if any
    unmet: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "buckets": {b: asdict(p) for b, p in sorted(self.buckets.items())},
            "requested_tokens": self.requested_tokens,
            "total_tokens": self.total_tokens,
            "limited_by": self.limited_by,
            "unmet": self.unmet,
        }


def plan_mix(
    available: dict[str, int], targets: dict[str, float], max_epochs: dict[str, float], requested_tokens: int | None
) -> MixPlan:
    weight = sum(targets.values())
    if weight <= 0:
        raise ValueError(f"mix targets must have a positive sum: {targets}")
    shares = {b: t / weight for b, t in targets.items()}
    present = {b: s for b, s in shares.items() if s > 0 and available.get(b, 0) > 0}
    unmet = [
        {"bucket": b, "target_share": s, "achievable_share": 0.0, "shortfall_pp": round(100 * s, 3),
         "why": "no tokens in the input"}
        for b, s in sorted(shares.items()) if s > 0 and b not in present
    ]
    present_weight = sum(present.values())
    planned = {b: s / present_weight for b, s in present.items()} if present_weight else {}
    caps = {b: available[b] * max_epochs[b] / planned[b] for b in planned}
    limited_by = min(caps, key=lambda b: (caps[b], b)) if caps else None
    most = caps[limited_by] if limited_by else 0.0
    total = float(most if requested_tokens is None else min(requested_tokens, most))
    if requested_tokens is not None and requested_tokens > most:
        unmet.append({
            "bucket": limited_by, "requested_tokens": requested_tokens, "achievable_tokens": math.floor(most),
            "shortfall_tokens": requested_tokens - math.floor(most),
            "why": f"{limited_by} has {available.get(limited_by, 0)} tokens x {max_epochs.get(limited_by)} epochs",
        })
    if requested_tokens is not None and requested_tokens <= most:
        limited_by = None
    buckets = {}
    for b in sorted(shares):
        avail = int(available.get(b, 0))
        goal = total * planned.get(b, 0.0)
        buckets[b] = BucketPlan(
            available_tokens=avail, target_share=shares[b], planned_share=planned.get(b, 0.0),
            # rounded so that a bucket used exactly max_epochs times is not 3.9999999 copies
            max_epochs=max_epochs[b], goal_tokens=goal, rate=round(goal / avail, 9) if avail else 0.0,
        )
    return MixPlan(buckets=buckets, requested_tokens=requested_tokens, total_tokens=total, limited_by=limited_by, unmet=unmet)
