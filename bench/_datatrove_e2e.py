"""datatrove's nearest pipeline to ours, offline: FineWeb's recipe (datatrove/examples/fineweb.py)
with the Llama 3 tokenizer at the end, run by LocalPipelineExecutor.

  1. WarcReader -> URLFilter -> Trafilatura(favour_precision) -> LanguageFilter(en, 0.65)
     -> GopherRepetition -> GopherQuality -> C4Quality -> FineWebQuality -> ParquetWriter
  2-5. MinHash: signatures -> buckets -> clusters -> filter (+ ParquetWriter)
  6. DocumentTokenizer (local tokenizer.json, <|end_of_text|> after each document)

Offline patches (nothing is downloaded): the language model is our packaged lid.176.ftz instead of
FT176LID's download of lid.176.bin (same model, quantised), and URLFilter's tldextract uses its
bundled public-suffix snapshot instead of fetching the list. Parity patches: HtmlWarcReader (see
it), Trafilatura's timeout = our extract timeout_s, MinHash shingles hashed with sha1 (below).

    python bench/_datatrove_e2e.py WARC_DIR GLOB WORK_DIR TASKS   (prints one JSON line)
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datatrove.pipeline.filters import URLFilter  # noqa: E402
from datatrove.pipeline.filters.language_filter import LanguageFilter  # noqa: E402
from datatrove.pipeline.readers import WarcReader  # noqa: E402
from datatrove.utils.lid import FT176LID  # noqa: E402

EOS = "<|end_of_text|>"


class LocalFT176(FT176LID):
    """FT176LID reading the packaged lid.176.ftz (datatrove would download lid.176.bin)."""

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            from pipeline.assets import lid176_path

            self._model = _FastText(str(lid176_path()))
        return self._model


class OfflineLanguageFilter(LanguageFilter):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model = LocalFT176(self.languages)


class HtmlWarcReader(WarcReader):
    """WarcReader that, when a record lacks WARC-Identified-Payload-Type (every non-Common-Crawl
    file here), takes the HTTP Content-Type as Common Crawl would have identified it. Stock, it
    asks libmagic, which calls 106 of the 181 article pages text/plain and skips them, and it
    skips ClueWeb09's 29 pages (empty payload type): 131 of 267 pages read. Ours reads the HTTP
    Content-Type, so this makes both sides parse the same pages."""

    def read_file(self, filepath: str):
        from warcio.archiveiterator import ArchiveIterator

        from datatrove.pipeline.readers.warc import process_record

        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for ri, record in enumerate(ArchiveIterator(f)):
                with self.track_time():
                    if record.rec_type == "response" and not record.rec_headers.get_header("WARC-Identified-Payload-Type"):
                        ctype = (record.http_headers.get_header("Content-Type") or "") if record.http_headers else ""
                        record.rec_headers.replace_header("WARC-Identified-Payload-Type", ctype.split(";")[0].strip().lower())
                    extracted_data = process_record(record)
                    if not extracted_data:
                        continue
                    document = self.get_document_from_dict(extracted_data, filepath, ri)
                    if not document:
                        continue
                yield document


class OfflineURLFilter(URLFilter):
    def __init__(self, **kwargs):
        from tldextract import TLDExtract

        super().__init__(**kwargs)
        self.tldextractor = TLDExtract(suffix_list_urls=())  # bundled snapshot, no fetch


def executors(warc_dir: str, glob_pattern: str, work: str, tasks: int):
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import ParquetWriter

    from datatrove.utils.hashing import HashConfig

    from pipeline.assets import llama3_tokenizer_json

    def p(*parts):
        return os.path.join(work, *parts)

    # FineWeb's 5-grams, 14 buckets x 8 hashes; sha1 shingle hashes: datatrove's default xxhash
    # path passes str to xxhash, which xxhash >= 4 rejects ("Strings must be encoded")
    mh = MinhashConfig(hash_config=HashConfig(hash_fc="sha1"))
    common = dict(tasks=tasks, workers=tasks)
    main = LocalPipelineExecutor(
        [
            HtmlWarcReader(warc_dir, glob_pattern=glob_pattern),
            OfflineURLFilter(),
            Trafilatura(favour_precision=True, timeout=10.0),  # our extract stage's timeout_s (datatrove's 1 s lost 31 of 131 pages here)
            OfflineLanguageFilter(),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),  # FineWeb's setting
            FineWebQualityFilter(),
            ParquetWriter(p("filtered")),
        ],
        logging_dir=p("logs", "1-filter"), **common,
    )
    sigs = LocalPipelineExecutor(
        [ParquetReader(p("filtered")), MinhashDedupSignature(p("mh", "sigs"), config=mh)],
        logging_dir=p("logs", "2-sigs"), depends=main, **common,
    )
    buckets = LocalPipelineExecutor(
        [MinhashDedupBuckets(p("mh", "sigs"), p("mh", "buckets"), config=mh)],
        logging_dir=p("logs", "3-buckets"), depends=sigs, tasks=mh.num_buckets, workers=tasks,
    )
    cluster = LocalPipelineExecutor(
        [MinhashDedupCluster(p("mh", "buckets"), p("mh", "remove"), config=mh)],
        logging_dir=p("logs", "4-cluster"), depends=buckets, tasks=1, workers=1,
    )
    dfilter = LocalPipelineExecutor(
        [ParquetReader(p("filtered")), MinhashDedupFilter(p("mh", "remove")), ParquetWriter(p("deduped"))],
        logging_dir=p("logs", "5-filter"), depends=cluster, **common,
    )
    tok = LocalPipelineExecutor(
        [ParquetReader(p("deduped")), DocumentTokenizer(p("tokens"), tokenizer_name_or_path=str(llama3_tokenizer_json()), eos_token=EOS)],
        logging_dir=p("logs", "6-tokenize"), depends=dfilter, **common,
    )
    return [("filter", main), ("minhash-signatures", sigs), ("minhash-buckets", buckets),
            ("minhash-cluster", cluster), ("minhash-filter", dfilter), ("tokenize", tok)]


def step_stats(work: str, name: str) -> list[dict]:
    """datatrove's merged stats of one executor: per step its name and document counters."""
    path = os.path.join(work, "logs", name, "stats.json")
    if not os.path.exists(path):
        return []
    out = []
    for s in json.load(open(path)):
        st = s.get("stats", {})
        # counters are numbers, or {"total": ...} objects for those with a distribution (documents, doc_len)
        counts = {k: (v.get("total") if isinstance(v, dict) else v) for k, v in st.items()}
        out.append({"step": s.get("name"), **{k: v for k, v in counts.items() if isinstance(v, (int, float))},
                    "time_s": round(s.get("time_stats", {}).get("total", 0.0), 2)})
    return out


def run(warc_dir: str, glob_pattern: str, work: str, tasks: int) -> dict:
    """Run the executors in order (each one's dependency has then already run), timing each."""
    names = ["1-filter", "2-sigs", "3-buckets", "4-cluster", "5-filter", "6-tokenize"]
    passes = {}
    t0 = time.perf_counter()
    for (label, exe) in executors(warc_dir, glob_pattern, work, tasks):
        t = time.perf_counter()
        exe.run()
        passes[label] = round(time.perf_counter() - t, 2)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "passes": passes, "stats": {n: step_stats(work, n) for n in names}}


if __name__ == "__main__":
    warc_dir, pattern, work, tasks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    print("DATATROVE_RESULT " + json.dumps(run(warc_dir, pattern, work, tasks)), flush=True)
