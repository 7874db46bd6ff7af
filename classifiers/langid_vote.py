"""A vote of two more language identifiers over the langid stage's label (lid.176, with lingua's
second opinion): CLD2 (pycld2, Apache-2.0, ~160 languages, tables in the wheel) and langid.py's
retrained model (py3langid 0.4, BSD-3-Clause, 139 languages, model in the wheel). Each voter
names one language; the claim with the highest precision on the UDHR tune half wins, and it
replaces the stage's label only for the (stage label, winner) pairs where that fixed paragraphs
of the tune half and made no language worse (bench/langid_vote_fit.py, the table in
assets/langid_vote.json). lid.176.ftz folds small languages into large neighbours (Corsican ->
it, Manx -> en, Walloon -> fr, Yoruba, Somali, Sorani ...); the voters know many of them."""
from __future__ import annotations

import functools
import json
from pathlib import Path

TABLE_PATH = Path(__file__).parent / "assets" / "langid_vote.json"
VOTERS = ("cld2", "py3langid")
# The stage's own label votes too, under this name, with its fitted precision.
BASE = "stage"

# voters' codes that lid.176 spells otherwise: CLD2's retired ISO 639-1 codes (iw, jw), its
# traditional-Chinese and Montenegrin tags, py3langid's Bokmål (lid.176 calls it `no`)
CODE_FIXES = {"iw": "he", "jw": "jv", "zh-Hant": "zh", "sr-ME": "sh", "fil": "tl", "nb": "no"}


def to_lid(code: str | None) -> str | None:
    """A voter's code as a lid.176 label; None for 'unknown' and script-only tags (xx-Latn ...)."""
    if not code:
        return None
    code = CODE_FIXES.get(code, code)
    if code in ("un", "und", "xxx", "zxx") or code.startswith("xx-") or "-" in code:
        return None
    return code


@functools.lru_cache(maxsize=1)
def _py3langid_identifier():
    """py3langid's model, unpacked once per process (~1 s): a worker process serves every pass and
    run sent to it, and classifying changes nothing in it."""
    from py3langid.langid import _load_identifier

    return _load_identifier()


class Voters:
    """The voters' top labels for one text. Load once per worker (py3langid unpacks ~5 MB)."""

    def __init__(self, names: tuple[str, ...] | list[str] = VOTERS, max_chars: int = 1000):
        unknown = set(names) - set(VOTERS)
        if unknown:
            raise ValueError(f"unknown voters {sorted(unknown)}; known: {VOTERS}")
        self.names, self.max_chars = tuple(names), max_chars
        if "py3langid" in self.names:
            self._py3langid = _py3langid_identifier()

    def label(self, name: str, text: str) -> str | None:
        """One voter's top label for the text (its first max_chars characters)."""
        # Arrow strings are valid UTF-8; a Python caller's lone surrogates become "?" here
        text = text[: self.max_chars].encode("utf-8", "replace").decode("utf-8")
        if name == "cld2":
            import pycld2

            try:  # pycld2 raises on some control characters it takes for invalid UTF-8
                _, _, details = pycld2.detect(text, bestEffort=True)
            except pycld2.error:
                return None
            return to_lid(details[0][1]) if details and details[0][2] > 0 else None
        return to_lid(self._py3langid.classify(text)[0]) if text.strip() else None

    def labels(self, text: str) -> dict[str, str | None]:
        return {name: self.label(name, text) for name in self.names}

    def votes(self, text: str, base: str, table: dict) -> dict[str, str | None]:
        """The votes `decide` needs, asking a voter only while its claim could still change the
        outcome: once the stage's label leads and no remaining voter's most precise allowed
        target beats it, the rest are skipped (same decision; most web pages stop here)."""
        votes: dict[str, str | None] = {BASE: base}
        bounds = table["reach"].get(base, {})
        for k, name in enumerate(self.names):
            found = winner(votes, table["precision"])
            leads = found is None or found[0] == base
            held = found[1] if found is not None and leads else 0.0
            if leads and max((bounds.get(n, 0.0) for n in self.names[k:]), default=0.0) <= held:
                break
            votes[name] = self.label(name, text)
        return votes


def winner(votes: dict[str, str | None], precision: dict[str, dict[str, float]]) -> tuple[str, float] | None:
    """The claim whose voter was most precise for that label on the tune half (ties: the stage's
    own label, then the first label in code order)."""
    best: dict[str, float] = {}
    for name, label in votes.items():
        if label is not None:
            best[label] = max(best.get(label, 0.0), precision.get(name, {}).get(label, 0.0))
    if not best:
        return None
    top = max(best.values())
    own = votes.get(BASE)
    label = own if own is not None and best.get(own) == top else min(k for k, v in best.items() if v == top)
    return label, top


def decide(votes: dict[str, str | None], table: dict) -> tuple[str, float] | None:
    """(label, its precision) when the vote overrules the stage's label under the fitted pairs."""
    found = winner(votes, table["precision"])
    if found is None or found[0] == votes.get(BASE):
        return None
    return found if f"{votes.get(BASE)}>{found[0]}" in table["pairs"] else None


def load_table(path: str | Path | None = None) -> dict:
    """The fitted table: {"precision": {voter: {label: p}}, "pairs": {"base>winner": ...}}, plus
    "reach": {base: {voter: the highest precision of the voter's claims base may switch to}}."""
    table = json.loads(Path(path or TABLE_PATH).read_text(encoding="utf-8"))
    reach: dict[str, dict[str, float]] = {}
    for pair in table["pairs"]:
        base, target = pair.split(">")
        for name, claims in table["precision"].items():
            if name != BASE and target in claims:
                reach.setdefault(base, {})[name] = max(reach.get(base, {}).get(name, 0.0), claims[target])
    table["reach"] = reach
    return table
