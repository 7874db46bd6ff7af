"""trafilatura's extracted body (its XML tree) -> plain text without markdown markers.

Llama 3 §3.1 removes all markdown markers: trafilatura's txt output still writes list bullets and
table pipes, and pages themselves carry literal markdown (`**bold**`, `[text](url)`, `# title`).
Code blocks must survive verbatim (Python's `__init__`, `# comment`, `* ptr`, indentation, blank
lines), so code elements are swapped for placeholders before rendering and restored after the
markers are stripped; tables become one line per row with tab-separated cells.
"""
from __future__ import annotations

import re
import unicodedata

from lxml import etree

# block-level tags of trafilatura's output tree: their text is a separate piece of a flattened cell
_BLOCK_TAGS = frozenset({"p", "head", "list", "item", "quote", "code", "lb", "table", "row", "cell", "div"})
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")

# line-start markers (the line is prose: code never reaches these rules)
_BULLET = re.compile(r"^[-*+]\s+(?=\S)")
_HEADING = re.compile(r"^#{1,6}\s+(?=\S)")
_QUOTE = re.compile(r"^(?:>\s+)+(?=\S)")
# an empty list item renders as its bare bullet
_LONE_MARKERS = frozenset({"-", "*", "+", "#", ">", "|"})
_RULE = re.compile(r"^(?:[-*_]\s*){3,}$")
_FENCE = re.compile(r"^(?:`{3,}|~{3,})[\w+.#-]*$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?$")
_TABLE_ROW = re.compile(r"^\|.*\|$")

_BLOCK_START_CHARS = frozenset("-*+#>|`~_")
_INLINE_HINT = re.compile(r"[*_`]|\]\(")

# inline markers; math spans are split off first because LaTeX uses * and _ freely
_MATH = re.compile(r"(\\\(.+?\\\)|\\\[.+?\\\])")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\[\]\n]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)")
_STRONG_STARS = re.compile(r"(?<![\w*\\])\*\*(?![\s*])(.+?)(?<![\s*\\])\*\*(?![\w*])")
# `__x__` only around text that is not a bare identifier: `__init__` is a name, not bold
_STRONG_UNDERSCORES = re.compile(r"(?<![\w\\])__(?![\s_])(?!\w+__(?!\w))(.+?)(?<![\s_\\])__(?!\w)")
_EMPHASIS_STAR = re.compile(r"(?<![\w*\\])\*(?![\s*])([^*\n]+?)(?<![\s*\\])\*(?![\w*])")
_INLINE_CODE = re.compile(r"(?<![`\\])`([^`\n]+)`(?!`)")


_HAS_MARKER_CHAR = etree.XPath("boolean(//text()[contains(., '\u27e6')])")


def _flat_text(element: etree._Element) -> str:
    """Text of a subtree on one line, with a space where block elements meet."""
    parts: list[str] = []
    for el in element.iter():
        if el is not element and el.tag in _BLOCK_TAGS:
            parts.append(" ")
        if el.text:
            parts.append(el.text)
        if el is not element and el.tail:
            if el.tag in _BLOCK_TAGS:
                parts.append(" ")
            parts.append(el.tail)
    return _WS.sub(" ", "".join(parts)).strip()


def _replace_keeping_tail(old: etree._Element, new: list[etree._Element]) -> None:
    for el in new:
        old.addprevious(el)
    if old.tail and old.tail.strip():
        prev = old.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + old.tail
        else:
            parent = old.getparent()
            parent.text = (parent.text or "") + old.tail
    old.getparent().remove(old)


def _flatten_tables(body: etree._Element) -> None:
    # innermost first, so an outer cell sees its nested table as text
    for table in reversed(list(body.iter("table"))):
        if table.getparent() is None:
            continue
        rows = []
        for row in table.iter("row"):
            cells = [_flat_text(cell) for cell in row.findall("cell")]
            while cells and not cells[-1]:
                cells.pop()
            if any(cells):
                p = etree.Element("p")
                p.text = "\t".join(cells)
                rows.append(p)
        _replace_keeping_tail(table, rows)


