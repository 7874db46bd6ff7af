import gzip
import json
import logging
import re

import pytest
from pydantic import ValidationError

from filters.line_repetition import LineRepetition, LineRepetitionConfig, normalise, remove_repeated_lines
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import GOLDEN_DIR, check_golden

C = LineRepetitionConfig()
PROSE = (
    "The committee met on Tuesday to review the proposal for a new public library in the town centre.\n"
    "Members agreed that the building should have a reading room with large windows and a small cafe.\n"
)


def test_golden(regen_golden):
    got = {r["id"]: r for r in check_golden(LineRepetition(), "line-repetition", regen_golden)}
    rows = {r["id"]: r for r in map(json.loads, open(GOLDEN_DIR / "line-repetition" / "input.jsonl"))}
    # what the golden records are for, independent of the frozen file
    assert got["news-article"]["text"] == rows["news-article"]["text"]
    assert got["code-snippet"]["text"] == rows["code-snippet"]["text"]
    assert got["numbered-list"]["text"] == rows["numbered-list"]["text"]
    assert got["error-spam"]["reason"] == "line-repetition-emptied"
    assert got["no-text"]["reason"] == "no-text"
    log_text = got["log-dump"]["text"]
    assert log_text.count("Heartbeat failed") == 1 and log_text.count("Failed to process order") == 1
    assert "Has anyone seen this?" in log_text
    forum = got["stack-trace-forum"]["text"]
    assert forum.count("SqlExceptionHelper.convert") == 1 and "keepaliveTime" in forum
    assert got["poem-refrain"]["text"].count("And the river runs on to the sea") == 1
    crlf = got["windows-newlines"]["text"]
    assert crlf.count("linker command failed") == 1 and crlf.count("\r\n") == crlf.count("\n") == 3


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        LineRepetitionConfig(max_repeats=3)


@pytest.mark.parametrize(
    "line, masked",
    [
        ("2019-07-15T10:32:11.062+02:00 INFO start", "_0_ info start"),
        ("at 10:32 am today", "at _0_ today"),
        ("Posted on July 15th, 2019 by Ann", "posted on _0_ by ann"),
        ("posted 15 Jul 2019", "posted _0_"),
        ("id 123e4567-e89b-12d3-a456-426614174000 done", "id _00_ done"),
        ("addr 0x7ffe3a and commit a3f9c2e1", "addr _00_ and commit _00_"),
        # words made of hex letters, plain numbers and a lone month name are left alone
        ("deadbeef 1234567 may be", "deadbeef 1234567 may be"),
    ],
)
def test_normalise_masks_times_and_ids(line, masked):
    assert " ".join(normalise(line).split()) == masked


def test_repeat_of_a_long_line_goes_and_the_first_stays():
    error = "error: linker command failed with exit code 1 (use -v to see invocation)"
    text = f"Build output:\n{error}\n{PROSE}{error}\nDone after a clean build."
    r = remove_repeated_lines(text, C)
    assert r.text == f"Build output:\n{error}\n{PROSE}Done after a clean build."
    assert (r.lines_removed, r.covered_lines) == (1, 1)


def test_log_lines_differing_in_times_ids_and_counters_collapse_to_the_first():
    log_lines = [
        f"2019-07-{d:02d} 10:{m:02d}:07 WARN worker-{m} request {m:x}{d}a9f3c2d1 took {m * 7} ms" for d, m in [(15, 1), (15, 2), (16, 9), (17, 30), (17, 41), (18, 5)]
    ]
    text = "Our worker log:\n" + "\n".join(log_lines) + "\nWhy is it slow?\n"
    r = remove_repeated_lines(text, C)
    assert r.text == f"Our worker log:\n{log_lines[0]}\nWhy is it slow?\n"


def test_templates_need_more_than_max_line_repeats_lines():
    # short list items differing in a number: only the template rule can remove them
    items = [f"Order {n} shipped to warehouse north" for n in range(11, 11 + C.max_line_repeats)]
    text = "\n".join(items) + "\n"
    assert remove_repeated_lines(text, C).text == text
    more = text + "Order 99 shipped to warehouse north\n"
    assert remove_repeated_lines(more, C).text == items[0] + "\n"
    # one varying word in a short line is a template as well ("Posted by X at 10:32")
    posts = "".join(f"{PROSE}Posted by {who} at 1{i}:0{i} AM\n" for i, who in enumerate(["Ann", "Bo", "Cy", "Di", "Ed"]))
    out = remove_repeated_lines(posts, C).text
    assert out.count("Posted by") == 1 and out.count("public library") == 1  # PROSE repeats too


def test_short_lines_are_never_removed():
    code = "switch (x) {\n" + "case 1:\n    y = 2;\n    break;\n" * 8 + "}\n"
    assert remove_repeated_lines(code, C).text == code
    # three words sharing two: a vocabulary list, not a template
    phrases = "".join(f"  - make a {w}\n" for w in "bet joke point profit speech salad wish".split())
    assert remove_repeated_lines(phrases, C).text == phrases
    assert remove_repeated_lines(phrases, LineRepetitionConfig(min_template_words=3)).text == "  - make a bet\n"


