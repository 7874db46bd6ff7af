"""`train-scorers`: makes a fresh clone's run self-sufficient. It samples N documents from the
dataset (seeded hash of the id, so the sample does not depend on block order; only those N small
rows reach the driver), has the judge label a budget of them and the teachers label all of them
(classifiers/teachers/: the combination rule is in its docstring), trains each configured scorer
unless an artifact of the same version (hash of training data + settings) already exists in
`<shared>/artifacts/`, records which artifact each scorer uses in `<output>/trained-scorers.json`,
and passes the dataset through unchanged.

Labelling is a distributed Ray stage over the judged part of the sample: chunks of `judge_chunk`
documents, one Ray task each (on a GPU when the judge's device asks for one; a judge server gets
`concurrency` requests in flight per task). Each chunk's labels go to the judge's label cache under
the run's shared cache as the chunk finishes, so an interrupted run resumes from what was labelled.
The topic classifier trains from WebOrganizer's labels in its own Ray task, beside the judge.

`<shared>` is the run's shared cache (`ctx.shared`: OUTPUT/cache or `run.shared_cache`, a folder or
an object-store URI every node reaches), which also holds the judge's label cache; the judge model
is converted into the node-local `ctx.cache_dir`. A scorer whose combined labels cannot train it
(a class with fewer than `train.min_class_examples` documents) uses its shipped default artifact
(`default:<scorer>/<version>` in trained-scorers.json), or is recorded as null (topic) and its stage
leaves its column null: a logged gap, never a crash.

Facts (summary.json, report.html): `sampled`, `judged`, `judge_tasks`, `teachers` ({teacher:
documents whose training label it gave, over all scorers}), `labels` ({scorer: {teacher: n}}) and
`artifacts` ({scorer: "trained" | "default" | null}); each artifact's metrics.json has its
`teachers` too."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from classifiers import artifacts, default_artifacts
from classifiers.judge.config import JudgeConfig
from classifiers.judge.prompts import TASKS
from classifiers.label_sources import Example, seeded_hash
from classifiers.scorer_specs import SCORERS, spec
from classifiers.teachers import JUDGE, combine, judge_votes
from classifiers.teachers.config import TeachersConfig
from classifiers.train_settings import TrainSettings
from pipeline import storage
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

_KEY = "_sample_key"
_SAMPLE_COLUMNS = ["id", "text", "language", "annotations"]


class TrainScorersConfig(StageConfig):
    scorers: list[Literal[tuple(SCORERS)]] = ["quality-fasttext", "code-score", "reasoning-score", "topic"]
    # documents sampled; the teachers label all of them (no model call) and the scorers train on
    # them; the 20% held out measure the artifacts
    sample_size: int = Field(500, ge=10)
    # of the sample, the judge labels this many (the first in seeded order) per task; null: all.
    # The offline judge costs ~1.75 s per document and task at 500 characters on this 2-core
    # machine; a judge server or a GPU takes far more
    judge_budget: int | None = Field(None, ge=0)
    # the judge's tasks; null: every task a listed scorer learns from, less topic when
    # WebOrganizer's labels train it
    judge_tasks: list[Literal[TASKS]] | None = None
    # documents per labelling Ray task (each flushes its labels to the label cache when done)
    judge_chunk: int = Field(32, ge=1)
    judge: JudgeConfig = JudgeConfig()
    teachers: TeachersConfig = TeachersConfig()
    train: TrainSettings = TrainSettings()
    # where the transformer scorer (when listed) is fine-tuned
    device: Literal["auto", "cpu", "cuda"] = "auto"


def sample_keys(batch: pa.Table, seed: int, fraction: float) -> pa.Table:
    """Rows with text whose seeded id hash falls under `fraction` of the hash range, with the
    hash as a sort key (the N smallest keys are the sample, whatever the block order)."""
    batch = batch.select([c for c in _SAMPLE_COLUMNS if c in batch.column_names])
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
    return [{k: r.get(k) for k in _SAMPLE_COLUMNS} for r in rows[:n]]


# ------------------------------------------------------------------------------------ labelling


def judge_tasks(config: TrainScorersConfig, topic_from_weborganizer: bool) -> list[str]:
    if config.judge_tasks is not None:
        return list(dict.fromkeys(config.judge_tasks))
    tasks = sorted({spec(s).task for s in config.scorers})
    return [t for t in tasks if not (t == "topic" and topic_from_weborganizer)]


def judge_texts(texts: list[str], tasks: list[str], judge_config: JudgeConfig, cache_dir: str, shared: str | None) -> dict:
    """{task: [JudgeScore]} for `texts`, in this process; the labels reach the label cache on close."""
    from classifiers.judge import build_judge

    if not texts or not tasks:
        return {t: [] for t in tasks}
    judge = build_judge(judge_config, cache_dir, shared_cache=shared)
    try:
        return {task: judge.score(texts, task) for task in tasks}
    finally:
        judge.close()


def judge_distributed(texts: list[str], tasks: list[str], config: TrainScorersConfig, cache_dir: str, shared: str | None) -> dict:
    """`judge_texts` over chunks of `judge_chunk` documents, one Ray task each."""
    import ray

    from classifiers.judge.stage import stage_resources

    if not texts or not tasks:
        return {t: [] for t in tasks}
    res = stage_resources(config.judge)
    task = ray.remote(num_cpus=res.num_cpus, num_gpus=res.num_gpus)(judge_texts)
    step = config.judge_chunk
    refs = [task.remote(texts[i : i + step], tasks, config.judge, cache_dir, shared) for i in range(0, len(texts), step)]
    out: dict = {t: [] for t in tasks}
    for part in ray.get(refs):
        for t in tasks:
            out[t].extend(part[t])
    return out


# ------------------------------------------------------------------------------------ training


class Labelled:
    """Training examples of one scorer, each with the teacher that labelled it."""

    def __init__(self):
        self.examples: list[Example] = []
        self.sources: list[str] = []

    def add(self, examples: list[Example], source: str) -> None:
        self.examples.extend(examples)
        self.sources.extend([source] * len(examples))

    def merge(self, other: "Labelled") -> None:
        self.examples.extend(other.examples)
        self.sources.extend(other.sources)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.sources).items()))


def _domain_teachers(teachers: TeachersConfig) -> list:
    from classifiers.teachers import code_lf, math_lf

    out = []
    if teachers.code is not None:
        out.append(code_lf.teacher(teachers.code))
    if teachers.math is not None:
        out.append(math_lf.teacher(teachers.math))
    return out


def sample_labels(rows: list[dict], scores: dict, config: TrainScorersConfig) -> dict[str, Labelled]:
    """The sampled documents' labels per binary scorer, by the combination rule."""
    from classifiers.teachers.labelling_functions import signals

    domain = [t for t in _domain_teachers(config.teachers) if any(spec(s).task == t.task for s in config.scorers)]
    sigs = [signals(r["text"], r.get("annotations")) for r in rows] if domain else []
    out: dict[str, Labelled] = {}
    for name in config.scorers:
        sp = spec(name)
        if sp.kind != "binary":
            continue
        judged = scores.get(sp.task)
        votes = judge_votes(judged, sp.task, config.train, config.teachers.judge_confidence) if judged else []
        votes = votes + [None] * (len(rows) - len(votes))
        teacher_votes = {t.name: t.votes(rows, sigs) for t in domain if t.task == sp.task}
        labelled = Labelled()
        for r, got in zip(rows, combine(len(rows), votes, teacher_votes)):
            if got is not None:
                labelled.add([Example(r["id"], r["text"], got[0], r.get("language"))], got[1])
        out[name] = labelled
    return out


