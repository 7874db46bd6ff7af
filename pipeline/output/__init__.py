"""What a run writes: token ids (`tokenize`), Megatron shards (`shard`) and the ledger of every record."""
