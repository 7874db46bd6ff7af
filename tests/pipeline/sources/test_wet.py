"""`read-wet`: Common Crawl WET files (extracted text as `conversion` records) as a source: text
filled and no html, Common Crawl's language label, ids from WARC-Record-ID, every other record a
counted drop; a pipeline over WET runs without `extract`."""
from __future__ import annotations

import gzip
import uuid

import pyarrow.parquet as pq
import pytest

from pipeline.config import validate
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
from pipeline.schema import DOCUMENT_SCHEMA
from pipeline.stage import RunContext
from pipeline.sources.wet import ReadWet, ReadWetConfig, read_wet_local, wet_language
from tests.make_bad_inputs import PROSE, warc_record

WHIRLWIND_WET = "cc-main-2024-22-whirlwind.warc.wet.gz"


def uid(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def conversion(key: str, text: bytes, language: str | None = "eng") -> bytes:
    headers = [("WARC-Type", "conversion"), ("WARC-Target-URI", f"https://wet.example/{key}"),
               ("WARC-Date", "2024-05-18T01:58:10Z"), ("WARC-Record-ID", f"<urn:uuid:{uid(key)}>"),
               ("WARC-Refers-To", f"<urn:uuid:{uid(key + '-response')}>")]
    if language is not None:
        headers.append(("WARC-Identified-Content-Language", language))
    headers += [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))]
    return warc_record(headers, text)


def warcinfo() -> bytes:
    block = b"isPartOf: CC-MAIN-2024-22\r\npublisher: Common Crawl\r\n"
    return warc_record([("WARC-Type", "warcinfo"), ("WARC-Record-ID", f"<urn:uuid:{uid('info')}>"),
                        ("Content-Type", "application/warc-fields"), ("Content-Length", str(len(block)))], block)


def write_wet(path, cut_last: bool = False) -> str:
    records = [
        warcinfo(),
        conversion("english", PROSE.encode()),
        conversion("bilingual", ("Bonjour. " + PROSE).encode(), "fra,eng"),
        conversion("no-language", PROSE.encode(), None),
        conversion("stub", b"Menu\nHome\n"),
        conversion("bad-byte", PROSE.encode().replace(b"harbour", b"harb\xffour")),
        conversion("huge", b"x" * 5000),
        conversion("last", PROSE.encode()),
    ]
    members = [gzip.compress(r, mtime=0) for r in records]
    if cut_last:
        members[-1] = members[-1][: len(members[-1]) // 2]
    path.write_bytes(b"".join(members))
    return str(path)


def test_wet_language_as_lid176_labels():
    assert [wet_language(v) for v in ("eng", "spa,eng", "zho", "nob", "gsw", "ceb", "", None, "unknown")] == [
        "en", "es", "zh", "no", "als", "ceb", None, None, None]


def test_records_become_text_documents_or_counted_drops(tmp_path):
    path = write_wet(tmp_path / "t.warc.wet.gz")
    kept, dropped = read_wet_local([path], ReadWetConfig(max_payload_bytes=4096))
    docs = {r["id"]: r for r in kept.to_pylist()}
    assert list(docs) == [uid(k) for k in ("english", "bilingual", "no-language", "bad-byte", "last")]
    assert kept.schema == DOCUMENT_SCHEMA and all(r["html"] is None and r["text"] for r in docs.values())
    assert [docs[uid(k)]["language"] for k in ("english", "bilingual", "no-language")] == ["en", "fr", None]
    assert docs[uid("bad-byte")]["text"].count("\ufffd") == 1
    assert docs[uid("english")]["url"] == "https://wet.example/english" and docs[uid("english")]["text"] == PROSE.strip()
    assert docs[uid("english")]["crawl_date"].isoformat() == "2024-05-18T01:58:10+00:00"
    assert {r["id"]: r["reason"] for r in dropped.to_pylist()} == {
        uid("info"): "warc-type:warcinfo", uid("stub"): "no-text", uid("huge"): "payload-too-large"}
    assert all(r["stage"] == "read-wet" and r["text"] is None for r in dropped.to_pylist())


def test_a_cut_file_keeps_what_came_before(tmp_path):
    kept, dropped = read_wet_local([write_wet(tmp_path / "cut.warc.wet.gz", cut_last=True)], ReadWetConfig(max_payload_bytes=4096))
    assert kept.column("id").to_pylist() == [uid(k) for k in ("english", "bilingual", "no-language", "bad-byte")]
    assert sorted(dropped.column("reason").to_pylist()) == ["no-text", "payload-too-large", "truncated", "warc-type:warcinfo"]


def test_whirlwind_wet_file(shared_data):
    kept, dropped = read_wet_local([str(shared_data / "warc" / WHIRLWIND_WET)])
    row = kept.to_pylist()[0]
    assert kept.num_rows == 1 and row["id"] == "ba729a40-ff84-4085-8d48-0a5b2ee0c42d"
    assert row["url"] == "https://an.wikipedia.org/wiki/Escopete" and row["language"] == "es"
    assert row["text"].startswith("Escopete - Biquipedia") and row["html"] is None
    assert dropped.column("reason").to_pylist() == ["warc-type:warcinfo"]


def test_stage_reads_one_file_per_unit(tmp_path):
    path = write_wet(tmp_path / "t.warc.wet.gz")
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "s"), batch_size=2)
    tables = list(ReadWet(ReadWetConfig(), ctx).read_file(path))
    assert [t.num_rows for t in tables] == [2, 2, 2] and all(t.schema == DOCUMENT_SCHEMA for t in tables)
    dropped = pq.read_table(tmp_path / "s" / "dropped")
    assert sorted(dropped.column("reason").to_pylist()) == ["no-text", "warc-type:warcinfo"]


@pytest.mark.ray
def test_a_pipeline_over_wet_needs_no_extract(tmp_path, ray_local):
    files = [write_wet(tmp_path / "a.warc.wet.gz"), write_wet(tmp_path / "b.warc.wet.gz")]  # the same records twice
    cfg = validate({"input": {"paths": files}, "pipeline": ["read-wet", "dedup-records", "url-safety", "langid", "tokenize"]},
                   source="test")
    out = str(tmp_path / "out")
    summary = build_summary(out, Runner(cfg, out).run())
    assert summary["balanced"], summary["problems"]
    assert summary["input_total"] == 16
    reasons = {s["name"]: s["reasons"] for s in summary["stages"]}
    assert reasons["read-wet"] == {"no-text": 2, "warc-type:warcinfo": 2} and reasons["dedup-records"] == {"duplicate-record": 6}
    kept = pq.read_table(f"{out}/stages/04-tokenize/kept").to_pylist()
    assert {r["id"] for r in kept} <= {uid(k) for k in ("english", "bilingual", "no-language", "bad-byte", "huge", "last")}
    assert kept and all(r["token_count"] > 0 and r["language"] for r in kept)
