"""MinHash signatures of word n-gram shingles, computed for a whole batch in numpy.

The permutation schemes are datasketch's, bit for bit (tests compare with `datasketch.MinHash`):
- "affine32" (datasketch >= 2.0 default): h = fmix32(hash32(shingle)); value_k = a_k*h + b_k
  mod 2^32, a_k odd, so each permutation is a bijection.
- "legacy" (datasketch < 2.0): value_k = ((a_k*h + b_k) mod (2^61 - 1)) & 0xFFFFFFFF, with the
  product wrapping mod 2^64 exactly as datasketch's uint64 numpy arithmetic does.
Parameters a, b come from `np.random.RandomState(seed)` drawn as datasketch draws them.

Shingle hashes ("hash" option):
- "sha1": datasketch's default `sha1_hash32` of the UTF-8 shingle "w1 w2 ... wn" (one hashlib
  call per shingle, in Python).
- "xxh3": each distinct word of the batch is hashed once with xxh3-64; a shingle's hash is a
  position-weighted sum of its word hashes, finalised with fmix64 and cut to 32 bits, all in
  numpy. `xxh3_shingle_hash` is the same function on one shingle string, usable as datasketch's
  `hashfunc`, so this mode is checked against datasketch too.
Speedup over datasketch comes from hashing words once per batch and from one (shingles x perms)
numpy pass per chunk of documents instead of one per document.
"""
from __future__ import annotations

import functools
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

SCHEMES = ("affine32", "legacy")
HASHES = ("xxh3", "sha1")
MERSENNE = np.uint64((1 << 61) - 1)
MAX32 = np.uint64(0xFFFFFFFF)
# shingles per numpy pass: 16k x 128 perms x 8 bytes = 16 MiB of temporaries (legacy scheme)
CHUNK = 16384

