"""Checks shared by the end-to-end tests: the ledger balances and the shards decode to exactly the
kept documents' texts."""
from __future__ import annotations

import glob
import json
import os
from collections import Counter

import pyarrow.parquet as pq

from pipeline.assets import llama3_tokenizer_json
from pipeline.config import load_config
from pipeline.ledger import build_summary
from pipeline.megatron import MegatronReader
from pipeline.runner import Runner


# The shared-WARC runs label a small sample: the offline judge (SmolLM2 on CPU) costs ~2 s per
# document and task at 1,000 characters; commoncrawl.yaml's 500 documents at 3,000 chars, 4 tasks, take hours.
# Every test over the shared WARCs uses these same settings, so later runs hit the label cache.
SHARED_WARC_JUDGE = {"stages": {"train-scorers": {"sample_size": 24, "judge": {"max_chars": 500}}}}


def run_pipeline(config_path: str, out: str, overrides: dict | None = None) -> dict:
    config = load_config(config_path, overrides)
    outcomes = Runner(config, out).run()
    return build_summary(out, outcomes)


def ledger(out: str) -> dict[str, dict]:
    rows = pq.read_table(os.path.join(out, "ledger")).to_pylist()
    assert len(rows) == len({r["record_id"] for r in rows}), "a record id is in the ledger twice"
    return {r["record_id"]: r for r in rows}


def final_kept_rows(out: str) -> list[dict]:
    stage_dirs = sorted(glob.glob(os.path.join(out, "stages", "*")))
    kept_dirs = [os.path.join(d, "kept") for d in stage_dirs if os.path.isdir(os.path.join(d, "kept"))]
    table = pq.read_table(kept_dirs[-1])
    columns = ["id", "text"] + (["repeats"] if "repeats" in table.column_names else [])
    return table.select(columns).to_pylist()


def final_kept_texts(out: str) -> list[str]:
    """Kept texts as the main shards hold them: a document the mix repeats appears that often."""
    texts = []
    for r in final_kept_rows(out):
        repeats = r.get("repeats")
        texts.extend([r["text"]] * (1 if repeats is None else repeats))
    return texts


def megatron_core_reader(prefix: str):
    """megatron-core's own IndexedDataset on a shard, where megatron-core is installed (dev)."""
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    except ImportError:
        return None
    return IndexedDataset(prefix, mmap=True)


def decoded_shard_texts(out: str) -> list[str]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(llama3_tokenizer_json()))
    eot = tok.token_to_id("<|end_of_text|>")
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    texts = []
    for shard in manifest["shards"]:
        reader = MegatronReader(os.path.join(out, shard["prefix"]))
        assert len(reader) == shard["documents"]
        megatron = megatron_core_reader(os.path.join(out, shard["prefix"]))
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
