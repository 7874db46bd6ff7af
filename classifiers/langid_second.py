"""A second opinion for lid.176's unsure labels: lingua (lingua-language-detector; its n-gram
models ship in the wheel), restricted to the few languages lid.176 hesitates between. Restricted
to 2-6 candidates, lingua is fast, and it separates close pairs lid.176 mixes up (Bosnian /
Croatian / Serbian, Malay / Indonesian, Bokmål / Nynorsk / Danish) and finds languages lid.176
only ranks low (Somali, Yoruba)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.language_codes import lingua_to_lid

# {lid.176 label: {"below": p, "min_confidence": c}}: lingua is asked for a text lid.176 labels
# so with top probability under p, and its pick is taken at confidence c or more; other labels
# never go to lingua. Written by `bench/langid_accuracy.py --fit` (bench/langid_fit.py).
RULES_PATH = Path(__file__).parent / "assets" / "langid_second_opinion.json"

# lid.176 labels that are easily taken for one another: if one is a candidate, all are. `sh`
# (Serbo-Croatian) has no lingua model; it stands for its three standards.
CONFUSABLE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("bs", "hr", "sr", "sh"),
    ("ms", "id"),
    ("no", "nn", "da"),
)


# lingua's Serbian model knows Cyrillic only: on Latin-script Serbian it answers Bosnian or
# Croatian (UDHR sr-Latn, tune half: 0 of 33 right, where lid.176 gets 23), so it does not judge
# Serbian in Latin script.
CYRILLIC_ONLY = frozenset({"sr"})
CYRILLIC = re.compile("[\u0400-\u04ff]")


class SecondOpinion:
    """Re-decides lid.176's top-k (label, probability) lists with lingua, restricted to the
    candidates lingua knows. Load once per worker: detectors are cached per candidate set."""

    def __init__(self, low_accuracy: bool = False):
        from lingua import Language

        self.low_accuracy = low_accuracy
        self.languages = {lingua_to_lid(lang.iso_code_639_1.name): lang for lang in Language.all()}
        self.groups = {label: group for group in CONFUSABLE_GROUPS for label in group}
        self._detectors: dict[tuple[str, ...], object] = {}  # a few dozen candidate sets occur

    def candidates(self, labels: list[str], text: str) -> tuple[str, ...]:
        """The languages lingua should choose between, given lid.176's ranked labels; empty when
        lid.176's own choice is a language lingua does not know (lingua could only overrule it
        with a wrong one) or when fewer than two candidates remain."""
        known = self.languages
        if not CYRILLIC.search(text):
            known = {k: v for k, v in known.items() if k not in CYRILLIC_ONLY}
        top = labels[0]
        # lid.176's choice must be one lingua can judge here, or a stand-in for a group (`sh`)
        if top not in known and (top in self.languages or top not in self.groups):
            return ()
        wanted = set()
        for label in labels:
            wanted.update(self.groups.get(label, (label,)))
        found = tuple(sorted(label for label in wanted if label in known))
        return found if len(found) >= 2 else ()

    def detector(self, candidates: tuple[str, ...]):
        if candidates not in self._detectors:
            from lingua import LanguageDetectorBuilder

            builder = LanguageDetectorBuilder.from_languages(*(self.languages[c] for c in candidates))
            if self.low_accuracy:
                builder = builder.with_low_accuracy_mode()
            self._detectors[candidates] = builder.build()
        return self._detectors[candidates]

    def decide(self, text: str, candidates: tuple[str, ...]) -> tuple[str, float] | None:
        """lingua's choice among `candidates` as a lid.176 label, with its confidence (0-1,
        relative to the candidates); None when it has none."""
        values = self.detector(candidates).compute_language_confidence_values(text)
        if not values or values[0].value <= 0:
            return None
        return lingua_to_lid(values[0].language.iso_code_639_1.name), float(values[0].value)


def takes(rule: dict | None, prob: float, confidence: float) -> bool:
    """Whether lingua's pick replaces lid.176's label under the fitted rule for lid.176's label (None: never)."""
    return rule is not None and prob < rule["below"] and confidence >= rule["min_confidence"]


def load_rules(path: str | Path | None = None) -> dict[str, dict]:
    """The fitted per-label rules (the shipped table when `path` is None)."""
    return json.loads(Path(path or RULES_PATH).read_text(encoding="utf-8"))["rules"]
