"""Where the classifiers keep what they make outside a run's output folder.

- `default_cache_dir()`: the node-local cache (`$XDG_CACHE_HOME/llama3-curate`, else
  `~/.cache/llama3-curate`) for what is derived from installed assets: the judge GGUF converted
  for transformers. Every node rebuilds its own; it is never shared.
- labels and artifacts live under a *shared* root instead (a run's `ctx.shared`: a local folder or
  an object-store URI every node reaches): `<shared>/judge/label-cache/` (classifiers/judge/cache.py)
  and `<shared>/artifacts/<scorer>/<version>/` (classifiers/artifacts.py).
"""
from __future__ import annotations

from pipeline.assets import default_cache_dir  # noqa: F401  (the spine's one definition)
