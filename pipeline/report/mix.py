"""The "mix" section of summary.json, rendered without assuming its shape: a mapping of
name -> mapping of values becomes a table (and a grouped bar chart of its numeric columns),
scalars become a key/value table, a list of objects becomes a table, anything else is shown
as JSON. The mix stage's own section (a "buckets" mapping among others) is shown part by part."""
from __future__ import annotations

import json

from pipeline.report import plots
from pipeline.report.html import esc, figure, note, table

_SHARE_WORDS = ("target", "achiev", "actual", "share", "fraction", "ratio", "weight", "percent")
_NAME_KEYS = ("name", "bucket", "topic", "source", "domain", "language")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _rows(mix) -> tuple[list[tuple[str, dict]], dict]:
    """(named rows of values, loose scalars)."""
    if isinstance(mix, dict):
        rows = [(str(k), v) for k, v in mix.items() if isinstance(v, dict)]
        loose = {k: v for k, v in mix.items() if not isinstance(v, dict)}
        return rows, loose
    if isinstance(mix, list) and all(isinstance(r, dict) for r in mix):
        rows = []
        for i, r in enumerate(mix):
            key = next((k for k in _NAME_KEYS if isinstance(r.get(k), str)), None)
            rows.append((r[key] if key else str(i), {k: v for k, v in r.items() if k != key}))
        return rows, {}
    return [], {}


# the parts of the mix stage's own section (pipeline/mix/summary.py), in page order
_PARTS = (
    ("buckets", "Buckets: achieved token shares against the targets, repetition factors"),
    ("total_tokens", "Total tokens"),
    ("unmet", "Targets not met"),
    ("languages", "Languages: token shares of the shards"),
    ("topics", "Topics: token shares of the shards"),
    ("anneal", "Annealing set (shards/anneal/)"),
)


def _render_parts(mix: dict) -> str:
    parts = []
    for key, title in _PARTS:
        if key not in mix:
            continue
        value = mix[key]
        if key == "unmet" and not value:
            body = note("Every target is met within the tolerance.")
        else:
            body = render(value, f"mix-{key}", title)
        parts.append(f"<h3>{esc(title)}</h3>\n{body}")
    rest = {k: v for k, v in mix.items() if k not in dict(_PARTS)}
    if rest:
        parts.append(render(rest, "mix-other"))
    return "\n".join(parts)


def render(mix, prefix: str = "mix", title: str = "Mix: achieved against targets") -> str:
    if mix is None:
        return note("The mix stage did not run: summary.json has no \"mix\" section.")
    if isinstance(mix, dict) and isinstance(mix.get("buckets"), dict):
        return _render_parts(mix)
    rows, loose = _rows(mix)
    if not rows and not loose:
        return f"<pre>{esc(json.dumps(mix, indent=2, sort_keys=True, ensure_ascii=False))}</pre>"
    parts = []
    if loose:
        parts.append(table(["key", "value"], [[k, v] for k, v in loose.items()]))
    if rows:
        columns: list[str] = []
        for _, values in rows:
            columns += [c for c in values if c not in columns]
        parts.append(table([""] + columns, [[name] + [values.get(c) for c in columns] for name, values in rows]))
        numeric = [c for c in columns if any(_is_number(v.get(c)) for _, v in rows)]
        # counts and shares on one axis hide the shares: chart the share-like columns when any
        shares = [c for c in numeric if any(w in c.lower() for w in _SHARE_WORDS)]
        numeric = shares or numeric
        if numeric:
            names = [n for n, _ in rows]
            grid = [[float(v.get(c)) if _is_number(v.get(c)) else 0.0 for c in numeric] for _, v in rows]
            if len(rows) < len(numeric):  # e.g. {"target": {bucket: share}, "achieved": {...}}
                series = {n: [grid[i][j] for j in range(len(numeric))] for i, n in enumerate(names)}
                cats = numeric
            else:
                series = {c: [grid[i][j] for i in range(len(names))] for j, c in enumerate(numeric)}
                cats = names
            parts.append(figure(plots.grouped_bars(cats, series, prefix, title)))
    return "\n".join(parts)
