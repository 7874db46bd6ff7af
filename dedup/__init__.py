"""Deduplication stages on Ray Data: exact URL dedup (`dedup-url`, before extraction) and MinHash
LSH near-duplicate dedup (`dedup-minhash`, after extraction and filters). Both are global stages:
they group with Ray's hash shuffles and never collect the dataset on the driver."""
