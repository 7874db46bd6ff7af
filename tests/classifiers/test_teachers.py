"""Teachers beside the judge: the combination rule worked by hand, the judge's confidence, the
labelling-function teachers on pages written for the purpose, the reference and rule-drop teachers'
sources, WebOrganizer's file resolved (never shipped), and train-scorers' teacher counts and its
fall-back to a shipped default."""
import json

import pytest

from classifiers import default_artifacts
from classifiers.judge import JudgeScore
from classifiers.teachers import JUDGE, JudgeVote, code_lf, combine, judge_votes, math_lf, references, rule_drops, weborganizer
from classifiers.train_settings import TrainSettings

CODE_PAGE = """Using list comprehensions

A list comprehension builds a list in one expression:

>>> squares = [x * x for x in range(10)]
>>> print(squares)
def evens(values):
    return [v for v in values if v % 2 == 0]
import itertools
for i in range(3):
    total += i;
counts = dict(zip(keys, values))
"""
MATH_PAGE = r"""The quadratic formula

The roots of the quadratic equation $a x^2 + b x + c = 0$ are given by
\[ x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a} \]
when the coefficients are real numbers. The discriminant $b^2 - 4ac$ decides whether the
polynomial has real roots: the quadratic has two real roots when it is positive, by the theorem.
Integrals, derivatives and the derivative of x^3 are 3x^2; the integral of \sin x is -\cos x.
"""
PROSE_PAGE = ("The village sits on the river and was first mentioned in a charter of the twelfth century. "
              "Its church, rebuilt after a fire, holds a painted altar that visitors come to see in summer. ") * 3


def test_combination_rule_by_hand():
    judge = [JudgeVote("1", True), JudgeVote("0", False), JudgeVote("1", False), None, None, JudgeVote("0", True)]
    teachers = {"code-lf": ["0", "1", None, "1", None, "1"]}
    got = combine(6, judge, teachers)
    assert got == [("1", JUDGE),          # a confident judge wins over the teacher
                   ("1", "code-lf"),      # an unconfident judge yields to a voting teacher
                   ("1", JUDGE),          # ... and stands when the teacher abstains
                   ("1", "code-lf"),      # no judge label: the teacher's
                   None,                  # nobody: not trained on
                   ("0", JUDGE)]
    # teachers that disagree do not vote; the judge decides, or nobody
    assert combine(2, [JudgeVote("0", False), None], {"a": ["1", "1"], "b": ["0", "0"]}) == [("0", JUDGE), None]
    assert combine(1, None, {"a": ["1"], "b": ["1"]}) == [("1", "a")]


def test_judge_votes_confidence():
    probs_sure = {"0": 0.05, "1": 0.05, "2": 0.0, "3": 0.1, "4": 0.5, "5": 0.3}  # P(>=3) = 0.9
    probs_split = {"0": 0.3, "1": 0.1, "2": 0.0, "3": 0.4, "4": 0.1, "5": 0.1}  # argmax 3, P(>=3) = 0.6
    scores = [JudgeScore("code", "4", 4.0, probs_sure), JudgeScore("code", "3", 2.4, probs_split),
              JudgeScore("code", "1", 1.0, {}), JudgeScore("code", "", float("nan"), {})]
    votes = judge_votes(scores, "code", TrainSettings(positive_min=3), 0.8)
    assert votes == [JudgeVote("1", True), JudgeVote("1", False), JudgeVote("0", True), None]
    # by rank (a small judge's compressed scale): labels by the quantile cut, never confident
    ranked = judge_votes(scores[:3], "code", TrainSettings(positive_quantile={"code": 0.5}), 0.8)
    assert [v.label for v in ranked] == ["1", "1", "0"] and not any(v.confident for v in ranked)


def test_positive_quantile_per_task():
    """One quantile for every task, or one per task; a task without one uses positive_min."""
    scores = [JudgeScore("code", "1", e, {}) for e in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)]
    per_task = TrainSettings(positive_quantile={"code": 0.8, "quality": 0.5}, positive_min=3)
    assert [v.label for v in judge_votes(scores, "code", per_task, 0.8)].count("1") == 2  # cut 0.82: 0.9 and 1.0
    assert [v.label for v in judge_votes(scores, "quality", per_task, 0.8)].count("1") == 5  # cut 0.55
    assert {v.label for v in judge_votes(scores, "reasoning", per_task, 0.8)} == {"0"}  # label "1" < positive_min 3
    assert [v.label for v in judge_votes(scores, "code", TrainSettings(positive_quantile=0.5), 0.8)].count("1") == 5
    with pytest.raises(Exception):
        TrainSettings(positive_quantile={"code": 1.5})


def test_domain_teachers_vote_and_abstain():
    html_code = json.dumps({"html": {"pre": 2, "pre_chars": 200, "highlight": 2}})
    rows = [{"text": CODE_PAGE, "annotations": html_code}, {"text": MATH_PAGE, "annotations": None},
            {"text": PROSE_PAGE, "annotations": None}, {"text": "", "annotations": None}]
    code, math_ = code_lf.teacher(), math_lf.teacher()
    assert (code.name, code.task, math_.name, math_.task) == ("code-lf", "code", "math-lf", "reasoning")
    assert code.votes(rows) == ["1", "0", "0", "0"]
    assert math_.votes(rows) == ["0", "1", "0", "0"]
    # in between strong signal and strong absence the teacher abstains
    strict = code_lf.teacher(code.config.model_copy(update={"positive_min": 0.999, "negative_below": 0.0}))
    assert strict.votes(rows[:1]) == [None]


