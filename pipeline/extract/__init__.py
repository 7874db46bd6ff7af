"""Stage `extract` (stage.py) and the page-level work it runs: decoding, HTML, trafilatura, limits."""
