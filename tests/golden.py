"""Golden-file checks for map stages: tests/golden/<name>/input.jsonl holds input records,
expected.jsonl the decision per record (kept/dropped, reason) and the values of the columns the
stage writes. `pytest --regen-golden` rewrites expected.jsonl from the code; review the diff, then
commit it frozen."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.schema import DOCUMENT_COLUMNS, conform, documents_from_rows
from pipeline.stage import Annotator, MapStage, run_map_stage_local

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def _jsonable(v):
    if isinstance(v, float):
        return round(v, 4)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "replace")
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def undeclared_changes(stage: MapStage, given, kept, dropped) -> list[str]:
    """What a stage did beyond its kind and its `writes`, as "id: column" (or what went wrong with
    the records): every record comes out once, kept or dropped (a dropped one may lose its raw
    html); an Annotator drops nothing."""
    before = {r["id"]: r for r in conform(given).to_pylist()}
    problems, seen = [], []
    if isinstance(stage, Annotator) and dropped.num_rows:
        problems.append(f"annotator {stage.name} dropped {dropped.num_rows} records")
    for table, was_dropped in ((kept, False), (dropped, True)):
        for r in table.to_pylist():
            seen.append(r["id"])
            old = before.get(r["id"])
            if old is None:
                problems.append(f"{r['id']}: not in the input")
                continue
            problems += [f"{r['id']}: {c}" for c in DOCUMENT_COLUMNS
                         if c not in stage.writes and not (was_dropped and c == "html") and r[c] != old[c]]
    if sorted(seen) != sorted(before):
        problems.append(f"records in {len(before)}, out {len(seen)} ({len(set(seen))} distinct)")
    return problems


def golden_outcome(stage: MapStage, rows: list[dict]) -> list[dict]:
    given = documents_from_rows(rows)
    kept, dropped = run_map_stage_local(stage, given)
    problems = undeclared_changes(stage, given, kept, dropped)
    assert not problems, f"stage {stage.name} changed what it does not declare: {problems[:10]}"
    written = [c for c in stage.writes if c != "html"]
    out = {}
    for r in kept.to_pylist():
        out[r["id"]] = {"id": r["id"], "decision": "kept", "reason": None, **{c: _jsonable(r[c]) for c in written}}
    for r in dropped.to_pylist():
        out[r["id"]] = {"id": r["id"], "decision": "dropped", "reason": r["reason"], **{c: _jsonable(r[c]) for c in written}}
    return [out[r["id"]] for r in rows]


def check_golden(stage: MapStage, name: str, regen: bool, prepare=None) -> list[dict]:
    """`prepare(rows)`, when given, builds the input rows from input.jsonl's (e.g. pages holding
    an evaluation item that is read from its installed package, not copied here). A missing
    expected.jsonl fails: only `--regen-golden` writes one."""
    d = GOLDEN_DIR / name
    rows = [json.loads(line) for line in (d / "input.jsonl").read_text().splitlines() if line.strip()]
    if prepare is not None:
        rows = prepare(rows)
    got = golden_outcome(stage, rows)
    expected_path = d / "expected.jsonl"
    if not regen and not expected_path.exists():
        raise AssertionError(f"golden {name}: {expected_path} is missing; write it with --regen-golden and review it")
    if regen:
        expected_path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in got))
    expected = [json.loads(line) for line in expected_path.read_text().splitlines() if line.strip()]
    for g, e in zip(got, expected):
        assert json.loads(json.dumps(g, sort_keys=True)) == e, f"golden {name}: record {e['id']} differs"
    assert len(got) == len(expected)
    return got
