"""The shared base of rule filters that judge a document's text within a set of languages
(Gopher, C4, FineWeb, n-gram repetition): records without text are dropped as `no-text` with a
log line; records whose `language` is set and outside `config.languages` pass untouched (the
rules are English-centric); the rest get `text_reason` under their language's thresholds
(`LanguageRulesConfig`, filters/language_rules.py).

Domain-aware rules: the rules were written for prose, and drop real code and math pages for
having few sentences, lines without end punctuation or repeated symbols (measured on
../shared/data/domains: 51 of 110 Python docs pages and 45 of the 68 Maxima manual pages that
extract, bench/domain_recall.py). Llama 3 (§3.1.1) gives code and reasoning pages "domain-specific
pipelines"; here a page that `domain-detect` called code or math (`annotations["domain"]["kind"]`)
is judged by its filter's `domains[kind]` overrides of the prose thresholds, which keep the rules
that catch boilerplate, index pages and spam of those domains. A config's `domains` merges into
the filter's own (`domains: {code: {min_doc_words: 40}}` changes that one value); `{code: null}`
drops the overrides of a kind, `domains: null` all of them (as does a pipeline without
`domain-detect`).
"""
from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa
from pydantic import ValidationError, field_validator, model_validator

from filters.language_rules import rules_for
from filters.word_segment import SEGMENTERS
from pipeline.schema import merge_annotations, split_by_reason
from pipeline.stage import Filter, StageConfig

log = logging.getLogger(__name__)

# what `domain-detect` (classifiers/domain_detect.py) writes: annotations["domain"]["kind"]
DOMAIN_ANNOTATION = "domain"


def domain_kind_of(annotations: str | None) -> str | None:
    """The kind `domain-detect` gave the page ("code", "math"), or None (prose, or not detected)."""
    if not annotations or f'"{DOMAIN_ANNOTATION}"' not in annotations:
        return None
    domain = json.loads(annotations).get(DOMAIN_ANNOTATION)
    return domain.get("kind") if isinstance(domain, dict) else None


def domain_kinds(batch: pa.Table) -> list[str | None]:
    """`domain_kind_of` for every row (None for all when the batch has no annotations column)."""
    if "annotations" not in batch.column_names:
        return [None] * batch.num_rows
    return [domain_kind_of(a) for a in batch.column("annotations").to_pylist()]


