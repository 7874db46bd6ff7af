"""Checks shared by the end-to-end tests: the ledger balances and the shards decode to exactly the
kept documents' texts. Outputs are read through pipeline/storage.py, so `out` may be an s3:// URI."""
from __future__ import annotations

from collections import Counter

import pyarrow as pa

from pipeline import stage_io, storage
from pipeline.assets import llama3_tokenizer_json
from pipeline.config import load_config
from pipeline.output.ledger import build_summary
from pipeline.output.megatron import MegatronReader
from pipeline.executor.runner import Runner


# The shared-WARC runs label a small sample: the offline judge (SmolLM2 on CPU) costs ~2 s per
# document and task at 1,000 characters; commoncrawl.yaml's 500 documents at 3,000 chars, 4 tasks, take hours.
# Every test over the shared WARCs uses these same settings, so later runs hit the label cache.
# the judge labels 24 of the shared pages; the topic scorer trains from TF-IDF alone (the MiniLM
# embeddings of 3,500 WebOrganizer pages cost minutes with a cold cache, as on CI, and change
# nothing these runs check; tests/classifiers/test_scorers.py covers the encoder)
SHARED_WARC_JUDGE = {"stages": {"train-scorers": {"sample_size": 24, "judge": {"max_chars": 500},
                                                  "train": {"linear": {"encoder": False}}}}}


def run_pipeline(config_path: str, out: str, overrides: dict | None = None) -> dict:
    config = load_config(config_path, overrides)
    outcomes = Runner(config, out).run()
    return build_summary(out, outcomes)


def _read_folder(folder: str) -> pa.Table:
    return pa.concat_tables([stage_io.read_parquet(f) for f in stage_io.parquet_files(folder)])


def ledger(out: str) -> dict[str, dict]:
    rows = _read_folder(storage.join(out, "ledger")).to_pylist()
    assert len(rows) == len({r["record_id"] for r in rows}), "a record id is in the ledger twice"
    return {r["record_id"]: r for r in rows}


def final_kept_rows(out: str) -> list[dict]:
    found = storage.listdir(storage.join(out, "stages"), ".parquet", recursive=True)  # stages/NN-name/...
    kept_dirs = sorted({storage.dirname(f) for f in found if storage.basename(storage.dirname(f)) == "kept"})
    table = _read_folder(kept_dirs[-1])
    columns = ["id", "text"] + (["repeats"] if "repeats" in table.column_names else [])
    return table.select(columns).to_pylist()


def final_kept_texts(out: str) -> list[str]:
    """Kept texts as the main shards hold them: a document the mix repeats appears that often."""
    texts = []
    for r in final_kept_rows(out):
        repeats = r.get("repeats")
        texts.extend([r["text"]] * (1 if repeats is None else repeats))
    return texts


def megatron_core_reader(prefix: str | None):
    """megatron-core's own IndexedDataset on a local shard, where megatron-core is installed (dev)."""
    if prefix is None:
        return None
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    except ImportError:
        return None
    return IndexedDataset(prefix, mmap=True)


def decoded_shard_texts(out: str) -> list[str]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(llama3_tokenizer_json()))
    eot = tok.token_to_id("<|end_of_text|>")
    manifest = storage.read_json(storage.join(out, "manifest.json"))
    texts = []
    for shard in manifest["shards"]:
        reader = MegatronReader(storage.join(out, shard["prefix"]))
        assert len(reader) == shard["documents"]
        megatron = megatron_core_reader(reader.prefix if not storage.is_uri(out) else None)
        for i in range(len(reader)):
            ids = reader[i].tolist()
            if megatron is not None:
                assert megatron[i].tolist() == ids, "megatron-core reads the shard as we do"
            assert ids[-1] == eot, "every document ends with <|end_of_text|>"
            texts.append(tok.decode(ids[:-1], skip_special_tokens=False))
    return texts


def assert_balanced_and_decodable(out: str, summary: dict) -> None:
    assert summary["balanced"], summary["problems"]
    led = ledger(out)
    assert len(led) == summary["input_total"]
    decisions = Counter(r["decision"] for r in led.values())
    assert decisions["kept"] == summary["kept_total"] and decisions["dropped"] == summary["dropped_total"]
    assert all(r["reason"] for r in led.values() if r["decision"] == "dropped")
    assert Counter(decoded_shard_texts(out)) == Counter(final_kept_texts(out))
