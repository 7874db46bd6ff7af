"""Stage extract: HTML payload -> text (Llama 3 §3.1: precision, math/code/alt text kept, no
markdown), every record kept or dropped with a reason."""
from __future__ import annotations

import gzip
import json
import pickle
import random
import time

import pyarrow.parquet as pq
import pytest

from bench.metrics import shingle_prf, summarize
from pipeline.extract.stage import Extract, ExtractConfig, extract_document
from pipeline.extract.decode import NotDecodable, decode_html
from pipeline.registry import stage_class
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, documents_from_rows
from pipeline.stage import MapStageUDF, RunContext, run_map_stage_local
from tests.golden import check_golden

FILLER = (
    "The committee met on Tuesday to review the proposal in detail, and members asked for a full "
    "account of the costs, the schedule and the risks before any vote is taken next month."
)


def page(article: str, title: str = "A page about things") -> str:
    """A full page: boilerplate around an <article> with enough prose to be main content."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/about">About us</a></li></ul></nav></header>
<article><h1>{title}</h1>
<p>{FILLER}</p>
{article}
<p>{FILLER.replace("Tuesday", "Friday")}</p>
</article>
<footer><p>Copyright 2024 Example Media. All rights reserved. <a href="/privacy">Privacy</a></p></footer>
</body></html>"""


def run(html: str | bytes | None, content_type: str | None = "text/html", **config):
    payload = html.encode("utf-8") if isinstance(html, str) else html
    return extract_document(payload, content_type, ExtractConfig(**config))


# --------------------------------------------------------------------------- content kept


def test_alt_text_kept_where_the_image_was():
    out = run(page('<p>The area of the circle is <img src="f1.png" alt="A = \\pi r^2"> as shown in the lesson above.</p>'))
    assert out.reason is None
    assert "The area of the circle is A = \\pi r^2 as shown in the lesson above." in out.text


def test_alt_text_skipped_when_hidden_a_file_name_or_repeated():
    out = run(
        page(
            '<p>Photos from the trip <img src="a.jpg" alt="IMG_2041.jpg"> and <img src="b.jpg" alt="decorative" aria-hidden="true">'
            ' were posted <img src="c.jpg" alt="Sunset over the bay"> online <img src="d.jpg" alt="Sunset over the bay"> today.</p>'
        )
    )
    assert "IMG_2041" not in out.text and "decorative" not in out.text
    assert out.text.count("Sunset over the bay") == 1


def test_alt_text_off_by_config():
    out = run(page('<p>The formula <img src="f.png" alt="E = mc^2"> is famous and appears in many textbooks.</p>'), keep_alt_text=False)
    assert "mc^2" not in out.text


def test_code_block_kept_with_indentation_and_blank_lines():
    code = 'class Point:\n    def __init__(self, x):\n        self.x = x  # **not** markdown\n\n    def norm(self):\n        return abs(self.x)'
    html = page(
        "<p>Here is the class we use throughout this tutorial, copy it into a file:</p>"
        '<pre><code class="language-python"><span class="k">class</span> Point:\n'
        '    <span class="k">def</span> __init__(self, x):\n        self.x = x  # **not** markdown\n\n'
        "    <span class=\"k\">def</span> norm(self):\n        return abs(self.x)</code></pre>"
    )
    out = run(html)
    assert code in out.text


def test_code_with_br_line_breaks_keeps_indentation():
    out = run(page("<p>The configuration file looks like this on a typical installation:</p><pre>[server]<br>  port = 8080<br>  host = example.org</pre>"))
    assert "[server]\n  port = 8080\n  host = example.org" in out.text


def test_inline_code_verbatim_inside_prose():
    out = run(page("<p>Call <code>obj.__init__()</code> only from <code>__new__</code>, never compute <code>a * b * c</code> by hand here.</p>"))
    assert "Call obj.__init__() only from __new__, never compute a * b * c by hand here." in out.text


