"""What a run writes: token ids (`tokenize`), Megatron shards (`shard`), the ledger of every record."""
