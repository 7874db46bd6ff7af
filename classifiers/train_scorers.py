"""`train-scorers`: makes a fresh clone's run self-sufficient. It samples N documents from the
dataset (seeded hash of the id, so the sample does not depend on block order; only those N small
rows reach the driver), labels them with the judge (cached by text), trains each configured
scorer unless an artifact of the same version (hash of training data + settings) already exists
in `<shared>/artifacts/`, records which artifact each scorer uses in
`<output>/trained-scorers.json`, and passes the dataset through unchanged. `<shared>` is the run's
shared cache (`ctx.shared`: OUTPUT/cache or `run.shared_cache`, a folder or an object-store URI
every node reaches), which also holds the judge's label cache; the judge model is converted into
the node-local `ctx.cache_dir`. Scorers that the labels cannot train (one class only, too few
documents) are recorded as null and their stages leave their columns null: a logged gap, never a
crash."""
from __future__ import annotations

import logging
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from classifiers import artifacts
from classifiers.judge.config import JudgeConfig
from classifiers.label_sources import Example, binary_label, seeded_hash
from classifiers.scorer_specs import SCORERS, spec
from classifiers.train_settings import TrainSettings
from pipeline import storage
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

_KEY = "_sample_key"
_SAMPLE_COLUMNS = ["id", "text", "language"]


class TrainScorersConfig(StageConfig):
    scorers: list[Literal[tuple(SCORERS)]] = ["quality-fasttext", "code-score", "reasoning-score", "topic"]
    # documents labelled and trained on (our choice: the judge labels ~10 docs/s per task on CPU
    # and fastText trains on 500 in seconds); the 20% held out measure the artifacts
    sample_size: int = Field(500, ge=10)
    judge: JudgeConfig = JudgeConfig()
    train: TrainSettings = TrainSettings()
    # where the transformer scorer (when listed) is fine-tuned
    device: Literal["auto", "cpu", "cuda"] = "auto"


def sample_keys(batch: pa.Table, seed: int, fraction: float) -> pa.Table:
    """Rows with text whose seeded id hash falls under `fraction` of the hash range, with the
    hash as a sort key (the N smallest keys are the sample, whatever the block order)."""
    batch = batch.select(_SAMPLE_COLUMNS)
    keys = [seeded_hash(i, seed) / 2.0**64 for i in batch.column("id").to_pylist()]
    batch = batch.append_column(_KEY, pa.array(keys, pa.float64()))
    has_text = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(batch.column("text"))), 0), False)
    return batch.filter(pc.and_(has_text, pc.less(batch.column(_KEY), fraction)))


def sample(ds, n: int, seed: int) -> list[dict]:
    """The `n` documents with the smallest seeded id hashes. Oversampling 2x (plus a margin for
    small datasets) makes a second pass over the data almost never needed."""
    total = ds.count()
    fraction = min(1.0, (2 * n + 50) / max(total, 1))
    while True:
        rows = ds.map_batches(sample_keys, batch_format="pyarrow", fn_kwargs={"seed": seed, "fraction": fraction}).take_all()
        if len(rows) >= n or fraction >= 1.0:
            break
        fraction = 1.0
    rows.sort(key=lambda r: (r[_KEY], r["id"]))
    return [{k: r[k] for k in _SAMPLE_COLUMNS} for r in rows[:n]]


def _binary(score, task: str, task_scores, settings) -> str:
    """A judge score as the binary target: by the absolute cut, or by rank within the sample."""
    quantile = settings.quantile_for(task)
    if quantile is None:
        return binary_label(score.label, settings.positive_min)
    import numpy as np

    cut = float(np.quantile([s.expected for s in task_scores if not s.failed], quantile))
    return "1" if score.expected >= cut else "0"


def label_and_train(rows: list[dict], config: TrainScorersConfig, cache_dir: str, seed: int, labels_dir: str,
                    shared: str | None = None) -> dict[str, str | None]:
    """Judge the sample for the tasks the scorers need (labels written to `labels_dir` for
    `curate eval` and review), then train (or find) each artifact under `<shared>/artifacts`.
    `cache_dir`: node-local (the converted judge model); `shared` (default: `cache_dir`): the
    label cache and the artifacts, where every node finds them."""
    from classifiers.judge import build_judge, write_labels
    from classifiers.training import TrainingDataError, train_scorer

    texts = [r["text"] for r in rows]
    shared = shared or cache_dir
    judge = build_judge(config.judge, cache_dir, shared_cache=shared)
    try:
        scores = {task: judge.score(texts, task) for task in sorted({spec(s).task for s in config.scorers})}
    finally:
        judge.close()
    for task, task_scores in scores.items():
        write_labels(storage.join(labels_dir, f"{task}.parquet"), [r["id"] for r in rows], texts, task_scores)
    root = artifacts.artifacts_root(shared)
    out: dict[str, str | None] = {}
    for name in config.scorers:
        sp = spec(name)
        examples = [
            Example(r["id"], r["text"], s.label if sp.kind == "multiclass" else _binary(s, sp.task, scores[sp.task], config.train), r.get("language"))
            for r, s in zip(rows, scores[sp.task])
            if not s.failed
        ]
        try:
            out[name] = train_scorer(sp, examples, config.train, root, seed, config.device)
        except TrainingDataError as e:
            log.warning("train-scorers: %s not trained: %s", name, e)
            out[name] = None
    return out


class TrainScorers(GlobalStage):
    name = "train-scorers"
    reads = ("id", "text", "language")
    writes = ()
    resources = Resources(num_cpus=1, memory_gb=2.0)
    Config = TrainScorersConfig

    def decide(self, ds) -> dict:
        import ray

        from classifiers.judge.stage import stage_resources

        cfg = self.config
        rows = sample(ds, cfg.sample_size, self.ctx.seed)
        log.info("%s: %d documents sampled for the judge", self.name, len(rows))
        # the judge (and a transformer fine-tune) run as one Ray task: on a GPU when the cluster has one
        res = stage_resources(cfg.judge)
        task = ray.remote(num_cpus=res.num_cpus, num_gpus=res.num_gpus)(label_and_train)
        ctx = self.ctx
        trained = ray.get(task.remote(rows, cfg, ctx.cache_dir, ctx.seed, storage.join(ctx.stage_dir, "labels"), ctx.shared))
        artifacts.write_run_pointer(self.ctx.output_dir, trained)
        for name, path in sorted(trained.items()):
            log.info("%s: %s -> %s", self.name, name, path or "not trained (see warning above)")
        return {"sampled": len(rows), "trained": {k: v is not None for k, v in sorted(trained.items())}}
