"""Model scorers and classifiers: language ID, quality, code, reasoning, topic."""
