"""`curate train` / `curate eval`: artifacts written where asked, versioned by content, metrics
on held-out documents, one label source at a time, errors as exit codes with a message."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from classifiers.judge import JudgeScore, write_labels
from tests.scorer_fixtures import doc, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
CURATE = [sys.executable, "-m", "pipeline.cli"]
FAST = ["--set", "fasttext.dim=16", "--set", "fasttext.epoch=10", "--set", "fasttext.min_count=1", "--set", "linear.encoder=false"]


def curate(*args):
    return subprocess.run(CURATE + list(args), capture_output=True, text=True, cwd=ROOT, timeout=300)


def _texts(tmp_path, label, n, seed):
    rng = random.Random(seed)
    path = tmp_path / f"{label}-{seed}.jsonl"
    write_jsonl(path, [{"id": f"{label}-{seed}-{i}", "text": doc(label, rng)} for i in range(n)])
    return str(path)


def test_train_then_eval_binary(tmp_path):
    pos, neg = _texts(tmp_path, "1", 80, 1), _texts(tmp_path, "0", 80, 2)
    out = tmp_path / "artifacts"
    r = curate("train", "code-score", "--positives", pos, "--negatives", neg, "--out", str(out), "--seed", "5", *FAST)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    art = res["artifact"]
    assert os.path.dirname(art) == str(out / "code-score") and res["held_out"]["roc_auc"] > 0.95
    assert sorted(os.listdir(art)) == ["default.bin", "metrics.json"]
    # retraining the same data and settings names the same version
    again = json.loads(curate("train", "code-score", "--positives", pos, "--negatives", neg, "--out", str(out), "--seed", "5", *FAST).stdout.strip().splitlines()[-1])
    assert again["artifact"] == art
    # eval on fresh documents, and on the artifact's own held-out split (same numbers as training's)
    fresh_pos, fresh_neg = _texts(tmp_path, "1", 30, 3), _texts(tmp_path, "0", 30, 4)
    ev = curate("eval", "code-score", "--artifact", art, "--positives", fresh_pos, "--negatives", fresh_neg)
    assert ev.returncode == 0, ev.stderr[-2000:]
    metrics = json.loads(ev.stdout)["metrics"]
    assert metrics["n"] == 60 and metrics["roc_auc"] > 0.95
    held = json.loads(curate("eval", "code-score", "--artifact", art, "--positives", pos, "--negatives", neg, "--held-out").stdout)["metrics"]
    assert {k: held[k] for k in ("n", "roc_auc", "accuracy")} == {k: res["held_out"][k] for k in ("n", "roc_auc", "accuracy")}


def test_train_topic_from_weborganizer_format(tmp_path):
    rng = random.Random(0)
    # topic_id 21 / 10 / 18: Sports & Fitness, Food & Dining, Religion in the taxonomy's order
    rows = [{"url": f"u{lab}{i}", "text": doc(lab, rng), "topic_id": tid, "topic": lab}
            for lab, tid in (("sports-fitness", 21), ("food-dining", 10), ("religion", 18)) for i in range(40)]
    write_jsonl(tmp_path / "w.jsonl", rows)
    r = curate("train", "topic", "--weborganizer", str(tmp_path / "w.jsonl"), "--out", str(tmp_path / "a"), *FAST)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["held_out"]["accuracy"] > 0.9
    assert set(res["held_out"]["label_counts"]) <= {"sports-fitness", "food-dining", "religion"}


def test_bad_invocations(tmp_path):
    pos = _texts(tmp_path, "1", 5, 1)
    r = curate("train", "code-score", "--positives", pos, "--labels", pos)
    assert r.returncode != 0 and "exactly one label source" in r.stderr
    labels = tmp_path / "labels.parquet"  # the judge found every document good: nothing to learn
    write_labels(labels, ["a", "b", "c"], ["x", "y", "z"], [JudgeScore("code", "4", 4.0, {})] * 3, prompt_version="v1", model="m")
    r = curate("train", "code-score", "--labels", str(labels), "--out", str(tmp_path))
    assert r.returncode == 2 and "two classes" in r.stderr
    r = curate("train", "topic", "--positives", pos, "--negatives", pos)
    assert r.returncode != 0 and "binary scorers only" in r.stderr
    r = curate("train", "code-score", "--positives", pos, "--negatives", pos, "--set", "fasttext.nope=1")
    assert r.returncode != 0 and "nope" in r.stderr


def test_train_and_eval_on_s3(tmp_path, s3_server):
    """Labels, texts, `--out` and `--artifact` as s3:// URIs (credentials from the AWS_* variables)."""
    bucket = s3_server.create_bucket("train-cli")
    rng = random.Random(7)
    rows = [(f"d{i}", doc(lab, rng), lab) for i, lab in enumerate(["1", "0"] * 60)]
    write_labels(tmp_path / "labels.parquet", [r[0] for r in rows], [r[1] for r in rows],
                 [JudgeScore("code", "4" if lab == "1" else "1", 4.0 if lab == "1" else 1.0, {}) for _, _, lab in rows],
                 prompt_version="code-v1", model="m")
    s3_server.upload(tmp_path / "labels.parquet", f"{bucket}/labels/code.parquet")
    pos, neg = _texts(tmp_path, "1", 20, 3), _texts(tmp_path, "0", 20, 4)
    s3_server.upload(pos, f"{bucket}/texts/pos.jsonl")
    s3_server.upload(neg, f"{bucket}/texts/neg.jsonl")
    env = {**os.environ, **s3_server.env, "CURATE_SCRATCH": str(tmp_path / "scratch")}

    def run(*args):
        return subprocess.run(CURATE + list(args), capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)

    r = run("train", "code-score", "--labels", f"{bucket}/labels", "--out", f"{bucket}/artifacts", *FAST)
    assert r.returncode == 0, r.stderr[-2000:]
    art = json.loads(r.stdout.strip().splitlines()[-1])["artifact"]
    assert art.startswith(f"{bucket}/artifacts/code-score/")
    assert s3_server.list(art) == [f"{art}/default.bin", f"{art}/metrics.json"]
    ev = run("eval", "code-score", "--artifact", art, "--positives", f"{bucket}/texts/pos.jsonl", "--negatives", f"{bucket}/texts/neg.jsonl")
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads(ev.stdout)["metrics"]["n"] == 40


