import gzip
import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from filters.dirty_words import (
    DirtyWords,
    DirtyWordsConfig,
    _default_lists_dir,
    count_substrings,
    count_words,
    load_word_list,
)
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

LONG = (
    "The clinic explains how the examination works, what patients should bring, how long the visit "
    "takes and which questions the nurse will ask before the doctor arrives. "
) * 10  # 300 words


# every list in LDNOOBW (its README's table): the lists that ship with the project
LDNOOBW_CODES = {
    "ar", "cs", "da", "de", "en", "eo", "es", "fa", "fi", "fil", "fr", "fr-CA-u-sd-caqc", "hi", "hu",
    "it", "ja", "kab", "ko", "nl", "no", "pl", "pt", "ru", "sv", "th", "tlh", "tr", "zh",
}  # fmt: skip

# one ordinary sentence per language, no list entry in it
CLEAN = {
    "de": "Der Zug nach Berlin fährt morgen früh um acht Uhr vom Hauptbahnhof ab.",
    "ru": "Поезд в Москву отправляется завтра в восемь утра с центрального вокзала.",
    "zh": "明天早上八点，去北京的火车从中央车站出发。",
    "ja": "東京行きの電車は明日の朝八時に中央駅を出発します。",
    "ar": "يغادر القطار المتجه إلى القاهرة غدا في الساعة الثامنة صباحا من المحطة المركزية.",
}


def stage(shared_data=None, **config):
    """The stage with its default lists (those shipped in the package); `shared_data` is unused,
    kept so the tests read as before."""
    s = DirtyWords(DirtyWordsConfig(**config))
    s.setup()
    return s


def test_golden(regen_golden):
    check_golden(DirtyWords(DirtyWordsConfig()), "dirty-words", regen_golden)


def test_lists_install_with_the_package_for_every_ldnoobw_language(tmp_path, monkeypatch):
    """A fresh install needs no ../shared/data: the default lists folder is package data of
    `filters` (pyproject's package-data ships it in the wheel) and holds every LDNOOBW language."""
    from fnmatch import fnmatch

    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")

    import filters
    import pipeline.assets

    empty = tmp_path / "no-shared-data"
    empty.mkdir()
    monkeypatch.setattr(pipeline.assets, "shared_data_dir", lambda: empty)

    default = Path(_default_lists_dir())
    package = Path(filters.__file__).resolve().parent
    assert DirtyWordsConfig().lists_dir is None  # resolved at setup, in each worker's install
    assert default.resolve() == package / "assets" / "ldnoobw"
    assert "shared" not in default.resolve().relative_to(package).parts
    files = {p.name for p in default.iterdir() if p.is_file()}
    assert LDNOOBW_CODES <= files and {"LICENSE", "README.md"} <= files
    assert "Attribution 4.0 International" in (default / "LICENSE").read_text()

    # a non-editable install carries them: every file matches the package-data patterns
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["filters"]
    for name in files:
        assert any(fnmatch(f"assets/ldnoobw/{name}", pat) for pat in patterns), name

    s = stage()
    for code in LDNOOBW_CODES:
        wl = s._lists[code]
        assert wl.singles or wl.multi or wl.substrings, code
    # lid.176 codes mapped to LDNOOBW file names, and Quebec French merged into French
    assert {"tl", "nn"} <= s._lists.keys()
    assert len(s._lists["fr"].singles) > len(load_word_list([default / "fr"], False).singles)


@pytest.mark.parametrize("lang", sorted(CLEAN))
def test_shipped_lists_count_hits_beyond_english(lang):
    """Pages in de, ru, zh, ja, ar with three entries of that language's shipped list are dropped;
    the same page without them is kept (entries read from the list, not written here)."""
    from filters.dirty_words import _tokens

    s = stage()
    entries = [e.strip().lower() for e in (Path(_default_lists_dir()) / lang).read_text(encoding="utf-8").splitlines()]
    if lang in ("zh", "ja"):  # substring languages: any three entries, none inside another
        picked = []
        for e in sorted(set(filter(None, entries)), key=len, reverse=True):
            if not any(e in p or p in e for p in picked) and e not in CLEAN[lang]:
                picked.append(e)
            if len(picked) == 3:
                break
        dirty = CLEAN[lang] + "。".join(picked) + "。"
    else:  # three one-word entries
        picked = [e for e in dict.fromkeys(entries) if len(_tokens(e)) == 1 and _tokens(e)[0] == e][:3]
        dirty = CLEAN[lang] + " " + " ".join(picked) + "."
    assert len(picked) == 3
    assert s.hits(CLEAN[lang], lang).count == 0
    assert s.hits(dirty, lang).count == 3
    rows = [{"id": "dirty", "text": dirty, "language": lang}, {"id": "clean", "text": CLEAN[lang], "language": lang}]
    assert s.decide(documents_from_rows(rows)) == ["dirty-words", None]


def test_shipped_lists_match_the_shared_ldnoobw_copy(shared_data):
    """The shipped lists are LDNOOBW's: the same entries, in the same order, as the copy in
    ../shared/data (taken from the upstream repository)."""
    shipped = Path(_default_lists_dir())
    for code in LDNOOBW_CODES:
        ours = (shipped / code).read_text(encoding="utf-8").splitlines()
        theirs = (shared_data / "lists" / "ldnoobw" / code).read_text(encoding="utf-8").splitlines()
        assert ours == theirs, code