def test_math_kept_as_latex():
    html = page(
        '<p>MathJax inline <script type="math/tex">x^2 + y^2</script> and display</p>'
        '<p><script type="math/tex; mode=display">\\int_0^1 f(x)\\,dx</script></p>'
        '<p>MathML <math alttext="a_n \\to 0"><mi>a</mi></math> and KaTeX <span class="katex"><span class="katex-mathml"><math><semantics>'
        '<mrow><mi>z</mi></mrow><annotation encoding="application/x-tex">\\sqrt{z}</annotation></semantics></math></span>'
        '<span class="katex-html" aria-hidden="true">√z</span></span> in one sentence of the article.</p>'
        '<p>Wikipedia style <span class="mwe-math-element"><span class="mwe-math-mathml-inline" style="display: none;">'
        '<math alttext="{\\displaystyle e^{i\\pi}}"><semantics><mi>e</mi><annotation encoding="application/x-tex">{\\displaystyle e^{i\\pi}}'
        '</annotation></semantics></math></span><img src="e.svg" aria-hidden="true" alt="{\\displaystyle e^{i\\pi}}"></span> equals minus one.</p>'
    )
    text = run(html).text
    assert "\\(x^2 + y^2\\)" in text
    assert "\\[\\int_0^1 f(x)\\,dx\\]" in text
    assert "\\(a_n \\to 0\\)" in text
    assert "\\(\\sqrt{z}\\)" in text and "√z" not in text
    assert text.count("e^{i\\pi}") == 1


# --------------------------------------------------------------------------- markdown removed


def test_markdown_markers_removed():
    html = page(
        "<h2>Results of the study</h2>"
        "<ul><li>first finding of the study</li><li>second finding <ul><li>a nested detail</li></ul></li></ul>"
        "<ol><li>step one of the method</li><li>step two of the method</li></ol>"
        "<table><tr><th>Metric</th><th>Value</th></tr><tr><td>accuracy</td><td>0.91</td></tr><tr><td>recall</td><td>0.87</td></tr></table>"
        "<p>Authors wrote **very important** things, see [the appendix](http://example.org/appendix) and *this note* too.</p>"
        "<p># Not a heading in the source but markdown leaked into the page text, as seen on forums.</p>"
        "<p>| a | b |</p><p>|---|---|</p><p>| 1 | 2 |</p>"
    )
    text = run(html).text
    lines = text.split("\n")
    assert "Results of the study" in lines
    for item in ("first finding of the study", "a nested detail", "step one of the method"):
        assert item in lines  # no bullet, no indentation
    assert "Metric\tValue" in lines and "accuracy\t0.91" in lines
    assert "Authors wrote very important things, see the appendix and this note too." in lines
    assert "Not a heading in the source but markdown leaked into the page text, as seen on forums." in lines
    assert "a\tb" in lines and "1\t2" in lines
    assert "|" not in text and "**" not in text and "](" not in text and "---" not in text
    assert not any(line.startswith(("- ", "* ", "# ")) for line in lines)


def test_identifier_underscores_and_products_not_taken_for_emphasis():
    text = run(page("<p>The value of snake_case_name and __dunder__ stay, and 2*3*4 = 24 stays as well in this text.</p>")).text
    assert "The value of snake_case_name and __dunder__ stay, and 2*3*4 = 24 stays as well in this text." in text


# --------------------------------------------------------------------------- decoding


def test_non_utf8_page_decoded_from_http_charset():
    russian = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 3
    html = page(f"<p>{russian}</p>").replace('<meta charset="utf-8">', "")
    out = extract_document(html.encode("cp1251"), "text/html; charset=windows-1251", ExtractConfig())
    assert out.reason is None and russian.strip() in out.text


def test_non_utf8_page_decoded_from_meta_charset():
    japanese = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 3
    html = page(f"<p>{japanese}</p>").replace('<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">')
    out = extract_document(html.encode("shift_jis"), "text/html", ExtractConfig())
    assert out.reason is None and japanese in out.text


def test_utf8_page_mislabelled_latin1_is_read_as_utf8():
    text, how = decode_html("Crème brûlée — déjà vu".encode("utf-8"), "text/html; charset=ISO-8859-1")
    assert text == "Crème brûlée — déjà vu" and how == "utf-8"


