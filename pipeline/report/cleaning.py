"""The report's section on the two optional cleaning stages: decontamination (how many pages each
evaluation set and item caught) and semantic dedup (duplicates, clusters, groups)."""
from __future__ import annotations

from collections import Counter

from pipeline.report.data import StageView
from pipeline.report.html import note, table

DECONTAMINATE = "decontaminate"
SEMANTIC = "dedup-semantic"
_CONTAMINATED = "contaminated:"  # filters/decontaminate.py: contaminated:<set>:<item id>


def render(stages: list[StageView]) -> str:
    by_name = {s.name: s for s in stages}
    return _decontamination(by_name.get(DECONTAMINATE)) + _semantic(by_name.get(SEMANTIC))


def _decontamination(stage: StageView | None) -> str:
    head = "<h3>Decontamination (decontaminate)</h3>\n"
    if stage is None:
        return head + note("The decontaminate stage did not run (off in configs/base.yaml; docs/decontamination.md).")
    per_set, items = Counter(), Counter()
    for reason, n in stage.reasons.items():
        if str(reason).startswith(_CONTAMINATED):
            eval_set, _, item = str(reason)[len(_CONTAMINATED):].partition(":")
            per_set[eval_set] += n
            items[eval_set] += 1
    if not per_set:
        return head + note(f"No page of {stage.rows_in:,} overlapped an evaluation set (documents with spans removed, "
                           "if any, are kept: their annotations say which item).")
    rows = [[s, n, items[s]] for s, n in sorted(per_set.items(), key=lambda kv: (-kv[1], kv[0]))]
    return head + table(["evaluation set", "pages dropped", "items they carried"], rows) + note(
        "Per item: the drop reasons above (contaminated:&lt;set&gt;:&lt;item&gt;); the n-gram evidence is in each dropped row's annotations.")


def _semantic(stage: StageView | None) -> str:
    head = "<h3>Semantic dedup (dedup-semantic)</h3>\n"
    if stage is None:
        return head + note("The dedup-semantic stage did not run (off in configs/base.yaml; on in configs/semantic-dedup.yaml).")
    f = stage.facts
    rows = [["documents in", stage.rows_in], ["k-means clusters", f.get("clusters", "—")],
            ["groups of semantic duplicates", f.get("groups", "—")], ["documents dropped", f.get("semantic_duplicates", stage.dropped)]]
    return head + table(["", "value"], rows)