def test_missing_lists_fail_at_setup_with_a_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="lists_dir"):
        DirtyWords(DirtyWordsConfig(lists_dir=str(tmp_path / "nowhere"), fallback_to_datatrove_english=False)).setup()


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        DirtyWordsConfig(min_hits=2)


def test_word_boundaries_multi_word_entries_and_symbols(tmp_path):
    (tmp_path / "en").write_text("ass\ntwo girls one cup\ng-spot\n🖕\n")
    wl = load_word_list([tmp_path / "en"], substring=False)
    # "assessment" and "class" hold "ass" but are other words
    assert count_words("An assessment of the class.", wl).count == 0
    h = count_words("Two Girls One Cup, the G-spot, an ass 🖕", wl)
    assert (h.count, h.matched) == (4, 4 + 1 + 1 + 1)
    assert count_words("two girls and one cup", wl).count == 0  # the words, not in sequence


def test_substring_matching_for_scripts_without_spaces(tmp_path):
    (tmp_path / "zh").write_text("三级片\n色情\n")
    wl = load_word_list([tmp_path / "zh"], substring=True)
    h = count_substrings("这是三级片和色情网站", wl)
    assert (h.count, h.matched, h.total) == (2, 5, 10)


def test_count_and_ratio_must_both_be_reached(shared_data):
    s = stage(shared_data)
    # one word in a 300-word medical page: count 1 < 3
    assert s.decide(documents_from_rows([{"id": "a", "text": LONG + " penis", "language": "en"}])) == [None]
    # three words in 300: count 3 but ratio 0.0099 >= 0.005 -> dropped; at min_ratio 0.02 kept
    rows = [{"id": "b", "text": LONG + " penis vagina anus", "language": "en"}]
    assert s.decide(documents_from_rows(rows)) == ["dirty-words"]
    assert stage(shared_data, min_ratio=0.02).decide(documents_from_rows(rows)) == [None]


def test_list_chosen_by_language(shared_data):
    s = stage(shared_data)
    text = "scheiße scheiße scheiße und noch mehr"
    rows = [
        {"id": "de", "text": text, "language": "de"},
        {"id": "en", "text": text, "language": "en"},  # not in the English list
        {"id": "none", "text": text, "language": None},  # no language: no list, kept
        {"id": "xx", "text": text, "language": "xx"},  # no list for it, kept
    ]
    assert s.decide(documents_from_rows(rows)) == ["dirty-words", None, None, None]
    # lid.176's "tl" uses LDNOOBW's "fil" list
    assert "tl" in s._lists and s._lists["tl"].singles


def test_missing_text_is_a_counted_drop(shared_data, caplog):
    with caplog.at_level(logging.WARNING):
        kept, dropped = run_map_stage_local(stage(shared_data), documents_from_rows([{"id": "n", "text": None}]))
    assert kept.num_rows == 0 and dropped.column("reason").to_pylist() == ["no-text"]
    assert "no text" in caplog.text


def test_drops_adult_pages_not_ordinary_ones(shared_data):
    """Measured on 8.7k labelled web pages (weborganizer topics, a classifier's labels): the
    default drops most pages labelled Adult and few of any other topic (C4's rule, a single hit,
    would drop 5-20% of Health, Literature, Politics...). 1% ratio: 58% of Adult pages; news on
    assault cases, which 0.5% dropped, is kept."""
    s = stage(shared_data)
    with gzip.open(shared_data / "topics" / "weborganizer-topics.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    adult = [r for r in rows if r["topic"] == "Adult"]
    other = [r for r in rows if r["topic"] != "Adult"][:2000]

    def dropped(rs):
        d = s.decide(documents_from_rows({"id": str(i), "text": r["text"], "language": "en"} for i, r in enumerate(rs)))
        return sum(x is not None for x in d) / len(rs)

    assert dropped(adult) > 0.55
    assert dropped(other) < 0.01


def test_without_ldnoobw_lists_falls_back_to_datatrove_english(tmp_path):
    from filters.dirty_words import DirtyWords
    from pipeline.schema import documents_from_rows
    from pipeline.stage import run_map_stage_local

    stage = DirtyWords(DirtyWords.Config(lists_dir=str(tmp_path / "absent"), min_count=2, min_ratio=0.01))
    rows = [
        {"id": "en-dirty", "language": "en", "text": "porn porn porn site with xxx porn links " * 3},
        {"id": "en-clean", "language": "en", "text": "A quiet walk along the river on Sunday morning."},
        {"id": "de", "language": "de", "text": "porn porn porn porn"},  # no German list in the fallback
    ]
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    assert dropped.column("id").to_pylist() == ["en-dirty"]
    assert sorted(kept.column("id").to_pylist()) == ["de", "en-clean"]
    with pytest.raises(FileNotFoundError):
        DirtyWords(DirtyWords.Config(lists_dir=str(tmp_path / "absent"), fallback_to_datatrove_english=False)).setup()
