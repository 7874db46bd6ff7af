"""Sentence counts as datatrove's `split_into_sentences` makes them (spaCy's blank English tokenizer
plus its rule-based "sentencizer"), on our regex tokens (filters/ngram_tokens.py) instead of spaCy's.

The sentencizer's rule, restated: a sentence starts at the first token, and again at every token
that is not punctuation and follows a token that is exactly one of its sentence-final characters
("." "!" "?" and their equivalents in other scripts), with only punctuation tokens in between.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from filters.ngram_tokens import split_words

# spaCy's Sentencizer.default_punct_chars (spacy/pipeline/sentencizer.pyx), copied so that the
# pipeline does not need spaCy: a token equal to one of these ends a sentence.
SENTENCE_END_CHARS = frozenset(
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？"
    "𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈｡。"
)


# A "." that starts a chunk before a letter (".com", ".NET"): spaCy keeps it on the word, our
# tokens split it off; taken out so that it does not end a sentence.
_LEADING_DOT_RE = re.compile(r"(?<!\S)\.(?=[^\W\d_])")


@lru_cache(maxsize=4096)
def _is_punct(token: str) -> bool:
    """spaCy's `is_punct`: every character is in a Unicode punctuation category (P*)."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def count_sentences(text: str) -> int:
    """Number of sentences spaCy's sentencizer finds in `text` (0 for a text with no token)."""
    if "." in text:
        text = _LEADING_DOT_RE.sub("", text)
    tokens = split_words(text)
    if not tokens:
        return 0
    n, seen_end = 1, False
    for tok in tokens:
        if tok in SENTENCE_END_CHARS:
            seen_end = True
        elif seen_end and not _is_punct(tok):
            n += 1
            seen_end = False
    return n
