"""Stage `tokenize`: ids identical to HF tokenizers with the Llama 3 tokenizer.json, EOT appended,
lossless decoding, and drops for documents without text."""
import json
import random

import pyarrow as pa
import pytest

from pipeline.assets import llama3_tokenizer_json
from pipeline.output.llama3_tokenizer import EOT_TOKEN, Llama3Encoder, hf_tokenizer, load_ranks, load_spec
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from pipeline.output.tokenize import Tokenize

VARIED = [
    "Hello, world! It's 2024; we'LL see what THEY'VE done.",
    "emoji 😀👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and ✓✗",
    "中文分词测试，日本語のテキスト、한국어 문장입니다。",
    "def f(x):\n\treturn x**2  # comment\n\n\n    if x != 0 { y += 1; }\r\n",
    "spaces   \t  runs\u00a0\u00a0nbsp\u3000ideographic\u2009thin   \n\n\n  \n trailing   ",
    "a<|end_of_text|>b <|begin_of_text|> <|eot_id|>\n<|reserved_special_token_10|>",
    "<|end_of_text|>",
    "digits 1234567890 3.14159 1,000,000 ١٢٣ ४५६",
    "العربية עברית Ελληνικά русский ქართული हिन्दी ไทย",
    "combining e\u0301 Å ﬁ ß ſ K İ ı",
    "\u200b\u200d\ufeff zero width \u0085 nel \u2028 ls",
    "x" * 5000 + " " + "ab" * 3000,
    "'s 'S 'T 'Re 'VE 'm 'LL 'd '' ' s",
    "",
    "\n",
    " ",
]


@pytest.fixture(scope="module")
def encoders():
    return {
        (backend, mode): Llama3Encoder(backend, mode)
        for backend in ("gigatoken", "tiktoken", "hf")
        for mode in ("plain", "special")
    }


# our fast backends, each checked against the HF reference
FAST = pytest.mark.parametrize("fast", ["gigatoken", "tiktoken"])


@FAST
@pytest.mark.parametrize("mode", ["plain", "special"])
def test_ids_identical_to_hf_on_varied_strings(encoders, mode, fast):
    ours, ref = encoders[(fast, mode)], encoders[("hf", mode)]
    for text in VARIED:
        assert ours.encode(text) == ref.encode(text), repr(text[:60])


def test_special_mode_is_plain_hf_and_plain_mode_keeps_strings_as_text(encoders):
    from tokenizers import Tokenizer

    plain_hf = Tokenizer.from_file(str(llama3_tokenizer_json()))  # HF as shipped, no settings changed
    text = "before <|end_of_text|> after"
    eot = plain_hf.token_to_id(EOT_TOKEN)
    assert encoders[("tiktoken", "special")].encode(text) == plain_hf.encode(text, add_special_tokens=False).ids
    assert eot in encoders[("tiktoken", "special")].encode(text)
    plain = encoders[("tiktoken", "plain")].encode(text)
    assert eot not in plain and encoders[("tiktoken", "plain")].decode(plain) == text


@FAST
@pytest.mark.parametrize("mode", ["plain", "special"])
def test_ids_identical_to_hf_on_random_strings(encoders, mode, fast):
    rng = random.Random(1234)
    alphabet = list(" \t\n\r\u00a0'sStTdDlLmMvVrReE0129.,!?<|>_-") + [
        EOT_TOKEN, "<|eot_id|>", "é", "中", "😀", "\u0301", "\u200b", "\u017f", "\u212a", "\u0130", "ا", "\u3000",
    ]
    ours, ref = encoders[(fast, mode)], encoders[("hf", mode)]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert ours.encode(text) == ref.encode(text), repr(text)


def test_whole_pretoken_in_vocab_is_one_token_as_in_llama3(encoders):
    """Llama 3 (tiktoken; official tokenizer.json: ignore_merges=true) keeps " Việt" whole; BPE
    merges alone cannot reach that token. Our HF reference restores ignore_merges=true."""
    as_shipped = hf_tokenizer("plain", ignore_merges=None)
    for word in (" Việt", " sahiptir", " развитие"):
        ids = encoders[("tiktoken", "plain")].encode(word)
        assert len(ids) == 1 and encoders[("hf", "plain")].encode(word) == ids
        if not as_shipped.model.ignore_merges:  # the packaged file's setting: merges only
            assert len(as_shipped.encode(word, add_special_tokens=False).ids) > 1


