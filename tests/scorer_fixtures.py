"""Small seeded synthetic corpora for the scorer tests: each class draws most of its words from
its own vocabulary, so a working classifier separates them and a broken one does not."""
from __future__ import annotations

import json
import random

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


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
