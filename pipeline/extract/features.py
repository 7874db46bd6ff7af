"""What the HTML of a page says about code and math, measured on the parsed tree before
trafilatura sees it, and the documentation-layout fixes made for such pages.

The raw payload is cleared by `extract`, so the HTML half of the domain signals
(classifiers/domain_signals.py) is measured here, on the tree extraction parses anyway (a stage
before `extract` would parse every page a second time, ~a third of extraction's cost), and
travels as counts in `annotations["html"]`. Only counts that are not zero are written.

Counts:
- `pre`, `pre_chars`: <pre> blocks (outermost) and their characters;
- `code`, `code_chars`: inline <code>/<kbd>/<samp>/<tt> outside <pre>, and their characters;
- `highlight`: those of them (or their parent) carrying a syntax highlighter's class (Pygments,
  highlight.js, Prism, Rouge, SyntaxHighlighter, Pandoc's sourceCode, google-code-prettify);
- `defs`: anchored definition terms (<dl><dt id=...>): API references (Sphinx, Texinfo, rustdoc);
- `math`: MathML <math> (KaTeX writes one beside its rendering), TeX <script type="math/tex">
  (MathJax 2), MathJax 3 <mjx-container>;
- `math_script`: a MathJax or KaTeX script is loaded;
- `var`, `sub_sup`: <var> (Texinfo, math variables) and <sub>/<sup> elements.

Layout fixes (`prepare_docs_layout`). On every page (on the extraction benchmark and the shared
crawl pages they change no text):
- navigation bars of documentation generators (Texinfo's "Next: ..., Previous: ..., Up: ...",
  DocBook's navheader) go when their text is largely links and they hold no heading;
- permalink marks (an <a> whose whole text is a pilcrow, Sphinx's `headerlink`, Texinfo's
  `copiable-anchor`) go: "Random numbers¶" is not a heading.
On pages that look technical (code blocks, formulas or API definitions; `looks_technical`):
- a <figure> around a code block (Jekyll's <figure class="highlight">) becomes a <div>:
  trafilatura drops figures, code included;
- a container that trafilatura would prune as a comment thread because of its id or class
  ("Comments" is the section of the Maxima manual about comments in Maxima code) is kept when it
  holds the page's first heading and nearly all of its text: a comment thread never does;
- when the page has no <main>, <article> or role="main", the element that holds nearly all of
  the body's text (Texinfo's <div class="section">) gets role="main", which trafilatura's last
  content-frame rule takes; without a frame, trafilatura only recovers loose <p>, <pre> and
  tables, and loses headings and API definitions (<dt>: "Function: fast_linsolve (...)").
"""
from __future__ import annotations

import re

from lxml import etree, html

_INVISIBLE = ("script", "style", "noscript", "template")
_INLINE_CODE = frozenset({"code", "kbd", "samp", "tt"})
# the elements the counts look at, in one pass over the tree (filtered by lxml in C)
_COUNTED = ("pre", "code", "kbd", "samp", "tt", "math", "mjx-container", "script", "var", "sub", "sup", "dt")
# syntax highlighters' classes on a <pre>/<code> or its parent: Pygments/Sphinx ("highlight",
# "highlight-python3"), highlight.js ("hljs"), Prism ("language-*"), Pandoc ("sourceCode"),
# google-code-prettify ("prettyprint"), Python-Markdown ("codehilite"), Rouge, SyntaxHighlighter
_HIGHLIGHT = re.compile(r"highlight|hljs|language-|lang-|sourceCode|prettyprint|codehilite|rouge|brush:")
_MATH_SCRIPT_SRC = re.compile(r"mathjax|katex", re.IGNORECASE)
# trafilatura 2.3's comment-section patterns (xpaths.py: _COMMENTS_ID, _COMMENTS_CLASS)
_COMMENTS_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
_COMMENTS_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")
_FRAME_TAGS = frozenset({"div", "section", "article", "main"})
# how deep below <body> the content frame is looked for (Texinfo: 1, wrapped themes: 2-5); each
# level measures its children's text, so an unbounded descent is quadratic on deeply nested pages
_MAX_FRAME_DEPTH = 12
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_PILCROWS = frozenset({"¶", "#", "§"})
_PERMALINK_CLASSES = ("headerlink", "copiable-anchor", "anchorjs-link", "header-anchor")
# navigation bars of documentation generators: Texinfo's div.header ("Next: ..., Previous: ...,
# Up: ... [Contents][Index]"), Sphinx's div.related, DocBook's navheader/navfooter, breadcrumbs
_NAV_CLASSES = frozenset({"header", "nav", "navigation", "navbar", "related", "navheader", "navfooter", "breadcrumb", "breadcrumbs"})
# a navigation bar is mostly links: at least this share of its text ("Next: Files, Previous:
# Input, Up: Input [Contents][Index]" is 47% links)
_NAV_LINK_SHARE = 0.3


def _text_len(el) -> int:
    """Visible text characters under `el` (itertext in C, less script/style contents)."""
    n = len("".join(el.itertext()))
    for hidden in el.iter(*_INVISIBLE):
        n -= len("".join(hidden.itertext()))
    return max(n, 0)


def _highlighted(el) -> bool:
    parent = el.getparent()
    return bool(_HIGHLIGHT.search(el.get("class") or "")) or (
        parent is not None and bool(_HIGHLIGHT.search(parent.get("class") or ""))
    )