def test_tiktoken_ranks_are_the_tokenizer_json_vocabulary():
    """tokenizer.model and tokenizer.json must hold the same BPE vocabulary (same bytes, same id)."""
    vocab = json.loads(llama3_tokenizer_json().read_text())["model"]["vocab"]
    ranks = load_ranks()
    assert len(ranks) == len(vocab)
    inverse = _byte_level_inverse()
    mismatched = [rank for tok, rank in vocab.items() if ranks.get(bytes(inverse[ch] for ch in tok)) != rank]
    assert not mismatched, f"{len(mismatched)} ids differ, e.g. {mismatched[:5]}"


def _byte_level_inverse() -> dict[str, int]:
    """GPT-2's byte <-> printable-character table (HF ByteLevel), inverted, built independently."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def test_spec_is_read_from_tokenizer_json():
    spec = load_spec()
    hf = hf_tokenizer()
    assert spec.eot_id == hf.token_to_id(EOT_TOKEN)
    assert spec.n_vocab == hf.get_vocab_size(with_added_tokens=True)
    assert spec.special_tokens == {t.content: i for i, t in hf.get_added_tokens_decoder().items()}


def _run(texts, **config):
    rows = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    stage = Tokenize(Tokenize.Config(**config))
    return run_map_stage_local(stage, documents_from_rows(rows), batch_size=4)


def test_stage_appends_eot_and_decodes_back_exactly():
    texts = [t for t in VARIED if t]
    kept, dropped = _run(texts)
    assert dropped.num_rows == 0 and kept.num_rows == len(texts)
    assert kept.schema.field("tokens").type == pa.list_(pa.int32())
    ref = hf_tokenizer("plain")
    eot = ref.token_to_id(EOT_TOKEN)
    dec = Llama3Encoder()
    for row, text in zip(kept.to_pylist(), texts):
        assert row["tokens"][-1] == eot and eot not in row["tokens"][:-1]
        assert row["tokens"][:-1] == ref.encode(text, add_special_tokens=False).ids
        assert row["token_count"] == len(row["tokens"])
        assert dec.decode(row["tokens"][:-1]) == text


def test_stage_backends_agree_and_eos_is_optional():
    texts = ["one <|end_of_text|> two", "три четыре", "五六"]
    fast, _ = _run(texts)
    ref, _ = _run(texts, backend="hf")
    assert fast.column("tokens").to_pylist() == ref.column("tokens").to_pylist()
    previous, _ = _run(texts, backend="tiktoken")
    assert previous.column("tokens").to_pylist() == ref.column("tokens").to_pylist()
    no_eos, _ = _run(texts, append_eos=False)
    assert [t[:-1] for t in fast.column("tokens").to_pylist()] == no_eos.column("tokens").to_pylist()


def test_stage_drops_documents_without_text():
    kept, dropped = _run(["fine", None, "", "also fine"])
    assert kept.column("id").to_pylist() == ["d0", "d3"]
    assert dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist())) == {
        "d1": "no-text",
        "d2": "empty-text",
    }


def test_unknown_config_is_rejected():
    with pytest.raises(Exception):
        Tokenize.Config(backend="sentencepiece")


@FAST
def test_identity_on_shared_documents(shared_data, encoders, fast):
    """Every UDHR version (hundreds of scripts) and a sample of Common Crawl WET documents."""
    import gzip

    texts = []
    with open(shared_data / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8") as f:
        texts += ["\n\n".join(json.loads(line)["paragraphs"]) for line in f if line.strip()]
    with gzip.open(shared_data / "text" / "cc-main-2019-30-wet.jsonl.gz", "rt", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for k, line in enumerate(f) if k % 10 == 0]
    ours, ref = encoders[(fast, "plain")], encoders[("hf", "plain")]
    bad = [i for i, t in enumerate(texts) if ours.encode(t) != ref.encode(t)]
    assert not bad, f"{len(bad)}/{len(texts)} documents differ, first: {texts[bad[0]][:80]!r}"


def test_gigatoken_missing_falls_back_to_tiktoken_with_a_log_line(monkeypatch, caplog):
    from pipeline.output import llama3_gigatoken

    monkeypatch.setattr(llama3_gigatoken, "available", lambda: False)
    with caplog.at_level("WARNING", logger="pipeline.output.llama3_tokenizer"):
        enc = Llama3Encoder("gigatoken")
    assert enc.backend == "tiktoken" and "gigatoken is not installed" in caplog.text
    assert enc.encode_batch(["a <|end_of_text|> b"]) == [Llama3Encoder("hf").encode("a <|end_of_text|> b")]
    monkeypatch.undo()
    assert Llama3Encoder("gigatoken").backend == "gigatoken"  # installed here: no fallback without the patch
