"""Bytes of an HTTP payload -> str, robustly.

Order: byte-order mark; UTF-8 (strict, or with a few broken bytes such as a multibyte character cut
by Common Crawl's 1 MiB truncation); the charset of the HTTP Content-Type; the page's own
<meta charset>; detection with charset_normalizer. Valid UTF-8 goes before the declarations on
purpose: servers often declare ISO-8859-1 for UTF-8 pages, and legacy-encoded text with non-ASCII
bytes is almost never valid UTF-8 by chance. Labels map the WHATWG way (ISO-8859-1 is read as
windows-1252, GB2312 as GB18030, ...). Output that is mostly control characters is not text.
"""
from __future__ import annotations

import codecs
import re

# Labels browsers read as a superset encoding (WHATWG Encoding Standard); Python's codecs would
# otherwise decode them as the stricter/smaller encoding and fail or garble.
_WHATWG_SUPERSETS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
}

_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)""")
_META_TAG = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
# the WHATWG prescan reads 1 KiB; real pages put <meta charset> after large inline scripts
_PRESCAN_BYTES = 16384
# broken UTF-8 tolerated: this many invalid bytes per valid multibyte character (a cp1252 page
# decoded as UTF-8 has almost no valid multibyte sequences, so its ratio is far above this)
_UTF8_MAX_ERROR_RATIO = 0.02
# decoded text with more than this share of control/replacement characters is binary or garbage
_MAX_GARBAGE_SHARE = 0.05
_GARBAGE_SAMPLE = 32768
# charset_normalizer is slow on large inputs; its head+tail sample decides as well as the whole
_DETECT_SAMPLE = 32768
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_GARBAGE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class NotDecodable(ValueError):
    """The payload is not text in any encoding we can determine."""


def codec_for_label(label: str | bytes | None, declared: bool = True) -> str | None:
    """Python codec name for a charset label, or None when unknown. Declared UTF-16/32 labels are
    ignored: without a byte-order mark they are wrong (WHATWG reads them as UTF-8 in <meta>)."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_SUPERSETS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if declared and name.startswith(("utf-16", "utf-32")):
        return None
    return name


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _CHARSET_PARAM.search(content_type.encode("latin-1", "ignore"))
    return codec_for_label(m.group(1)) if m else None


def charset_from_meta(payload: bytes) -> str | None:
    """The XML declaration's encoding (XHTML), else the first <meta charset=...> or
    <meta http-equiv content="...; charset=..."> in the head."""
    m = _XML_DECLARATION.match(payload)
    if m:
        codec = codec_for_label(m.group(1))
        if codec:
            return codec
    for tag in _META_TAG.finditer(payload[:_PRESCAN_BYTES]):
        m = _CHARSET_PARAM.search(tag.group(0))
        if m:
            codec = codec_for_label(m.group(1))
            if codec:
                return codec
    return None


def _decode_utf8_lenient(payload: bytes) -> str | None:
    """UTF-8 with a few invalid bytes (replaced), or None when the bytes are not UTF-8 at all."""
    text = payload.decode("utf-8", "surrogateescape")
    errors = len(_ESCAPED_BYTE.findall(text))
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - errors
    if multibyte == 0 or errors > _UTF8_MAX_ERROR_RATIO * multibyte:
        return None
    return payload.decode("utf-8", "replace")


def _decode_declared(payload: bytes, codec: str) -> str | None:
    try:
        return payload.decode(codec)
    except UnicodeDecodeError:
        pass
    text = payload.decode(codec, "replace")
    # a declared legacy charset with a few stray bytes is still the best reading of the page
    if text.count("\ufffd") <= max(2, 0.001 * len(text)):
        return text
    return None


def _detect(payload: bytes) -> str | None:
    from charset_normalizer import from_bytes

    sample = payload if len(payload) <= _DETECT_SAMPLE else payload[: _DETECT_SAMPLE // 2] + payload[-_DETECT_SAMPLE // 2 :]
    best = from_bytes(sample).best()
    if best is None:
        return None
    codec = codec_for_label(best.encoding, declared=False)
    return payload.decode(codec, "replace") if codec else None


def decode_html(payload: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return (text, how) where `how` names the rule that decided (for logs and tests).
    Raises NotDecodable when no rule yields text."""
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            return _checked(payload[len(bom) :].decode(codec, "replace"), "bom:" + codec)
    try:
        return _checked(payload.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as err:
        # only the last character cut short (truncated record): still plain UTF-8
        if err.reason == "unexpected end of data" and err.start >= len(payload) - 3:
            return _checked(payload[: err.start].decode("utf-8"), "utf-8")
    text = _decode_utf8_lenient(payload)
    if text is not None:
        return _checked(text, "utf-8-lenient")
    for how, codec in (("http", charset_from_content_type(content_type)), ("meta", charset_from_meta(payload))):
        if codec and codec != "utf-8":
            text = _decode_declared(payload, codec)
            if text is not None:
                return _checked(text, f"{how}:{codec}")
    text = _detect(payload)
    if text is not None:
        return _checked(text, "detected")
    raise NotDecodable("no encoding fits the payload")


def _checked(text: str, how: str) -> tuple[str, str]:
    # binary or mis-decoded payloads are garbage throughout: head and tail tell
    sample = text if len(text) <= _GARBAGE_SAMPLE else text[: _GARBAGE_SAMPLE // 2] + text[-_GARBAGE_SAMPLE // 2 :]
    garbage = len(_GARBAGE.findall(sample))
    if sample and garbage > _MAX_GARBAGE_SHARE * len(sample):
        raise NotDecodable(f"{garbage} of {len(sample)} characters sampled are control or replacement characters ({how})")
    return text, how