def quality_extras(config: TrainScorersConfig, output_dir: str | None, seed: int) -> Labelled:
    """The quality teachers' own examples: reference positives, rule-drop negatives."""
    from classifiers.label_sources import with_languages
    from classifiers.teachers import references, rule_drops

    extra = Labelled()
    t = config.teachers
    if t.max_references:
        extra.add(with_languages(references.read_references(t.references, t.max_references, seed)), references.NAME)
    if t.rule_drops and t.max_rule_drops and output_dir:
        extra.add(with_languages(rule_drops.run_dropped(output_dir, t.max_rule_drops, seed)), rule_drops.NAME)
    return extra


def topic_labels(rows: list[dict], scores: dict, config: TrainScorersConfig) -> Labelled:
    from classifiers.teachers import weborganizer

    labelled = Labelled()
    found = weborganizer.topic_examples(config.teachers.weborganizer)
    if found is not None:
        labelled.add(found, weborganizer.NAME)
    elif scores.get("topic"):
        labelled.add([Example(r["id"], r["text"], s.label, r.get("language")) for r, s in zip(rows, scores["topic"]) if not s.failed], JUDGE)
    return labelled


def train_one(name: str, labelled: Labelled, config: TrainScorersConfig, root: str, seed: int) -> tuple[str | None, str | None]:
    """(location for trained-scorers.json, what it is: "trained" / "default" / None)."""
    from classifiers.training import TrainingDataError, train_scorer

    sp = spec(name)
    counts = Counter(e.label for e in labelled.examples)
    minimum = config.train.min_class_examples if sp.kind == "binary" else 2
    problem = None
    if len(counts) < 2 or min(counts.values()) < minimum:
        problem = f"labels {dict(sorted(counts.items()))} need two classes with >= {minimum} documents each"
    else:
        try:
            extra = {"teachers": labelled.counts()}
            return train_scorer(sp, labelled.examples, config.train, root, seed, config.device, extra), "trained"
        except TrainingDataError as e:
            problem = str(e)
    ref = default_artifacts.default_ref(name) if sp.model != "transformer" else None
    if ref is not None:
        log.warning("train-scorers: %s not trained from this run's labels (%s): the shipped default %s scores", name, problem, ref)
        return ref, "default"
    log.warning("train-scorers: %s not trained (%s) and no default ships: its column stays null", name, problem)
    return None, None


