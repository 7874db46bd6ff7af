"""report.html: built from a real (tiny) run of the spine stages on Ray, parsed back with the
stdlib HTML parser and checked against summary.json and the ledger; rendered in headless
chromium when it is installed."""
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import registry
from pipeline.report import mix as report_mix
from pipeline.config import validate
from pipeline.output.ledger import build_summary
from pipeline.report.build import write_report
from pipeline.executor.runner import Runner
from pipeline.schema import documents_from_rows, to_dropped
from tests.spine_stages import SPINE_STAGES

SCRIPT_TEXT = '<script>alert("pwned")</script> a page that quotes markup & ampersands'
CHROMIUM = "/usr/bin/chromium"


class Page(HTMLParser):
    """Tables per <section id>, every attribute, element counts and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = Counter()
        self.attrs = []  # (tag, name, value)
        self.tables = defaultdict(list)  # section id -> [table rows]
        self.text = defaultdict(list)  # section id -> text chunks
        self.section = None
        self.cell = None
        self.svg_depth = 0

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "section":
            self.section = dict(attrs).get("id")
        elif tag == "table":
            self.tables[self.section].append([])
        elif tag == "tr":
            self.tables[self.section][-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.section][-1][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        self.text[self.section].append(data)

    def section_text(self, anchor):
        return "".join(self.text[anchor])


def parse(path) -> Page:
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    page.close()
    return page


def num(cell: str) -> int:
    return int(cell.replace(",", ""))


def rows_for_run():
    rows = []
    for i in range(14):  # ids r00..r13; a few short ones, a few duplicates
        text = f"document number {i} with enough words" if i % 5 else "tiny"
        rows.append(
            {"id": f"r{i:02d}", "url": f"https://site{i}.example/page?x=1&y=2", "text": text,
             "language": "en" if i % 3 else "fr", "language_score": 0.5 + i / 40, "token_count": 10 + i,
             "topic": "science" if i % 2 else None}
        )
    rows.append({"id": "a1", "url": "https://evil.example/s", "text": SCRIPT_TEXT, "language": "en",
                 "language_score": 0.9, "token_count": 7})
    rows.append({"id": "a2", "url": "https://evil.example/s-copy", "text": SCRIPT_TEXT, "language": "en",
                 "language_score": 0.9, "token_count": 7})  # exact duplicate of a1: dropped, sampled
    rows.append({"id": "zz", "url": "https://site.example/bad", "text": "broken", "bad": True, "token_count": 3})
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory, ray_local):
    tmp = tmp_path_factory.mktemp("report")
    src = tmp / "in.jsonl"
    rows = rows_for_run()
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = str(tmp / "out")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SPINE_STAGES.items():
            mp.setitem(registry.STAGES, k, v)
        cfg = validate(
            {"input": {"paths": [str(src)]}, "pipeline": ["t-source", "t-short", "t-exact", "t-sink"],
             "stages": {"t-short": {"min_chars": 5}}},
            source="test",
        )
        summary = build_summary(out, Runner(cfg, out).run())
    path = write_report(out)
    ledger = pq.read_table(os.path.join(out, "ledger")).to_pylist()
    return {"out": out, "path": path, "summary": summary, "page": parse(path), "ledger": ledger, "rows": rows}


pytestmark = pytest.mark.ray


def test_figures_are_inline_svg(run):
    page = run["page"]
    # funnel, tokens, drop reasons, languages, topics, language_score histogram
    assert page.tags["svg"] >= 6
    assert page.tags["img"] == 0 and page.tags["script"] == 0 and page.tags["link"] == 0
    ids = [v for _, k, v in page.attrs if k == "id"]
    assert len(ids) == len(set(ids)), "element ids clash between the inline SVGs"


def test_funnel_matches_summary(run):
    summary, page = run["summary"], run["page"]
    header, *body = page.tables["funnel"][0]
    col = {h: i for i, h in enumerate(header)}
    assert [r[col["stage"]] for r in body] == [s["name"] for s in summary["stages"]]
    for row, s in zip(body, summary["stages"]):
        assert (num(row[col["in"]]), num(row[col["dropped"]]), num(row[col["kept"]])) == (s["rows_in"], s["dropped"], s["kept"])
    overview = {r[0]: r[1] for r in page.tables["overview"][0][1:]}
    assert num(overview["input records"]) == summary["input_total"]
    assert num(overview["kept"]) == summary["kept_total"]
    # tokens: every record carries token_count, so the token funnel is known at every stage and
    # after the source equals the tokens of every record the source did not drop
    tokens_after_source = sum(r["token_count"] for r in run["rows"] if not r.get("bad"))
    assert num(body[0][col["tokens kept"]]) == tokens_after_source
    kept_ids = {r["record_id"] for r in run["ledger"] if r["decision"] == "kept"}
    final_tokens = sum(r["token_count"] for r in run["rows"] if r["id"] in kept_ids)
    assert num(body[-1][col["tokens kept"]]) == final_tokens
    assert "balanced" in page.section_text("overview")


def test_every_drop_reason_is_reported_and_sampled(run):
    summary, page = run["summary"], run["page"]
    expected = {(s["name"], r, n) for s in summary["stages"] for r, n in s["reasons"].items()}
    assert expected == {("t-source", "bad-line", 1), ("t-short", "too-short", 3), ("t-exact", "exact-duplicate", 1)}
    reported = {(r[0], r[1], num(r[2])) for r in page.tables["drops"][0][1:]}
    assert reported == expected
    samples = page.section_text("dropped-samples")
    for stage, reason, _ in expected:
        assert f"{stage}: {reason}" in samples
    # the two smallest dropped ids per reason, from the ledger
    by_reason = defaultdict(list)
    for r in run["ledger"]:
        if r["decision"] == "dropped":
            by_reason[r["reason"]].append(r["record_id"])
    for ids in by_reason.values():
        for rid in sorted(ids)[:2]:
            assert rid in samples
        for rid in sorted(ids)[2:]:
            assert f"id: {rid}" not in samples


def test_kept_sample_is_the_smallest_ids(run):
    kept = sorted(r["record_id"] for r in run["ledger"] if r["decision"] == "kept")
    text = run["page"].section_text("kept-samples")
    assert len(kept) > 5
    assert all(f"id: {rid}" in text for rid in kept[:5])
    assert not any(f"id: {rid}" in text for rid in kept[5:])


def test_distributions(run):
    page = run["page"]
    kept_ids = {r["record_id"] for r in run["ledger"] if r["decision"] == "kept"}
    kept_rows = [r for r in run["rows"] if r["id"] in kept_ids]
    langs = Counter(r["language"] for r in kept_rows)
    assert {r[0]: num(r[1]) for r in page.tables["languages"][0][1:]} == dict(langs)
    topics = Counter(r["topic"] for r in kept_rows if r.get("topic"))
    assert {r[0]: num(r[1]) for r in page.tables["topics"][0][1:]} == dict(topics)
    scores = page.section_text("scores")
    assert f"language_score: {len(kept_rows)} documents scored" in scores
    assert "not scored: quality_fasttext" in scores
    assert "mix stage did not run" in page.section_text("mix")


def test_nothing_external_is_referenced(run):
    page = run["page"]
    for tag, name, value in page.attrs:
        if name in ("src", "href", "xlink:href", "action", "poster", "data") or name.endswith(":href"):
            assert not value.lower().startswith(("http:", "https:", "//", "file:", "data:")), (tag, name, value)
    html_text = open(run["path"], encoding="utf-8").read()
    assert "@import" not in html_text and "url(http" not in html_text
    # the sampled URLs are shown, as text
    assert "https://site1.example/page?x=1&y=2" in page.section_text("kept-samples")


def test_document_text_is_escaped(run):
    html_text = open(run["path"], encoding="utf-8").read()
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html_text
    assert SCRIPT_TEXT in run["page"].section_text("kept-samples")  # what a reader sees
    assert SCRIPT_TEXT in run["page"].section_text("dropped-samples")


def test_report_is_deterministic_and_location_free(run, tmp_path):
    first = open(run["path"], "rb").read()
    assert open(write_report(run["out"]), "rb").read() == first
    moved = tmp_path / "elsewhere"
    shutil.copytree(run["out"], moved)
    os.remove(moved / "report.html")
    assert open(write_report(str(moved)), "rb").read() == first


def test_report_without_ray_is_the_same(run, tmp_path):
    """`python -m pipeline.report` (no Ray: the partial results computed in-process) writes the
    bytes the run's report (Ray tasks and reductions) wrote."""
    moved = tmp_path / "copy"
    shutil.copytree(run["out"], moved)
    os.remove(moved / "report.html")
    root = str(Path(__file__).resolve().parents[3])
    done = subprocess.run([sys.executable, "-m", "pipeline.report", str(moved)], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (moved / "report.html").read_bytes() == open(run["path"], "rb").read()


def test_renders_in_headless_chromium(run, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed: the browser rendering check needs it (apt-get install chromium)")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    url = "file://" + os.path.abspath(run["path"])
    png = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={png}", "--window-size=1200,2400", url], check=True, timeout=120,
                   capture_output=True)
    assert png.exists() and png.stat().st_size > 20_000
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels[..., :3].std() > 0.05, "screenshot is blank"
    dom = subprocess.run(flags + ["--dump-dom", url], check=True, timeout=120, capture_output=True, text=True).stdout
    assert dom.count("<svg") == run["page"].tags["svg"]
    assert "Documents remaining after each stage" in dom


# ---- without Ray: hand-made run folders


def test_run_with_nothing_kept(tmp_path):
    """Every record dropped before tokenization, no manifest, no mix: the page says so."""
    stage = tmp_path / "stages" / "00-read"
    (stage / "dropped").mkdir(parents=True)
    (stage / "kept").mkdir()
    docs = documents_from_rows([{"id": "b", "url": "https://x.example/b", "text": "nul\x00byte"}, {"id": "a"}])
    pq.write_table(to_dropped(docs, "read", ["junk", "junk"]), stage / "dropped" / "part-0.parquet")
    pq.write_table(documents_from_rows([]), stage / "kept" / "empty.parquet")
    summary = {"input_total": 2, "kept_total": 0, "dropped_total": 2, "balanced": True, "problems": [],
               "stages": [{"index": 0, "name": "read", "rows_in": 2, "kept": 0, "dropped": 2, "reasons": {"junk": 2},
                           "seconds": 0.1, "resumed": False}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = parse(write_report(str(tmp_path)))
    assert "No document was kept." in page.section_text("kept-samples")
    assert "Token counts unknown" in page.section_text("funnel")
    assert "not scored" in page.section_text("languages")
    assert "nul\ufffdbyte" in page.section_text("dropped-samples")  # control characters are not passed through


def test_missing_summary_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.json"):
        write_report(str(tmp_path))


def test_mix_rendering_is_generic():
    bucketed = report_mix.render({"web": {"target": 0.6, "achieved": 0.58, "documents": 580},
                                  "code": {"target": 0.4, "achieved": 0.42, "documents": 420}, "seed": 7})
    page = Page()
    page.feed(bucketed)
    table = page.tables[None][1]
    assert table[0] == ["", "target", "achieved", "documents"]
    assert table[1] == ["web", "0.6", "0.58", "580"] and table[2][0] == "code"
    assert page.tags["svg"] == 1 and "seed" in "".join(page.text[None])
    # targets/achieved as the outer keys and buckets inside: still a table and one chart
    transposed = report_mix.render({"target": {"web": 0.6, "code": 0.4}, "achieved": {"web": 0.5, "code": 0.5}})
    assert transposed.count("<svg") == 1 and "achieved" in transposed
    assert "&lt;b&gt;" in report_mix.render([1, "<b>"])  # unknown shape: shown as escaped JSON
    assert "did not run" in report_mix.render(None)


# ---- the scorers and model-based decisions section, on a hand-made run folder


def _models_run(tmp_path):
    """A run folder with what the section reads: trained-scorers.json and two artifacts' metrics.json
    (one records a reliability curve, one does not: its curve comes from the run's labels), the
    train-scorers labels, the scorers' pass, quality-threshold's facts (from a real decision),
    assign-bucket's kept files and downsample-topics' facts."""
    import ray.data

    from classifiers.label_sources import is_held_out
    from filters.quality_threshold import QualityThreshold
    from pipeline.stage import RunContext

    stages = ["train-scorers", "quality-fasttext", "code-score", "quality-threshold", "assign-bucket", "downsample-topics"]
    dirs = {name: tmp_path / "stages" / f"{i:02d}-{name}" for i, name in enumerate(stages)}
    docs = [{"id": f"m{i:03d}", "language": "en" if i % 4 else "de", "quality_fasttext": (i % 50) / 50, "code_score": (i % 10) / 10,
             "text": "t"} for i in range(200)]
    (dirs["code-score"] / "kept").mkdir(parents=True)
    pq.write_table(documents_from_rows(docs), dirs["code-score"] / "kept" / "part-0.parquet")
    # labels: quality by the judge (0-5), code as binary 0/1 labels
    (dirs["train-scorers"] / "labels").mkdir(parents=True)
    import pyarrow as pa

    labelled = [d for d in docs if is_held_out(d["id"], 0.2, 5)][:30] + docs[:10]
    # labels/combined.parquet, as train-scorers writes it: every training label, its scorer and teacher
    pq.write_table(pa.table({"scorer": ["code-score"] * len(labelled), "id": [d["id"] for d in labelled],
                             "label": ["1" if d["code_score"] >= 0.5 else "0" for d in labelled],
                             "teacher": ["code-lf"] * len(labelled)}), dirs["train-scorers"] / "labels" / "combined.parquet")
    arts = tmp_path / "artifacts"
    quality_metrics = {"kind": "fasttext", "version": "q1", "n_train": 80, "n_held_out": 20, "scorer_kind": "binary",
                       "column": "quality_fasttext", "task": "quality", "models": {"default": "d.bin"},
                       "teachers": {"judge": 60, "reference-texts": 40},
                       "config": {"seed": 5, "held_out_fraction": 0.2},
                       "metrics": {"held_out": {"roc_auc": 0.8123, "accuracy": 0.75, "macro_f1": 0.7, "label_counts": {"0": 10, "1": 10},
                                                "reliability": [{"lo": 0.0, "hi": 0.5, "n": 10, "mean_score": 0.3, "positive_rate": 0.2},
                                                                {"lo": 0.5, "hi": 1.0, "n": 10, "mean_score": 0.7, "positive_rate": 0.8}]}}}
    code_metrics = {**quality_metrics, "version": "c1", "column": "code_score", "task": "code", "teachers": {"code-functions": 50},
                    "metrics": {"held_out": {"roc_auc": 0.9, "accuracy": 0.85, "macro_f1": 0.8, "label_counts": {"0": 15, "1": 5}}}}
    pointer = {}
    for name, m in (("quality-fasttext", quality_metrics), ("code-score", code_metrics), ("topic", None)):
        if m is None:
            pointer[name] = None
            continue
        (arts / name).mkdir(parents=True)
        (arts / name / "metrics.json").write_text(json.dumps(m))
        pointer[name] = str(arts / name)
    # a shipped default train-scorers fell back to: `default:<scorer>/<version>`, in the installation
    shipped = tmp_path / "shipped" / "reasoning-score" / "v0"
    shipped.mkdir(parents=True)
    (shipped / "metrics.json").write_text(json.dumps({**code_metrics, "version": "v0", "column": "reasoning_score",
                                                      "metrics": {"held_out": {"roc_auc": 0.77}}}))
    pointer["reasoning-score"] = "default:reasoning-score/v0"
    (tmp_path / "trained-scorers.json").write_text(json.dumps(pointer))
    qt = QualityThreshold(QualityThreshold.Config(percentile=20),
                          RunContext(output_dir=str(tmp_path), stage_dir=str(dirs["quality-threshold"]), seed=5))
    qt_facts = qt.fit(ray.data.from_arrow(documents_from_rows(docs)))
    buckets = [{"id": d["id"], "bucket": b, "annotations": json.dumps({"bucket": r})} for d, (b, r) in zip(docs, [
        ("code", "code_score>=0.7"), ("general", "below-thresholds"), ("multilingual", "language:de"), ("multilingual", "language:fr")] * 50)]
    (dirs["assign-bucket"] / "kept").mkdir(parents=True)
    pq.write_table(documents_from_rows(buckets), dirs["assign-bucket"] / "kept" / "part-0.parquet")
    topic_facts = {"buckets": ["general"], "max_ratio": 3.0, "documents": 150, "kept": 120, "would_drop": 30,
                   "topics": {"entertainment": {"documents": 90, "share": 0.6, "target_share": 0.3333, "rate": 0.6667, "kept": 60, "kept_share": 0.5},
                              "science": {"documents": 60, "share": 0.4, "target_share": 0.3333, "rate": 1.0, "kept": 60, "kept_share": 0.5}}}
    facts = {"train-scorers": {"teachers": {"judge": 60, "code-functions": 50}}, "quality-threshold": qt_facts,
             "downsample-topics": topic_facts}
    summary = {"input_total": 200, "kept_total": 200, "dropped_total": 0, "balanced": True, "problems": [],
               "stages": [{"index": i, "name": n, "rows_in": 200, "kept": 200, "dropped": 0, "reasons": {}, "seconds": 0.1,
                           "resumed": False, "facts": facts.get(n, {})} for i, n in enumerate(stages)]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    return qt_facts, labelled


def test_models_section(ray_local, tmp_path, monkeypatch):
    from pipeline.report import data as report_data

    monkeypatch.setattr(report_data, "DEFAULT_ROOT", str(tmp_path / "shipped"))
    qt_facts, labelled = _models_run(tmp_path)
    page = parse(write_report(str(tmp_path)))
    text = page.section_text("models")
    tables = page.tables["models"]
    teachers = {(r[0], r[1]): num(r[2]) for r in tables[0][1:]}
    assert teachers[("all scorers (train-scorers)", "judge")] == 60 and teachers[("quality-fasttext", "reference-texts")] == 40
    agreement = {r[0]: r for r in tables[1][1:]}
    assert agreement["quality-fasttext"][5] == "0.8123" and agreement["code-score"][5] == "0.9"
    assert agreement["topic"][1] == "not trained"
    assert agreement["reasoning-score"][1] == "fasttext (shipped default)" and agreement["reasoning-score"][5] == "0.77"
    # calibration: quality's curve from metrics.json, code's from the run's held-out labels
    assert "quality-fasttext: metrics.json" in text and "code-score: this run's held-out labelled documents" in text
    from classifiers.label_sources import is_held_out

    held = {d["id"] for d in labelled if is_held_out(d["id"], 0.2, 5)}
    assert f"code-score (n={len(held)})" in open(tmp_path / "report.html").read()
    assert open(tmp_path / "report.html").read().count("<svg") >= 3
    # the quality decision: per group thresholds, what each percentile keeps
    groups = {r[0]: r for r in tables[3][1:]}
    assert set(groups) == {"de", "en"} and float(groups["en"][2]) == qt_facts["groups"]["en"]["threshold"]
    assert "drop the lowest 20% of each language group" in text
    # buckets: one row for every non-primary language together
    rules = {(r[0], r[1]): num(r[2]) for r in next(t for t in tables if t[0][:2] == ["bucket", "rule (annotations.bucket)"])[1:]}
    assert rules == {("code", "code_score>=0.7"): 50, ("general", "below-thresholds"): 50,
                     ("multilingual", "language: not a primary language"): 100}
    topics = {r[0]: r for r in tables[-1][1:]}
    assert topics["entertainment"][4] == "0.6667"


def test_held_out_split_is_train_scorers_split():
    from classifiers.label_sources import is_held_out
    from pipeline.report.data import held_out_split

    ids = [f"doc-{i}" for i in range(2000)]
    assert [held_out_split(i, 0.2, 11) for i in ids] == [is_held_out(i, 0.2, 11) for i in ids]
