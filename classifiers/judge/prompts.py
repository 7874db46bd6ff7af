"""Versioned judge prompts. A prompt's text never changes once released: a new wording is a new
version (labels are cached and written per version). Each prompt asks for a single label token
(a digit 0-5, or a topic letter), so the score is read from one forward pass's next-token
probabilities instead of from sampled text.

Scales are ours, modelled on FineWeb-Edu's 0-5 educational-value prompt (Penedo et al. 2024)
and the Llama 3 report's description of its quality, code and reasoning classifiers (§3.1.2)."""
from __future__ import annotations

import string
from dataclasses import dataclass

from classifiers.judge.taxonomy import Topic, taxonomy_hash

TASKS = ("quality", "code", "reasoning", "topic")
SCALE = tuple(str(i) for i in range(6))


@dataclass(frozen=True)
class Prompt:
    task: str
    version: str  # the cache and labels key, e.g. "quality-v1" or "topic-v1+tax-1a2b3c4d"
    system: str
    user: str  # "{text}" marks where the (truncated) document goes
    tokens: tuple[str, ...]  # what the model answers with, one token each
    labels: tuple[str, ...]  # the label each token stands for ("0".."5", or a topic key)

    def messages(self, text: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user.replace("{text}", text)}]

    def plain(self, text: str) -> str:
        """The prompt as one string, for /completions on servers whose chat template we lack."""
        return f"{self.system}\n\n{self.user.replace('{text}', text)}\n\nAnswer:"


_SYSTEM = "You are a careful annotator of web pages for language-model training data. You answer with a single character."

_PAGE = "Web page:\n<<<\n{text}\n>>>\n\n"

_SCALES = {
    "quality": {
        "v1": (
            "Rate how useful this web page is as text for pretraining a language model, from 0 to 5.\n"
            "0: no usable text: spam, menus, error pages, lists of links or keywords, adult content.\n"
            "1: mostly boilerplate or advertising, with little coherent text.\n"
            "2: coherent but thin: short listings, chatter, fragments of a page.\n"
            "3: readable, informative text with some noise.\n"
            "4: clear, accurate, substantive writing, such as a good article, tutorial or reference page.\n"
            "5: outstanding: in-depth, well-structured, factually dense, educational writing.\n\n"
        ),
    },
    "code": {
        "v1": (
            "Rate how well this web page interleaves source code with natural-language explanation, from 0 to 5.\n"
            "0: no code at all.\n"
            "1: code-like fragments only (commands, file names, settings) with no explanation.\n"
            "2: code without explanation (raw listings, dumps), or prose about software with no code.\n"
            "3: code snippets with some explanation.\n"
            "4: documentation, a tutorial or a Q&A where code and explanatory prose alternate.\n"
            "5: excellent teaching material: code explained step by step in clear prose.\n\n"
        ),
    },
    "reasoning": {
        "v1": (
            "Rate the mathematical deduction and scientific (STEM) reasoning in this web page, from 0 to 5.\n"
            "0: no mathematical or scientific content.\n"
            "1: numbers or science facts mentioned in passing, no reasoning.\n"
            "2: STEM facts, formulas or results stated without derivation.\n"
            "3: some explanation of how or why, or simple worked calculations.\n"
            "4: clear step-by-step reasoning: worked examples, derivations, solved problems.\n"
            "5: rigorous multi-step deduction, such as full proofs or derivations explained in detail.\n\n"
        ),
    },
}
_SCALE_ANSWER = "Answer with one digit from 0 to 5."

_TOPIC = {
    "v1": (
        "Which topic is this web page about? Choose the most prominent one; judge the subject, "
        "not the format (a story about cooking is Food & Dining).\n{choices}\n\n"
    ),
}


def versions(task: str) -> list[str]:
    table = _TOPIC if task == "topic" else _SCALES.get(task)
    if table is None:
        raise ValueError(f"unknown judge task {task!r}; tasks: {', '.join(TASKS)}")
    return sorted(table, key=lambda v: int(v.lstrip("v")))


def get_prompt(task: str, version: str | None = None, topics: tuple[Topic, ...] = ()) -> Prompt:
    """The prompt of `task` at `version` (None: the latest); topic prompts need the taxonomy."""
    known = versions(task)
    version = version or known[-1]
    if version not in known:
        raise ValueError(f"no prompt version {version!r} for task {task!r}; versions: {', '.join(known)}")
    if task != "topic":
        user = _SCALES[task][version] + _PAGE + _SCALE_ANSWER
        return Prompt(task, f"{task}-{version}", _SYSTEM, user, SCALE, SCALE)
    letters = string.ascii_uppercase
    if not topics or len(topics) > len(letters):
        raise ValueError(f"topic prompt needs 1..{len(letters)} topics, got {len(topics)}")
    choices = "\n".join(
        f"{letters[i]}: {t.name}" + (f" ({t.description})" if t.description else "") for i, t in enumerate(topics)
    )
    user = _TOPIC[version].replace("{choices}", choices) + _PAGE + f"Answer with one letter from A to {letters[len(topics) - 1]}."
    return Prompt(
        "topic",
        f"topic-{version}+tax-{taxonomy_hash(topics)}",
        _SYSTEM,
        user,
        tuple(letters[: len(topics)]),
        tuple(t.key for t in topics),
    )
