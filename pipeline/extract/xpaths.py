"""trafilatura's discard XPaths, evaluated in Python with the same results, 3-4x faster.

trafilatura prunes boilerplate with XPath expressions whose predicates call EXSLT `re:test`; lxml
answers each of those calls with a Python callback, per element, and the pruning was ~40% of our
extraction time (bench/extraction_speed.py). Here each expression is a `Rule`: the element names
of its first step (filtered by lxml in C), then its predicates in Python over the few attributes
they read. XPath semantics kept exactly:
- an absent attribute is the empty string (`contains(@id, 'x')` is false, a pattern that matches
  '' matches);
- `@id|@class` is the first of the two in document order (EXSLT functions take a node-set's first
  node), which lxml lists in `element.items()` order;
- `re:test` is Python's `re.search` (lxml implements EXSLT regexp with `re`);
- results in document order, the context node itself excluded (`.//`).

A rule replaces trafilatura's expression only when the expression's source text is exactly the one
the rule was written for (trafilatura 2.3.x); any other version keeps its own XPath (logged).
tests/pipeline/extract/test_extract_xpaths.py runs both on every page of the extraction benchmark and the shared
WARC files, at every call trafilatura makes during extraction, and requires identical node lists.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

Attr = str | tuple[str, ...]  # one attribute, or the first of several in document order


def attr_value(el, attr: Attr) -> str:
    """XPath string-value of `@a` (or of the first of `@a|@b` in document order) on `el`."""
    if isinstance(attr, str):
        return el.get(attr) or ""
    for key, value in el.items():
        if key in attr:
            return value
    return ""


def has(attr: str) -> Callable:
    return lambda el: el.get(attr) is not None


def equals(attr: Attr, value: str) -> Callable:
    return lambda el: el.get(attr) == value if isinstance(attr, str) else attr_value(el, attr) == value


def contains(attr: Attr, part: str, translate: tuple[str, str] | None = None) -> Callable:
    if translate:
        table = str.maketrans(*translate)
        return lambda el: part in attr_value(el, attr).translate(table)
    return lambda el: part in attr_value(el, attr)


def starts(attr: Attr, prefix: str) -> Callable:
    return lambda el: attr_value(el, attr).startswith(prefix)


def test(attr: Attr, pattern: str) -> Callable:
    search = re.compile(pattern).search
    return lambda el: search(attr_value(el, attr)) is not None


def no_descendant(tag: str) -> Callable:
    return lambda el: next(el.iterdescendants(tag), None) is None


def not_tag(*tags: str) -> Callable:
    return lambda el: el.tag not in tags


class _Empty:
    """An element without attributes, for evaluating predicates on empty strings once."""

    tag = ""

    def get(self, key, default=None):
        return default

    def items(self):
        return []

    def iterdescendants(self, *tags):
        return iter(())


@dataclass
class Rule:
    """`.//*[self::t1 or ...][any(first)][any(then)]` (tags None: any element)."""

    source: str  # the XPath it stands for, whitespace collapsed
    tags: tuple[str, ...] | None
    first: tuple[Callable, ...]
    then: tuple[Callable, ...] = ()

    def __post_init__(self):
        # predicates that hold on an element without attributes (none here, but checked, not assumed)
        self._bare = self._holds(_Empty())

    def _holds(self, el) -> bool:
        return any(p(el) for p in self.first) and (not self.then or any(p(el) for p in self.then))

    def __call__(self, tree) -> list:
        elements = tree.iterdescendants(*self.tags) if self.tags else tree.iterdescendants()
        if self._bare:
            return [el for el in elements if isinstance(el.tag, str) and self._holds(el)]
        return [el for el in elements if isinstance(el.tag, str) and el.attrib and self._holds(el)]


_BLOCKS = ("div", "item", "list", "p", "section", "span")
_OVERALL_ID = ("^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
               "^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|premium|^ad-")
_OVERALL_CLASS = ("^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
                  "^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|dfp[Aa]d|"
                  "outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|sociable|embedded|embed|"
                  "tag-list|consent|modal-content|permission|elated|next-|-stories|most-popular|more-on|meta|rating|"
                  "attachment|timestamp|user-info|user-profile|-icon|article-infos|message-container|slide|viewport|"
                  "overlay|options|expand|obfuscated|blurred|mol-factbox|yin|zlylin|nfoline")
_HIDDEN_CLASS = ("^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|"
                 "noprint|notloaded")
_COMMENT_ID = "^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)"
_COMMENT_ID_SHORT = "^(?:[Cc]omment(?!ary)|comol)"
_COMMENT_CLASS = "^[Cc]omment(?!ary)|(?:article|post)-comments"
_SCROLL = "mvp-post-add-(?:box|wrap)|infinite-?scroll"
_APPENDED = "mvp-post-add-(?:box|wrap)"
_ID_CLASS = ("id", "class")


def _blocks(tags: tuple[str, ...]) -> str:
    return " or ".join(f"self::{t}" for t in tags)


# (trafilatura.xpaths list name, index) -> the rule for that expression
RULES: dict[tuple[str, int], Rule] = {
    ("OVERALL_DISCARD_XPATH", 0): Rule(
        f".//*[{_blocks(_BLOCKS)}][ @data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
        f"contains(@data-component, 'MostPopularStories') or re:test(@id|@class, 'cookie') or re:test(@id, '{_OVERALL_ID}') or "
        f"re:test(@class, '{_OVERALL_CLASS}')]",
        _BLOCKS,
        (has("data-lp-replacement-content"), contains("role", "nav", ("N", "n")), contains("data-component", "MostPopularStories"),
         test(_ID_CLASS, "cookie"), test("id", _OVERALL_ID), test("class", _OVERALL_CLASS)),
    ),
    ("OVERALL_DISCARD_XPATH", 1): Rule(
        ".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or re:test(@id|@style, 'hidden') or "
        "contains(@style, 'display:none') or contains(@style, 'display: none') or re:test(@id, 'reader-comments|akismet') or "
        f"re:test(@class, '{_HIDDEN_CLASS}') or @aria-hidden='true']",
        None,
        (equals("class", "comments-title"), starts(_ID_CLASS, "reply-"), test(("id", "style"), "hidden"),
         contains("style", "display:none"), contains("style", "display: none"), test("id", "reader-comments|akismet"),
         test("class", _HIDDEN_CLASS), equals("aria-hidden", "true")),
    ),
    ("RAW_TREE_PRUNE_XPATH", 0): Rule(
        f".//*[self::div or self::section or self::aside][ re:test(@id, '{_SCROLL}') or re:test(@class, '{_SCROLL}')][ "
        f"not(.//h1) or re:test(@id, '{_APPENDED}') or re:test(@class, '{_APPENDED}')]",
        ("div", "section", "aside"),
        (test("id", _SCROLL), test("class", _SCROLL)),
        (no_descendant("h1"), test("id", _APPENDED), test("class", _APPENDED)),
    ),
    ("RAW_TREE_PRUNE_XPATH", 1): Rule(
        ".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]",
        ("div", "section", "aside"),
        (contains("class", "elementor-share-buttons"),),
    ),
    ("REMOVE_COMMENTS_AND_LISTS_XPATH", 0): Rule(
        ".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ "
        f"re:test(@id, '{_COMMENT_ID}') or re:test(@class, '{_COMMENT_CLASS}')][ not(self::ol or self::ul) or "
        f"re:test(@id, '{_COMMENT_ID_SHORT}') or re:test(@class, '{_COMMENT_CLASS}')]",
        ("div", "list", "section", "details", "ol", "ul"),
        (test("id", _COMMENT_ID), test("class", _COMMENT_CLASS)),
        (not_tag("ol", "ul"), test("id", _COMMENT_ID_SHORT), test("class", _COMMENT_CLASS)),
    ),
    ("REMOVE_COMMENTS_XPATH", 0): Rule(
        ".//*[self::div or self::list or self::section or self::details][ "
        f"re:test(@id, '{_COMMENT_ID}') or re:test(@class, '{_COMMENT_CLASS}')]",
        ("div", "list", "section", "details"),
        (test("id", _COMMENT_ID), test("class", _COMMENT_CLASS)),
    ),
    ("PRECISION_DISCARD_XPATH", 1): Rule(
        f".//*[{_blocks(_BLOCKS)}][ re:test(@id|@class, '(^|\\s)bottom|bottom(\\s|$)') or "
        "re:test(@id|@class, '(^|\\s)link(\\s|$)') or contains(@style, 'border')]",
        _BLOCKS,
        (test(_ID_CLASS, r"(^|\s)bottom|bottom(\s|$)"), test(_ID_CLASS, r"(^|\s)link(\s|$)"), contains("style", "border")),
    ),
    ("DISCARD_IMAGE_ELEMENTS", 0): Rule(
        f".//*[{_blocks(_BLOCKS)}][ contains(@id, 'caption') or contains(@class, 'caption')]",
        _BLOCKS,
        (contains("id", "caption"), contains("class", "caption")),
    ),
    ("TEASER_DISCARD_XPATH", 0): Rule(
        f".//*[{_blocks(_BLOCKS)}][ contains(translate(@id, 'T', 't'), 'teaser') or "
        "contains(translate(@class, 'T', 't'), 'teaser')]",
        _BLOCKS,
        (contains("id", "teaser", ("T", "t")), contains("class", "teaser", ("T", "t"))),
    ),
}


def normalised(path: str) -> str:
    return " ".join(path.split())


ORIGINALS: dict[tuple[str, int], object] = {}  # the XPaths the rules replaced (tests compare the two)


def install() -> int:
    """Put each rule in place of trafilatura's expression (in the shared lists, which its modules
    import by reference) where that expression's text is the one the rule stands for. Returns how
    many were installed; idempotent."""
    import trafilatura.xpaths as xpaths

    installed = 0
    for (name, index), rule in RULES.items():
        exprs = getattr(xpaths, name, None)
        if exprs is None or index >= len(exprs):
            log.warning("extract: trafilatura has no %s[%d]; its XPath rules stay as they are", name, index)
            continue
        current = exprs[index]
        if current is rule:
            installed += 1
        elif normalised(getattr(current, "path", "")) == rule.source:
            ORIGINALS[(name, index)] = current
            exprs[index] = rule
            installed += 1
        else:
            log.warning("extract: trafilatura's %s[%d] is not the expression our rule was written for; "
                        "its own XPath is used", name, index)
    return installed
