"""Speed and identity of our Llama 3 tokenization (gigatoken, the default backend of stage
`tokenize`, and tiktoken, its fallback) against HF `tokenizers` with the same tokenizer.json, on
the same real documents, in one run.

    .venv/bin/python bench/tokenizer.py                 # the whole corpus (below)
    .venv/bin/python bench/tokenizer.py --corpus text   # the text files only (the earlier 1,351 documents)
    .venv/bin/python bench/tokenizer.py --repeat 3      # best of 3 timings

The whole corpus: every document of ../shared/data in text form (text/cc-main-2019-30-wet.jsonl.gz,
text/ccnet-*.jsonl.gz, every article of wikitext2-*.txt split at top-level " = Title = " headings,
every version of langid/udhr-paragraphs.jsonl with paragraphs joined by blank lines,
topics/weborganizer-topics.jsonl.gz, topics/dolma-topics/*.jsonl.gz, the articleBody of
extraction/ground-truth.json, the sentences of pii/presidio-synth-even.json) plus the text our
extract stage (trafilatura, default config) gets from every HTML response of every WARC there
(warc/*.warc.gz, domains/*.warc.gz) and of the demo sample (demo/sample.warc.gz), without the time
limit (so that a page slow on a loaded machine is not dropped from the corpus). Speed is per
CPU-second of this process (CPU time counts all threads, so it is per core even for HF's
multi-threaded encode_batch, and is stable on a shared machine); wall time is printed beside it.
Identity is checked document by document in both special-token modes.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.extract.page import ExtractConfig, extract_document  # noqa: E402
from pipeline.output.llama3_tokenizer import Llama3Encoder, hf_tokenizer  # noqa: E402
from pipeline.sources.warc import iter_warc  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402
from pipeline.output.tokenize import Tokenize  # noqa: E402

_WIKI_TITLE = re.compile(r"^ = [^=].* = $", re.M)


def load_documents(data_dir: Path, corpus: str = "all") -> list[tuple[str, str]]:
    """(source, text) for every benchmark document, in a fixed order."""
    docs: list[tuple[str, str]] = []
    with gzip.open(data_dir / "text" / "cc-main-2019-30-wet.jsonl.gz", "rt", encoding="utf-8") as f:
        docs += [("cc-wet", json.loads(line)["text"]) for line in f if line.strip()]
    for name in ("wikitext2-valid.txt", "wikitext2-test.txt"):
        raw = (data_dir / "text" / name).read_text(encoding="utf-8")
        starts = [m.start() for m in _WIKI_TITLE.finditer(raw)] + [len(raw)]
        docs += [("wikitext2", raw[a:b]) for a, b in zip(starts, starts[1:])]
    with open(data_dir / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8") as f:
        docs += [("udhr", "\n\n".join(json.loads(line)["paragraphs"])) for line in f if line.strip()]
    if corpus == "all":
        docs += _more_text(data_dir) + _extracted_warc_text(data_dir)
    return [(s, t) for s, t in docs if t]


def _jsonl_texts(path: Path, source: str) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [(source, json.loads(line)["text"]) for line in f if line.strip()]


def _more_text(data_dir: Path) -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []
    for path in sorted((data_dir / "text").glob("ccnet-*.jsonl.gz")):
        docs += _jsonl_texts(path, "ccnet")
    docs += _jsonl_texts(data_dir / "topics" / "weborganizer-topics.jsonl.gz", "weborganizer")
    for path in sorted((data_dir / "topics" / "dolma-topics").glob("*.jsonl.gz")):
        docs += _jsonl_texts(path, "dolma-topics")
    truth = json.loads((data_dir / "extraction" / "ground-truth.json").read_text(encoding="utf-8"))
    docs += [("extraction-truth", truth[k]["articleBody"]) for k in sorted(truth)]
    pii = json.loads((data_dir / "pii" / "presidio-synth-even.json").read_text(encoding="utf-8"))
    docs += [("pii", r["full_text"]) for r in pii]
    return docs


def _extracted_warc_text(data_dir: Path) -> list[tuple[str, str]]:
    """Text of every HTML response of the shared WARCs and the demo sample, as our extract stage
    gives it (in process, default config less the time limit)."""
    demo = Path(__file__).resolve().parent.parent / "demo" / "sample.warc.gz"
    paths = sorted((data_dir / "warc").glob("*.warc.gz")) + sorted((data_dir / "domains").glob("*.warc.gz")) + [demo]
    config = ExtractConfig(timeout_s=0)
    docs: list[tuple[str, str]] = []
    for path in paths:
        if path.name.endswith((".wet.gz", ".wat.gz")):
            continue
        for row, reason in iter_warc(str(path)):
            if reason is None and row.get("html"):
                text = extract_document(row["html"], row.get("content_type"), config, row.get("url")).text
                if text:
                    docs.append((f"warc:{path.name.split('.')[0]}", text))
    return docs


def _timed(fn, repeat: int, fresh=None):
    """Best CPU time of `repeat` runs; `fresh()` before each run, untimed (a cold cache)."""
    best = None
    for _ in range(repeat):
        if fresh is not None:
            fresh()
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if best is None or cpu < best[1]:
            best = (out, cpu, wall)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir(), help="the shared data folder")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per method (best CPU time kept)")
    ap.add_argument("--corpus", choices=("all", "text"), default="all",
                    help="all: the whole corpus; text: WET + WikiText-2 + UDHR only")
    args = ap.parse_args()

    c0 = time.process_time()
    docs = load_documents(args.data, args.corpus)
    texts = [t for _, t in docs]
    n_chars = sum(len(t) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"{len(texts)} documents ({', '.join(f'{s}: {sum(1 for d in docs if d[0] == s)}' for s in dict.fromkeys(s for s, _ in docs))}),"
          f" {n_chars:,} characters, {n_bytes / 1e6:.1f} MB UTF-8 (loaded and extracted in {time.process_time() - c0:.0f} CPU s)")

    # identity, both modes: each fast backend vs HF with the matching setting
    for mode in ("plain", "special"):
        ref = Llama3Encoder("hf", mode).encode_batch(texts)
        for backend in ("gigatoken", "tiktoken"):
            enc = Llama3Encoder(backend, mode)
            bad = [i for i, (t, r) in enumerate(zip(texts, ref)) if enc.encode(t) != r]
            bad_batch = sum(a != r for a, r in zip(enc.encode_batch(texts), ref))
            print(f"mode {mode!r}, {enc.backend}: ids identical on {len(texts) - len(bad)}/{len(texts)} documents"
                  f" (encode_batch: {len(texts) - bad_batch}/{len(texts)})"
                  + (f"; first mismatches: {[docs[i][0] + '#' + str(i) for i in bad[:5]]}" if bad else ""))
    shipped = hf_tokenizer("plain", ignore_merges=None)
    ours = Llama3Encoder("tiktoken", "plain")
    same = sum(ours.encode(t) == shipped.encode(t, add_special_tokens=False).ids for t in texts)
    print(f"(HF with tokenizer.json as shipped, ignore_merges={shipped.model.ignore_merges}: identical on {same}/{len(texts)};"
          " Llama 3's own BPE, and our HF reference, use ignore_merges=true)")
    n_special = sum(1 for t in texts if "<|" in t and any(s in t for s in Llama3Encoder().spec.special_tokens))
    print(f"documents containing a special-token string (where the modes differ): {n_special}")

    hf = hf_tokenizer("plain")
    stage = Tokenize(Tokenize.Config())
    state = {}

    # gigatoken caches the BPE of every pre-token it has seen, and the identity checks above saw
    # every document: each timed run gets a tokenizer built anew (cold), outside the timing
    def fresh_giga():
        from pipeline.output.llama3_gigatoken import GigatokenEncoder, gigatoken_tokenizer

        gigatoken_tokenizer.cache_clear()
        state["giga"] = GigatokenEncoder("plain")
        stage.setup()

    fresh_giga()
    table = documents_from_rows({"id": str(i), "text": t} for i, t in enumerate(texts))

    runs = {
        "hf encode (1 thread)": lambda: [hf.encode(t, add_special_tokens=False).ids for t in texts],
        "hf encode_batch": lambda: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)],
        "tiktoken encode (previous path)": lambda: [ours.encode(t) for t in texts],
        "ours: gigatoken encode_batch (Python lists)": lambda: [state["giga"].encode_batch(texts[s:s + 256]) for s in range(0, len(texts), 256)],
        f"ours: tokenize stage ({stage.encoder.backend}, +EOT, arrow)": lambda: [stage.annotate(table.slice(s, 256)) for s in range(0, table.num_rows, 256)],
    }
    n_tokens = sum(len(ours.encode(t)) for t in texts)
    print(f"{n_tokens:,} tokens ({n_chars / n_tokens:.2f} characters/token)")
    rates = {}
    for name, fn in runs.items():
        _, cpu, wall = _timed(fn, args.repeat, fresh_giga if "gigatoken" in name else None)
        rates[name] = n_tokens / cpu
        print(f"{name:44s} {rates[name] / 1e6:6.2f} M tokens/CPU-s  {n_bytes / cpu / 1e6:6.2f} MB/CPU-s"
              f"   (cpu {cpu:6.2f}s, wall {wall:6.2f}s)")
    for base_name in ("hf encode (1 thread)", "hf encode_batch"):
        for name in runs:
            if not name.startswith("hf"):
                print(f"ratio {name} / {base_name}: {rates[name] / rates[base_name]:.2f}x")


if __name__ == "__main__":
    main()
