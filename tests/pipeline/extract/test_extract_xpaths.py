"""pipeline/extract/xpaths.py: each Python rule returns exactly what trafilatura's XPath returns,
checked at every pruning call trafilatura makes while extracting real pages (the extraction
benchmark and the shared WARC files), and on hand-made elements for the XPath corner cases."""
from __future__ import annotations

import glob
import gzip
import os
from collections import Counter

from lxml import html

import pipeline.extract.xpaths as fx
from pipeline.extract.stage import ExtractConfig, extract_document


def originals() -> dict[tuple[str, int], object]:
    """trafilatura's own expressions (kept by `install` when it replaced them)."""
    fx.install()
    return dict(fx.ORIGINALS)


def test_every_rule_stands_for_this_trafilatura_expression():
    for key, xpath in originals().items():
        assert fx.normalised(xpath.path) == fx.RULES[key].source, key
    assert fx.install() == len(fx.RULES)


CASES = [
    '<div id="share-box">x</div>',
    '<div class="share-box" id="x">x</div>',  # @id|@class: the id comes first and is tested
    '<div id="main" class="cookie-banner">x</div>',
    '<div class="cookie" id="main">x</div>',  # class first: 'cookie' found
    '<span role="Navigation">x</span>',
    '<p data-lp-replacement-content="">x</p>',
    '<section data-component="MostPopularStoriesList">x</section>',
    '<div style="display: none">x</div>',
    '<li aria-hidden="true">x</li>',
    '<ol id="comments"><li>a</li></ol>',
    '<ul class="commentary">a</ul>',
    '<div class="comment-list">a</div>',
    '<div id="infinite-scroll"><h1>t</h1></div>',
    '<div id="infinite-scroll"><p>t</p></div>',
    '<div class="mvp-post-add-box"><h1>t</h1></div>',
    '<div class="page bottom">x</div>',
    '<div class="a-bottom-b">x</div>',
    '<div id="x" class="link">x</div>',
    '<div class="link" id="x">x</div>',
    '<div style="border:1px">x</div>',
    '<div id="Teaser">x</div>',
    '<span class="img-caption">x</span>',
    '<div class="elementor-share-buttons">x</div>',
    '<div><!-- a comment --><p class="reply-to">x</p></div>',
    '<div class="">x</div>',
    '<div>no attributes</div>',
]


def test_rules_match_their_xpath_on_corner_cases():
    page = html.document_fromstring("<html><body>" + "".join(CASES) + "</body></html>")
    hits = Counter()
    for key, xpath in originals().items():
        expected = xpath(page)
        assert fx.RULES[key](page) == expected, key
        hits[key] += len(expected)
    assert all(hits[k] for k in fx.RULES), f"a rule matched nothing in the cases: {hits}"


def benchmark_pages(shared_data) -> list[tuple[bytes, str]]:
    pages = [(gzip.open(p).read(), "text/html") for p in sorted(glob.glob(os.path.join(shared_data, "extraction", "html", "*.html.gz")))]
    from pipeline.sources.warc import read_warc_local

    table, _ = read_warc_local(sorted(glob.glob(os.path.join(shared_data, "warc", "*.warc.gz"))))
    pages += list(zip(table.column("html").to_pylist(), table.column("content_type").to_pylist()))
    return pages


def test_rules_equal_the_xpaths_at_every_pruning_call_on_real_pages(shared_data, monkeypatch):
    """Extraction runs with trafilatura's own XPaths; at each pruning call every rule is also run
    on the same tree and must return the same elements. Then extraction with the rules installed
    gives the same text for every page."""
    import trafilatura.core
    import trafilatura.external
    import trafilatura.htmlprocessing
    import trafilatura.main_extractor

    exprs = originals()
    by_id = {id(x): key for key, x in exprs.items()}
    original_prune = trafilatura.htmlprocessing.prune_unwanted_nodes
    compared, matched, mismatches = Counter(), Counter(), []

    def checking_prune(tree, nodelist, with_backup=False):
        for expression in nodelist:
            key = by_id.get(id(expression)) or next((k for k, r in fx.RULES.items() if r is expression), None)
            if key is not None:
                want, got = exprs[key](tree), fx.RULES[key](tree)
                compared[key] += 1
                matched[key] += len(want)
                if got != want:
                    mismatches.append((key, len(want), len(got)))
        return original_prune(tree, [exprs.get(by_id.get(id(e)), e) for e in nodelist], with_backup)

    for module in (trafilatura.core, trafilatura.main_extractor, trafilatura.external):
        monkeypatch.setattr(module, "prune_unwanted_nodes", checking_prune)
    config = ExtractConfig(timeout_s=0)
    pages = benchmark_pages(shared_data)
    texts_xpath = [extract_document(p, ct, config) for p, ct in pages]
    assert not mismatches, mismatches[:10]
    # every rule was exercised, and all but the rarest matched real elements
    assert all(compared[k] for k in fx.RULES), compared
    assert sum(1 for k in fx.RULES if matched[k]) >= len(fx.RULES) - 2, matched

    monkeypatch.setattr(trafilatura.core, "prune_unwanted_nodes", original_prune)
    monkeypatch.setattr(trafilatura.main_extractor, "prune_unwanted_nodes", original_prune)
    monkeypatch.setattr(trafilatura.external, "prune_unwanted_nodes", original_prune)
    fx.install()
    texts_rules = [extract_document(p, ct, config) for p, ct in pages]
    assert texts_rules == texts_xpath
