"""The curation pipeline: the spine at the top (record contract, stage interface, storage, config,
registry, CLI) and rooms by job (sources/, extract/, mix/, output/, report/, executor/)."""
