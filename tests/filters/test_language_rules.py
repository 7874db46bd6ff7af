"""Per-language rule thresholds (FineWeb-2's configs, filters/assets/language_rules.yaml) and word
segmentation for languages without spaces (filters/word_segment.py), as the rule filters apply
them with base.yaml's `languages: null`."""
import json
import logging
import re

import pytest

from filters import word_segment
from filters.fineweb_quality import FineWebQuality, FineWebQualityConfig
from filters.gopher_quality import GopherQuality, GopherQualityConfig
from filters.language_rules import covered_languages, load_rules, rules_for
from filters.ngram_repetition import NgramRepetition, NgramRepetitionConfig
from pipeline.schema import documents_from_rows
from pipeline.stage import Filter
from tests.golden import GOLDEN_DIR, check_golden

# the ~20 largest web languages besides English, which the issue asks for at least
LARGEST = "de fr es it pt nl ru pl cs sv tr ja zh ko ar fa vi id uk el".split()


def stages(**config):
    # base.yaml's settings of the three stages that take FineWeb-2's thresholds
    return [
        NgramRepetition(NgramRepetitionConfig(languages=None, **config)),
        GopherQuality(GopherQualityConfig(languages=None, alpha_ratio_over="words", **config)),
        FineWebQuality(FineWebQualityConfig(languages=None, **config)),
    ]


class RuleChain(Filter):
    """The three stages in base.yaml's order; a page's reason is the first stage's that drops it,
    named "<stage>: <rule>"."""

    name = "language-rules"
    reads = ("text", "language")
    writes = ()

    def __init__(self, **config):
        self.stages = stages(**config)
        for s in self.stages:
            s.setup()

    def decide(self, batch):
        reasons = [None] * batch.num_rows
        for s in self.stages:
            for i, r in enumerate(s.decide(batch)):
                if reasons[i] is None and r is not None:
                    reasons[i] = f"{s.name}: {r}"
        return reasons


def test_golden(regen_golden):
    got = {r["id"]: r for r in check_golden(RuleChain(), "language-rules", regen_golden)}
    # which rule, under which language's threshold, dropped each low-quality page
    assert got["de-low-cookie-nav"]["reason"] == "gopher-quality: gopher-too-few-stop-words"  # FineWeb-2 deu_Latn stop words
    assert got["zh-low-seo-spam"]["reason"] == "ngram-repetition: top-2-gram"  # cmn_Hani 0.256, over jieba's words
    assert got["ru-low-product-listing"]["reason"] == "ngram-repetition: dup-line-frac"  # rus_Cyrl 0.322
    for good in ("de-good-news", "zh-good-encyclopedia", "ru-good-blog"):
        assert got[good]["decision"] == "kept"


def _rows():
    return [json.loads(line) for line in (GOLDEN_DIR / "language-rules" / "input.jsonl").read_text().splitlines()]


def test_the_language_thresholds_decide():
    rows = {r["id"]: r for r in _rows()}
    ngram, gopher, _ = stages()
    for s in (ngram, gopher):
        s.setup()
    de = gopher.language_config(None, "de")
    assert de.stop_words == tuple(load_rules()["languages"]["de"]["stopwords"]) and de.min_stop_words == 2
    # the cookie page names one German stop word ("das"); English's list would find none either,
    # but German's keeps the German news page, which English's drops
    assert gopher.decide(documents_from_rows([rows["de-good-news"]])) == [None]
    english = GopherQuality(GopherQualityConfig(languages=None, language_rules=False))
    assert english.decide(documents_from_rows([rows["de-good-news"]])) == ["gopher-too-few-stop-words"]
    zh = ngram.language_config(None, "zh")
    assert zh.top_n_grams == {2: 0.256, 3: 0.201, 4: 0.171} and zh.word_segmenter == "jieba"
    ru = ngram.language_config(None, "ru")
    assert ru.dup_line_frac == 0.322 and ru.dup_para_frac == 0 and ru.dup_line_char_frac == 0
    # the Chinese article: kept under cmn_Hani's values; Gopher's English top-2-gram limit (0.20)
    # over unsegmented text drops it
    assert ngram.decide(documents_from_rows([rows["zh-good-encyclopedia"]])) == [None]
    english_ngram = NgramRepetition(NgramRepetitionConfig(languages=None, language_rules=False))
    assert english_ngram.decide(documents_from_rows([rows["zh-good-encyclopedia"]])) == ["top-2-gram"]


def test_every_value_has_its_source():
    table = load_rules()
    assert set(LARGEST) <= set(covered_languages())
    for lang, entry in [("pipeline", table["pipeline"]), *table["languages"].items()]:
        src = entry["source"]
        assert src["repo"] == "huggingface/fineweb-2", lang
        assert re.fullmatch(r"[0-9a-f]{40}", src["commit"]), lang
        assert src["path"] == "fineweb-2-pipeline.py" or re.fullmatch(r"configs/[a-z]{3}_[A-Z][a-z]{3}\.yml", src["path"]), lang


def test_english_keeps_its_own_thresholds():
    assert rules_for("en") is None and rules_for(None) is None
    gopher = GopherQuality(GopherQualityConfig(languages=None))
    gopher.setup()
    assert gopher.language_config(None, "en") == gopher.config


def test_unlisted_language_falls_back_to_english_values_without_stop_words(caplog):
    gopher, fineweb = GopherQuality(GopherQualityConfig(languages=None)), FineWebQuality(FineWebQualityConfig(languages=None))
    for s in (gopher, fineweb):
        s.setup()
    with caplog.at_level(logging.WARNING):
        sw = gopher.language_config(None, "sw")
    assert "no FineWeb-2 thresholds" in caplog.text
    assert sw.min_stop_words is None and sw.min_avg_word_length == 3.0  # English's, rules still on
    assert fineweb.language_config(None, "sw").char_duplicates_ratio == 0.1  # FineWeb-2's pipeline
    text = " ".join(["Watoto wanasoma vitabu shuleni kila asubuhi pamoja na walimu wao."] * 2 + ["Mji huu una soko kubwa."] * 1) * 4
    assert gopher.decide(documents_from_rows([{"id": "s", "language": "sw", "text": text}])) == [None]


def test_missing_segmenter_falls_back_to_graphemes(monkeypatch, caplog):
    monkeypatch.setattr(word_segment, "load_segmenter", lambda name: (word_segment.log.warning("word segmenter %s unavailable", name), None)[1])
    rows = [r for r in _rows() if r["language"] == "zh"]
    with caplog.at_level(logging.WARNING):
        reasons = RuleChain().decide(documents_from_rows(rows))
    assert "unavailable" in caplog.text
    assert all(r is None or isinstance(r, str) for r in reasons)  # decided, no crash
    tokens, unit = word_segment.segment("长城是防御工程。", "jieba")
    assert unit == word_segment.GRAPHEMES and tokens == list("长城是防御工程。")


@pytest.mark.parametrize("lang, text, expected", [
    ("zh", "长城是中国古代的军事防御工程。", ["长城", "是", "中国", "古代", "的", "军事", "防御", "工程", "。"]),
    ("ja", "東京は日本の首都です。", ["東京", "は", "日本", "の", "首都", "です", "。"]),
    ("th", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", ["กรุงเทพมหานคร", "เป็น", "เมืองหลวง", "ของ", "ประเทศ", "ไทย"]),
])
def test_segmenters(lang, text, expected):
    tokens, unit = word_segment.segment(text, word_segment.SEGMENTERS[lang])
    assert unit != word_segment.GRAPHEMES and tokens == expected
