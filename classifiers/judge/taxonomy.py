"""Topic taxonomies: our default YAML (WebOrganizer's 24 topic names), WebOrganizer's own
`taxonomies/topics.yaml` (a `choices:` list of "Name\\n - Includes: ..." strings), or an inline
list from the config. Each topic gets a stable kebab-case key derived from its name, so both
files give the same keys."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_TAXONOMY = Path(__file__).with_name("topics.yaml")


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    description: str


def topic_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _from_entry(entry) -> Topic:
    if isinstance(entry, str):  # WebOrganizer style: first line the name, further lines details
        name, _, rest = entry.strip().partition("\n")
        details = " ".join(line.strip().lstrip("-").strip() for line in rest.splitlines() if line.strip())
        return Topic(topic_key(name), name.strip(), details)
    if isinstance(entry, dict) and entry.get("name"):
        return Topic(entry.get("key") or topic_key(entry["name"]), entry["name"], entry.get("description", ""))
    raise ValueError(f"taxonomy entry must be a name or a mapping with 'name', got {entry!r}")


def load_taxonomy(spec: str | list | None) -> tuple[Topic, ...]:
    """Topics from a YAML path, an inline list, or None (the default file)."""
    if spec is None or isinstance(spec, str):
        path = Path(spec) if spec else DEFAULT_TAXONOMY
        if not path.is_file():
            raise FileNotFoundError(f"taxonomy file not found: {path}")
        data = yaml.safe_load(path.read_text())
        entries = (data.get("topics") or data.get("choices")) if isinstance(data, dict) else data
        if not entries:
            raise ValueError(f"{path}: no 'topics:' or 'choices:' list")
    else:
        entries = spec
    topics = tuple(_from_entry(e) for e in entries)
    keys = [t.key for t in topics]
    if len(set(keys)) != len(keys):
        raise ValueError(f"taxonomy has duplicate topic keys: {sorted(k for k in keys if keys.count(k) > 1)}")
    if len(topics) < 2:
        raise ValueError("a taxonomy needs at least two topics")
    return topics


def taxonomy_hash(topics: tuple[Topic, ...]) -> str:
    """Short content hash: part of the topic prompt's version (a new taxonomy is a new prompt)."""
    blob = json.dumps([[t.key, t.name, t.description] for t in topics], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]
