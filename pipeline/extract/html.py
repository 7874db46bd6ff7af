"""Safe HTML parsing and the tree edits made before trafilatura sees the page: image alt text and
math become text where they stood, because trafilatura drops <img> (without include_images) and
<script>, and drops <math> that carries no LaTeX."""
from __future__ import annotations

import re

from lxml import etree, html

# libxml2's HTML parser never loads DTDs or external entities; no_network also forbids fetching
# anything should a code path ask. Comments and processing instructions are noise for text.
_PARSER = etree.HTMLParser(
    remove_comments=True,
    remove_pis=True,
    no_network=True,
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
)
# trafilatura needs lxml.html element classes; lxml.html's own lookup picks a class per tag in
# Python for every element touched (~9% of extraction time), this one does it in C. Extraction
# output is identical on the benchmark (measured).
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=html.HtmlElement, comment=html.HtmlComment, pi=html.HtmlProcessingInstruction, entity=html.HtmlEntity
    )
)
# characters that are invalid in XML: lxml refuses them in text we set, libxml2 may stop at NUL
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b <= 0x08 or b in (0x0B, 0x0C) or 0x0E <= b <= 0x1F))
# alt text that names a file, a URL or a slug ("grand-seiko-cover", "EPA_Visualisierung") is
# not content; short tokens like "x_1" (math) do not match the slug rule
_FILE_LIKE_ALT = re.compile(r"^(?:\S+\.(?:jpe?g|png|gif|webp|svg|bmp|tiff?|avif)|(?:https?:)?//\S+)$", re.IGNORECASE)
_SLUG_ALT = re.compile(r"^\w{2,}(?:[-_]\w{2,})+$")
_LETTER = re.compile(r"[^\W\d_]")
_WS = re.compile(r"\s+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# how far up a hidden wrapper of a formula is looked for (Wikipedia: 1, MathJax a11y: 1-2)
_MATH_HIDDEN_DEPTH = 3


class EmptyDocument(ValueError):
    """The payload parses to no element at all."""


def parse_html(text: str) -> html.HtmlElement:
    """Parse a decoded page into an lxml tree (always rooted at <html>)."""
    # the regex scan costs a third of the parse; a byte-table pass tells whether it is needed
    try:
        data = text.encode("utf-8")
        clean = not data.translate(None, _NOT_CONTROL_BYTES) and b"\xef\xbf\xbe" not in data and b"\xef\xbf\xbf" not in data
    except UnicodeEncodeError:  # lone surrogates
        clean = False
    if not clean:
        data = _INVALID_XML.sub("", text).encode("utf-8")
    try:
        root = html.document_fromstring(data, parser=_PARSER)
    except etree.ParserError as err:  # "Document is empty"
        raise EmptyDocument(str(err)) from None
    if root is None:
        raise EmptyDocument("no root element")
    return root


def _as_text_span(element: html.HtmlElement, text: str) -> None:
    """Turn `element` into a <span> holding only `text`, keeping its tail in place."""
    tail = element.tail
    element.clear()  # drops children, attributes, text and tail
    element.tag = "span"
    element.text = text
    element.tail = tail


def _is_hidden(element: html.HtmlElement) -> bool:
    return (
        element.get("aria-hidden") == "true"
        or element.get("hidden") is not None
        or bool(_HIDDEN_STYLE.search(element.get("style") or ""))
    )


def _clean(text: str | None) -> str:
    return _WS.sub(" ", _INVALID_XML.sub("", text or "")).strip()


def _meaningful_alt(img: html.HtmlElement) -> str | None:
    alt = _clean(img.get("alt"))
    if not alt or not _LETTER.search(alt) or _FILE_LIKE_ALT.match(alt) or (len(alt) >= 8 and _SLUG_ALT.match(alt)):
        return None
    if _is_hidden(img) or img.get("role") in ("presentation", "none"):
        return None
    return alt


def keep_alt_text(root: html.HtmlElement) -> int:
    """Replace each visible <img> that has a meaningful alt by its alt text; returns the count.
    An alt text repeated on the page (galleries, share buttons, teaser grids) is kept once."""
    n = 0
    seen: set[str] = set()
    for img in list(root.iter("img")):
        alt = _meaningful_alt(img)
        if alt is None or alt in seen:
            continue
        seen.add(alt)
        _as_text_span(img, f" {alt} ")
        n += 1
    return n


def keep_preformatted(root: html.HtmlElement) -> int:
    """Mark every <pre> as code by wrapping its content in <code>: trafilatura otherwise turns a
    <pre> that does not look like code (config files, logs, ASCII tables, poems) into a quote and
    trims the indentation of its lines."""
    n = 0
    for pre in list(root.iter("pre")):
        if next(pre.iter("code"), None) is not None:
            continue
        code = pre.makeelement("code", {})
        code.text, pre.text = pre.text, None
        for child in list(pre):
            code.append(child)  # moves the child, tail included
        pre.append(code)
        n += 1
    return n


def _math_latex(math: html.HtmlElement) -> str:
    for el in math.iter():
        if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "annotation" and el.get("encoding") in (
            "application/x-tex",
            "TeX",
        ):
            return _clean(el.text)
    return _clean(math.get("alttext")) or _clean(math.text_content())


def keep_math(root: html.HtmlElement) -> int:
    """Formulas as LaTeX text in \\( \\) or \\[ \\]: MathML (annotation, alttext, else its text),
    MathJax <script type="math/tex">. A formula inside a hidden accessibility wrapper (Wikipedia,
    MathJax) replaces that wrapper, whose visible twin is an image or rendered spans."""
    n = 0
    for script in list(root.iter("script")):
        kind = (script.get("type") or "").lower()
        if kind.startswith(("math/tex", "math/asciimath")):
            tex = _clean(script.text)
            if tex:
                display = "mode=display" in kind.replace(" ", "")
                _as_text_span(script, f"\\[{tex}\\]" if display else f"\\({tex}\\)")
                n += 1
    for math in list(root.iter("math")):
        tex = _math_latex(math)
        if not tex:
            continue
        display = math.get("display") == "block"
        target, ancestor = math, math
        for _ in range(_MATH_HIDDEN_DEPTH):
            ancestor = ancestor.getparent()
            if ancestor is None or ancestor.tag in ("body", "html"):
                break
            if _is_hidden(ancestor):
                target = ancestor
                break
        _as_text_span(target, f"\\[{tex}\\]" if display else f"\\({tex}\\)")
        n += 1
    return n
