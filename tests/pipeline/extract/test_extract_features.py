"""The HTML half of the domain signals and the documentation-layout fixes made in `extract`
(pipeline/extract/features.py): counts in annotations["html"], code blocks and definitions that
survive extraction, a page about "Comments" that is not a comment thread."""
from __future__ import annotations

import json

import pytest

from pipeline.extract.stage import Extract, ExtractConfig, extract_document
from pipeline.extract.features import (
    drop_navigation,
    drop_permalinks,
    html_features,
    keep_comment_named_content,
    looks_technical,
    mark_content_frame,
    unwrap_code_figures,
)
from pipeline.extract.html import parse_html
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests import domain_pages as pages
from tests.golden import GOLDEN_DIR, golden_outcome


def run(html: str, **config):
    return extract_document(html.encode("utf-8"), "text/html", ExtractConfig(timeout_s=0, **config))


def test_counts():
    root = parse_html(
        "<html><head><script src='/js/MathJax.js'></script><script type='math/tex'>x^2</script></head><body>"
        "<p>Use <code>len()</code> and <kbd>Ctrl</kbd>.</p>"
        "<div class='highlight'><pre><code>a = 1\nb = 2</code></pre></div>"
        "<pre>plain</pre>"
        "<dl><dt id='f'>f(x)</dt><dd>..</dd><dt>no id</dt></dl>"
        "<p><math><mi>x</mi></math> and <var>n</var>, x<sup>2</sup> a<sub>1</sub></p></body></html>"
    )
    assert html_features(root) == {
        "pre": 2, "pre_chars": 16, "code": 2, "code_chars": 9, "highlight": 1, "defs": 1,
        "math": 2, "math_script": 1, "var": 1, "sub_sup": 2,
    }
    assert html_features(parse_html("<p>Just prose.</p>")) == {}


def test_technical_pages_are_those_with_code_formulas_or_definitions():
    assert looks_technical({"pre": 1})
    assert looks_technical({"math": 1})
    assert looks_technical({"defs": 2})
    assert not looks_technical({"defs": 1, "code": 3, "sub_sup": 4})


def test_a_section_named_comments_is_kept_but_a_comment_thread_is_not():
    out = run(pages.TEXINFO_PAGE)
    assert out.reason is None
    assert out.text.startswith("13.1 Comments\n")
    assert "Function: strip_comments (text)" in out.text  # definitions kept with the frame
    assert "(%i2) b : a^2;  /* its square */" in out.text
    assert "¶" not in out.text and "Next:" not in out.text and "[Contents]" not in out.text
    assert run(pages.TEXINFO_PAGE, docs_layout=False).reason == "no-text"  # as before


def test_comment_threads_stay_pruned():
    article = (
        "<html><body><main><article><h1>Council approves budget</h1>"
        + "<p>The city council approved the new budget on Monday after a long debate about funding.</p>" * 4
        + "<pre>budget.csv: 4 rows</pre>"
        + "<section id='comments' class='comments'><h2>3 comments</h2>"
        + "<div class='comment'><p>First! Great article, thanks for writing it up.</p></div></section>"
        + "</article></main></body></html>"
    )
    root = parse_html(article)
    assert keep_comment_named_content(root) == 0  # the thread holds neither the first heading nor the page
    out = run(article)
    assert "Council approves budget" in out.text and "First!" not in out.text


def test_code_in_figures_survives():
    out = run(pages.JEKYLL_PAGE)
    assert "from .core import (\n    distance,\n    midpoint,\n)" in out.text
    assert "        __init__.py" in out.text
    assert "midpoint" not in run(pages.JEKYLL_PAGE, docs_layout=False).text  # what trafilatura did


def test_permalinks_and_navigation_bars_go():
    out = run(pages.SPHINX_PAGE)
    assert out.text.startswith("shapes - Geometric shapes\n")
    assert "shapes.area(shape)\nReturn the area of shape, a float." in out.text
    assert "¶" not in out.text and "modules" not in out.text
    root = parse_html(pages.SPHINX_PAGE)
    assert drop_permalinks(root) == 3
    texinfo = parse_html(pages.TEXINFO_PAGE)
    assert drop_navigation(texinfo) == 2 and "Next:" not in texinfo.text_content()


