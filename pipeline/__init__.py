"""The spine of the curation pipeline: record contract, stage interface, config, runner."""
