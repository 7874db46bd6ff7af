"""Stages by name. The spine reaches the stage folders only through this table of import paths,
so importing the spine never imports a model or a parser."""
from __future__ import annotations

import importlib

from pipeline.stage import Stage

STAGES: dict[str, str] = {
    "read-warc": "pipeline.warc:ReadWarc",
    "read-wet": "pipeline.wet:ReadWet",
    "read-documents": "pipeline.documents_source:ReadDocuments",
    "dedup-records": "dedup.records:DedupRecords",
    "url-safety": "filters.url_safety:UrlSafety",
    "dedup-url": "dedup.url:UrlDedup",
    "extract": "pipeline.extract:Extract",
    "domain-detect": "classifiers.domain_detect:DomainDetect",
    "langid": "classifiers.langid:LanguageId",
    "judge": "classifiers.judge.stage:JudgeStage",
    "train-scorers": "classifiers.train_scorers:TrainScorers",
    "quality-fasttext": "classifiers.scorer_stages:QualityFastText",
    "quality-transformer": "classifiers.quality_transformer:QualityTransformer",
    "code-score": "classifiers.scorer_stages:CodeScore",
    "reasoning-score": "classifiers.scorer_stages:ReasoningScore",
    "topic": "classifiers.scorer_stages:TopicClassifier",
    "quality-threshold": "filters.quality_threshold:QualityThreshold",
    "pii": "filters.pii:Pii",
    "dirty-words": "filters.dirty_words:DirtyWords",
    "line-repetition": "filters.line_repetition:LineRepetition",
    "ngram-repetition": "filters.ngram_repetition:NgramRepetition",
    "gopher-quality": "filters.gopher_quality:GopherQuality",
    "c4-quality": "filters.c4_quality:C4Quality",
    "c4-lines": "filters.c4_lines:C4LineFilter",
    "fineweb-quality": "filters.fineweb_quality:FineWebQuality",
    "dedup-minhash": "dedup.minhash:MinHashDedup",
    "dedup-semantic": "dedup.semantic:SemanticDedup",
    "decontaminate": "filters.decontaminate:Decontaminate",
    "dedup-lines": "dedup.lines:LineDedup",
    "kl-divergence": "filters.kl_divergence:KlDivergence",
    "assign-bucket": "pipeline.mix.buckets:AssignBucket",
    "downsample-topics": "pipeline.mix.topics:DownsampleTopics",
    "tokenize": "pipeline.tokenize:Tokenize",
    "mix": "pipeline.mix.stage:Mix",
    "shard": "pipeline.shards:WriteShards",
}


def stage_class(name: str) -> type[Stage]:
    try:
        target = STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if cls.name != name:
        raise TypeError(f"{target} declares name {cls.name!r}, registered as {name!r}")
    return cls
