"""Language codes: which lid.176 label a text labelled with an ISO 639-3 code (and a BCP 47 tag)
should get, and lingua's languages as lid.176 labels. lid.176 names languages by their Wikipedia
code: ISO 639-1 where one exists, else ISO 639-3, plus a few Wikipedia-only and retired codes."""
from __future__ import annotations

import unicodedata
from collections import Counter

# ISO 639-3 codes whose lid.176 label is neither their ISO 639-1 code nor themselves. Individual
# languages map to their macro-language's label only where that label is the Wikipedia edition
# written in them (CLDR's macro-language aliases), never to a merely related language.
ISO3_TO_LID = {
    "als": "sq",  # Tosk Albanian: ISO 639-3 `als` is Albanian; lid.176's `als` is Alemannic
    "gsw": "als",  # Alemannic (Swiss German): Wikipedia's als.wikipedia.org
    "zlm": "ms",  # Malay (individual) -> msa macro-language, ms.wikipedia.org
    "zsm": "ms",  # Standard Malay
    "nob": "no",  # Norwegian Bokmål: no.wikipedia.org is Bokmål, and lid.176 has no `nb`
    "cnr": "sh",  # Montenegrin: no own label; member of Serbo-Croatian (hbs, Wikipedia `sh`)
    "hbs": "sh",
    "bho": "bh",  # Bhojpuri: bh.wikipedia.org is written in Bhojpuri
    "rgn": "eml",  # Romagnolo: `eml` (Emilian-Romagnol) was split into egl + rgn in 2009
    "egl": "eml",
    "nhn": "nah",  # Central Nahuatl: nah.wikipedia.org (collective Nahuatl code)
    "src": "sc",  # Logudorese Sardinian -> srd macro-language, sc.wikipedia.org
    "ekk": "et",
    "lvs": "lv",
    "arb": "ar",
    "pes": "fa",
    "prs": "fa",  # Dari: Persian as written in Afghanistan
    "cmn": "zh",
    "swh": "sw",
    "khk": "mn",
    "azj": "az",
    "uzn": "uz",
    "npi": "ne",
    "pbu": "ps",
    "plt": "mg",
    "ydd": "yi",
    "gug": "gn",
    "quz": "qu",
    "kmr": "ku",
    "bcl": "bcl",  # BCP 47 `bik` (Bikol macro-language) has no label; Central Bikol has
}

# (label, script) pairs lid.176 was never trained on: the language's Wikipedia edition is written
# in another script (az, tk, uz, bs: Latin; azb, ckb, ug: Arabic; mn: Cyrillic ...), so a label
# for these texts measures nothing the model could know. Scripts as Unicode character names begin.
UNMODELLED_SCRIPTS = {
    ("ms", "ARABIC"), ("vi", "CJK"), ("jv", "JAVANESE"), ("mn", "MONGOLIAN"), ("tl", "TAGALOG"),
    ("sa", "GRANTHA"), ("az", "CYRILLIC"), ("tk", "CYRILLIC"), ("uz", "CYRILLIC"), ("bs", "CYRILLIC"),
    ("azb", "LATIN"), ("ckb", "LATIN"), ("ug", "LATIN"),
}


def lid_label_for(iso6393: str, bcp47: str, lid_labels: set[str]) -> str | None:
    """The lid.176 label a text in this language should get; None if lid.176 has no label for it."""
    if iso6393 in ISO3_TO_LID:
        label = ISO3_TO_LID[iso6393]
    else:
        primary = bcp47.split("-")[0]
        label = primary if primary in lid_labels else iso6393
    return label if label in lid_labels else None


def dominant_script(text: str) -> str:
    """The script most letters of `text` are written in, as Unicode names it (LATIN, CJK ...)."""
    counts = Counter(unicodedata.name(ch, "?").split(" ")[0] for ch in text if ch.isalpha())
    return counts.most_common(1)[0][0] if counts else ""


def unmodelled_script(label: str, text: str) -> bool:
    """True when `text` is written in a script lid.176 never saw for `label` (e.g. Malay in Jawi)."""
    return (label, dominant_script(text)) in UNMODELLED_SCRIPTS


def lingua_to_lid(iso639_1: str) -> str:
    """lingua's ISO 639-1 name as lid.176 names it (lid.176 calls Bokmål `no`)."""
    code = iso639_1.lower()
    return "no" if code == "nb" else code
