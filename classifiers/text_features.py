"""The one text normalisation every fastText scorer uses, in training and in scoring alike (a
mismatch between the two silently costs accuracy)."""
from __future__ import annotations

import re

# words (any script) and single punctuation marks: the same token stream whether a source
# spaced its punctuation ("word , word", WikiText) or not (web text)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def fasttext_line(text: str | None, max_chars: int) -> str:
    """Lower-cased tokens of the first `max_chars` characters, space-joined on one line."""
    if not text:
        return ""
    return " ".join(_TOKEN.findall(text[:max_chars].lower()))
