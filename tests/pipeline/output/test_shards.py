"""Stage `shard` on local Ray: documents -> seeded permutation -> Megatron shards + manifest."""
import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from pipeline.output.llama3_tokenizer import load_spec
from pipeline.output.megatron import MegatronReader
from pipeline.schema import documents_from_rows
from pipeline.output.shards import WriteShards
from pipeline.stage import RunContext

pytestmark = pytest.mark.ray
EOT = load_spec().eot_id


def _docs(n=60, seed=0):
    """Documents whose first token is their number, so each sequence read back names its doc."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        body = rng.integers(0, 128000, size=int(rng.integers(0, 40))).tolist()
        tokens = [i] + body + [EOT]
        rows.append({"id": f"doc-{i:03d}", "text": "t", "tokens": tokens, "token_count": len(tokens)})
    return rows


def _dataset(rows, blocks=3):
    import ray.data

    table = documents_from_rows(rows)
    step = -(-len(rows) // blocks)
    return ray.data.from_arrow([table.slice(s, step) for s in range(0, len(rows), step)])


def _write(tmp_path, rows, seed=7, blocks=3, **config):
    out = tmp_path / f"out-{seed}-{blocks}-{len(list(tmp_path.iterdir()))}"
    ctx = RunContext(output_dir=str(out), stage_dir=str(out / "stages" / "09-shard"), seed=seed)
    stage = WriteShards(WriteShards.Config(**config), ctx)
    facts = stage.write(_dataset(rows, blocks))
    return out, facts, json.loads((out / "manifest.json").read_text())


def _read_order(out, manifest):
    seqs = []
    for shard in manifest["shards"]:
        r = MegatronReader(out / shard["prefix"])
        assert len(r) == shard["documents"]
        seqs += [r[i].tolist() for i in range(len(r))]
    return seqs


LIMIT = 150


@pytest.fixture(scope="module")
def written(ray_local, tmp_path_factory):
    """One write shared by the tests that only read its output (a Ray sort costs seconds)."""
    rows = _docs(80, seed=1)
    out, facts, manifest = _write(tmp_path_factory.mktemp("shards"), rows, seed=7, max_tokens_per_shard=LIMIT)
    return rows, out, facts, manifest


def test_shards_hold_every_document_in_the_seeded_order(written):
    rows, out, facts, manifest = written
    seqs = _read_order(out, manifest)
    # every document exactly once, tokens unchanged, each ending with EOT
    assert sorted(s[0] for s in seqs) == list(range(len(rows)))
    assert all(s == rows[s[0]]["tokens"] and s[-1] == EOT for s in seqs)
    # the documented order: ascending (xxh64(id, seed), id)
    expected = sorted(range(len(rows)), key=lambda i: (xxhash.xxh64_intdigest(rows[i]["id"].encode(), seed=7), rows[i]["id"]))
    assert [s[0] for s in seqs] == expected
    # manifest totals and facts agree with the files
    total_tokens = sum(len(r["tokens"]) for r in rows)
    assert manifest["totals"] == {"shards": len(manifest["shards"]), "documents": len(rows), "tokens": total_tokens}
    assert facts["documents"] == len(rows) and facts["tokens"] == total_tokens and facts["shards"] == len(manifest["shards"])
    assert manifest["vocab_size"] == load_spec().n_vocab and manifest["dtype"] == "int32" and manifest["seed"] == 7
    for shard in manifest["shards"]:
        for kind in ("bin", "idx"):
            assert hashlib.sha256((out / shard[kind]).read_bytes()).hexdigest() == shard[f"{kind}_sha256"]
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == sorted(f"shard_{k:05d}.{ext}" for k in range(len(manifest["shards"])) for ext in ("bin", "idx"))


def test_shard_size_is_honoured_and_shards_are_filled(written):
    _, out, _, manifest = written
    limit = LIMIT
    assert len(manifest["shards"]) > 3
    order = _read_order(out, manifest)
    pos = 0
    for k, shard in enumerate(manifest["shards"]):
        assert shard["tokens"] <= limit or shard["documents"] == 1
        pos += shard["documents"]
        if k + 1 < len(manifest["shards"]):  # closed only because the next document did not fit
            assert shard["tokens"] + len(order[pos]) > limit


def test_same_seed_same_bytes_other_seed_other_order(ray_local, tmp_path):
    rows = _docs(50, seed=2)
    a, _, ma = _write(tmp_path, rows, seed=11, blocks=2, max_tokens_per_shard=300)
    b, _, mb = _write(tmp_path, rows[::-1], seed=11, blocks=5, max_tokens_per_shard=300)  # other partitioning
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    for shard in ma["shards"]:
        assert (a / shard["bin"]).read_bytes() == (b / shard["bin"]).read_bytes()
    c, _, mc = _write(tmp_path, rows, seed=12, blocks=2, max_tokens_per_shard=300)
    assert [s[0] for s in _read_order(a, ma)] != [s[0] for s in _read_order(c, mc)]
    assert mc["totals"] == ma["totals"]
    # a rerun into `a` with one big shard: none of the earlier run's shards may survive
    assert len(ma["shards"]) > 1
    ctx = RunContext(output_dir=str(a), stage_dir=str(a / "stages" / "09-shard"), seed=11)
    WriteShards(WriteShards.Config(max_tokens_per_shard=10_000), ctx).write(_dataset(rows))
    assert sorted(p.name for p in (a / "shards").iterdir()) == ["shard_00000.bin", "shard_00000.idx"]


def test_documents_that_cannot_be_written_stop_the_run(ray_local, tmp_path):
    rows = _docs(10, seed=4)
    rows[3]["tokens"] = None
    rows[5]["tokens"] = rows[5]["tokens"][:-1]  # no EOT
    rows[5]["token_count"] -= 1
    out = tmp_path / "bad"
    ctx = RunContext(output_dir=str(out), stage_dir=str(out / "stages" / "09-shard"), seed=0)
    with pytest.raises(Exception, match="no-tokens") as info:
        WriteShards(WriteShards.Config(), ctx).write(_dataset(rows, blocks=1))
    assert "missing-eot" in str(info.value)
    assert not (out / "shards").exists() and not (out / "manifest.json").exists()
    assert not out.exists() or not any(p.name.startswith("shards.") for p in out.iterdir())


def test_empty_input_writes_an_empty_manifest(ray_local, tmp_path):
    import ray.data

    out = tmp_path / "empty"
    ctx = RunContext(output_dir=str(out), stage_dir=str(out / "stages" / "09-shard"), seed=0)
    facts = WriteShards(WriteShards.Config(), ctx).write(ray.data.from_arrow(documents_from_rows([])))
    manifest = json.loads((out / "manifest.json").read_text())
    assert facts["documents"] == 0 and manifest["shards"] == [] and manifest["totals"]["tokens"] == 0


def test_config_rejects_bad_values():
    with pytest.raises(Exception):
        WriteShards.Config(max_tokens_per_shard=0)
    with pytest.raises(Exception):
        WriteShards.Config(prefix="../escape")
    with pytest.raises(Exception, match="at least one full shard"):
        WriteShards.Config(max_tokens_per_shard=100, range_tokens=99)


def _expected_shards(rows, seed, max_tokens, range_tokens):
    """The documented cut, computed here row by row: the seeded order; a document belongs to the
    range its first token falls in; within a range, a shard closes before a document would push
    it past max_tokens."""
    order = sorted(rows, key=lambda r: (xxhash.xxh64_intdigest(r["id"].encode(), seed=seed), r["id"]))
    shards, start, previous_range = [], 0, None
    for r in order:
        n = len(r["tokens"])
        this_range = start // range_tokens
        if not shards or this_range != previous_range or (sum(map(len, shards[-1])) + n > max_tokens and shards[-1]):
            shards.append([])
        shards[-1].append(r["tokens"])
        start, previous_range = start + n, this_range
    return shards


def test_ranges_cut_each_folder_by_cumulative_tokens(ray_local, tmp_path):
    rows = _docs(90, seed=3)
    out, facts, manifest = _write(tmp_path, rows, seed=5, max_tokens_per_shard=100, range_tokens=250)
    expected = _expected_shards(rows, 5, 100, 250)
    assert sum(len(r["tokens"]) for r in rows) > 3 * 250  # several ranges
    assert [s["documents"] for s in manifest["shards"]] == [len(s) for s in expected]
    assert [[list(x) for x in MegatronReader(out / s["prefix"])] for s in manifest["shards"]] == expected
    # numbered across the ranges, the range size stated
    assert [s["prefix"] for s in manifest["shards"]] == [f"shards/shard_{k:05d}" for k in range(len(expected))]
    assert manifest["range_tokens"] == 250 and facts["shards"] == len(expected)


def test_one_block_and_many_blocks_give_identical_bytes(ray_local, tmp_path, monkeypatch):
    """Shards and manifest depend on the data and the config only: one block sorted by one task,
    or several blocks through Ray's sort, cut into several ranges per folder."""
    from pipeline import ray_ops
    from pipeline.output import shards
    from tests.sink_fixtures import count_blocks, mixed_rows, output_files, write_shards

    seen = count_blocks(monkeypatch, shards)
    rows = mixed_rows(300)
    config = {"max_tokens_per_shard": 150, "range_tokens": 450}
    write_shards(str(tmp_path / "one"), rows, blocks=1, **config)
    monkeypatch.setattr(ray_ops, "SMALL_BYTES", 0)  # Ray's sort: a key range per block
    write_shards(str(tmp_path / "many"), rows[::-1], blocks=6, **config)
    assert seen[0] == 1 and seen[1] > 1, seen
    one, many = output_files(str(tmp_path / "one"), "shards"), output_files(str(tmp_path / "many"), "shards")
    assert one == many
    manifest = json.loads(one["manifest.json"])
    assert manifest["range_tokens"] == 450
    assert all(b["tokens"] > 3 * 450 for b in manifest["buckets"].values())  # every folder spans ranges


def test_check_names_every_kind_of_bad_document():
    from pipeline.output.shards import _PrepareBatch

    docs = [[5, EOT], None, [], [1, 200000, EOT], [7, 8], [3, EOT]]
    counts = [2, None, 0, 3, 2, 5]
    problems = _PrepareBatch(0, 128257, EOT).check([f"d{i}" for i in range(6)], pa.array(docs, pa.list_(pa.int32())), counts)
    assert [(rid, why.split(":")[0]) for rid, why in problems] == [
        ("d1", "no-tokens"), ("d2", "no-tokens"), ("d3", "token-id-out-of-range"), ("d4", "missing-eot"), ("d5", "token-count-mismatch"),
    ]
    assert _PrepareBatch(0, 128257, None).check(["a", "b"], pa.array([[1, 2], [3]], pa.list_(pa.int32())), [None, None]) == []
