"""Decontamination and semantic dedup together through the real runner: a page carrying a
HumanEval problem is dropped with its evaluation set and item in the ledger, paraphrases are
grouped, the common-phrase page stays, and report.html says so."""
import pytest

from pipeline import registry
from pipeline.report.build import build_report
from tests.dedup_fixtures import sort_shuffle  # noqa: F401 (fixture)
from tests.spine_stages import SPINE_STAGES
from tests.filters.test_decontaminate import HUMANEVAL, humaneval  # noqa: F401 (fixture)
from tests.dedup.test_dedup_semantic import PAGES, run_pipeline


@pytest.mark.ray
def test_contaminated_page_and_paraphrases_in_ledger_and_report(monkeypatch, tmp_path, sort_shuffle, humaneval):
    for k, v in SPINE_STAGES.items():
        monkeypatch.setitem(registry.STAGES, k, v)
    p = humaneval["HumanEval/2"]
    pages = {
        **PAGES,
        "blog-with-humaneval": "My solution to today's exercise, pasted below.\n" + p["prompt"] + p["canonical_solution"] + "\nIt passed every test.",
        "common-phrases": "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n"
                          "for i in range(len(items)):\n    total += items[i]\nreturn result",
    }
    stages = {"decontaminate": {"eval_sets": [HUMANEVAL]}}
    out, summary, ledger = run_pipeline(tmp_path, ["dedup-minhash", "decontaminate", "dedup-semantic"], 0.6, pages, stages)
    assert summary["balanced"] and summary["input_total"] == len(pages)
    assert (ledger["blog-with-humaneval"]["stage"], ledger["blog-with-humaneval"]["reason"]) == ("decontaminate", "contaminated:humaneval:HumanEval/2")
    assert ledger["common-phrases"]["decision"] == "kept"
    assert {i for i, r in ledger.items() if r["stage"] == "dedup-semantic"} == {"budget-b", "bees-b"}
    html = build_report(out, summary)
    section = html[html.index('id="cleaning"'):]
    assert "humaneval" in section and "groups of semantic duplicates" in section