def train_all(rows: list[dict], scores: dict, config: TrainScorersConfig, seed: int, labels_dir: str, shared: str,
              output_dir: str | None = None, only: list[str] | None = None, teacher_labels: str | None = None) -> tuple[dict, dict]:
    """Combine the labels, train (or find, or fall back to the default of) each scorer in `only`
    (default: all configured); returns (trained-scorers.json entries, facts). The judge's labels
    go to `labels_dir` (the labels files `curate train --labels` reads), every training label with
    its teacher to `teacher_labels` (default: teacher-labels.parquet beside `labels_dir`)."""
    from classifiers.judge import write_labels

    names = [n for n in config.scorers if only is None or n in only]
    judged_rows = rows[: max((len(v) for v in scores.values()), default=0)]
    for task, task_scores in scores.items():
        write_labels(storage.join(labels_dir, f"{task}.parquet"), [r["id"] for r in judged_rows],
                     [r["text"] for r in judged_rows], task_scores)
    cfg = config.model_copy(update={"scorers": names})
    labelled = sample_labels(rows, scores, cfg)
    if any(spec(n).task == "quality" for n in names):
        extras = quality_extras(cfg, output_dir, seed)
        for n in names:
            if spec(n).task == "quality" and n in labelled:
                labelled[n].merge(extras)
    if "topic" in names:
        labelled["topic"] = topic_labels(rows, scores, cfg)
    root = artifacts.artifacts_root(shared)
    pointer, kinds = {}, {}
    for n in names:
        pointer[n], kinds[n] = train_one(n, labelled[n], config, root, seed)
    _write_combined(teacher_labels or storage.join(storage.dirname(labels_dir), "teacher-labels.parquet"), labelled)
    by_teacher: dict[str, set] = {}
    for lab in labelled.values():
        for e, src in zip(lab.examples, lab.sources):
            by_teacher.setdefault(src, set()).add(e.id)
    facts = {
        "teachers": {t: len(ids) for t, ids in sorted(by_teacher.items())},
        "labels": {n: labelled[n].counts() for n in names},
        "artifacts": kinds,
    }
    return pointer, facts


def _write_combined(location: str, labelled: dict[str, Labelled]) -> None:
    """Every training label, its scorer and the teacher that gave it (for review)."""
    from pipeline.stage_io import write_parquet

    rows = [(n, e.id, e.label, src) for n, lab in sorted(labelled.items()) for e, src in zip(lab.examples, lab.sources)]
    table = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("scorer", "id", "label", "teacher"))},
                     schema=pa.schema([(k, pa.string()) for k in ("scorer", "id", "label", "teacher")]))
    write_parquet(table, location)