def _code_text(code: etree._Element) -> str:
    for lb in code.iter("lb"):
        lb.text = "\n"
    lines = [line.rstrip() for line in "".join(code.itertext()).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _placeholder_prefix(body: etree._Element) -> str:
    """A marker that occurs nowhere in the page text (so restoring never touches real text)."""
    if not _HAS_MARKER_CHAR(body):
        return "\u27e6c0:"
    text = "".join(body.itertext())
    n = 0
    while f"\u27e6c{n}:" in text:
        n += 1
    return f"\u27e6c{n}:"


def _swap_code(body: etree._Element) -> tuple[dict[str, str], set[str]]:
    prefix = _placeholder_prefix(body)
    codes: dict[str, str] = {}
    blocks: set[str] = set()
    outermost = [c for c in body.iter("code") if not any(a.tag == "code" for a in c.iterancestors())]
    for i, code in enumerate(outermost):
        token = f"{prefix}{i}\u27e7"
        content = _code_text(code)
        codes[token] = content
        if "\n" in content:
            blocks.add(token)
        tail = code.tail
        code.clear()
        code.text = token
        code.tail = tail
    return codes, blocks


def _strip_inline(segment: str) -> str:
    segment = _IMAGE_OR_LINK.sub(r"\1", segment)
    segment = _STRONG_STARS.sub(r"\1", segment)
    segment = _STRONG_UNDERSCORES.sub(r"\1", segment)
    segment = _EMPHASIS_STAR.sub(r"\1", segment)
    return _INLINE_CODE.sub(r"\1", segment)


def strip_markdown_line(line: str) -> str | None:
    """One line of prose without markdown markers; None when the line is only a marker."""
    line = line.strip()
    if not line:
        return ""
    if line[0] in _BLOCK_START_CHARS:
        if line in _LONE_MARKERS or _RULE.match(line) or _FENCE.match(line) or _TABLE_SEPARATOR.match(line):
            return None
        if _TABLE_ROW.match(line) and len(line) > 2:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]
            line = "\t".join(cells).strip()
        line = _QUOTE.sub("", line)
        line = _HEADING.sub("", line)
        line = _BULLET.sub("", line)
    if not _INLINE_HINT.search(line):  # most prose lines: nothing to strip
        return line
    if "\\(" in line or "\\[" in line:
        parts = _MATH.split(line)
        parts[0::2] = [_strip_inline(p) for p in parts[0::2]]
        return "".join(parts)
    return _strip_inline(line)


def body_to_text(body: etree._Element) -> str:
    """Render trafilatura's output tree as plain text (mutates `body`)."""
    from trafilatura.xml import xmltotxt

    codes, blocks = _swap_code(body)
    _flatten_tables(body)
    rendered = xmltotxt(body, False)
    out: list[str] = []
    for line in rendered.split("\n"):
        block_tokens = [t for t in blocks if t in line]
        if block_tokens:
            out.extend(_split_blocks(line, block_tokens, codes))
            continue
        stripped = strip_markdown_line(line)
        if stripped is not None:
            out.append(stripped)
    text = "\n".join(out)
    for token, content in codes.items():
        if token not in blocks:
            text = text.replace(token, content)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return unicodedata.normalize("NFC", text)


def _split_blocks(line: str, tokens: list[str], codes: dict[str, str]) -> list[str]:
    """A rendered line holding block-code placeholders: prose around them is stripped of markers,
    each code block goes on its own lines, verbatim."""
    pattern = re.compile("(" + "|".join(re.escape(t) for t in tokens) + ")")
    out: list[str] = []
    for piece in pattern.split(line):
        if piece in codes:
            out.append(codes[piece])
        elif piece.strip():
            stripped = strip_markdown_line(piece)
            if stripped:
                out.append(stripped)
    return out