def test_a_heading_quoting_an_earlier_sentence_stays():
    # every word n-gram of the heading occurs inside the sentence, but not its start and end,
    # which weigh edge_chars each: 23 word characters of 31
    text = (
        "By 1916 the fighting had turned into the war at sea and on the land that no one planned.\n"
        "The war at sea and on the land\n"
        "The first boats were assembled at Antwerp within weeks.\n"
    )
    assert remove_repeated_lines(text, C).text == text
    assert remove_repeated_lines(text, LineRepetitionConfig(edge_chars=0)).text != text
    # as a whole line said twice, it goes
    twice = text + "The war at sea and on the land\n"
    assert remove_repeated_lines(twice, C).text == text


def test_removed_lines_take_their_blank_separator_and_no_line_break_is_added():
    para = "A long paragraph that is pasted twice into the same page by a careless editor."
    text = f"{para}\n\nOther text that is different from the first paragraph.\n\n{para}"
    assert remove_repeated_lines(text, C).text == f"{para}\n\nOther text that is different from the first paragraph."


def test_stage_rewrites_text_annotates_and_drops_emptied_documents(caplog):
    error = "Warning: mysql_query(): supplied argument is not a valid MySQL-Link resource in db.php"
    rows = [
        {"id": "prose", "text": PROSE, "annotations": '{"pii":{"email":1}}'},
        {"id": "repeats", "text": PROSE + PROSE + "The plan goes to residents next month.\n"},
        {"id": "dump", "text": "\n".join([error] * 10)},
        {"id": "none", "text": None},
    ]
    with caplog.at_level(logging.WARNING):
        kept, dropped = run_map_stage_local(LineRepetition(), documents_from_rows(rows))
    kept_rows = {r["id"]: r for r in kept.to_pylist()}
    assert kept_rows["prose"]["text"] == PROSE
    assert json.loads(kept_rows["prose"]["annotations"]) == {"pii": {"email": 1}}
    assert kept_rows["repeats"]["text"] == PROSE + "The plan goes to residents next month.\n"
    ann = json.loads(kept_rows["repeats"]["annotations"])["line_repetition"]
    assert ann["lines_removed"] == 2 and ann["chars_removed"] == len(PROSE)
    drops = {r["id"]: r for r in dropped.to_pylist()}
    assert drops["dump"]["reason"] == "line-repetition-emptied"
    assert drops["dump"]["text"] == rows[2]["text"]  # the whole text, to audit the drop
    assert json.loads(drops["dump"]["annotations"])["line_repetition"]["lines_removed"] == 9
    assert drops["none"]["reason"] == "no-text" and "no text" in caplog.text


def _wikitext_articles(path):
    """WikiText-2 articles with its tokenisation undone; each <unk> (a rare word) becomes a
    distinct made-up word, as the rare words it replaced are distinct."""
    counter = iter(range(10**9))

    def unk(_):
        n, s = next(counter), ""
        while True:
            s, n = chr(97 + n % 26) + s, n // 26
            if not n:
                return "unk" + s

    articles, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        line = re.sub("<unk>", unk, line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."))
        if re.match(r"^ = [^=].* = $", line) and cur:
            articles.append("".join(cur))
            cur = []
        cur.append(line)
    return articles + ["".join(cur)]


def test_wikipedia_prose_comes_through(shared_data):
    articles = _wikitext_articles(shared_data / "text" / "wikitext2-test.txt")
    results = [remove_repeated_lines(a, C) for a in articles]
    removed = sum(len(a) - len(r.text) for a, r in zip(articles, results))
    # our measurement: 1 of 63 articles loses a line (a sentence Wikipedia says twice)
    assert sum(r.text == a for a, r in zip(articles, results)) >= 0.9 * len(articles)
    assert removed <= 0.001 * sum(map(len, articles))


def test_news_articles_come_through(shared_data):
    truth = json.loads((shared_data / "extraction" / "ground-truth.json").read_text())
    texts = [t["articleBody"] for t in truth.values()]
    results = [remove_repeated_lines(t, C) for t in texts]
    # our measurement: 9 of 181 pages lose lines (product boxes, affiliate links, a repeated
    # meal plan, pull quotes said twice)
    assert sum(r.text == t for t, r in zip(texts, results)) >= 0.9 * len(texts)
    for t, r in zip(texts, results):  # lines are removed, never edited or reordered
        it = iter(t.splitlines())
        assert all(line in it for line in r.text.splitlines())


def test_idempotent_on_web_text(shared_data):
    with gzip.open(shared_data / "text" / "cc-main-2019-30-wet.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for line in f][:300]
    once = [remove_repeated_lines(t, C) for t in texts]
    assert sum(r.lines_removed > 0 for r in once) > 30  # raw WET text has plenty of repeats
    for r in once:
        assert remove_repeated_lines(r.text, C).text == r.text