def test_scorer_stages_score_with_shipped_defaults(tmp_path, caplog):
    """A fresh install scores with no training run: `curate code-score|reasoning-score|quality-fasttext`
    fall back to the shipped defaults and say so; topic (no default: test-use-only labels) stays null.
    One stage runs as the command (plain documents, on Ray); the others through the same stage
    classes in this process (a Ray start each cost ~20 s of the suite)."""
    import logging

    import pyarrow.parquet as pq

    from classifiers import default_artifacts
    from pipeline.registry import stage_class
    from pipeline.sources.documents import read_any_file
    from pipeline.stage import RunContext
    from tests.classifiers.test_teachers import CODE_PAGE, MATH_PAGE, PROSE_PAGE

    rows = [{"id": "code", "text": CODE_PAGE}, {"id": "math", "text": MATH_PAGE}, {"id": "prose", "text": PROSE_PAGE}]
    write_jsonl(tmp_path / "docs.jsonl", rows)
    r = curate("code-score", "--input", str(tmp_path / "docs.jsonl"), "--output", str(tmp_path / "code-score"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"code-score/{default_artifacts.versions()['code-score']}" in r.stderr and "shipped default" in r.stderr
    scores = {"code-score": {k["id"]: k["code_score"] for k in pq.read_table(tmp_path / "code-score" / "kept").to_pylist()}}

    batch = next(iter(read_any_file(str(tmp_path / "docs.jsonl"), 256)))
    for stage, column in (("reasoning-score", "reasoning_score"), ("quality-fasttext", "quality_fasttext"), ("topic", "topic")):
        cls = stage_class(stage)
        ctx = RunContext(output_dir=str(tmp_path / stage), stage_dir=str(tmp_path / stage))
        caplog.clear()
        with caplog.at_level(logging.INFO):
            kept, dropped = cls(cls.Config(), ctx).process(batch)
        said = caplog.text
        if stage == "topic":
            assert "no artifact" in said and "test use only" in said
        else:
            assert f"{stage}/{default_artifacts.versions()[stage]}" in said and "shipped default" in said
        assert dropped.num_rows == 0 and kept.num_rows == 3
        scores[stage] = dict(zip(kept.column("id").to_pylist(), kept.column(column).to_pylist()))
    assert scores["topic"] == {"code": None, "math": None, "prose": None}
    assert scores["code-score"]["code"] > 0.5 > scores["code-score"]["prose"]
    assert scores["reasoning-score"]["math"] > 0.5 > scores["reasoning-score"]["prose"]
    assert all(0 <= v <= 1 for v in scores["quality-fasttext"].values())