def test_navigation_with_a_heading_or_little_link_text_stays():
    root = parse_html(
        "<body><div class='nav'><h2>Chapter</h2><a href='#'>next</a></div>"
        "<div class='header'>A long header paragraph that says what this manual covers, "
        "with one <a href='#'>link</a>.</div></body>"
    )
    assert drop_navigation(root) == 0


def test_the_frame_is_the_element_that_holds_the_page():
    root = parse_html(pages.TEXINFO_PAGE)
    assert mark_content_frame(root)
    assert root.xpath("//*[@role='main']")[0].get("class") == "section"
    assert not mark_content_frame(parse_html(pages.JEKYLL_PAGE))  # has <main> already
    assert not mark_content_frame(parse_html("<body><div>a</div><div>b</div></body>"))  # nothing holds the page


def test_figures_without_code_stay_figures():
    root = parse_html("<body><figure><img src='a.png' alt='A chart'><figcaption>Sales</figcaption></figure>"
                      "<figure class='highlight'><pre>x = 1</pre></figure></body>")
    assert unwrap_code_figures(root) == 1
    assert [f.tag for f in root.iter("figure")] == ["figure"]


def test_html_counts_go_to_annotations():
    rows = [{"id": "a", "html": pages.SPHINX_PAGE.encode(), "content_type": "text/html", "url": "u",
             "annotations": json.dumps({"earlier": 1})},
            {"id": "b", "html": b"<html><body><p>" + b"Only prose here, nothing technical at all. " * 3 + b"</p></body></html>"}]
    kept, dropped = run_map_stage_local(Extract(ExtractConfig(timeout_s=0)), documents_from_rows(rows))
    assert dropped.num_rows == 0
    ann = dict(zip(kept.column("id").to_pylist(), kept.column("annotations").to_pylist()))
    assert json.loads(ann["a"]) == {"earlier": 1, "html": {"defs": 2, "highlight": 1, "pre": 1, "pre_chars": 24}}
    assert ann["b"] is None
    kept, _ = run_map_stage_local(Extract(ExtractConfig(timeout_s=0, html_signals=False)), documents_from_rows(rows[:1]))
    assert json.loads(kept.column("annotations")[0].as_py()) == {"earlier": 1}


def test_golden_documentation_pages():
    """The golden extract records of documentation layouts (tests/golden/extract)."""
    rows = [json.loads(line) for line in open(GOLDEN_DIR / "extract" / "input.jsonl") if line.strip()]
    got = {r["id"]: r for r in golden_outcome(Extract(ExtractConfig(timeout_s=0)), [r for r in rows if r["id"].startswith("docs-")])}
    assert "Function: comment_depth (text)" in got["docs-texinfo-comments-section"]["text"]
    assert "distance," in got["docs-jekyll-code-figures"]["text"]
    assert "¶" not in got["docs-sphinx-permalinks"]["text"]


@pytest.fixture
def maxima_pages(shared_data):
    from pipeline.sources.warc import read_warc_local

    table, _ = read_warc_local([str(shared_data / "domains" / "docs-code-math.warc.gz")])
    return {u: h for u, h in zip(table.column("url").to_pylist(), table.column("html").to_pylist()) if "maxima" in u}


def test_maxima_manual_comments_page_has_text(maxima_pages):
    """The Maxima manual's "Comments" section extracted to nothing (trafilatura took its
    id="Comments" for a comment thread); a chapter page that is only navigation still does."""
    config = ExtractConfig(timeout_s=0)
    out = extract_document(maxima_pages["https://maxima.sourceforge.io/docs/manual/maxima_69.html"], "text/html", config)
    assert out.reason is None and "Comments can be nested to arbitrary depth." in out.text
    assert "(%i1) /* aa is a variable of interest */  aa : 1234;" in out.text
    nav_only = extract_document(maxima_pages["https://maxima.sourceforge.io/docs/manual/maxima_92.html"], "text/html", config)
    assert nav_only.reason == "no-text"
    defs = extract_document(maxima_pages["https://maxima.sourceforge.io/docs/manual/maxima_122.html"], "text/html", config)
    assert "Function: fast_linsolve ([expr_1, …, expr_m], [x_1, …, x_n])" in defs.text