def test_references_sources(tmp_path, monkeypatch):
    gt = tmp_path / "ground-truth.json"
    gt.write_text(json.dumps({"a": {"articleBody": "Body one.", "url": "https://x/1"}, "b": {"articleBody": "", "url": "https://x/2"},
                              "c": {"articleBody": "Body three.", "url": "https://x/3"}}))
    got = references.read_references([str(gt)])
    assert [(e.label, e.text) for e in got] == [("1", "Body one."), ("1", "Body three.")]
    assert all(e.id.startswith("references:ground-truth.json:") for e in got)
    assert len(references.read_references(str(gt), max_docs=1)) == 1
    monkeypatch.setattr(references, "default_paths", lambda: [])
    assert references.read_references("auto") == []  # no shared data: no references, no error


def _dropped(stage_dir, rows, stage, reason):
    from pipeline.schema import documents_from_rows, to_dropped
    from pipeline.stage_io import write_parquet

    table = to_dropped(documents_from_rows(rows), stage, [reason] * len(rows))
    write_parquet(table, str(stage_dir / "dropped" / "part-0.parquet"))


def test_rule_drops_from_a_run(tmp_path):
    _dropped(tmp_path / "stages" / "09-gopher-quality", [{"id": "spam", "text": "buy now " * 30}, {"id": "code", "text": CODE_PAGE},
                                                          {"id": "blank", "text": " "}], "gopher-quality", "gopher:short")
    _dropped(tmp_path / "stages" / "05-langid", [{"id": "lang", "text": "ein Text"}], "langid", "low-score")
    got = rule_drops.run_dropped(str(tmp_path))
    # only the rule filters' drops, code pages and empty texts left out
    assert [(e.id, e.label) for e in got] == [("rule-drops:spam", "0")]


def test_weborganizer_file_resolved_not_shipped(tmp_path, monkeypatch):
    assert weborganizer.resolve(None) is None and weborganizer.topic_examples(None) is None
    monkeypatch.setattr(weborganizer, "default_path", lambda: None)
    assert weborganizer.resolve("auto") is None
    with pytest.raises(FileNotFoundError):
        weborganizer.resolve(str(tmp_path / "missing.jsonl.gz"))
    assert "topic" not in default_artifacts.versions()  # test-use-only labels: no topic default ships


def _fake_default(root, scorer):
    """A shipped-default folder with a tiny trained artifact of `scorer`."""
    from classifiers.train_settings import FastTextParams
    from classifiers.fasttext_scorer import train_fasttext_scorer
    from classifiers.scorer_specs import spec
    from tests.scorer_fixtures import examples

    settings = TrainSettings(fasttext=FastTextParams(dim=8, epoch=5, min_count=1))
    path = train_fasttext_scorer(spec(scorer), examples(["1", "0"], 30), settings, str(root), seed=0)
    (root / default_artifacts.INDEX).write_text(json.dumps({scorer: path.rsplit("/", 1)[1]}))
    return path


def test_train_scorers_counts_teachers_and_falls_back_to_default(tmp_path, monkeypatch):
    import classifiers.judge
    from classifiers.train_scorers import TrainScorersConfig, label_and_train
    from tests.scorer_fixtures import VocabJudge, corpus_table

    monkeypatch.setattr(default_artifacts, "ROOT", tmp_path / "defaults")
    default = _fake_default(tmp_path / "defaults", "code-score")
    judge = VocabJudge()
    monkeypatch.setattr(classifiers.judge, "build_judge", lambda config, cache_dir=None, shared_cache=None: judge)
    rows = corpus_table(120).to_pylist()[:120]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({str(i): {"articleBody": f"Reference article {i} about the river and its history.", "url": f"u{i}"} for i in range(30)}))
    cfg = TrainScorersConfig(
        scorers=["quality-fasttext", "code-score"], judge_budget=40,
        teachers={"weborganizer": None, "references": [str(gt)], "rule_drops": False},
        train={"fasttext": {"dim": 16, "epoch": 10, "min_count": 1}, "min_class_examples": 5},
    )
    pointer, facts = label_and_train(rows, cfg, str(tmp_path / "cache"), 0, str(tmp_path / "labels"))
    assert judge.calls == 40 * 2  # the budget, for each of the two tasks
    assert facts["judged"] == 40 and facts["judge_tasks"] == ["code", "quality"]
    # code: the judge says 0 to all, the code teacher 0 to the other 80: one class -> the default
    assert pointer["code-score"] == f"{default_artifacts.REF_PREFIX}code-score/{default.rsplit('/', 1)[1]}"
    assert facts["artifacts"] == {"quality-fasttext": "trained", "code-score": "default"}
    assert facts["labels"]["code-score"] == {"code-lf": 80, "judge": 40}
    assert facts["labels"]["quality-fasttext"] == {"judge": 40, "references": 30}
    assert facts["teachers"] == {"code-lf": 80, "judge": 40, "references": 30}
    from classifiers import artifacts

    assert artifacts.read_metrics(pointer["quality-fasttext"])["teachers"] == {"judge": 40, "references": 30}
    import pyarrow.parquet as pq

    combined = pq.read_table(tmp_path / "teacher-labels.parquet")
    assert combined.num_rows == 120 + 70 and set(combined.column("teacher").to_pylist()) == {"code-lf", "judge", "references"}