# odd 64-bit multipliers, one per word position in a shingle (splitmix64 outputs of 1..64, |1)
_POS_MULT = []
_x = 0
for _ in range(64):
    _x = (_x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    _z = _x
    _z = ((_z ^ (_z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    _z = ((_z ^ (_z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    _POS_MULT.append((_z ^ (_z >> 31)) | 1)
POS_MULT = np.array(_POS_MULT, dtype=np.uint64)
MAX_NGRAM = len(_POS_MULT)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (an avalanching bijection), elementwise on uint64."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, as datasketch applies it in the affine32 scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch's `MinHash(num_perm, seed, scheme)`."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [(gen.randint(1, MERSENNE, dtype=np.uint64), gen.randint(0, MERSENNE, dtype=np.uint64)) for _ in range(num_perm)],
            dtype=np.uint64,
        ).T
        return ab[0].copy(), ab[1].copy()
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a, b
    raise ValueError(f"unknown MinHash scheme {scheme!r}; known: {SCHEMES}")


def word_lists(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Normalised words of each text: lower-cased, Unicode punctuation (\\p{P}) replaced by a
    space (so "end.Next" is two words), split on whitespace runs. A null text has no words."""
    t = pc.fill_null(texts, "")
    t = pc.utf8_lower(t)
    t = pc.replace_substring_regex(t, r"\p{P}+", " ")
    # Arrow's split yields empty words at leading/trailing whitespace, and [""] for "": trim
    # first and split only non-empty strings (a null splits to no words)
    t = pc.utf8_trim_whitespace(t)
    t = pc.if_else(pc.equal(t, ""), pa.scalar(None, pa.string()), t)
    words = pc.utf8_split_whitespace(t)
    return words.combine_chunks() if isinstance(words, pa.ChunkedArray) else words


def shingle_counts(lengths: np.ndarray, n: int) -> np.ndarray:
    """Shingles per document: L-n+1 n-grams; a text of 1..n-1 words is one short shingle (so
    short texts still dedup); an empty text has none."""
    return np.where(lengths >= n, lengths - n + 1, (lengths > 0).astype(lengths.dtype))


def shingles(text: str | None, n: int = 5) -> list[bytes]:
    """The shingles of one text as UTF-8 bytes "w1 w2 ... wn" (what datasketch is fed in tests)."""
    words = word_lists(pa.array([text], pa.string()))[0].as_py() or []
    if not words:
        return []
    k = min(n, len(words))
    return [" ".join(words[i : i + k]).encode("utf-8") for i in range(len(words) - k + 1)]


def sha1_hash32(data: bytes) -> int:
    """datasketch.hashfunc.sha1_hash32."""
    return int.from_bytes(hashlib.sha1(data).digest()[:4], "little")


def xxh3_shingle_hash(shingle: bytes) -> int:
    """The "xxh3" mode's hash of one shingle string, as a datasketch `hashfunc`."""
    h = 0
    for j, w in enumerate(shingle.split(b" ")):
        h = (h + xxhash.xxh3_64_intdigest(w) * _POS_MULT[j]) & 0xFFFFFFFFFFFFFFFF
    return int(fmix64(np.array([h], dtype=np.uint64))[0] >> np.uint64(32))


def _xxh3_hashes(words: pa.ListArray, counts: np.ndarray, n: int) -> np.ndarray:
    offsets = words.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    flat = words.flatten()
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64)
    enc = flat.dictionary_encode()
    uniq = enc.dictionary.to_pylist()
    word_hash = np.fromiter((xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass")) for w in uniq), dtype=np.uint64, count=len(uniq))
    hw = np.concatenate([word_hash[enc.indices.to_numpy()], np.zeros(n, dtype=np.uint64)])
    total = int(counts.sum())
    first = np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.repeat(offsets[:-1], counts) + (np.arange(total) - first)
    width = np.repeat(np.minimum(lengths, n), counts)
    h = np.zeros(total, dtype=np.uint64)
    for j in range(n):
        h += np.where(j < width, hw[starts + j] * POS_MULT[j], np.uint64(0))
    return fmix64(h) >> np.uint64(32)


def _shingle_strings(words: pa.ListArray, counts: np.ndarray, n: int) -> pa.Array:
    """All shingles "w1 w2 ... wk" of a batch as one Arrow array, in document order, built by
    Arrow's element-wise join of n shifted word columns (short texts: one list join each)."""
    offsets = words.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    flat = words.flatten()
    full = lengths >= n
    out = pa.nulls(int(counts.sum()), pa.string())
    starts = np.repeat(offsets[:-1][full], counts[full]) + (
        np.arange(int(counts[full].sum())) - np.repeat(np.cumsum(counts[full]) - counts[full], counts[full])
    )
    long_sh = pc.binary_join_element_wise(*[flat.take(pa.array(starts + j)) for j in range(n)], " ")
    short = (lengths > 0) & ~full
    short_sh = pc.binary_join(words.filter(pa.array(short)), " ")
    # place both in document order: a short text has exactly one shingle
    is_long = np.repeat(full, counts)
    order = np.empty(len(is_long), dtype=np.int64)
    order[is_long] = np.arange(int(is_long.sum()))
    order[~is_long] = len(long_sh) + np.arange(int((~is_long).sum()))
    return pa.concat_arrays([long_sh, short_sh]).take(pa.array(order)) if len(order) else out


def _sha1_hashes(words: pa.ListArray, counts: np.ndarray, n: int) -> np.ndarray:
    sh = _shingle_strings(words, counts, n).cast(pa.binary()).to_pylist()
    sha1 = hashlib.sha1
    digests = b"".join([sha1(x).digest()[:4] for x in sh])
    return np.frombuffer(digests, dtype="<u4").astype(np.uint64)


def shingle_hashes(texts: pa.Array | pa.ChunkedArray, n: int, hash_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(32-bit shingle hashes of all texts, concatenated, as uint64; shingles per text)."""
    if not 1 <= n <= MAX_NGRAM:
        raise ValueError(f"n-gram size must be in 1..{MAX_NGRAM}, got {n}")
    words = word_lists(texts)
    lengths = np.diff(words.offsets.to_numpy().astype(np.int64))
    counts = shingle_counts(lengths, n)
    if hash_name == "xxh3":
        return _xxh3_hashes(words, counts, n), counts
    if hash_name == "sha1":
        return _sha1_hashes(words, counts, n), counts
    raise ValueError(f"unknown shingle hash {hash_name!r}; known: {HASHES}")


def _permute(hv: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: str) -> np.ndarray:
    """Permuted hash values, (perms x shingles): this layout makes the per-document min a
    reduceat along contiguous rows, ~10x faster than along columns."""
    if scheme == "legacy":
        phv = np.multiply.outer(a, hv)  # wraps mod 2^64, as datasketch's uint64 arithmetic
        phv += b[:, None]
        phv %= MERSENNE
        phv &= MAX32
        return phv
    phv = np.multiply.outer(a, fmix32(hv.astype(np.uint32)))
    phv += b[:, None]
    return phv


def minhash_signatures(hv: np.ndarray, counts: np.ndarray, num_perm: int, seed: int, scheme: str) -> np.ndarray:
    """Signatures (docs x num_perm, uint32) from shingle hashes grouped by `counts`. A document
    without shingles keeps the all-0xFFFFFFFF signature of an empty datasketch MinHash."""
    a, b = permutations(num_perm, seed, scheme)
    sig = np.full((len(counts), num_perm), 0xFFFFFFFF, dtype=np.uint32)
    doc_of = np.repeat(np.arange(len(counts)), counts)
    for s0 in range(0, len(hv), CHUNK):
        s1 = min(len(hv), s0 + CHUNK)
        phv = _permute(hv[s0:s1], a, b, scheme)
        d = doc_of[s0:s1]
        seg = np.flatnonzero(np.concatenate([[True], d[1:] != d[:-1]]))
        mins = np.minimum.reduceat(phv, seg, axis=1).T.astype(np.uint32)
        docs = d[seg]
        # a document cut by a chunk boundary gets the min of both parts
        sig[docs] = np.minimum(sig[docs], mins)
    return sig


def signatures(texts: pa.Array | pa.ChunkedArray, *, n: int = 5, num_perm: int = 128, seed: int = 1,
               scheme: str = "affine32", hash_name: str = "xxh3") -> tuple[np.ndarray, np.ndarray]:
    """(signatures, shingles per text) of a batch of texts."""
    hv, counts = shingle_hashes(texts, n, hash_name)
    return minhash_signatures(hv, counts, num_perm, seed, scheme), counts


def jaccard_estimate(sig1: np.ndarray, sig2: np.ndarray) -> float:
    return float(np.count_nonzero(sig1 == sig2)) / len(sig1)


# bottom-k sketches (verification) --------------------------------------------------------------

EMPTY = np.uint32(0xFFFFFFFF)  # padding of sketches of documents with fewer than k shingles


def bottom_k(hv: np.ndarray, counts: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(docs x k) uint32: each document's k smallest distinct seeded 32-bit shingle hashes,
    ascending, padded with EMPTY. One hash per shingle instead of one per permutation, and
    sampling without replacement: a tighter Jaccard estimate than k-permutation MinHash, exact
    for documents of at most k shingles (a hash equal to EMPTY, p = 2^-32, is lost)."""
    mix = np.uint64((seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF)
    h = (fmix64(hv ^ mix) >> np.uint64(32)).astype(np.uint32)
    doc = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((h, doc))
    h, doc = h[order], doc[order]
    distinct = np.ones(len(h), dtype=bool)
    distinct[1:] = (h[1:] != h[:-1]) | (doc[1:] != doc[:-1])
    h, doc = h[distinct], doc[distinct]
    pos = np.arange(len(h)) - np.searchsorted(doc, doc)  # rank within its document
    out = np.full((len(counts), k), EMPTY, dtype=np.uint32)
    first_k = pos < k
    out[doc[first_k], pos[first_k]] = h[first_k]
    return out
