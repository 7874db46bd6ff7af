"""URL safety filter, run on the WARC records before extraction (cheap: the URL alone decides).

Follows datatrove's URLFilter (FineWeb's URL filter) with its shipped lists, with these changes:
- the host and every parent domain are looked up (a.b.example.com is blocked when example.com or
  b.example.com is listed; the UT1 list also lists whole adult TLDs: .xxx .porn .sex .adult),
  where datatrove looks up only the registered domain and the full host;
- UT1's URL list is matched without the scheme (its entries have none, so datatrove's
  `url in block_listed_url` with the scheme never matches) and by path prefix, as UT1 means it;
- words are matched in the lower-cased URL (datatrove splits the URL as is, so "PORN" passed);
- banned sub-words are searched in the URL without its scheme ("https" + "exy..." made "sexy").
"""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.domain_blocklist import HashedSet, hash_key, load_ut1, normalize_domain
from pipeline.assets import datatrove_assets_dir
from pipeline.stage import Filter, Resources, StageConfig

log = logging.getLogger(__name__)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HOST_OK = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def normalize_word(w: str) -> str:
    """datatrove's list normalisation: letters and digits only, lower-case ("blow job" -> "blowjob")."""
    return _NON_ALNUM.sub("", w.lower())


def read_word_list(path) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {n for line in f if not line.startswith("#") and (n := normalize_word(line))}


def parse_url(url: str) -> tuple[str, str, str] | None:
    """(host, path, rest) of an absolute URL; host is lower-case, IDNA-encoded, without "www.";
    rest is the URL without its scheme, lower-cased. None: not a usable URL."""
    url = url.strip()
    if not _SCHEME.match(url):  # "example.com/x", as some corpora store URLs: read as http
        url = "http://" + url.lstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    host = host.rstrip(".")
    if ":" in host:  # IPv6 literal: only the whole address can be listed
        return host, parts.path, url.lower().split(":", 1)[1]
    host = normalize_domain(host)
    if len(host) > 253 or not _HOST_OK.fullmatch(host):  # includes IDNs that do not encode
        return None
    return host, parts.path, url.lower().split(":", 1)[1]


def domain_candidates(host: str) -> list[str]:
    """The host and each parent domain, down to the top-level domain (an IPv4/IPv6 host: itself)."""
    if ":" in host or _IPV4.fullmatch(host):
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def url_candidates(host: str, path: str) -> list[str]:
    """host/path and each of its parent paths, as UT1's URL list is matched (by path prefix)."""
    segments = [s for s in path.split("/") if s]
    return [host + "/" + "/".join(segments[: i + 1]) for i in range(len(segments))]


class UrlSafetyConfig(StageConfig):
    # The UT1 adult-domain list shipped in datatrove (FineWeb's URL filter): reason adult-domain,
    # and its URL list: reason adult-url.
    use_ut1: bool = True
    # Further domains to block (harmful, PII-heavy sites); a listed domain blocks its subdomains.
    blocked_domains: list[str] = []
    # Domains (and their subdomains) that the lists above (UT1's domains and URLs, blocked_domains)
    # never block; the word rules still apply. UT1 also lists sites that are not adult ones (seen
    # on Common Crawl: nizkor.org, match.com, lrct.go.tz).
    allowed_domains: list[str] = []
    # datatrove's banned_words.txt (whole URL words), banned_subwords.txt (substrings of the URL
    # with separators removed) and soft_banned_words.txt, the lists FineWeb used.
    use_datatrove_word_lists: bool = True
    extra_banned_words: list[str] = []
    extra_banned_subwords: list[str] = []
    extra_soft_banned_words: list[str] = []
    # Words to take off the lists above (false positives on real URLs).
    allowed_words: list[str] = []
    # datatrove URLFilter's soft_word_threshold: drop a URL with at least this many distinct
    # soft-banned words.
    soft_banned_min_words: int = Field(2, ge=1)


class UrlSafety(Filter):
    name = "url-safety"
    reads = ("url",)
    writes = ()
    # the UT1 domains are a memory-mapped 36 MB array shared by the workers of a node
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = UrlSafetyConfig

    def setup(self) -> None:
        c = self.config
        self._ut1 = load_ut1(self.ctx.cache_dir if self.ctx else None) if c.use_ut1 else None
        self._blocked = HashedSet.build(normalize_domain(d) for d in c.blocked_domains)
        self._allowed = HashedSet.build(normalize_domain(d) for d in c.allowed_domains)
        words = subwords = soft = set()
        if c.use_datatrove_word_lists:
            assets = datatrove_assets_dir()
            words = read_word_list(assets / "banned_words.txt")
            subwords = read_word_list(assets / "banned_subwords.txt")
            soft = read_word_list(assets / "soft_banned_words.txt")
        allowed = {normalize_word(w) for w in c.allowed_words}
        norm = lambda ws: {n for w in ws if (n := normalize_word(w))}  # noqa: E731
        self._words = (words | norm(c.extra_banned_words)) - allowed
        # sorted: the reason names the first listed sub-word found, the same on every run
        self._subwords = sorted((subwords | norm(c.extra_banned_subwords)) - allowed)
        self._soft = (soft | norm(c.extra_soft_banned_words)) - allowed

    def decide(self, batch: pa.Table) -> list[str | None]:
        urls = batch.column("url").to_pylist()
        reasons: list[str | None] = [None] * len(urls)
        # Domain lookups for the whole batch at once: every candidate's hash, one searchsorted.
        owners, hashes = [], []
        parsed: list[tuple[str, str, str] | None] = [None] * len(urls)
        for i, url in enumerate(urls):
            if url is None or not url.strip():
                continue  # no URL to judge: kept
            p = parse_url(url)
            if p is None:
                reasons[i] = "invalid-url"
                continue
            parsed[i] = p
            for cand in domain_candidates(p[0]):
                owners.append(i)
                hashes.append(hash_key(cand))
        owners_a = np.asarray(owners, dtype=np.int64)
        hashes_a = np.asarray(hashes, dtype=np.uint64)
        allowed = set(owners_a[self._allowed.contains(hashes_a)].tolist())
        adult = set(owners_a[self._ut1.domains.contains(hashes_a)].tolist()) if self._ut1 else set()
        blocked = set(owners_a[self._blocked.contains(hashes_a)].tolist())
        for i, p in enumerate(parsed):
            if p is not None:
                reasons[i] = self._decide_one(p, i in allowed, i in adult, i in blocked)
        n_invalid = reasons.count("invalid-url")
        if n_invalid:
            log.warning(
                "url-safety: %d of %d records have an invalid URL (dropped as invalid-url)", n_invalid, len(urls)
            )
        return reasons

    def _decide_one(self, parsed: tuple[str, str, str], allowed: bool, adult: bool, blocked: bool) -> str | None:
        host, path, rest = parsed
        if not allowed:
            if adult:
                return "adult-domain"
            if self._ut1 is not None and any(u in self._ut1.urls for u in url_candidates(host, path)):
                return "adult-url"
            if blocked:
                return "blocked-domain"
        url_words = set(_NON_ALNUM.split(rest))
        hard = self._words.intersection(url_words)
        if hard:
            return f"banned-url-word:{min(hard)}"
        if len(self._soft.intersection(url_words)) >= self.config.soft_banned_min_words:
            return "soft-banned-url-words"
        squashed = _NON_ALNUM.sub("", rest)
        for sub in self._subwords:
            if sub in squashed:
                return f"banned-url-subword:{sub}"
        return None
