"""Small seeded synthetic corpora for the scorer tests: each class draws most of its words from
its own vocabulary, so a working classifier separates them and a broken one does not."""
from __future__ import annotations

import json
import random

from classifiers.judge import JudgeScore
from classifiers.label_sources import Example

SHARED = "the a of and to in is was for on with as by at from that this it".split()
VOCAB = {
    "1": "species river century published university research population described historian temperature "
         "census parliament treaty molecule province archaeological manuscript orbit cathedral dynasty".split(),
    "0": "buy cheap click free deal best price sale shipping discount now offer hurry coupon login "
         "subscribe win bonus limited order".split(),
    "sports-fitness": "match goal league coach season striker tournament referee stadium championship".split(),
    "food-dining": "recipe oven flour sauce simmer garlic dessert restaurant menu butter".split(),
    "religion": "prayer temple scripture faith church monk worship sermon saint pilgrimage".split(),
}


def doc(label: str, rng: random.Random, words: int = 40) -> str:
    own = VOCAB[label]
    return " ".join(rng.choice(own) if rng.random() < 0.6 else rng.choice(SHARED) for _ in range(words)).capitalize() + "."


def examples(labels: list[str], per_label: int, seed: int = 0, language: str | None = None, prefix: str = "") -> list[Example]:
    rng = random.Random(seed)
    return [Example(f"{prefix}{lab}-{i}", doc(lab, rng), lab, language) for lab in labels for i in range(per_label)]


def corpus_table(n: int, seed: int = 0):
    """`n` documents of four classes (ids d000..), plus one blank and one null text."""
    import pyarrow as pa

    rng = random.Random(seed)
    labels = ["1", "0", "sports-fitness", "religion"]
    rows = [{"id": f"d{i:03d}", "text": doc(labels[i % 4], rng), "language": "en"} for i in range(n)]
    rows += [{"id": "empty", "text": " ", "language": None}, {"id": "none", "text": None, "language": None}]
    return pa.Table.from_pylist(rows)


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


class VocabJudge:
    """Labels by the fixture vocabularies; code is always 0 (nothing to learn)."""

    model_id = "vocab-judge"

    def __init__(self):
        self.calls = 0

    def score(self, texts, task):
        self.calls += len(texts)
        out = []
        for t in texts:
            words = set(t.lower().rstrip(".").split())
            if task == "topic":
                lab = max(("sports-fitness", "religion", "food-dining"), key=lambda k: len(words & set(VOCAB[k])))
                out.append(JudgeScore(task, lab, 0.9, {}, "v1", self.model_id))
            elif task == "code":
                out.append(JudgeScore(task, "0", 0.0, {}, "v1", self.model_id))
            else:
                lab = "4" if len(words & set(VOCAB["1"])) > len(words & set(VOCAB["0"])) else "1"
                out.append(JudgeScore(task, lab, float(lab), {}, "v1", self.model_id))
        return out

    def close(self):
        pass
