"""One page's extraction, as pure functions of (payload, content type, config): the `extract`
stage (pipeline/extract/stage.py) calls them in process or in its time-limited child
(pipeline/extract/worker.py), which is why they live apart from the stage. trafilatura does the
boilerplate removal on a tree we parse and prepare once (pipeline/extract/html.py);
pipeline/extract/text.py renders its output without markdown.

Reasons a page has no text: empty-payload, html-too-large, not-decodable, no-text,
extraction-timeout, extraction-failed:<ExceptionType>.
"""
from __future__ import annotations

import functools
import logging
from typing import NamedTuple

from pydantic import Field

from pipeline.stage import StageConfig

log = logging.getLogger(__name__)


class ExtractConfig(StageConfig):
    # Llama 3 §3.1: the parser "optimizes for precision in boilerplate removal"
    favor_precision: bool = True
    # trafilatura's readability/justext comparison (its fast=False) costs about a third of the
    # time and changes the result only where the main pass comes out short (readability is adopted
    # when ours is empty, half as long, or has no paragraph). So the fast pass runs first and the
    # comparison only below this many characters (2x trafilatura's MIN_EXTRACTED_SIZE; on the
    # benchmark every rescued page was under 330). None: always compare; 0: never.
    fallback_below_chars: int | None = Field(500, ge=0)
    # tables hold content (specs, results, math tables); rendered as tab-separated rows
    include_tables: bool = True
    # reader comments are mostly short, low-quality text for pretraining
    include_comments: bool = False
    # Llama 3 §3.1: alt text kept, math is often an image whose alt attribute holds the formula
    keep_alt_text: bool = True
    # MathML / MathJax / KaTeX formulas as LaTeX text (trafilatura drops <script>, and <math>
    # without LaTeX)
    keep_math: bool = True
    # code and math counts of the HTML (pre blocks, inline code, highlighter classes, API
    # definitions, formulas) into annotations["html"], for the domain signals
    # (classifiers/domain_signals.py): the HTML is gone after this stage
    html_signals: bool = True
    # documentation layouts (pipeline/extract/features.py): navigation bars and permalink marks
    # removed; on technical pages (code blocks, formulas, API definitions) code in <figure>
    # kept, a content section named like a comment thread kept, the content frame marked when
    # the page has none. Our measurement on ../shared/data/domains: a Maxima manual page
    # extracted to nothing ("Comments"), the headings and function definitions of the Texinfo
    # pages were lost, a crawl tutorial lost its code (bench/domain_recall.py); no text changes
    # on the extraction benchmark
    docs_layout: bool = True
    # below this an extraction is a title or a consent line, not a document; the real length
    # rules live in the quality filters (Gopher: >= 50 words)
    min_text_chars: int = Field(25, ge=0)
    # Common Crawl truncates payloads at 1 MiB; bigger payloads come from other crawls, are mostly
    # data dumps, and trafilatura's time grows with the tree
    max_html_bytes: int = Field(4 * 1024 * 1024, ge=1)
    # per-document limit: soft in the child (pipeline/extract/timeout.py), hard by killing the
    # child at 1.5x + 2 s (pipeline/extract/worker.py); 0 runs in process without a limit; a typical page takes 10-30 ms,
    # pathological ones (huge tables, deep nesting) seconds
    timeout_s: float = Field(10.0, ge=0)


class Outcome(NamedTuple):
    text: str | None
    reason: str | None  # None: kept


class PageOutcome(NamedTuple):
    """An Outcome with the page's code and math counts (pipeline/extract/features.py)."""

    text: str | None
    reason: str | None  # None: kept
    html: dict | None = None


@functools.lru_cache(maxsize=16)
def trafilatura_options(config: ExtractConfig, fast: bool):
    from trafilatura.settings import Extractor as TrafilaturaOptions

    return TrafilaturaOptions(
        output_format="txt",  # no markdown rendering: we render the tree ourselves
        fast=fast,
        precision=config.favor_precision,
        comments=config.include_comments,
        formatting=False,
        links=False,
        images=False,
        tables=config.include_tables,
        dedup=False,
    )


