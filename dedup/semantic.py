"""`dedup-semantic`: drop documents whose meaning another document already carries (SemDeDup,
Abbas et al. 2023; NeMo Curator's semantic dedup): same facts in other words, which MinHash's
word n-grams do not see.

Plan (each step Ray tasks or actors; the driver sees the centroids and counts only):
1. embed: a class UDF (the encoder loaded once per actor, on a GPU when the cluster has one)
   writes (node key, language group, embedding) rows (dedup/embeddings.py), materialised;
2. k-means: a seeded sample of them by id hash is fitted in one Ray task (dedup/kmeans.py);
   the driver takes back only the centroids;
3. assign: each row gets its nearest centroid; the shuffle key is (language, cluster);
4. keyed shuffle on it (`map_partitions_by_key`): within each cluster, pairs at cosine
   >= `threshold` are linked and each connected component keeps its smallest node key, the
   MinHash stage's keep rule (dedup/nodes.py: newest crawl, longest text, smallest id)
   (dedup/semantic_groups.py);
5. the (id, duplicate_of, reason) rows are the decision; the next pass drops those documents
   (`SemanticDuplicateDrops`) with reason `semantic-duplicate:cos>=<similarity to the kept
   document, floored to 0.01>`.
Pairs split across two clusters by k-means are not compared (SemDeDup accepts this: duplicates
at cosine >= 0.9 are nearly always nearest to the same centroid).
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from dedup.embeddings import EmbedRows, embedding_matrix
from dedup.kmeans import centroids_of, centroids_table, fit_centroids, in_sample, nearest
from dedup.nodes import node_ids
from dedup.partitions import map_partitions_by_key
from dedup.semantic_groups import partition_drops
from dedup.signatures import fmix64
from pipeline.decisions import write_decision
from pipeline.drop_listed import DropListConfig, DropListed
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "semantic-duplicate"


class SemanticDedupConfig(StageConfig):
    # cosine similarity at which two documents are duplicates: NeMo Curator's default eps 0.01
    # (cosine >= 0.99); bench/semantic_dedup.py measures precision and recall by threshold
    threshold: float = Field(0.99, gt=0.0, le=1.0)
    num_clusters: int = Field(1000, ge=1)  # NeMo Curator's default n_clusters
    sample_fraction: float = Field(0.1, gt=0.0, le=1.0)  # documents k-means is fitted on (by id hash)
    max_iter: int = Field(50, ge=1)  # Lloyd iterations (stops earlier when assignments settle)
    seed: int | None = None  # k-means seed and sample; None: the run's seed
    per_language: bool = True  # documents of different languages are never compared (as dedup-minhash)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: a GPU when the Ray cluster has one
    batch_size: int = Field(32, ge=1)  # texts per forward pass
    max_tokens: int = Field(256, ge=8)  # all-MiniLM-L6-v2 reads 256 word pieces (its max_seq_length)
    max_chars: int = Field(4000, ge=1)  # text given to the tokenizer: ~2-3x what 256 word pieces cover
    num_threads: int = Field(1, ge=1)  # torch threads per embedding actor = its Ray CPUs
    # partitions of the cluster shuffle (memory per task ~ data / partitions); None: Ray's default
    num_partitions: int | None = Field(None, ge=1)


def _use_gpu(config: SemanticDedupConfig) -> bool:
    from classifiers.judge.stage import _gpu_available

    return config.device == "cuda" or (config.device == "auto" and _gpu_available())


def sample_rows(batch: pa.Table, seed: int, fraction: float) -> pa.Table:
    if batch.num_rows == 0:
        return batch
    keep = in_sample(node_ids(batch.column("node")).to_pylist(), seed, fraction)
    return batch.filter(pa.array(keep))


def fit_task(sample: pa.Table, k: int, seed: int, max_iter: int) -> pa.Table:
    """Ray task over the whole sample (one block): rows sorted by node, then k-means."""
    if sample.num_rows == 0:
        return centroids_table(np.zeros((0, 0), np.float32))
    sample = sample.sort_by("node")
    return centroids_table(fit_centroids(embedding_matrix(sample.column("emb")), k, seed, max_iter))


def assign_rows(batch: pa.Table, centroids: np.ndarray) -> pa.Table:
    """Each row with its nearest centroid and the shuffle key: a hash of (language group, cluster)."""
    if batch.num_rows == 0:
        return batch.append_column("cluster", pa.array([], pa.int64())).append_column("_cluster", pa.array([], pa.int64()))
    cluster = nearest(embedding_matrix(batch.column("emb")), centroids)
    group = batch.column("group").to_numpy()
    key = fmix64(group ^ fmix64(cluster.astype(np.uint64) + np.uint64(1))).view(np.int64)
    return batch.append_column("cluster", pa.array(cluster)).append_column("_cluster", pa.array(key))


def _decision_rows(batch: pa.Table) -> pa.Table:
    return batch.filter(batch.column("id").is_valid()).drop_columns(["groups"])


class SemanticDedup(GlobalStage):
    name = "dedup-semantic"
    reads = ("id", "text", "language", "crawl_date")
    writes = ()
    resources = Resources(num_cpus=1, memory_gb=1.0)
    Config = SemanticDedupConfig

    def __init__(self, config=None, ctx=None):
        super().__init__(config, ctx)
        self.resources = Resources(num_cpus=self.config.num_threads, num_gpus=1 if _use_gpu(self.config) else 0, memory_gb=1.0)

    def _actors(self) -> int:
        import ray

        res = ray.cluster_resources()
        if self.resources.num_gpus:
            return max(1, int(res.get("GPU", 1)))
        return max(1, int(res.get("CPU", 1) // self.config.num_threads))

    def fit(self, ds) -> dict:
        import ray

        cfg = self.config
        seed = cfg.seed if cfg.seed is not None else self.ctx.seed
        emb = ds.map_batches(
            EmbedRows, batch_format="pyarrow", batch_size=self.ctx.batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self._actors()),
            num_cpus=cfg.num_threads, num_gpus=self.resources.num_gpus,
            fn_constructor_kwargs={
                "device": "cuda" if self.resources.num_gpus else "cpu", "max_tokens": cfg.max_tokens,
                "batch_size": cfg.batch_size, "num_threads": cfg.num_threads, "max_chars": cfg.max_chars,
                "per_language": cfg.per_language,
            },
        ).materialize()  # read by the sample and by the assignment
        sample = emb.map_batches(sample_rows, batch_format="pyarrow", fn_kwargs={"seed": seed, "fraction": cfg.sample_fraction})
        fitted = sample.repartition(1, shuffle=False).map_batches(
            fit_task, batch_size=None, batch_format="pyarrow",
            fn_kwargs={"k": cfg.num_clusters, "seed": seed, "max_iter": cfg.max_iter},
        )
        centroids = centroids_of(pa.Table.from_pylist(fitted.take(1)))
        log.info("%s: %d clusters fitted on a %.3f sample; linking pairs at cosine >= %.3f", self.name, len(centroids), cfg.sample_fraction, cfg.threshold)
        if len(centroids) == 0:
            log.warning("%s: the k-means sample is empty (sample_fraction %s); every document is compared within its language", self.name, cfg.sample_fraction)
        assigned = emb.map_batches(assign_rows, batch_format="pyarrow", fn_kwargs={"centroids": centroids})
        drops = map_partitions_by_key(assigned, "_cluster", partition_drops, cfg.num_partitions, {"threshold": cfg.threshold}).materialize()
        groups = int(drops.sum("groups") or 0)
        facts = write_decision(drops.map_batches(_decision_rows, batch_format="pyarrow"), self.ctx.decision_dir, "_key")
        log.info("%s: %d semantic duplicates in %d groups to drop", self.name, facts["rows"], groups)
        return {"semantic_duplicates": facts["rows"], "clusters": max(1, len(centroids)), "groups": groups}

    def apply_stage(self) -> "SemanticDuplicateDrops":
        return SemanticDuplicateDrops(DropListConfig(decision_dir=self.ctx.decision_dir, reason=REASON), self.ctx)

    def applies_nothing(self, facts: dict) -> bool:
        return facts.get("semantic_duplicates", 1) == 0


class SemanticDuplicateDrops(DropListed):
    """The documents the decision names, dropped with the decision's reason (the pass after it)."""

    name = SemanticDedup.name
