"""LLM judge: versioned prompts scored from next-token label probabilities, with a local
(transformers) and an OpenAI-compatible HTTP backend, a label cache, and the labels file the
quality / code / reasoning / topic scorers train from."""
from classifiers.judge.config import JudgeConfig
from classifiers.judge.judge import Judge, JudgeError, JudgeScore, build_judge
from classifiers.judge.labels import LABELS_SCHEMA, read_labels, write_labels
from classifiers.judge.prompts import TASKS

__all__ = [
    "TASKS",
    "JudgeScore",
    "JudgeConfig",
    "Judge",
    "JudgeError",
    "build_judge",
    "write_labels",
    "read_labels",
    "LABELS_SCHEMA",
]