def _extract(payload: bytes, content_type: str | None, config: ExtractConfig) -> PageOutcome:
    from pipeline.extract.decode import NotDecodable, decode_html
    from pipeline.extract.features import html_features, prepare_docs_layout
    from pipeline.extract.html import EmptyDocument, keep_alt_text, keep_math, keep_preformatted, parse_html
    from pipeline.extract.text import body_to_text

    try:
        decoded, _how = decode_html(payload, content_type)
    except NotDecodable as err:
        log.info("extract: not decodable (%s): %s", content_type, err)
        return PageOutcome(None, "not-decodable")
    if not decoded.strip():
        return PageOutcome(None, "empty-payload")
    try:
        root = parse_html(decoded)
    except EmptyDocument:
        return PageOutcome(None, "no-text")
    features = html_features(root) if config.html_signals or config.docs_layout else None
    keep_preformatted(root)
    if config.keep_math:
        keep_math(root)
    if config.keep_alt_text:
        keep_alt_text(root)
    if config.docs_layout:
        prepare_docs_layout(root, features)
    html = (features or None) if config.html_signals else None  # nothing counted: no annotation
    document = _run_trafilatura(root, config)
    if document is None or document.body is None:
        return PageOutcome(None, "no-text", html)
    text = body_to_text(document.body)
    if len(text) < max(config.min_text_chars, 1):
        return PageOutcome(None, "no-text", html)
    return PageOutcome(text, None, html)


_FAST_XPATHS: list[int] = []


def _run_trafilatura(root, config: ExtractConfig):
    """trafilatura on our prepared tree (it works on a copy, so the tree can serve twice)."""
    from trafilatura import bare_extraction

    if not _FAST_XPATHS:  # its discard XPaths evaluated in Python, same results (pipeline/extract/xpaths.py)
        from pipeline.extract.xpaths import install

        _FAST_XPATHS.append(install())

    below = config.fallback_below_chars
    if below is None:
        return bare_extraction(root, options=trafilatura_options(config, fast=False))
    document = bare_extraction(root, options=trafilatura_options(config, fast=True))
    if below and (document is None or len(document.raw_text or "") < below):
        second = bare_extraction(root, options=trafilatura_options(config, fast=False))
        if second is not None:
            return second
    return document


def extract_page(payload: bytes | None, content_type: str | None, config: ExtractConfig, url: str | None = None) -> PageOutcome:
    """Text of one page, or the reason it has none, with the page's code and math counts. Pure
    function of its arguments (picklable), so a hard time limit can run it in a child process."""
    from pipeline.extract.timeout import ExtractionTimeout, time_limit

    if not payload or payload.isspace():
        return PageOutcome(None, "empty-payload")
    if len(payload) > config.max_html_bytes:
        log.info("extract: %d bytes over max_html_bytes, dropped: %s", len(payload), url)
        return PageOutcome(None, "html-too-large")
    try:
        with time_limit(config.timeout_s):
            return _extract(payload, content_type, config)
    except ExtractionTimeout:
        log.warning("extract: over %ss, dropped: %s", config.timeout_s, url)
        return PageOutcome(None, "extraction-timeout")
    except Exception as err:  # a parser or extractor bug on one page must not stop the run
        log.warning("extract: %s on %s: %s", type(err).__name__, url, err)
        return PageOutcome(None, f"extraction-failed:{type(err).__name__}")


def extract_document(payload: bytes | None, content_type: str | None, config: ExtractConfig, url: str | None = None) -> Outcome:
    """Text of one page, or the reason it has none (`extract_page` without the HTML counts)."""
    return Outcome(*extract_page(payload, content_type, config, url)[:2])
