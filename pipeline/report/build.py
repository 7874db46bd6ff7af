"""OUTPUT/report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)
describing a finished run from summary.json, manifest.json and the stage folders: the document
and token funnel, drop reasons, language/topic/score distributions of the final kept set, the
mix against its targets, and samples of kept and dropped documents.

Deterministic: the same output folder gives the same bytes (no clock, no absolute paths; samples
are the smallest ids). `python -m pipeline.report OUTPUT` rewrites it for an existing run (OUTPUT
may be an object-store URI). In a run the numbers that need the records (the kept set's
distributions, dropped tokens, samples) are computed by Ray tasks (pipeline/report/data.py)."""
from __future__ import annotations

import logging
import sys
import time
from collections import Counter

from pipeline import storage
from pipeline.report import cleaning, data, mix, plots
from pipeline.report.html import document, esc, figure, fmt, note, page, pct, section, table

log = logging.getLogger(__name__)

MAX_REASON_BARS = 40  # the chart shows the largest; the table lists every reason
MAX_CATEGORY_BARS = 25  # languages / topics charted; the table lists all
MAX_SHARD_ROWS = 50


def write_report(output_dir: str) -> str:
    """Write OUTPUT/report.html (atomically) and return its path."""
    t0 = time.perf_counter()
    summary = data.load_json(storage.join(output_dir, "summary.json"))
    if summary is None:
        raise FileNotFoundError(f"{output_dir}/summary.json not found: the report describes a finished run")
    html_text = build_report(output_dir, summary)
    path = storage.join(output_dir, "report.html")
    storage.write_text(path, html_text)
    log.info("report: %s (%.2fs)", path, time.perf_counter() - t0)
    return path


def build_report(output_dir: str, summary: dict) -> str:
    manifest = data.load_json(storage.join(output_dir, "manifest.json"))
    stages = data.stage_views(output_dir, summary)
    final_pos = data.final_kept_position(stages)
    kept_files = data.parquet_files(stages[final_pos].kept_dir) if final_pos is not None else []
    stats = data.kept_stats(kept_files)
    final_tokens = stats.tokens if stats.documents and not stats.token_nulls else None
    tokens = data.token_funnel(stages, final_pos, final_tokens)

    sections = [
        ("overview", "Overview", _overview(summary, stats, final_tokens, manifest)),
        ("funnel", "Funnel", _funnel(summary, stages, tokens)),
        ("drops", "Drop reasons", _drops(summary, stages)),
        ("languages", "Languages (final kept set)", _categories(stats.languages, "language", "languages")),
        ("topics", "Topics (final kept set)", _categories(stats.topics, "topic", "topics")),
        ("scores", "Score distributions (final kept set)", _scores(stats)),
        ("models", "Scorers and model-based decisions", _models(output_dir, stages)),
        ("cleaning", "Decontamination and semantic dedup", cleaning.render(stages)),
        ("mix", "Mix", mix.render(summary.get("mix"))),
        ("kept-samples", "Sample of kept documents", _kept_samples(kept_files)),
        ("dropped-samples", "Sample of dropped documents", _dropped_samples(stages)),
    ]
    body = "\n".join(section(a, t, b) for a, t, b in sections)
    return page("Curation run report", [(a, t) for a, t, _ in sections], body)


