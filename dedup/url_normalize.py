"""URL normalisation for exact URL dedup: two URLs that normalise equal name the same page.

Each step is a switch, because each one trades recall for the risk of merging distinct pages
(e.g. a site whose paths are case-sensitive, or whose `ref=` parameter selects content). The
query string is filtered and sorted on its raw `name=value` segments, never decoded and
re-encoded, so `a%20b` and `a+b` stay as the site wrote them.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pipeline.stage import StageConfig

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}

# Click and campaign identifiers appended by ad networks, mail tools and social sites: they never
# select content (lists as in the ClearURLs and Neat-URL rule sets).
TRACKING_PARAMS = (
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
    "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "rb_clickid", "s_cid", "wickedid",
)
TRACKING_PREFIXES = ("utm_",)


class UrlNormalization(StageConfig):
    lowercase_scheme_host: bool = True  # RFC 3986 6.2.2.1: scheme and host are case-insensitive
    drop_default_ports: bool = True  # RFC 3986 6.2.3: :80 on http is the same authority
    drop_fragment: bool = True  # the fragment is never sent to the server: same payload
    drop_tracking_params: bool = True
    tracking_params: tuple[str, ...] = TRACKING_PARAMS
    tracking_prefixes: tuple[str, ...] = TRACKING_PREFIXES
    sort_query: bool = True  # parameter order does not select content on practically all sites
    strip_trailing_slash: bool = True  # /a/ and /a serve the same page on practically all sites


def _is_tracking(segment: str, names: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    name = unquote_plus(segment.split("=", 1)[0]).lower()
    return name in names or name.startswith(prefixes)


def normalize_url(url: str | None, opts: UrlNormalization = UrlNormalization()) -> str | None:
    """The normal form of `url`; None for a missing or blank URL. A URL that `urlsplit` rejects
    (e.g. an unclosed IPv6 bracket) is returned stripped but otherwise as written, so it still
    dedups against exact copies of itself."""
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as e:
        log.debug("URL not normalised (%s), deduplicated as written: %r", e, url)
        return url
    scheme, netloc, path, query, fragment = parts
    if opts.lowercase_scheme_host:
        scheme = scheme.lower()
        userinfo, at, hostport = netloc.rpartition("@")
        netloc = userinfo + at + hostport.lower()
    if opts.drop_default_ports and port is not None and DEFAULT_PORTS.get(scheme.lower()) == port:
        netloc = netloc[: netloc.rfind(":")]
    if opts.drop_fragment:
        fragment = ""
    if query and (opts.drop_tracking_params or opts.sort_query):
        segments = [s for s in query.split("&") if s]
        if opts.drop_tracking_params:
            names = frozenset(n.lower() for n in opts.tracking_params)
            prefixes = tuple(p.lower() for p in opts.tracking_prefixes)
            segments = [s for s in segments if not _is_tracking(s, names, prefixes)]
        if opts.sort_query:
            segments.sort()
        query = "&".join(segments)
    if opts.strip_trailing_slash:
        path = path.rstrip("/")
    return urlunsplit((scheme, netloc, path, query, fragment))
