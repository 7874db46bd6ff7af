"""summary.json["mix"]: targets against what the shards hold, per bucket, language and topic,
repetition factors, the annealing set and every unmet target with its shortfall. Built from the
mix stage's plan (<stage dir>/decision/mix.json) and the shard stage's facts (what it wrote)."""
from __future__ import annotations

from pipeline import storage
from pipeline.mix.stage import PLAN_FILE


def _load_plan(outcomes) -> dict | None:
    for o in outcomes:
        if o.name == "mix":
            plan = storage.read_json(storage.join(o.stage_dir, "decision", PLAN_FILE))
            if plan is not None:
                return plan
    return None


def mix_section(outcomes) -> dict | None:
    plan = _load_plan(outcomes)
    written = next((o.facts["mix"] for o in outcomes if o.name == "shard" and "mix" in (o.facts or {})), None)
    if plan is None and written is None:
        return None
    section: dict = {}
    if plan is not None:
        buckets = {}
        for b, p in plan["plan"]["buckets"].items():
            realised = plan["realised"][b]
            shards = (written or {}).get("buckets", {}).get(b, {})
            tokens = shards.get("tokens", realised["tokens"])
            buckets[b] = {
                "target": p["target_share"],
                "planned": p["planned_share"],  # the target renormalised over buckets that have tokens
                "achieved": shards.get("share", realised["share"]),
                "tokens": tokens,
                "available_tokens": p["available_tokens"],
                "repetition": round(tokens / p["available_tokens"], 6) if p["available_tokens"] else 0.0,
                "max_epochs": p["max_epochs"],
                "documents": realised["documents"],
            }
        section["buckets"] = buckets
        section["total_tokens"] = {
            "requested": plan["plan"]["requested_tokens"],
            "planned": round(plan["plan"]["total_tokens"], 3),
            "achieved": sum(v["tokens"] for v in buckets.values()),
        }
        section["limited_by"] = plan["plan"]["limited_by"]
        section["unmet"] = plan["unmet"]
        section["anneal"] = plan["anneal"]
        if written is not None:
            section["shards_match_plan"] = all(
                written.get("buckets", {}).get(b, {}).get("tokens", 0) == round(plan["realised"][b]["tokens"])
                for b in buckets
            )
    if written is not None:
        section["languages"] = written["languages"]
        section["topics"] = written["topics"]
        if "anneal" in written:
            section.setdefault("anneal", {})["shards"] = written["anneal"]
        if "buckets" not in section:
            section["buckets"] = {b: {"achieved": v["share"], "tokens": v["tokens"]} for b, v in written["buckets"].items()}
    return section
