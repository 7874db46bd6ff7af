"""Stage `read-wet`: Common Crawl WET files (the text Common Crawl extracted from each page, as
`conversion` records of a WARC file) in, one document row per record out (kept or dropped).

Kept: `conversion` records whose text is at least `min_text_chars` long, with `text` filled and no
`html`, so a pipeline over WET needs no `extract` stage; `language` is Common Crawl's CLD2 label
(`WARC-Identified-Content-Language`, its first language) as lid.176 names it, which a `langid`
stage later in the pipeline replaces with its own. Dropped, each with its reason: the `warcinfo`
record and any other record type (`warc-type:<type>`), texts under the minimum (`no-text`), texts
over `max_payload_bytes` (`payload-too-large`), and the framing faults the WARC reader reports
(`truncated`, `malformed-record`, `unreadable-file`). Ids come from each record's WARC-Record-ID
(the conversion record's own, not that of the response record it refers to), like read-warc's.

The framing, resynchronisation after a malformed record and object-store streaming are the WARC
reader's (pipeline/sources/warc.py): a WET file is a WARC file.
"""
from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from pipeline.stage import StageConfig
from pipeline.sources.warc import ReadWarc, _detail, _FileReader, _read_capped, read_local

STAGE = "read-wet"

# ISO 639-2/3 codes (what CLD2 writes into WET headers) -> the lid.176 label of the language, where
# it is an ISO 639-1 code (from CLDR's language aliases); codes not listed are lid.176's own
# (ceb, war, yue ...) or have no lid.176 label, and are kept as they are
_ISO3_TO_1 = dict(pair.split(":") for pair in """
afr:af alb:sq amh:am ara:ar arb:ar arg:an arm:hy asm:as ava:av aze:az azj:az bak:ba baq:eu bel:be
ben:bn bod:bo bos:bs bre:br bul:bg bur:my cat:ca ces:cs che:ce chi:zh chv:cv cmn:zh cor:kw cos:co
cym:cy cze:cs dan:da deu:de div:dv dut:nl ekk:et ell:el eng:en epo:eo est:et eus:eu fas:fa fil:tl
fin:fi fra:fr fre:fr fry:fy geo:ka ger:de gla:gd gle:ga glg:gl glv:gv gre:el grn:gn gug:gn guj:gu
hat:ht heb:he hin:hi hrv:hr hun:hu hye:hy ice:is ido:io ile:ie ina:ia ind:id isl:is ita:it jav:jv
jpn:ja kan:kn kat:ka kaz:kk khk:mn khm:km kir:ky kmr:ku kom:kv kor:ko kpv:kv kur:ku lao:lo lat:la
lav:lv lim:li lit:lt ltz:lb lvs:lv mac:mk mal:ml mar:mr may:ms mkd:mk mlg:mg mlt:mt mon:mn msa:ms
mya:my nep:ne nld:nl nno:nn nor:no npi:ne oci:oc ori:or ory:or oss:os pan:pa pbu:ps per:fa pes:fa
plt:mg pol:pl por:pt pus:ps que:qu quz:qu roh:rm ron:ro rum:ro rus:ru san:sa sin:si slk:sk slo:sk
slv:sl snd:sd som:so spa:es sqi:sq srd:sc srp:sr sun:su swa:sw swe:sv swh:sw tam:ta tat:tt tel:te
tgk:tg tgl:tl tha:th tib:bo tuk:tk tur:tr uig:ug ukr:uk urd:ur uzb:uz uzn:uz vie:vi vol:vo wel:cy
wln:wa ydd:yi yid:yi yor:yo zho:zh zsm:ms
""".split())


def wet_language(value: str | None) -> str | None:
    """The lid.176 label of a WET record's `WARC-Identified-Content-Language` (`eng`, `spa,eng`):
    its first, most likely, language; None when the header is absent or empty."""
    from pipeline.language_codes import ISO3_TO_LID

    if not value:
        return None
    code = value.split(",", 1)[0].strip().lower()
    if not code or code == "unknown":
        return None
    return ISO3_TO_LID.get(code) or _ISO3_TO_1.get(code, code)


class ReadWetConfig(StageConfig):
    # text cap in bytes: Common Crawl truncates payloads at 1 MiB, so this only stops odd files
    max_payload_bytes: int = Field(10 << 20, ge=1)
    # below this a text is a title or a consent line, not a document (extract's min_text_chars)
    min_text_chars: int = Field(25, ge=0)
    # bound on the text held in one output batch
    max_batch_bytes: int = Field(64 << 20, ge=1)


class WetReader(_FileReader):
    """A WET file record by record: the WARC reader with a decision for `conversion` records."""

    def _decide(self, record, offset: int) -> tuple[dict, str | None]:
        headers = record.rec_headers
        if record.rec_type != "conversion":
            return self._row(offset, headers), f"warc-type:{_detail(record.rec_type or 'missing')}"
        content_type = headers.get_header("Content-Type")
        row = self._row(offset, headers, content_type=content_type)
        body = _read_capped(record.raw_stream, self.config.max_payload_bytes)
        if body is None:
            return row, "payload-too-large"
        # Common Crawl writes UTF-8; a stray invalid byte costs one replacement character
        text = body.decode("utf-8", "replace").strip()
        if len(text) < max(self.config.min_text_chars, 1):
            return row, "no-text"
        row["text"] = text
        row["language"] = wet_language(headers.get_header("WARC-Identified-Content-Language"))
        return row, None


class ReadWet(ReadWarc):
    name = STAGE
    writes = ("id", "url", "crawl_date", "source_file", "source_offset", "content_type", "text", "language")
    Config = ReadWetConfig
    reader_cls = WetReader


def read_wet_local(paths: list[str], config: ReadWetConfig | None = None) -> tuple[pa.Table, pa.Table]:
    """(kept documents, dropped records) of WET `paths` read in this process (CLI, tests)."""
    return read_local(paths, config if config is not None else ReadWetConfig(), STAGE, WetReader)
