"""YAML configs, validated at load. A config names the stages to run, in order, and holds one
section of parameters per stage, validated by that stage's own model. `extends:` composes files
(mappings merge key by key; lists and scalars replace). Errors name the file, the key and the value.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.registry import STAGES, stage_class
from pipeline.stage import StageConfig


class ConfigError(ValueError):
    pass


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    batch_size: int = Field(256, ge=1)
    # Ray cluster address; None: RAY_ADDRESS, else a running local cluster, else start one
    ray_address: str | None = None
    num_cpus: int | None = Field(None, ge=1)
    # Ray Data shuffle for groupby/sort: "sort" (pull-based; low fixed cost) or "hash"
    shuffle: Literal["sort", "hash"] = "sort"
    # run consecutive map stages in one Ray pass (kept/ written after the last of them)
    fuse_map_stages: bool = True
    # work units after the source: each input file's kept documents are cut into parts of at most
    # `unit_bytes` (Arrow bytes: raw HTML counts) and, when set, `unit_docs` documents; each part
    # is a unit of every later pass. Sized in bytes so that file counts stay in the thousands
    # per pass for a billion documents (tens to hundreds of MB a file; our choice)
    unit_bytes: int = Field(128 * 2**20, ge=1)
    unit_docs: int | None = Field(None, ge=1)
    # node-local cache of what is derived from installed assets (converted judge model, UT1
    # blocklist): every node rebuilds its own; None: ~/.cache/llama3-curate (or $XDG_CACHE_HOME)
    cache_dir: str | None = None
    # judge labels and trained scorer artifacts that later runs reuse: every node must reach it,
    # so it lives with the outputs. None: $CURATE_SHARED_CACHE, else OUTPUT/cache; a relative path is taken relative to
    # --output; an absolute path or URI (s3://bucket/curate-cache) lets several runs share it
    shared_cache: str | None = None


class InputSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # WARC paths or globs, local or object-store URIs (s3://, gs://); relative to the config file
    paths: list[str] = Field(min_length=1)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: RunSettings = RunSettings()
    input: InputSettings
    pipeline: list[str] = Field(min_length=1)
    stages: dict[str, dict[str, Any]] = {}
    source: str = "<memory>"
    base_dir: str = "."

    def stage_config(self, name: str) -> StageConfig:
        cls = stage_class(name)
        return cls.Config(**self.stages.get(name, {}))

    def input_files(self) -> list[str]:
        """Expand globs (local paths relative to the config's folder; object-store URIs listed
        once per pattern), sorted and de-duplicated."""
        from pipeline import storage

        files: list[str] = []
        for pattern in self.input.paths:
            if storage.is_uri(pattern):
                matches = storage.glob(pattern)
            else:
                p = pattern if os.path.isabs(pattern) else os.path.join(self.base_dir, pattern)
                matches = [os.path.abspath(m) for m in sorted(glob.glob(p))]
            if not matches:
                raise ConfigError(f"{self.source}: input.paths: {pattern!r} matches no file")
            files.extend(matches)
        return sorted(dict.fromkeys(files))


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _load_yaml(path: Path, seen: tuple = ()) -> dict:
    if path in seen:
        raise ConfigError(f"{path}: extends itself through {' -> '.join(map(str, seen))}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent:
        base = _load_yaml((path.parent / parent).resolve(), seen + (path,))
        data = _deep_merge(base, data)
    return data


def _describe(errors: list, source: str, prefix: str = "") -> str:
    lines = []
    for e in errors:
        loc = prefix + ".".join(str(p) for p in e["loc"])
        lines.append(f"{source}: {loc} = {e.get('input')!r}: {e['msg']}")
    return "\n".join(lines)


def validate(data: dict, source: str = "<memory>", base_dir: str = ".") -> PipelineConfig:
    try:
        cfg = PipelineConfig(**data, source=source, base_dir=base_dir)
    except ValidationError as e:
        raise ConfigError(_describe(e.errors(), source)) from None
    for name in cfg.pipeline:
        if name not in STAGES:
            raise ConfigError(f"{source}: pipeline: unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
    for name, params in cfg.stages.items():
        if name not in STAGES:
            raise ConfigError(f"{source}: stages.{name}: unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
        if not isinstance(params, dict):
            raise ConfigError(f"{source}: stages.{name} = {params!r}: must be a mapping")
        try:
            stage_class(name).Config(**params)
        except ValidationError as e:
            raise ConfigError(_describe(e.errors(), source, prefix=f"stages.{name}.")) from None
    return cfg


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> PipelineConfig:
    p = Path(path).resolve()
    if not p.exists():
        raise ConfigError(f"{path}: no such config file")
    data = _load_yaml(p)
    if overrides:
        data = _deep_merge(data, overrides)
    return validate(data, source=str(path), base_dir=str(p.parent))


def parse_overrides(pairs: list[str]) -> dict:
    """--set a.b=value pairs (values parsed as YAML) -> nested dict."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out
