"""Smoke tests of the issue-8 benchmarks (bench/e2e_datatrove.py, stage_scaling.py, ray_overhead.py):
each runs on a tiny input and prints its ratios; no time is asserted."""
import glob
import gzip
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))


def _warc_files(shared_data, names):
    return [str(shared_data / "warc" / n) for n in names]


def test_synthetic_warc_copies_are_distinct_and_reproducible(shared_data, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    from _synth_warc import html_responses, write_synthetic

    files = _warc_files(shared_data, ["crawl-2024-sample-0000.warc.gz", "crawl-2024-science-0.warc.gz"])
    pages = html_responses(files)
    n = write_synthetic(files, str(tmp_path / "a"), copies=3, files=2, edit=0.3, seed=1)
    write_synthetic(files, str(tmp_path / "b"), copies=3, files=2, edit=0.3, seed=1)
    assert n == 3 * len(pages) > 0
    for name in ("synth-000.warc.gz", "synth-001.warc.gz"):
        assert gzip.open(tmp_path / "a" / name).read() == gzip.open(tmp_path / "b" / name).read()
    urls, bodies = [], []
    for f in sorted(glob.glob(str(tmp_path / "a" / "*.warc.gz"))):
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                urls.append(rec.rec_headers.get_header("WARC-Target-URI"))
                bodies.append(rec.content_stream().read())
    assert len(urls) == n and len(set(urls)) == n  # URL dedup keeps every copy
    originals = {b for _, _, _, b in pages}
    edited = [b for b in bodies if b not in originals]
    assert len(edited) >= len(pages)  # copies 1 and 2 of (almost) every page carry edits


def test_datatrove_language_filter_reads_the_packaged_model():
    pytest.importorskip("datatrove")
    from datatrove.data import Document

    from _datatrove_e2e import OfflineLanguageFilter

    f = OfflineLanguageFilter(languages=["en"])
    doc = Document(text="The committee will meet on Tuesday to discuss the budget for the coming year.", id="1")
    assert f.filter(doc) is True and doc.metadata["language"] == "en"
    doc = Document(text="Le comité se réunira mardi pour discuter du budget de l'année prochaine.", id="2")
    assert not f.filter(doc)


@pytest.mark.ray
@pytest.mark.slow  # ~20 s on a quiet machine (two Ray passes); minutes under heavy load
def test_stage_scaling_prints_the_curve(shared_data, ray_local, tmp_path, capsys):
    from stage_scaling import main

    assert main(["--sizes", "150", "300", "--stages", "c4-quality", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    curve = [line for line in out.splitlines() if "300/150:" in line]
    assert len(curve) == 1 and "c4-quality" in curve[0] and "marginal worker CPU" in curve[0]


@pytest.mark.ray
@pytest.mark.slow
def test_ray_overhead_prints_the_ratio(shared_data, ray_local, capsys):
    from ray_overhead import main

    assert main(["--warc", str(shared_data / "warc" / "crawl-2024-sample-0000.warc.gz"), "--copies", "1",
                 "--limit", "30", "--modes", "local", "ray1"]) == 0
    out = capsys.readouterr().out
    assert "ray overhead ray1 vs local" in out and "same kept count: True" in out
