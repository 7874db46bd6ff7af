"""Stage `shard` with the mix's columns: one folder per bucket, `repeats` copies spread over the
order, the annealing set under shards/anneal/, per-bucket totals in the manifest."""
import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from pipeline.output.llama3_tokenizer import load_spec
from pipeline.output.megatron import MegatronReader
from pipeline.mix.keys import seeded_keys
from pipeline.schema import documents_from_rows
from pipeline.output.shards import WriteShards
from pipeline.stage import RunContext

pytestmark = pytest.mark.ray
EOT = load_spec().eot_id
BUCKETS = ["general", "code", "math_reasoning", "multilingual"]


def _rows(n=40):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        bucket = BUCKETS[i % 4]
        tokens = [i] + rng.integers(0, 128000, size=int(rng.integers(1, 30))).tolist() + [EOT]
        rows.append({"id": f"doc-{i:03d}", "text": "t", "tokens": tokens, "token_count": len(tokens), "bucket": bucket,
                     "repeats": 1 + i % 3, "anneal": bucket in ("code", "math_reasoning") and i % 8 < 4,
                     "language": "fr" if bucket == "multilingual" else "en", "topic": ["Science", "Travel"][i % 2]})
    return rows


def _write(out, rows, blocks=3, seed=7, **config):
    import ray.data

    table = documents_from_rows(rows)
    step = -(-len(rows) // blocks)
    ds = ray.data.from_arrow([table.slice(s, step) for s in range(0, len(rows), step)])
    ctx = RunContext(output_dir=str(out), stage_dir=str(out / "stages" / "20-shard"), seed=seed)
    facts = WriteShards(WriteShards.Config(**config), ctx).write(ds)
    return facts, json.loads((out / "manifest.json").read_text())


def _sequences(out, shards):
    seqs = []
    for s in shards:
        r = MegatronReader(out / s["prefix"])
        seqs += [r[i].tolist() for i in range(len(r))]
    return seqs


@pytest.fixture(scope="module")
def written(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("mixshards")
    rows = _rows()
    facts, manifest = _write(out, rows, max_tokens_per_shard=120)
    return out, rows, facts, manifest


def test_each_bucket_folder_holds_its_documents_repeats_times(written):
    out, rows, _, manifest = written
    assert {s["bucket"] for s in manifest["shards"]} == set(BUCKETS)
    for bucket in BUCKETS:
        shards = [s for s in manifest["shards"] if s["bucket"] == bucket]
        assert all(s["prefix"].startswith(f"shards/{bucket}/shard_") for s in shards)
        assert all(s["bucket_shares"] == {bucket: 1.0} for s in shards)
        seqs = _sequences(out, shards)
        expected = Counter({r["tokens"][0]: r["repeats"] for r in rows if r["bucket"] == bucket})
        assert Counter(s[0] for s in seqs) == expected
        assert all(s == rows[s[0]]["tokens"] for s in seqs)
        # the documented order: (key of the copy, id, copy); copy k > 0 has salt copy:k
        copies = [(int(seeded_keys([r["id"]], 7, f"copy:{k}" if k else "")[0]), r["id"], k, r["tokens"][0])
                  for r in rows if r["bucket"] == bucket for k in range(r["repeats"])]
        assert [s[0] for s in seqs] == [c[3] for c in sorted(copies)]
        b = manifest["buckets"][bucket]
        assert b["tokens"] == sum(len(s) for s in seqs) and b["documents"] == len(seqs)
        assert b["unique_documents"] == len(expected)
    total = manifest["totals"]["tokens"]
    assert sum(b["tokens"] for b in manifest["buckets"].values()) == total
    assert sum(b["share"] for b in manifest["buckets"].values()) == pytest.approx(1.0)


def test_anneal_set_is_extra_and_separate(written):
    out, rows, facts, manifest = written
    anneal = manifest["anneal"]
    seqs = _sequences(out, anneal["shards"])
    marked = [r for r in rows if r["anneal"]]
    assert sorted(s[0] for s in seqs) == sorted(r["tokens"][0] for r in marked)  # once each
    assert all(s["prefix"].startswith("shards/anneal/") for s in anneal["shards"])
    assert anneal["totals"]["buckets"] == {b: sum(len(r["tokens"]) for r in marked if r["bucket"] == b)
                                           for b in ("code", "math_reasoning")}
    # the main shards do not count the anneal copies
    assert manifest["totals"]["documents"] == sum(r["repeats"] for r in rows)
    for shard in manifest["shards"] + anneal["shards"]:
        for kind in ("bin", "idx"):
            assert hashlib.sha256((out / shard[kind]).read_bytes()).hexdigest() == shard[f"{kind}_sha256"]
    # facts for summary.json: shares per bucket / language / topic of the main shards
    mix = facts["mix"]
    assert mix["languages"]["fr"]["tokens"] == manifest["buckets"]["multilingual"]["tokens"]
    assert sum(v["share"] for v in mix["topics"].values()) == pytest.approx(1.0)
    assert mix["anneal"] == anneal["totals"]


def test_byte_identical_across_partitioning(written, tmp_path):
    out, rows, _, manifest = written
    other = tmp_path / "other"
    _, again = _write(other, rows[::-1], blocks=5, max_tokens_per_shard=120)
    assert (out / "manifest.json").read_bytes() == (other / "manifest.json").read_bytes()
    for s in manifest["shards"] + manifest["anneal"]["shards"]:
        assert (out / s["bin"]).read_bytes() == (other / s["bin"]).read_bytes()


def test_zero_copies_stop_the_run(ray_local, tmp_path):
    rows = _rows(8)
    rows[2]["repeats"], rows[2]["anneal"] = 0, False
    with pytest.raises(Exception, match="no-copies"):
        _write(tmp_path / "bad", rows, blocks=1)
