"""Synthetic web-like documents for driver and capacity benchmarks, deterministic from a seed and
needing no third-party data: English function words mixed with pseudo-words drawn with Zipf
frequencies, sentences of 5-24 words, paragraphs of 1-6 sentences on their own lines, a title
line; ~2-5 KB of text per document; a URL on one of ~5,000 hosts and a crawl date.

Planted work for the global stages (so they decide something at every size):
- 2% of documents (i % 50 == 13) re-crawl the URL of document i - 13 with an older date and a
  different text: `dedup-url` drops them (`older-crawl`);
- 2% (i % 50 == 29) are copies of document i - 29 with ~1% of words replaced: `dedup-minhash`
  drops them (or the original);
- 1% (i % 100 == 41) are stubs (a title and one sentence), which `gopher-quality` drops.
Sentences come from a pool of `POOL` sentences, so two unrelated documents share almost no word
5-grams (~35 sentences of 100,000 each), as unrelated web pages.

Files: parquet (DOCUMENT_SCHEMA columns id, url, crawl_date, text, language; `en`) or jsonl, of
`docs_per_file` documents each, row groups of 2,000 documents; written once per (n, seed,
docs_per_file, format) under a cache folder (a `_DONE` file marks a complete corpus).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

POOL = 100_000
VERSION = 2  # in the cache folder name: bump when documents change
ROW_GROUP = 2_000
FUNCTION_WORDS = (
    "the of and to a in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so more no what can who will its also into "
    "about than them only other time some could these two may first then do any like my now over such our man me "
    "even most made after also did many before must through back years where much your way well down should because "
    "each just those people how too little state good very make world still own see men work long get here between "
    "both life being under never day same another know while last might us great old year off come since against go"
).split()
_ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
           "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "str", "th", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "ou", "io", "y"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "rs", "st", "ck", "ng"]
_TLDS = ["com", "org", "net", "de", "co.uk", "info", "io", "fr", "nl", "com.au"]


class WebCorpus:
    """Document i of a seeded synthetic web corpus (see the module docstring)."""

    def __init__(self, seed: int = 0, vocab_words: int = 40_000):
        rng = np.random.default_rng((seed, 0xC0FFEE))
        words: list[str] = []
        seen = set(FUNCTION_WORDS)
        while len(words) < vocab_words:
            syll = 1 + int(rng.random() < 0.55) + int(rng.random() < 0.15)
            w = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] + _CODAS[rng.integers(len(_CODAS))]
                        for _ in range(syll))
            if len(w) >= 2 and w not in seen:
                seen.add(w)
                words.append(w)
        # Zipf ranks: function words first (as in English text), then content words
        vocab = list(FUNCTION_WORDS) + words
        self.vocab = np.array(vocab, dtype=object)
        p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
        self.p = p / p.sum()
        n_words = rng.integers(5, 25, POOL)
        ids = rng.choice(len(vocab), size=int(n_words.sum()), p=self.p)
        punct = rng.random(POOL)
        sentences, pos = [], 0
        for k in range(POOL):
            w = list(self.vocab[ids[pos: pos + n_words[k]]])
            pos += n_words[k]
            w[0] = w[0].capitalize()
            if n_words[k] > 10 and punct[k] < 0.4:
                w[n_words[k] // 2] += ","
            sentences.append(" ".join(w) + ("?" if punct[k] > 0.95 else "."))
        self.sentences = np.array(sentences, dtype=object)
        self.sentence_len = np.array([len(s) + 1 for s in sentences])
        self.hosts = [f"www.{self.vocab[300 + 2 * h]}{self.vocab[301 + 2 * h]}.{_TLDS[h % len(_TLDS)]}" for h in range(5_000)]
        self.seed = seed

    def _base(self, i: int) -> tuple[str, str, int]:
        """(url, text, days after 2024-01-01) of document i as first written."""
        rng = np.random.default_rng((self.seed, i))
        target = int(rng.integers(2_000, 5_000))
        picks = rng.integers(0, POOL, 80)
        ends = np.cumsum(self.sentence_len[picks])
        picks = picks[: int(np.searchsorted(ends, target)) + 1]
        lines, k = [], 0
        sizes = rng.integers(1, 7, len(picks))
        title = " ".join(w.capitalize() for w in self.vocab[rng.integers(100, 3_000, int(rng.integers(3, 9)))])
        lines.append(title)
        for size in sizes:
            if k >= len(picks):
                break
            lines.append(" ".join(self.sentences[picks[k: k + size]]))
            k += size
        host = self.hosts[int(rng.integers(len(self.hosts)))]
        slug = "-".join(self.vocab[rng.integers(50, 5_000, 3)])
        url = f"https://{host}/{self.vocab[int(rng.integers(50, 400))]}/{slug}-{i}.html"
        return url, "\n".join(lines), int(rng.integers(0, 300))

    def document(self, i: int) -> dict:
        if i % 50 == 13 and i >= 13:  # an older crawl of document i - 13's URL, another text
            url, _, day = self._base(i - 13)
            _, text, _ = self._base(i)
            day = day - 30 - i % 7
        elif i % 50 == 29 and i >= 29:  # a near copy of document i - 29
            url, text, day = self._base(i)
            _, orig, _ = self._base(i - 29)
            rng = np.random.default_rng((self.seed, i, 1))
            words = orig.split(" ")
            for j in rng.integers(0, len(words), max(1, len(words) // 100)):
                words[j] = self.vocab[int(rng.integers(50, 5_000))]
            text = " ".join(words)
        elif i % 100 == 41:  # a stub page: a title and one sentence (gopher-quality drops it)
            url, text, day = self._base(i)
            text = text.split("\n")[0] + "\n" + text.split("\n")[1].split(". ")[0] + "."
        else:
            url, text, day = self._base(i)
        date = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day, seconds=i % 86_400)
        return {"id": f"web-{i:09d}", "url": url, "crawl_date": date, "text": text, "language": "en"}


def _table(docs: list[dict]) -> pa.Table:
    from pipeline.schema import DOCUMENT_SCHEMA

    cols = {k: [d[k] for d in docs] for k in ("id", "url", "crawl_date", "text", "language")}
    return pa.table([pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(len(docs), f.type)
                     for f in DOCUMENT_SCHEMA], schema=DOCUMENT_SCHEMA)


def _write_file(args: tuple) -> str:
    """One corpus file (run in a worker process of corpus_files)."""
    path, seed, start, stop, fmt = args
    corpus = _corpus(seed)
    if fmt == "parquet":
        with pq.ParquetWriter(path + ".tmp", _table([corpus.document(0)]).schema) as w:
            for g in range(start, stop, ROW_GROUP):
                w.write_table(_table([corpus.document(i) for i in range(g, min(stop, g + ROW_GROUP))]))
    else:
        with open(path + ".tmp", "w") as fh:
            for i in range(start, stop):
                d = corpus.document(i)
                d["crawl_date"] = d["crawl_date"].isoformat()
                fh.write(json.dumps(d) + "\n")
    os.replace(path + ".tmp", path)
    return path


_CORPORA: dict[int, WebCorpus] = {}


def _corpus(seed: int) -> WebCorpus:
    if seed not in _CORPORA:
        _CORPORA[seed] = WebCorpus(seed)
    return _CORPORA[seed]


def corpus_files(n: int, cache: str, seed: int = 0, docs_per_file: int = 50_000, fmt: str = "parquet",
                 jobs: int = 1, log=print) -> list[str]:
    """Files of an n-document corpus, generated on first use (cached under `cache`; `jobs`
    processes write files in parallel; the files do not depend on it)."""
    folder = os.path.join(cache, f"web-v{VERSION}-n{n}-seed{seed}-f{docs_per_file}-{fmt}")
    if not os.path.exists(os.path.join(folder, "_DONE")):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        work = [(os.path.join(folder, f"docs-{f0 // docs_per_file:05d}.{fmt}"), seed, f0, min(n, f0 + docs_per_file), fmt)
                for f0 in range(0, n, docs_per_file)]
        if jobs > 1 and len(work) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(min(jobs, len(work))) as pool:
                for k, _ in enumerate(pool.imap_unordered(_write_file, work), 1):
                    log(f"  corpus {n}: {k}/{len(work)} files written")
        else:
            for k, w in enumerate(work, 1):
                _write_file(w)
                log(f"  corpus {n}: {k}/{len(work)} files written")
        open(os.path.join(folder, "_DONE"), "w").close()
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith("." + fmt))