def test_latin1_label_means_windows_1252_and_undeclared_legacy_is_detected():
    # 0x93/0x94 are curly quotes in windows-1252, C1 controls in ISO-8859-1
    text, _ = decode_html("\u201cQuoted\u201d caf\u00e9".encode("cp1252"), "text/html; charset=iso-8859-1")
    assert text == "\u201cQuoted\u201d caf\u00e9"
    german = "Größere Änderungen für Straßenbäume und Übergänge. " * 20
    text, how = decode_html(german.encode("cp1252"), None)
    assert text == german and how == "detected"


def test_xml_declaration_and_utf16_pages_decode():
    french = "Le conseil a approuvé le budget après un long débat."
    xhtml = f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<html><body><p>{french}</p></body></html>'
    assert decode_html(xhtml.encode("latin-1"), "text/html") == (xhtml, "meta:cp1252")
    html = f"<html><body><p>{french}</p></body></html>"
    assert decode_html(b"\xff\xfe" + html.encode("utf-16-le"), None) == (html, "bom:utf-16-le")
    assert decode_html(html.encode("utf-16-le"), None)[0] == html  # no BOM: detected


def test_utf8_cut_mid_character_by_truncation_decodes():
    payload = ("<p>" + "naïve café " * 50).encode("utf-8") + "é".encode("utf-8")[:1]
    text, how = decode_html(payload, "text/html; charset=utf-8")
    assert how == "utf-8" and text.endswith("naïve café ")


def test_garbage_bytes_dropped_as_not_decodable():
    rng = random.Random(7)
    garbage = bytes(rng.getrandbits(8) for _ in range(20000))
    with pytest.raises(NotDecodable):
        decode_html(garbage, "text/html")
    assert run(garbage).reason == "not-decodable"
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.getrandbits(8) for _ in range(5000))
    assert run(png, "text/html; charset=utf-8").reason == "not-decodable"


# --------------------------------------------------------------------------- drops


@pytest.mark.parametrize("payload", [None, b"", b" \r\n\t "])
def test_empty_payload_dropped(payload):
    assert run(payload) == (None, "empty-payload")


def test_html_too_large_dropped_before_any_work():
    html = page("<p>" + FILLER * 50 + "</p>")
    assert run(html, max_html_bytes=1000).reason == "html-too-large"
    assert run(html, max_html_bytes=len(html.encode()) + 1).reason is None


def test_no_text_for_boilerplate_only_and_short_pages():
    nav_only = '<html><body><nav><a href="/">Home</a> <a href="/a">About</a></nav><footer>© 2024</footer></body></html>'
    assert run(nav_only).reason == "no-text"
    assert run("<html><body><p>Hello there, world.</p></body></html>", min_text_chars=100).reason == "no-text"
    assert run("<!-- only a comment -->").reason == "no-text"


def test_extractor_exception_is_a_drop_with_its_type(monkeypatch):
    import pipeline.extract.text

    def boom(body):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(pipeline.extract.text, "body_to_text", boom)
    assert run(page("<p>x</p>")).reason == "extraction-failed:RuntimeError"


def test_timeout_interrupts_a_stuck_document_and_leaves_the_next_alone(monkeypatch):
    import pipeline.extract.text

    real = pipeline.extract.text.body_to_text

    def stuck(body):
        while True:  # a Python-level hang, as in a pathological scoring loop
            pass

    monkeypatch.setattr(pipeline.extract.text, "body_to_text", stuck)
    start = time.monotonic()
    assert run(page("<p>x</p>"), timeout_s=0.3).reason == "extraction-timeout"
    assert time.monotonic() - start < 5
    monkeypatch.setattr(pipeline.extract.text, "body_to_text", real)
    assert run(page("<p>fine</p>"), timeout_s=0.3).reason is None
    time.sleep(0.5)  # a late watchdog shot would land here, after the limit ended


# --------------------------------------------------------------------------- the stage


def _rows():
    return [
        {"id": "ok", "url": "http://a.example/1", "content_type": "text/html", "html": page("<p>Body text of the first page.</p>")},
        {"id": "empty", "url": "http://a.example/2", "content_type": "text/html", "html": b""},
        {"id": "nav", "url": "http://a.example/3", "content_type": "text/html", "html": "<html><body><nav><a href='/'>Home</a></nav></body></html>"},
    ]