def label_and_train(rows: list[dict], config: TrainScorersConfig, cache_dir: str, seed: int, labels_dir: str,
                    shared: str | None = None, output_dir: str | None = None) -> tuple[dict, dict]:
    """Judge the budget and train everything in this process (tests, small runs); returns
    (trained-scorers.json entries, facts)."""
    from classifiers.teachers import weborganizer

    shared = shared or cache_dir
    tasks = judge_tasks(config, weborganizer.resolve(config.teachers.weborganizer) is not None)
    budget = len(rows) if config.judge_budget is None else min(config.judge_budget, len(rows))
    scores = judge_texts([r["text"] for r in rows[:budget]], tasks, config.judge, cache_dir, shared)
    pointer, facts = train_all(rows, scores, config, seed, labels_dir, shared, output_dir)
    return pointer, {"judged": budget, "judge_tasks": tasks, **facts}


class TrainScorers(GlobalStage):
    name = "train-scorers"
    reads = ("id", "text", "language", "annotations")
    writes = ()
    resources = Resources(num_cpus=1, memory_gb=2.0)
    Config = TrainScorersConfig

    def fit(self, ds) -> dict:
        import ray

        from classifiers.judge.stage import stage_resources
        from classifiers.teachers import weborganizer

        cfg, ctx = self.config, self.ctx
        rows = sample(ds, cfg.sample_size, ctx.seed)
        topic_apart = "topic" in cfg.scorers and weborganizer.resolve(cfg.teachers.weborganizer) is not None
        tasks = judge_tasks(cfg, topic_apart)
        budget = len(rows) if cfg.judge_budget is None else min(cfg.judge_budget, len(rows))
        log.info("%s: %d documents sampled: the judge labels %d of them for %s, the teachers all", self.name, len(rows), budget,
                 ", ".join(tasks) or "no task")
        labels_dir = storage.join(ctx.stage_dir, "labels")
        teacher_labels = storage.join(ctx.stage_dir, "teacher-labels")
        train = ray.remote(num_cpus=1)(train_all)
        # topic learns from WebOrganizer's file, not from the sample: it trains beside the judge
        topic_ref = train.remote([], {}, cfg, ctx.seed, labels_dir, ctx.shared, None, ["topic"],
                                 storage.join(teacher_labels, "topic.parquet")) if topic_apart else None
        scores = judge_distributed([r["text"] for r in rows[:budget]], tasks, cfg, ctx.cache_dir, ctx.shared)
        rest = [n for n in cfg.scorers if not (topic_apart and n == "topic")]
        gpus = stage_resources(cfg.judge).num_gpus if "quality-transformer" in rest else 0
        main_ref = train.options(num_gpus=gpus).remote(rows, scores, cfg, ctx.seed, labels_dir, ctx.shared, ctx.output_dir, rest,
                                                       storage.join(teacher_labels, "sample.parquet"))
        pointer, facts = ray.get(main_ref)
        if topic_ref is not None:
            topic_pointer, topic_facts = ray.get(topic_ref)
            pointer.update(topic_pointer)
            facts = merge_facts(facts, topic_facts)
        pointer = {n: pointer.get(n) for n in cfg.scorers}
        artifacts.write_run_pointer(ctx.output_dir, pointer)
        for name, path in sorted(pointer.items()):
            log.info("%s: %s -> %s", self.name, name, path or "none (see warning above)")
        log.info("%s: teachers labelled %s", self.name, ", ".join(f"{k} {v}" for k, v in facts["teachers"].items()) or "nothing")
        return {"sampled": len(rows), "judged": budget, "judge_tasks": tasks, **facts,
                "trained": {k: v is not None for k, v in sorted(pointer.items())}}


def merge_facts(a: dict, b: dict) -> dict:
    teachers = Counter(a["teachers"])
    teachers.update(b["teachers"])
    return {"teachers": dict(sorted(teachers.items())), "labels": {**a["labels"], **b["labels"]},
            "artifacts": {**a["artifacts"], **b["artifacts"]}}
