"""dedup-lines: normalisation, exact keep/remove decisions on hand-made sets (in process), the
bucket split, and the same decisions through the two shuffles on Ray."""
import json

import numpy as np
import pyarrow as pa
import pytest

from pipeline.executor.runner import run_global
from dedup.lines import LineDedup, LineDedupConfig, doc_hashes, line_dedup_local, normalise_lines
from pipeline import stage_io
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext
from tests.dedup_fixtures import sort_shuffle  # noqa: F401 (fixture)

NAV = "Home | About | Contact"
COOKIE = "We use cookies to improve your experience. Accept all cookies"


def body(i: int) -> str:
    # no digits: masked digits would make every body the same line
    word = "".join("abcdefghij"[int(c)] for c in str(i))
    return f"Article {word}: a paragraph that appears only in the document called {word}."


def run_local(rows, **cfg):
    kept, dropped = line_dedup_local(documents_from_rows(rows), LineDedupConfig(**cfg))
    return {r["id"]: r for r in kept.to_pylist()}, {r["id"]: r for r in dropped.to_pylist()}


def test_normalisation_switches():
    lines = pa.array(["  Copyright ©\t2019   ACME  ", "copyright © 2020 acme", "Ⅳ ٣ items"])
    assert normalise_lines(lines, LineDedupConfig()).to_pylist() == ["copyright © 0000 acme", "copyright © 0000 acme", "ⅳ 0 items"]
    raw = LineDedupConfig(collapse_whitespace=False, lowercase=False, mask_digits=False)
    assert normalise_lines(lines, raw).to_pylist() == lines.to_pylist()


def test_more_than_max_count_removed_everywhere():
    # NAV in 7 documents (> 6): removed from all 7, the first copy too; COOKIE in 6: kept
    rows = [{"id": f"d{i}", "language": "en", "text": f"{NAV}\n{body(i)}" + (f"\n{COOKIE}" if i < 6 else "")} for i in range(7)]
    kept, dropped = run_local(rows)
    assert not dropped
    for i in range(7):
        expected = body(i) + (f"\n{COOKIE}" if i < 6 else "")
        assert kept[f"d{i}"]["text"] == expected
        assert json.loads(kept[f"d{i}"]["annotations"])["dedup_lines"] == {"lines": 1, "chars": len(NAV)}
    kept, _ = run_local(rows, max_count=7)  # the threshold is strict: 7 copies stay under "more than 7"
    assert all(kept[f"d{i}"]["text"] == rows[i]["text"] and kept[f"d{i}"]["annotations"] is None for i in range(7))


def test_normalised_variants_count_together():
    variants = ["Posted on 12 May 2020", "posted  on 13 may 2020 ", "POSTED ON 01 MAY 2021", "Posted on 99 May 1999"]
    rows = [{"id": f"d{i}", "language": "en", "text": f"{variants[i % 4]}\n{body(i)}"} for i in range(7)]
    kept, _ = run_local(rows)
    assert all(kept[f"d{i}"]["text"] == body(i) for i in range(7))
    kept, _ = run_local(rows, mask_digits=False)  # "12"/"13"/"01"/"99" now differ: at most 2 copies each
    assert all(kept[f"d{i}"]["text"] == rows[i]["text"] for i in range(7))


def test_occurrences_or_documents():
    # one document repeats a line 7 times: 7 occurrences (removed), 1 document (kept)
    text = "\n".join(["Share this:"] * 7 + [body(0)])
    rows = [{"id": "a", "language": "en", "text": text}]
    kept, _ = run_local(rows)
    assert kept["a"]["text"] == body(0)
    assert json.loads(kept["a"]["annotations"])["dedup_lines"]["lines"] == 7
    kept, _ = run_local(rows, count="documents")
    assert kept["a"]["text"] == text


def test_blank_lines_never_counted_and_kept():
    rows = [{"id": f"d{i}", "language": "en", "text": f"{body(i)}\n\n   \n\t\n{NAV}\n\n"} for i in range(8)]
    kept, dropped = run_local(rows)
    assert not dropped
    # NAV goes; the blank lines stay byte for byte
    assert all(kept[f"d{i}"]["text"] == f"{body(i)}\n\n   \n\t\n\n" for i in range(8))


def test_per_language():
    rows = [{"id": f"e{i}", "language": "en", "text": f"{NAV}\n{body(i)}"} for i in range(4)]
    rows += [{"id": f"f{i}", "language": "fr", "text": f"{NAV}\n{body(10 + i)}"} for i in range(3)]
    kept, _ = run_local(rows)
    assert all(r["text"].startswith(NAV) for r in kept.values())  # 4 + 3: no language over 6
    kept, _ = run_local(rows, per_language=False)
    assert not any(NAV in r["text"] for r in kept.values())


