"""`dedup-semantic`: deterministic embeddings and k-means, and paraphrases MinHash misses grouped
through the real runner, with the ledger accounting for every record."""
import json
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from dedup.kmeans import fit_centroids
from dedup.semantic import SemanticDedup, SemanticDedupConfig, fit_task
from pipeline import registry
from pipeline.config import validate
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
from tests.dedup_fixtures import sort_shuffle  # noqa: F401 (fixture)
from tests.spine_stages import SPINE_STAGES

# two pairs of paraphrases (same facts, other words: word 5-gram Jaccard 0) and unrelated pages
PAGES = {
    "budget-a": "The city council approved a new budget on Monday that raises spending on public schools by ten percent and hires forty additional teachers.",
    "budget-b": "On Monday, councillors voted through next year's budget, lifting school funding by 10% and adding 40 teaching posts.",
    "bees-a": "Researchers have shown that honey bees can learn to recognise individual human faces when they are trained with sugar water rewards.",
    "bees-b": "A study found honeybees are able to tell human faces apart after being taught with sugary rewards.",
    "football": "The football club signed a young striker from Brazil for a record transfer fee after a long negotiation with his former team.",
    "bread": "To bake sourdough bread, feed the starter the night before, mix flour and water, and let the dough rise slowly in a cool kitchen.",
    "volcano": "Lava from the volcano reached the sea overnight, forcing the evacuation of two coastal villages on the island.",
}


def test_config_is_strict_and_registered():
    assert registry.stage_class("dedup-semantic") is SemanticDedup
    with pytest.raises(ValidationError):
        SemanticDedupConfig(eps=0.01)
    with pytest.raises(ValidationError):
        SemanticDedupConfig(threshold=1.5)


def test_kmeans_is_seeded_and_ignores_row_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rows = pa.table({"node": [f"n{i:03d}".encode() for i in range(200)], "emb": [r.tobytes() for r in x]})
    shuffled = rows.take(pa.array(rng.permutation(200)))
    a, b = fit_task(rows, 8, 3, 50), fit_task(shuffled, 8, 3, 50)
    assert a.column("centroids")[0].as_py() == b.column("centroids")[0].as_py()
    assert not np.array_equal(fit_centroids(x, 8, 3), fit_centroids(x, 8, 4))


def test_embedding_does_not_depend_on_batch_neighbours():
    from dedup.embeddings import Encoder

    enc = Encoder("cpu", batch_size=4)
    texts = list(PAGES.values())
    alone = enc.encode([texts[2]])
    mixed = enc.encode([texts[5], texts[2], "short", texts[0] * 20, texts[1]])
    assert alone[0].tobytes() == mixed[1].tobytes()
    assert abs(float(np.linalg.norm(alone[0])) - 1.0) < 1e-5


def run_pipeline(tmp_path, pipeline, threshold, pages=PAGES, stages=None):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": v, "language": "en"}) + "\n" for k, v in pages.items()))
    cfg = validate(
        {
            "input": {"paths": [str(src)]},
            "pipeline": ["t-source", *pipeline, "t-sink"],
            "stages": {"dedup-minhash": {"num_partitions": 2},
                       "dedup-semantic": {"threshold": threshold, "num_clusters": 2, "sample_fraction": 1.0, "num_partitions": 2},
                       **(stages or {})},
        },
        source="test",
    )
    out = str(tmp_path / "out")
    outcomes = Runner(cfg, out).run()
    summary = build_summary(out, outcomes)
    ledger = {r["record_id"]: r for r in pq.read_table(os.path.join(out, "ledger")).to_pylist()}
    return out, summary, ledger


@pytest.mark.ray
def test_paraphrases_minhash_misses_are_grouped_through_the_runner(monkeypatch, tmp_path, sort_shuffle):
    for k, v in SPINE_STAGES.items():
        monkeypatch.setitem(registry.STAGES, k, v)
    # MiniLM scores the paraphrase pairs 0.69 (budget) and 0.88 (bees), unrelated pairs <= 0.12
    out, summary, ledger = run_pipeline(tmp_path, ["dedup-minhash", "dedup-semantic"], threshold=0.6)
    dropped = {i: r for i, r in ledger.items() if r["decision"] != "kept"}
    assert {i: (r["stage"], r["duplicate_of"]) for i, r in dropped.items()} == {
        "budget-b": ("dedup-semantic", "budget-a"),  # the longer text is kept (MinHash's rule)
        "bees-b": ("dedup-semantic", "bees-a"),
    }
    for r in dropped.values():
        assert re.fullmatch(r"semantic-duplicate:cos>=0\.\d\d", r["reason"]), r["reason"]
    assert summary["balanced"] and summary["kept_total"] == len(PAGES) - 2
    semantic = [s for s in summary["stages"] if s["name"] == "dedup-semantic"][0]
    assert semantic["facts"]["groups"] == 2 and semantic["facts"]["semantic_duplicates"] == 2