def _overview(summary: dict, stats: data.KeptStats, final_tokens: int | None, manifest: dict | None) -> str:
    balanced = summary.get("balanced")
    status = '<span class="ok">balanced</span>' if balanced else '<span class="bad">NOT balanced</span>'
    rows = [
        ["input records", summary.get("input_total")],
        ["kept", summary.get("kept_total")],
        ["dropped", summary.get("dropped_total")],
        ["kept, % of input", pct(summary.get("kept_total") or 0, summary.get("input_total") or 0)],
        ["final kept set: documents read", stats.documents],
        ["final kept set: tokens (sum of token_count)", final_tokens if final_tokens is not None else "not tokenized"],
    ]
    if manifest:
        totals = manifest.get("totals", {})
        rows += [[f"shards (manifest): {k}", v] for k, v in sorted(totals.items())]
        rows += [["tokenizer", manifest.get("tokenizer")], ["shard dtype", manifest.get("dtype")]]
    parts = [f"<p>Ledger: {status}.</p>", table(["", "value"], rows)]
    if summary.get("problems"):
        parts.append("<p class=\"bad\">Problems:</p><ul>" + "".join(f"<li>{esc(p)}</li>" for p in summary["problems"]) + "</ul>")
    if manifest and final_tokens is not None and manifest.get("totals", {}).get("tokens") not in (None, final_tokens):
        parts.append(note(f"manifest tokens {manifest['totals']['tokens']:,} differ from the final kept set's "
                          f"{final_tokens:,} (the shard stage adds an end-of-text token per document when configured)"))
    if manifest and manifest.get("shards"):
        shards = manifest["shards"][:MAX_SHARD_ROWS]
        parts.append(table(["shard", "documents", "tokens", "bin sha256"],
                           [[s.get("prefix"), s.get("documents"), s.get("tokens"), s.get("bin_sha256")] for s in shards]))
        if len(manifest["shards"]) > MAX_SHARD_ROWS:
            parts.append(note(f"{len(manifest['shards']) - MAX_SHARD_ROWS} more shards in manifest.json"))
    return "\n".join(parts)


def _funnel(summary: dict, stages: list[data.StageView], tokens: list[int | None]) -> str:
    if not stages:
        return note("summary.json lists no stages")
    total = summary.get("input_total") or stages[0].rows_in
    labels = ["input"] + [f"{s.index:02d} {s.name}" for s in stages]
    values = [total] + [s.kept for s in stages]
    notes = [f"{v:,} ({pct(v, total)})" for v in values]
    svg = plots.hbar(labels, values, "funnel", "Documents remaining after each stage", "documents", notes)
    rows = [
        [f"{s.index:02d}", s.name, s.rows_in, s.dropped, s.kept, pct(s.kept, total), tok, s.seconds, _how(s)]
        for s, tok in zip(stages, tokens)
    ]
    parts = [figure(svg), table(["#", "stage", "in", "dropped", "kept", "kept % of input", "tokens kept", "seconds", ""], rows)]
    known = [t for t in tokens if t is not None]
    if known:
        first = next(i for i, t in enumerate(tokens) if t is not None)
        tok_labels = [f"{s.index:02d} {s.name}" for s in stages[first:]]
        parts.append(figure(plots.hbar(tok_labels, tokens[first:], "tokens", "Tokens remaining after each stage", "tokens")))
        parts.append(note("Tokens after a stage: the final kept set's token_count total plus the tokens of every later "
                          "drop; unknown (—) before the last stage whose drops have no token_count."))
    else:
        parts.append(note("Token counts unknown: the final kept set has no token_count."))
    return "\n".join(parts)


def _how(stage: data.StageView) -> str:
    """Fused stages share one Ray pass, so their seconds are the pass's, not their own."""
    marker = data.load_json(storage.join(stage.folder, "_SUCCESS.json")) or {}
    notes = ["resumed"] if stage.resumed else []
    if len(marker.get("fused_with") or []) > 1:
        notes.append(f"one pass: {marker['fused_with'][0]} … {marker['fused_with'][-1]}")
    return ", ".join(notes)


