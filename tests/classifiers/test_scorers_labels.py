"""Label sources and metrics for the scorers: WikiText cleaned of its format marks, judge labels
binarised at positive_min with failed labels skipped, a stable held-out split, and metrics that
agree with their definitions on cases worked by hand."""
import pytest

from classifiers.judge import JudgeScore, write_labels
from classifiers.label_sources import examples_sha256, is_held_out, read_judge_labels, read_texts, read_weborganizer, split, wikitext_sections
from classifiers.metrics import binary_metrics, macro_f1, roc_auc
from tests.scorer_fixtures import examples, write_jsonl


def test_roc_auc_and_macro_f1_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts half
    assert roc_auc([0, 1, 1], [0.3, 0.2, 0.4]) == 0.5  # one of two positive-negative pairs ordered
    assert roc_auc([1, 1], [0.1, 0.2]) is None
    # class a: P 1/1 R 1/2 -> 2/3; class b: P 2/3 R 2/2 -> 4/5
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx((2 / 3 + 4 / 5) / 2)
    m = binary_metrics([0, 1, 1], [0.2, 0.7, 0.4])
    assert m["accuracy"] == pytest.approx(2 / 3) and m["label_counts"] == {"0": 1, "1": 2}


def test_wikitext_sections_drop_format_marks():
    lines = [" ", " = Lobster = ", " ", " A <unk> lobster weighs 0 @.@ 7 kg , a well @-@ known fact " * 10,
             " = = Habitat = = ", " It lives at 1 @,@ 000 metres . " * 20, " = = = Tiny = = = ", " short "]
    docs = wikitext_sections(lines, min_chars=100)
    assert len(docs) == 2  # the article intro and the Habitat section; the short subsection is too short
    assert all("@" not in d and "<unk>" not in d and "=" not in d for d in docs)
    assert "0.7 kg" in docs[0] and "well-known" in docs[0] and "1,000 metres" in docs[1]


def test_read_texts_formats(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "one"}, {"text": "two"}, {"text": ""}, {"id": "n"}])
    (tmp_path / "b.txt").write_text("para one\nstill one\n\npara two\n")
    assert read_texts(str(tmp_path / "a.jsonl")) == [("x", "one"), ("a.jsonl:1", "two")]
    assert [t for _, t in read_texts(str(tmp_path / "b.txt"))] == ["para one\nstill one", "para two"]


def test_judge_labels_binarised_and_failed_skipped(tmp_path):
    path = tmp_path / "labels.parquet"
    scores = [JudgeScore("quality", lab, 0.0, {}) for lab in ["1", "3", "5", "2"]]
    write_labels(path, ["a", "b", "c", "d"], ["ta", "tb", "tc", "td"], scores, prompt_version="v1", model="m")
    got = {e.id: e.label for e in read_judge_labels(str(path), "quality", positive_min=3)}
    assert got == {"a": "0", "b": "1", "c": "1", "d": "0"}
    assert {e.label for e in read_judge_labels(str(path), "quality", positive_min=5)} == {"0", "1"}
    assert read_judge_labels(str(path), "code", positive_min=3) == []


def test_weborganizer_ids_map_to_judge_taxonomy_keys(tmp_path):
    write_jsonl(tmp_path / "w.jsonl", [
        {"url": "u1", "text": "t", "topic_id": 13, "topic": "History"},  # taxonomy: History & Geography
        {"url": "u2", "text": "t", "topic_id": 0, "topic": "Adult"},
        {"url": "u3", "text": "", "topic_id": 1, "topic": "Art & Design"},
    ])
    assert [(e.id, e.label) for e in read_weborganizer(str(tmp_path / "w.jsonl"))] == [("u1", "history-geography"), ("u2", "adult-content")]


def test_split_is_stable_and_near_fraction():
    exs = examples(["1", "0"], 500)
    train, held = split(exs, 0.2, seed=7)
    assert len(train) + len(held) == 1000 and 150 < len(held) < 250
    assert sorted(e.id for e in held) == sorted(e.id for e in split(list(reversed(exs)), 0.2, seed=7)[1])
    assert all(is_held_out(e.id, 0.2, 7) for e in held)
    assert sorted(e.id for e in split(exs, 0.2, seed=8)[1]) != sorted(e.id for e in held)
    assert examples_sha256(exs) == examples_sha256(list(reversed(exs))) != examples_sha256(exs[1:])