def html_features(root: html.HtmlElement) -> dict[str, int]:
    """The code and math counts of a parsed page (see the module docstring); zeros left out.
    One pass over the few element kinds counted (~0.3 ms a page; parsing takes ~1.5 ms)."""
    c = dict.fromkeys(("pre", "pre_chars", "code", "code_chars", "highlight", "defs", "math", "math_script", "var", "sub_sup"), 0)
    pre_end = None  # the last outermost <pre>: elements inside it come right after it in document order
    for el in root.iter(*_COUNTED):
        tag = el.tag
        if tag == "pre" or tag in _INLINE_CODE:
            if pre_end is not None and any(a is pre_end for a in el.iterancestors("pre")):
                continue
            chars = len("".join(el.itertext()))
            if tag == "pre":
                pre_end = el
                c["pre"] += 1
                c["pre_chars"] += chars
            else:
                c["code"] += 1
                c["code_chars"] += chars
            c["highlight"] += _highlighted(el)
        elif tag == "script":
            kind = (el.get("type") or "").lower()
            if kind.startswith(("math/tex", "math/asciimath")):
                c["math"] += 1
            elif _MATH_SCRIPT_SRC.search(el.get("src") or ""):
                c["math_script"] = 1
        elif tag == "math" or tag == "mjx-container":
            c["math"] += 1
        elif tag == "var":
            c["var"] += 1
        elif tag == "dt":
            c["defs"] += el.get("id") is not None and el.getparent() is not None and el.getparent().tag == "dl"
        else:  # sub, sup
            c["sub_sup"] += 1
    return {k: v for k, v in c.items() if v}


def looks_technical(features: dict[str, int]) -> bool:
    """Code blocks, formulas or API definitions: the pages whose layout `prepare_docs_layout`
    adjusts (news and blog pages rarely have any: none of the 181 extraction-benchmark pages)."""
    return bool(features.get("pre") or features.get("math") or features.get("defs", 0) >= 2 or features.get("highlight"))


def drop_permalinks(root: html.HtmlElement) -> int:
    """Remove permalink marks (an <a> holding only a pilcrow, or a permalink class); returns the count."""
    n = 0
    for a in list(root.iter("a")):
        text = "".join(a.itertext()).strip()
        cls = a.get("class") or ""
        if text in _PILCROWS and (text == "¶" or any(c in cls for c in _PERMALINK_CLASSES)):
            a.drop_tree()  # keeps the tail
            n += 1
    return n


def drop_navigation(root: html.HtmlElement) -> int:
    """Remove documentation navigation bars: an element with a navigation class (or
    role="navigation") whose text is largely links and that holds no heading; returns the count."""
    n = 0
    for el in list(root.iter("div", "nav", "p", "ul", "table")):
        if el.getparent() is None:
            continue
        classes = set((el.get("class") or "").split())
        if not (classes & _NAV_CLASSES or el.get("role") == "navigation"):
            continue
        if next(el.iter(*_HEADINGS), None) is not None:
            continue
        total = _text_len(el)
        links = sum(len("".join(a.itertext())) for a in el.iter("a"))
        if total and links >= _NAV_LINK_SHARE * total:
            el.drop_tree()
            n += 1
    return n


def _holds_page(el, body_chars: int, share: float) -> bool:
    return body_chars > 0 and _text_len(el) >= share * body_chars


def keep_comment_named_content(root: html.HtmlElement, share: float = 0.85) -> int:
    """Rename the id/class that would make trafilatura prune the page's main content as a comment
    thread (see the module docstring); returns the number of containers changed."""
    body = root.find("body")
    if body is None:
        return 0
    first_heading = next(body.iter(*_HEADINGS), None)
    if first_heading is None:
        return 0
    body_chars = _text_len(body)
    n = 0
    for el in first_heading.iterancestors():
        if el is body:
            break
        ident, cls = el.get("id") or "", el.get("class") or ""
        if not (_COMMENTS_ID.search(ident) or _COMMENTS_CLASS.search(cls)):
            continue
        if not _holds_page(el, body_chars, share):
            continue
        if _COMMENTS_ID.search(ident):
            el.set("id", f"section-{ident}")
        if _COMMENTS_CLASS.search(cls):
            el.set("class", f"section-{cls}")
        n += 1
    return n


def mark_content_frame(root: html.HtmlElement, share: float = 0.85) -> bool:
    """Give role="main" to the innermost element that holds `share` of the body's text, on a page
    without <main>, <article> or a role="main" (see the module docstring)."""
    body = root.find("body")
    if body is None or next(body.iter("main", "article"), None) is not None:
        return False
    if body.xpath("boolean(.//*[@role='main'])"):
        return False
    total = _text_len(body)
    if total == 0:
        return False
    frame, current = None, body
    for _ in range(_MAX_FRAME_DEPTH):
        inner = None
        for child in current:
            if isinstance(child.tag, str) and child.tag in _FRAME_TAGS and _text_len(child) >= share * total:
                inner = child
                break
        if inner is None:
            break
        frame = current = inner
    if frame is None:
        return False
    frame.set("role", "main")
    return True


def unwrap_code_figures(root: html.HtmlElement) -> int:
    """A <figure> around a code block (Jekyll/Rouge: <figure class="highlight"><pre>) becomes a
    <div>: trafilatura drops figures, and the code with them; returns the count."""
    n = 0
    for figure in list(root.iter("figure")):
        if next(figure.iter("pre"), None) is not None:
            figure.tag = "div"
            n += 1
    return n


def prepare_docs_layout(root: html.HtmlElement, features: dict[str, int]) -> bool:
    """The layout fixes (see the module docstring); returns whether the page got those of a
    technical page."""
    drop_navigation(root)
    drop_permalinks(root)
    if not looks_technical(features):
        return False
    unwrap_code_figures(root)
    keep_comment_named_content(root)
    mark_content_frame(root)
    return True
