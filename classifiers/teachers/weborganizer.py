"""The topic teacher (`weborganizer`): WebOrganizer's 24-topic labels (Wettig et al. 2025) for the
topic classifier, instead of the judge's.

LICENSE LIMIT: the labelled file (../shared/data/topics/weborganizer-topics.jsonl.gz, 8,712 DCLM
pages whose labels are WebOrganizer's classifier predictions) comes without a license file: test
use only. No model trained on it ships with this repository: `train-scorers` trains the topic
artifact at run time from the file when it is present (`weborganizer: auto`, or a path), and
`curate train topic --weborganizer FILE` does the same by hand. Without the file, topic labels come
from the judge (when a judge task budget allows) or the topic column stays null, and the log says
so."""
from __future__ import annotations

import logging
from typing import Literal

from classifiers.label_sources import Example, read_weborganizer
from pipeline import storage

log = logging.getLogger(__name__)

NAME = "weborganizer"
Source = Literal["auto"] | str | None


def default_path() -> str | None:
    from pipeline.assets import shared_data_dir

    path = shared_data_dir() / "topics" / "weborganizer-topics.jsonl.gz"
    return str(path) if path.is_file() else None


def resolve(source: Source) -> str | None:
    """The file to train on: `auto` -> the shared data's copy when present; a path must exist."""
    if source is None:
        return None
    if source == "auto":
        return default_path()
    if not storage.exists(source):
        raise FileNotFoundError(f"train-scorers.weborganizer: {source} does not exist")
    return source


def topic_examples(source: Source) -> list[Example] | None:
    """The labelled documents, or None when there is no file (the caller says what happens then)."""
    path = resolve(source)
    if path is None:
        return None
    out = read_weborganizer(path)
    log.info("teacher %s: %d topic-labelled documents from %s (test-use data: the artifact is not shipped)", NAME, len(out), path)
    return out
