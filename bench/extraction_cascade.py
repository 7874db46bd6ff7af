"""Fast extractors and a cascade against our extractor (trafilatura 2.3.1, favor_precision, the
extract stage's page function) on the 181-page article benchmark (../shared/data/extraction):
F1 and pages per CPU second, all in one run.

    .venv/bin/python bench/extraction_cascade.py

Extractors: ours; resiliparse 2.x `extract_plain_text(main_content=True)` (lexbor); selectolax
(lexbor) body text without script/style/nav/header/footer/aside.
Cascade: resiliparse answers a page when a cheap confidence holds, ours the rest. The confidence is
the share of the page's whole visible text (resiliparse, main_content=False) that its main-content
text keeps: a page where the main-content pass keeps most of the text has little boilerplate to get
wrong. Swept over thresholds; the cascade's CPU is both resiliparse passes on every page plus ours
on the pages handed on. F1: mean per-page word-4-gram F1 against ground-truth articleBody
(bench/metrics.py), as bench/extraction_quality.py.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.metrics import shingle_prf, summarize  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.extract.page import ExtractConfig, extract_document  # noqa: E402

_DROP_TAGS = "script, style, noscript, nav, header, footer, aside, form"


def resiliparse_text(html: bytes, main_content: bool = True) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return extract_plain_text(bytes_to_str(html, detect_encoding(html)), main_content=main_content, alt_texts=True,
                              links=False, comments=False)


def selectolax_text(html: bytes) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css(_DROP_TAGS):
        node.decompose()
    body = tree.body
    return body.text(separator="\n", strip=True) if body is not None else ""


def timed(fn, items):
    c0 = time.process_time()
    out = [fn(x) for x in items]
    return out, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9,0.95")
    args = ap.parse_args()
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("pipeline").setLevel(logging.ERROR)

    bench = args.data / "extraction"
    truth = json.loads((bench / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)
    pages = [gzip.decompress((bench / "html" / f"{k}.html.gz").read_bytes()) for k in keys]
    config = ExtractConfig(timeout_s=0)  # in process, no limit: the extraction work alone

    def ours(html):
        return extract_document(html, "text/html", config).text or ""

    for fn in (ours, resiliparse_text, selectolax_text):  # warm-up: imports, lazy set-up
        fn(pages[0])
    outs, cpus = {}, {}
    for name, fn in (("ours (trafilatura)", ours), ("resiliparse main", resiliparse_text),
                     ("resiliparse all", lambda h: resiliparse_text(h, main_content=False)), ("selectolax", selectolax_text)):
        outs[name], cpus[name] = timed(fn, pages)

    def f1_of(texts):
        return summarize(shingle_prf(truth[k].get("articleBody", ""), t) for k, t in zip(keys, texts))

    print(f"{len(pages)} pages")
    base = cpus["ours (trafilatura)"]
    for name in outs:
        s = f1_of(outs[name])
        print(f"{name:20s} P {s.precision:.3f} R {s.recall:.3f} F1 {s.f1:.3f}   {len(pages) / cpus[name]:7.1f} pages/CPU-s ({base / cpus[name]:.1f}x ours)")

    # per-page costs, for the cascade's CPU: each page's time measured once more, one by one
    def per_page(fn):
        out = []
        for h in pages:
            c0 = time.process_time()
            fn(h)
            out.append(time.process_time() - c0)
        return out

    t_ours = per_page(ours)
    fast_cpu = cpus["resiliparse main"] + cpus["resiliparse all"]
    main_t, all_t = outs["resiliparse main"], outs["resiliparse all"]
    share = [len(m) / max(len(a), 1) for m, a in zip(main_t, all_t)]
    for th in [float(x) for x in args.thresholds.split(",")]:
        use_fast = [s >= th for s in share]
        texts = [m if u else o for m, o, u in zip(main_t, outs["ours (trafilatura)"], use_fast)]
        cpu = fast_cpu + sum(t for t, u in zip(t_ours, use_fast) if not u)
        s = f1_of(texts)
        print(f"cascade share >= {th:.2f}: fast path on {sum(use_fast):3d}/{len(pages)} pages, F1 {s.f1:.3f},"
              f" {len(pages) / cpu:6.1f} pages/CPU-s ({sum(t_ours) / cpu:.2f}x ours, per-page timing)")


if __name__ == "__main__":
    main()