class DomainAwareConfig(StageConfig):
    """A filter config whose `domains` maps a page kind ("code", "math") to overrides of its own
    fields; each override is validated as a whole config at load (an unknown key is an error).
    A given `domains` merges into the class's default one, key by key; a kind set to None is
    dropped; `domains: None` means no overrides."""

    domains: dict[str, dict[str, Any]] = {}

    @field_validator("domains", mode="before")
    @classmethod
    def _merge_into_defaults(cls, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value  # the type check reports it
        merged = {kind: dict(override) for kind, override in cls.model_fields["domains"].default.items()}
        for kind, override in value.items():
            if override is None:
                merged.pop(kind, None)
            elif isinstance(override, dict):
                merged[kind] = {**merged.get(kind, {}), **override}
            else:
                merged[kind] = override  # the type check reports it
        return merged

    @model_validator(mode="after")
    def _check_domains(self):
        for kind, override in self.domains.items():
            if "domains" in override:
                raise ValueError(f"domains.{kind}: overrides cannot nest 'domains'")
            try:
                self.for_domain(kind)
            except ValidationError as err:
                raise ValueError(f"domains.{kind}: {err}") from None
        return self

    def for_domain(self, kind: str | None) -> "DomainAwareConfig":
        """This config with the overrides of `kind` applied (itself for prose or a kind it has none for)."""
        override = self.domains.get(kind) if kind is not None else None
        if not override:
            return self
        return type(self).model_validate({**self.model_dump(exclude={"domains"}), **override, "domains": None})

    def domain_configs(self) -> dict[str | None, "DomainAwareConfig"]:
        """{kind: config} for prose (None) and every kind with overrides."""
        return {None: self, **{kind: self.for_domain(kind) for kind in self.domains}}


class LanguageRulesConfig(DomainAwareConfig):
    """A rule filter's config whose thresholds change with the page's language
    (filters/language_rules.py): `languages` scopes the rules (None: every language; a page whose
    language is set and outside the list passes untouched), `language_rules` picks FineWeb-2's
    thresholds per language (False: every language gets this config's own, English, values), and
    `word_segmenter` is set per language for scripts without spaces (filters/word_segment.py)."""

    languages: list[str] | None = ["en"]
    language_rules: bool = True
    word_segmenter: str | None = None


class LanguageScopedTextFilter(Filter):
    # `annotations` (the domain kind) is read when present: `reads` is what an input must have
    reads = ("text", "language")

    def setup(self) -> None:
        domain_configs = getattr(self.config, "domain_configs", None)
        self._configs = domain_configs() if domain_configs is not None else {None: self.config}
        # per kind: (config, languages it judges or None for all)
        self._scopes = {
            kind: (c, set(c.languages) if getattr(c, "languages", None) is not None else None)
            for kind, c in self._configs.items()
        }
        self._by_language: dict[tuple[str | None, str | None], object] = {}
        self._keys: dict[int, str] = {}  # id of a language config -> its statistics key

    def fineweb2_overrides(self, rules: dict) -> dict:
        """This filter's fields from FineWeb-2's values for a language (filters/language_rules.py);
        none by default (C4: FineWeb-2 does not run it)."""
        return {}

    def language_config(self, kind: str | None, language: str | None):
        """The config for a page of domain `kind` in `language`: the language's thresholds over
        the filter's own, then the domain's overrides; cached per (kind, language)."""
        key = (kind, language)
        if key not in self._by_language:
            base = self.config
            rules = rules_for(language) if getattr(base, "language_rules", False) else None
            if rules is not None:
                override = self.fineweb2_overrides(rules)
                if "word_segmenter" in type(base).model_fields and language in SEGMENTERS:
                    override["word_segmenter"] = SEGMENTERS[language]
                base = type(base).model_validate({**base.model_dump(), **override})
            self._by_language[key] = base.for_domain(kind) if hasattr(base, "for_domain") else base
        return self._by_language[key]

    def text_reason(self, text: str, config) -> str | None:
        """The reason `text` is dropped under `config` (the filter's config, or its overrides for
        the page's domain), or None. A filter that keeps statistics judges with `text_stats` and
        `stats_reason` instead and needs none."""
        raise NotImplementedError

    # Score once, decide many (Dolma's way): a filter whose rules split into measuring
    # (`text_stats`, a JSON object) and judging (`stats_reason`) keeps the measurements in
    # annotations[<its name>], with `stats_key(config)`: what they depend on beyond the text (word
    # segmenter, word lists), never a threshold. A later run over those documents whose key
    # matches judges the kept measurements without measuring again: a new threshold reruns only
    # the decision.
    def text_stats(self, text: str, config) -> dict | None:
        return None  # this filter keeps no statistics

    def stats_key(self, config) -> str:
        raise NotImplementedError

    def stats_reason(self, stats: dict, config) -> str | None:
        raise NotImplementedError

    def complete_stats(self, stats: dict, text: str, config) -> dict:
        """`stats` with what `config` needs that was left unmeasured (a costly measure only some
        pages need); as they are by default."""
        return stats

    @property
    def keeps_stats(self) -> bool:
        return type(self).text_stats is not LanguageScopedTextFilter.text_stats

    def _stats(self, text: str, annotations: str | None, config) -> dict:
        key = self._keys.get(id(config))
        if key is None:
            key = self._keys[id(config)] = self.stats_key(config)
        if annotations and f'"{self.name}"' in annotations:
            kept = json.loads(annotations).get(self.name)
            if isinstance(kept, dict) and kept.get("key") == key:
                return self.complete_stats(kept, text, config)
        return self.complete_stats({"key": key, **self.text_stats(text, config)}, text, config)

    def judge(self, batch: pa.Table) -> tuple[list[str | None], list[dict | None] | None]:
        """(reason or None, statistics to keep or None) per row; no statistics when the filter
        keeps none."""
        texts = batch.column("text").to_pylist()
        languages = batch.column("language").to_pylist()
        kinds = domain_kinds(batch) if len(self._scopes) > 1 else [None] * len(texts)
        keeps = self.keeps_stats
        annotations = batch.column("annotations").to_pylist() if keeps else [None] * len(texts)
        reasons: list[str | None] = []
        notes: list[dict | None] = [None] * len(texts)
        for i, (text, lang, kind) in enumerate(zip(texts, languages, kinds)):
            _, scope = self._scopes.get(kind) or self._scopes[None]
            if text is None:
                reasons.append("no-text")
            elif scope is not None and lang is not None and lang not in scope:
                reasons.append(None)
            else:
                config = self.language_config(kind if kind in self._scopes else None, lang)
                if keeps:
                    notes[i] = self._stats(text, annotations[i], config)
                    reasons.append(self.stats_reason(notes[i], config))
                else:
                    reasons.append(self.text_reason(text, config))
        n_missing = reasons.count("no-text")
        if n_missing:
            log.warning("%s: %d of %d records have no text (dropped as no-text)", self.name, n_missing, len(texts))
        return reasons, notes if keeps else None

    def decide(self, batch: pa.Table) -> list[str | None]:
        return self.judge(batch)[0]

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        reasons, notes = self.judge(batch)
        if notes is not None:
            batch = merge_annotations(batch, self.name, notes)
        return split_by_reason(batch, self.name, reasons)