def test_stage_writes_text_clears_html_and_accounts_for_every_row():
    assert stage_class("extract") is Extract
    kept, dropped = run_map_stage_local(Extract(), documents_from_rows(_rows()), batch_size=2)
    assert kept.schema == DOCUMENT_SCHEMA and dropped.schema == DROPPED_SCHEMA
    assert kept.column("id").to_pylist() == ["ok"]
    assert "Body text of the first page." in kept.column("text")[0].as_py()
    assert dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist())) == {"empty": "empty-payload", "nav": "no-text"}
    assert kept.column("html").null_count == kept.num_rows and dropped.column("html").null_count == dropped.num_rows
    assert set(dropped.column("stage").to_pylist()) == {"extract"}


def test_stage_as_ray_udf_writes_drops_and_is_picklable(tmp_path):
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "extract"))
    pickle.dumps((Extract, ExtractConfig(), ctx))  # what Ray ships to workers
    udf = MapStageUDF(Extract, ExtractConfig(), ctx)
    kept = udf(documents_from_rows(_rows()))
    assert kept.column("id").to_pylist() == ["ok"]
    files = list((tmp_path / "extract" / "dropped").glob("*.parquet"))
    assert len(files) == 1
    assert sorted(pq.read_table(files[0]).column("reason").to_pylist()) == ["empty-payload", "no-text"]


@pytest.mark.ray
def test_stage_on_ray_including_the_time_limit_inside_actors(ray_local, tmp_path):
    from pipeline.executor.runner import map_stage

    rows = _rows()
    for config, expected_ok in ((ExtractConfig(), "kept"), (ExtractConfig(timeout_s=1e-6), "extraction-timeout")):
        ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / f"extract-{expected_ok}"), batch_size=2)
        ds = ray_local.data.from_arrow(documents_from_rows(rows))
        kept = map_stage(ds, Extract(config), ctx).to_arrow_refs()
        kept_ids = [i for ref in kept for i in ray_local.get(ref).column("id").to_pylist()]
        dropped = pq.read_table(tmp_path / f"extract-{expected_ok}" / "dropped")
        reasons = dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()))
        if expected_ok == "kept":
            assert kept_ids == ["ok"] and reasons == {"empty": "empty-payload", "nav": "no-text"}
        else:  # a microsecond is over for any page that reaches the parser
            assert kept_ids == [] and reasons == {"ok": "extraction-timeout", "nav": "extraction-timeout", "empty": "empty-payload"}


def test_stage_output_is_deterministic():
    table = documents_from_rows(_rows())
    first = run_map_stage_local(Extract(), table)
    second = run_map_stage_local(Extract(), table)
    assert first[0].equals(second[0]) and first[1].equals(second[1])


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError):
        ExtractConfig(favour_precision=True)


def test_golden(regen_golden):
    got = check_golden(Extract(), "extract", regen_golden)
    assert {r["decision"] for r in got} == {"kept", "dropped"}


# --------------------------------------------------------------------------- real pages


def test_quality_on_article_benchmark_sample(shared_data):
    """20 real news/blog pages of the article extraction benchmark: the stage must score at least
    as well as trafilatura's stored output there (the whole set: bench/extraction_quality.py)."""
    bench = shared_data / "extraction"
    truth = json.loads((bench / "ground-truth.json").read_text(encoding="utf-8"))
    stored = json.loads((bench / "output" / "trafilatura.json").read_text(encoding="utf-8"))["output"]
    ids = sorted(truth)[::9][:20]
    rows = [{"id": k, "url": truth[k]["url"], "content_type": "text/html", "html": gzip.decompress((bench / "html" / f"{k}.html.gz").read_bytes())} for k in ids]
    kept, dropped = run_map_stage_local(Extract(), documents_from_rows(rows))
    texts = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    ours = summarize(shingle_prf(truth[k]["articleBody"], texts.get(k, "")) for k in ids)
    theirs = summarize(shingle_prf(truth[k]["articleBody"], stored[k]["articleBody"]) for k in ids)
    assert dropped.num_rows == 0
    assert ours.f1 >= theirs.f1 - 0.01 and ours.f1 > 0.9
