"""The Llama 3 data mix: bucket assignment (`assign-bucket`), topic downsampling
(`downsample-topics`), token-share sampling and the annealing set (`mix`); the shard stage
(pipeline/output/shards.py) writes one folder of shards per bucket plus `shards/anneal/`."""