def _drops(summary: dict, stages: list[data.StageView]) -> str:
    total = summary.get("input_total") or 0
    rows, bars = [], []
    for pos, s in enumerate(stages):
        for reason, n in sorted(s.reasons.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            rows.append([s.name, reason, n, pct(n, s.rows_in), pct(n, total)])
            bars.append((pos, f"{s.name}: {reason}", n))
    if not rows:
        return note("No record was dropped.")
    shown = sorted(sorted(bars, key=lambda b: -b[2])[:MAX_REASON_BARS], key=lambda b: (b[0], -b[2], b[1]))
    colors = [plots.PALETTE[b[0] % len(plots.PALETTE)] for b in shown]
    svg = plots.hbar([b[1] for b in shown], [b[2] for b in shown], "drops", "Dropped records by stage and reason",
                            "records", colors=colors)
    parts = [figure(svg)]
    if len(bars) > MAX_REASON_BARS:
        parts.append(note(f"chart shows the {MAX_REASON_BARS} largest of {len(bars)} reasons; the table lists all"))
    parts.append(table(["stage", "reason", "dropped", "% of stage input", "% of all input"], rows))
    return "\n".join(parts)


def _categories(counter, column: str, plural: str) -> str:
    if not counter:
        return note(f"not scored: the `{column}` column has no values in the final kept set")
    total = sum(counter.values())
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ordered[:MAX_CATEGORY_BARS]
    svg = plots.hbar([k for k, _ in top], [v for _, v in top], column, f"Documents by {column}", "documents",
                            [f"{v:,} ({pct(v, total)})" for _, v in top])
    parts = [figure(svg)]
    if len(ordered) > MAX_CATEGORY_BARS:
        parts.append(note(f"chart shows the {MAX_CATEGORY_BARS} largest of {len(ordered)} {plural}"))
    parts.append(table([column, "documents", "share"], [[k, v, pct(v, total)] for k, v in ordered]))
    return "\n".join(parts)


def _scores(stats: data.KeptStats) -> str:
    if not stats.histograms:
        return note("No score column has values in the final kept set.")
    parts = []
    for h in stats.histograms:
        parts.append(figure(plots.histogram(h.edges, h.counts, f"hist-{h.column}", h.column, h.column)))
        parts.append(note(f"{h.column}: {h.values:,} documents scored, {h.nulls:,} without a value"))
    scored = {h.column for h in stats.histograms}
    missing = [c for c in data.SCORE_COLUMNS if c not in scored]
    if missing:
        parts.append(note("not scored: " + ", ".join(missing)))
    return "\n".join(parts)


def _models(output_dir: str, stages: list[data.StageView]) -> str:
    """The judge-to-scorer distillation (teachers, held-out agreement, calibration) and the
    decisions taken on the scores (quality threshold, buckets, topic rates)."""
    artifacts = data.scorer_artifacts(output_dir)
    parts = [_teachers(stages, artifacts), _agreement(artifacts), _calibration(stages, artifacts),
             _quality_decision(data.stage_named(stages, "quality-threshold")), _bucket_decision(stages),
             _topic_decision(data.stage_named(stages, "downsample-topics"))]
    return "\n".join(p for p in parts if p)


def _teachers(stages: list[data.StageView], artifacts: list[data.Artifact]) -> str:
    trainer = data.stage_named(stages, "train-scorers")
    rows = [["all scorers (train-scorers)", name, n] for name, n in sorted(((trainer.facts if trainer else {}).get("teachers") or {}).items())]
    for a in artifacts:
        rows += [[a.scorer, name, n] for name, n in sorted(((a.metrics or {}).get("teachers") or {}).items())]
    if not rows:
        body = note("No teacher counts recorded (train-scorers' facts and metrics.json have no `teachers`).")
    else:
        body = table(["scorer", "teacher", "documents labelled"], rows)
    return "<h3>Teachers: who labelled the training documents</h3>\n" + body


def _held_out(metrics: dict | None) -> dict:
    return ((metrics or {}).get("metrics") or {}).get("held_out") or {}


def _agreement(artifacts: list[data.Artifact]) -> str:
    head = "<h3>Agreement with the teachers' labels on the held-out part</h3>\n"
    if not artifacts:
        return head + note("No trained-scorers.json: train-scorers did not run (or scorers came from configured artifacts).")
    rows = []
    for a in artifacts:
        m = a.metrics or {}
        h = _held_out(m)
        kind = ((m.get("kind") or "?") + (" (shipped default)" if a.shipped else "") if a.metrics
                else "not trained" if not a.location else f"{a.location}: no metrics.json")
        rows.append([a.scorer, kind, m.get("version"), m.get("n_train"), m.get("n_held_out"),
                     h.get("roc_auc"), h.get("accuracy"), h.get("macro_f1"), h.get("label_counts"),
                     sorted((m.get("models") or {}).keys()) or None])
    return head + table(["scorer", "model", "version", "trained on", "held out", "ROC-AUC", "accuracy", "macro-F1",
                         "held-out labels", "models"], rows) + note(
        "From each artifact's metrics.json (train-scorers holds out a hash-chosen share of the labelled documents).")


def _calibration(stages: list[data.StageView], artifacts: list[data.Artifact]) -> str:
    head = "<h3>Calibration: reliability of the scores on held-out labels</h3>\n"
    curves, rows, sources = {}, [], []
    recorded = {a.scorer: _held_out(a.metrics).get("reliability") for a in artifacts if _held_out(a.metrics).get("reliability")}
    computed = data.run_reliability(stages, [a for a in artifacts if a.scorer not in recorded])
    for scorer, bins in sorted(recorded.items()):
        computed[scorer] = {"bins": bins, "target": "positive rate", "source": "metrics.json", "n": sum(b["n"] for b in bins)}
    for scorer, curve in sorted(computed.items()):
        bins = curve["bins"]
        curves[f"{scorer} (n={curve['n']})"] = ([b["mean_score"] for b in bins], [b["positive_rate"] for b in bins])
        rows += [[scorer, f"{b['lo']:.1f}-{b['hi']:.1f}", b["n"], b["mean_score"], b["positive_rate"]] for b in bins]
        sources.append(f"{scorer}: {curve['source']}, y = {curve['target']}")
    if not curves:
        return head + note("No held-out scores to draw: metrics.json records no `reliability` and this run has no "
                           "held-out labelled document with a score.")
    svg = plots.reliability(curves, "reliability", "Reliability of the binary scorers", "observed (held-out)")
    return head + figure(svg) + note("; ".join(sources)) + table(["scorer", "score bin", "documents", "mean score", "observed"], rows)


MAX_QUALITY_GROUPS = 8  # groups (languages) shown in the keep-curve tables: the largest, plus all of them pooled


def _quality_decision(stage: data.StageView | None) -> str:
    head = "<h3>Quality filtering (quality-threshold)</h3>\n"
    if stage is None or not stage.facts.get("groups"):
        return head + note("The quality-threshold stage did not run, or no document had a quality score.")
    f = stage.facts
    rule = (f"drop the lowest {f['percentile']:g}% of each {f['group_by']} group" if f["mode"] == "percentile"
            else f"drop below {f['threshold']:g}")
    parts = [note(f"Rule: {rule}; scores from {fmt(f.get('scored_by'))}; exempt (domain pages): {fmt(f.get('exempt') or {})}; "
                  f"unscored ({f.get('unscored_policy')}): {fmt(f.get('unscored') or {})}.")]
    groups = f["groups"]
    parts.append(table(["group", "documents", "threshold", "dropped", "kept"],
                       [[g, v["documents"], v["threshold"], v["dropped"], v["kept"]] for g, v in sorted(groups.items())]))
    largest = sorted(groups, key=lambda g: (-groups[g]["documents"], g))[:MAX_QUALITY_GROUPS]
    curve = {f"all ({f['all']['documents']})": f["all"], **{f"{g} ({groups[g]['documents']})": groups[g] for g in largest}}
    percentiles = list(f["all"]["percentiles"])
    thresholds = list(f["all"]["thresholds"])
    parts.append("<p>The score each percentile cuts at (and the share it keeps), per group:</p>")
    parts.append(table(["group (documents)"] + percentiles,
                       [[g] + [f"{v['percentiles'][p]['threshold']:.4f} ({100 * v['percentiles'][p]['kept']:.0f}%)" for p in percentiles]
                        for g, v in curve.items()]))
    parts.append("<p>The share each threshold keeps, per group:</p>")
    parts.append(table(["group (documents)"] + thresholds, [[g] + [v["thresholds"][t] for t in thresholds] for g, v in curve.items()]))
    plotted = dict(list(curve.items())[:1 + min(4, len(largest))])
    svg = plots.lines([float(t) for t in thresholds], {g: [v["thresholds"][t] for t in thresholds] for g, v in plotted.items()},
                             "quality-keep", "Share of scored documents kept at each quality threshold", "threshold", "share kept")
    parts.append(figure(svg))
    return head + "\n".join(parts)


def _bucket_decision(stages: list[data.StageView]) -> str:
    head = "<h3>Buckets (assign-bucket): the thresholds applied and what they kept</h3>\n"
    files = data.kept_files_from(stages, "assign-bucket")
    rules = data.bucket_rules(files) if files else {}
    if not rules:
        return head + note("The assign-bucket stage did not run.")
    merged: Counter = Counter()
    for (bucket, rule), n in rules.items():  # one row for every language outside the primary ones
        merged[(bucket, "language: not a primary language" if str(rule).startswith("language:") else rule)] += n
    total = sum(merged.values())
    rows = [[b, r, n, pct(n, total)] for (b, r), n in sorted(merged.items(), key=lambda kv: (str(kv[0][0]), -kv[1], str(kv[0][1])))]
    return head + table(["bucket", "rule (annotations.bucket)", "documents", "share"], rows) + note(
        "Counted on the documents assign-bucket saw (before topic downsampling and the mix); the thresholds are "
        "calibrated on labelled pages by bench/buckets.py --calibrate (configs/base.yaml gives their precision and recall).")


def _topic_decision(stage: data.StageView | None) -> str:
    head = "<h3>Topic downsampling (downsample-topics)</h3>\n"
    if stage is None or "topics" not in stage.facts:
        return head + note("The downsample-topics stage did not run.")
    f = stage.facts
    parts = [note(f.get("not_measured") or f"Cap: {f['max_ratio']:g} x each topic's target share in {fmt(f['buckets'])}; "
                  f"{f['kept']:,} of {f['documents']:,} topical documents kept.")]
    if not f["topics"]:
        return head + "\n".join(parts)
    parts.append(table(["topic", "documents", "share", "target share", "keep rate", "kept", "kept share"],
                       [[t, v["documents"], v["share"], v["target_share"], v["rate"], v["kept"], v["kept_share"]]
                        for t, v in sorted(f["topics"].items(), key=lambda kv: (-kv[1]["documents"], kv[0]))]))
    return head + "\n".join(parts)


def _kept_samples(kept_files: list[str]) -> str:
    samples = data.kept_sample(kept_files)
    if not samples:
        return note("No document was kept.")
    head = note(f"The {len(samples)} kept documents with the smallest ids; text cut at {data.TEXT_CHARS} characters.")
    return head + "\n" + "\n".join(document(s, ["id", "url", "language", "language_score", "topic", "token_count"]) for s in samples)


def _dropped_samples(stages: list[data.StageView]) -> str:
    samples, skipped = data.dropped_samples(stages)
    if not samples:
        return note("No record was dropped.")
    parts = [note(f"Per stage and reason, the {data.SAMPLE_PER_REASON} dropped records with the smallest ids; "
                  f"text cut at {data.TEXT_CHARS} characters.")]
    for stage, reason, rows in samples:
        parts.append(f"<h3>{esc(stage)}: {esc(fmt(reason))}</h3>")
        parts += [document(r, ["id", "url", "reason", "duplicate_of"]) for r in rows]
    if skipped:
        parts.append(note(f"{skipped} more (stage, reason) pairs not sampled"))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pipeline.report OUTPUT_DIR", file=sys.stderr)
        return 2
    print(write_report(storage.abspath(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