def test_emptied_and_short_documents_dropped():
    rows = [{"id": f"d{i}", "language": "en", "text": f"{NAV}\n{body(i)}"} for i in range(7)]
    rows.append({"id": "only-nav", "language": "en", "text": f"{NAV}\n\n{NAV.upper()}\n"})
    rows.append({"id": "stub", "language": "en", "text": f"{NAV}\nRead more."})
    rows.append({"id": "short-untouched", "language": "en", "text": "Tiny."})  # short, but no line removed: kept
    rows.append({"id": "no-text", "language": "en", "text": None})
    kept, dropped = run_local(rows)
    assert set(dropped) == {"only-nav", "stub"}
    assert {d["reason"] for d in dropped.values()} == {"lines-emptied"}
    assert {d["stage"] for d in dropped.values()} == {"dedup-lines"}
    assert dropped["stub"]["text"] == rows[8]["text"]  # the dropped record keeps its original text
    assert kept["short-untouched"]["text"] == "Tiny." and kept["no-text"]["text"] is None
    kept, dropped = run_local(rows, min_remaining_chars=0)
    assert set(dropped) == {"only-nav"} and kept["stub"]["text"] == "Read more."


def test_buckets_count_separately():
    # 2 buckets (bucket_docs=8, 16 docs): a line is counted within each bucket only. Pick ids so
    # that bucket 0 holds 7 copies of NAV (removed) and bucket 1 holds 6 (kept).
    ids = [f"doc-{i}" for i in range(200)]
    bucket = doc_hashes(pa.array(ids)) % np.uint64(2)
    in0 = [i for i, b in zip(ids, bucket) if b == 0][:8]
    in1 = [i for i, b in zip(ids, bucket) if b == 1][:8]
    rows = [{"id": i, "language": "en", "text": f"{NAV}\n{body(k)}" if k < 7 else body(k)} for k, i in enumerate(in0)]
    rows += [{"id": i, "language": "en", "text": f"{NAV}\n{body(20 + k)}" if k < 6 else body(20 + k)} for k, i in enumerate(in1)]
    kept, _ = run_local(rows, bucket_docs=8)
    assert all(NAV not in kept[i]["text"] for i in in0)
    assert sum(kept[i]["text"].startswith(NAV) for i in in1) == 6
    kept, _ = run_local(rows)  # one bucket of 16: 13 copies, removed everywhere
    assert not any(NAV in r["text"] for r in kept.values())


def ray_corpus():
    rows = [{"id": f"d{i:02d}", "language": "en", "text": f"{NAV}\n{body(i)}\n{COOKIE} {i % 3}"} for i in range(20)]
    rows += [{"id": f"f{i}", "language": "fr", "text": f"{NAV}\nArticle français {'xyz'[i]} avec du texte."} for i in range(3)]
    rows.append({"id": "only-boilerplate", "language": "en", "text": f"{NAV}\n{COOKIE} 7"})
    rows.append({"id": "empty", "language": "en", "text": ""})
    return rows


@pytest.mark.ray
def test_line_dedup_on_ray(tmp_path, sort_shuffle):
    rows = ray_corpus()
    table = documents_from_rows(rows)
    cfg = LineDedupConfig(num_partitions=3)
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "stage"), seed=0)
    half = table.num_rows // 2
    out = run_global(LineDedup(cfg, ctx), sort_shuffle.data.from_arrow([table.slice(0, half), table.slice(half)]))
    kept = {r["id"]: r for r in out.take_all()}
    dropped = stage_io.read_dropped_table(ctx.dropped_dir).to_pylist()
    # NAV: 21 en copies (removed), 3 fr (kept); "<COOKIE> 0" masks to "<COOKIE> 0": all 21 en removed
    assert [d["id"] for d in dropped] == ["only-boilerplate"] and dropped[0]["reason"] == "lines-emptied"
    assert all(kept[f"d{i:02d}"]["text"] == body(i) for i in range(20))
    assert all(kept[f"f{i}"]["text"] == rows[20 + i]["text"] for i in range(3))
    assert kept["empty"]["text"] == ""
    # the same decisions as the single-partition run
    local_kept, _ = line_dedup_local(table, cfg)
    assert sorted((r["id"], r["text"], r["annotations"]) for r in local_kept.to_pylist()) == sorted(
        (r["id"], r["text"], r["annotations"]) for r in kept.values()
    )
