"""Small HTML builders for report.html: escaping, tables, the page shell with its inline CSS
(the page references nothing outside itself)."""
from __future__ import annotations

import html
import json
import re

# C0 controls other than tab/newline/CR are parse errors in HTML (NUL is replaced by browsers
# anyway); web text does carry them, so they are shown as U+FFFD
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1em 2em 4em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figure svg { max-width: 100%; height: auto; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
.note { color: #666; font-style: italic; }
.doc { border: 1px solid #ddd; border-radius: 4px; margin: 0.6em 0; padding: 0.4em 0.8em; }
.doc .meta { font-size: 0.85em; color: #444; word-break: break-all; }
.doc pre { white-space: pre-wrap; word-wrap: break-word; font-size: 0.85em; background: #fafafa;
           padding: 0.5em; margin: 0.3em 0; max-height: 20em; overflow: auto; }
nav ul { columns: 2; font-size: 0.95em; }
"""


def esc(value) -> str:
    if value is None:
        return ""
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


def fmt(value) -> str:
    """Cell text: thousands separators for ints, 4 significant digits for floats, JSON for the rest."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "—"


def table(headers: list[str], rows: list[list], css_class: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{esc(fmt(v))}</td>' if num else f"<td>{esc(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(svg: str) -> str:
    return f'<div class="figure">{svg}</div>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def document(sample: dict, fields: list[str]) -> str:
    """One sampled record: a metadata line (url as text, never a link) and its escaped text."""
    meta = " · ".join(f"<b>{esc(f)}</b>: {esc(fmt(sample.get(f)))}" for f in fields if sample.get(f) is not None)
    text = sample.get("text")
    body = f"<pre>{esc(text)}</pre>" if text is not None else '<p class="note">(no text)</p>'
    return f'<div class="doc"><div class="meta">{meta}</div>{body}</div>'


def page(title: str, nav: list[tuple[str, str]], body: str) -> str:
    links = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{esc(title)}</h1>\n"
        f"<nav><ul>{links}</ul></nav>\n{body}\n</body>\n</html>\n"
    )
