import textwrap

import pytest

from pipeline.config import ConfigError, load_config, validate

BASE = {"input": {"paths": ["x.warc.gz"]}, "pipeline": ["langid"]}


def test_demo_and_commoncrawl_configs_load():
    demo = load_config("configs/demo.yaml")
    assert demo.pipeline[0] == "read-warc" and demo.pipeline[-1] == "shard"
    assert demo.input.paths == ["../demo/sample.warc.gz"]
    load_config("configs/commoncrawl.yaml")


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError) as e:
        validate({**BASE, "pipelines": []}, source="t.yaml")
    assert "pipelines" in str(e.value) and "t.yaml" in str(e.value)


def test_bad_stage_value_names_key_and_value():
    with pytest.raises(ConfigError) as e:
        validate({**BASE, "stages": {"langid": {"min_score": "high"}}}, source="t.yaml")
    msg = str(e.value)
    assert "stages.langid.min_score" in msg and "'high'" in msg


def test_out_of_range_threshold_rejected():
    with pytest.raises(ConfigError) as e:
        validate({**BASE, "stages": {"langid": {"min_score": 1.5}}}, source="t.yaml")
    assert "stages.langid.min_score" in str(e.value) and "1.5" in str(e.value)


def test_unknown_stage_param_rejected():
    with pytest.raises(ConfigError) as e:
        validate({**BASE, "stages": {"langid": {"min_scor": 0.2}}}, source="t.yaml")
    assert "stages.langid.min_scor" in str(e.value)


def test_unknown_stage_name_rejected():
    with pytest.raises(ConfigError) as e:
        validate({**BASE, "pipeline": ["langid", "extractt"]}, source="t.yaml")
    assert "extractt" in str(e.value)


def test_extends_merges_mappings(tmp_path):
    (tmp_path / "base.yaml").write_text(
        textwrap.dedent(
            """
            run: {seed: 1, batch_size: 8}
            input: {paths: [a.warc.gz]}
            pipeline: [langid]
            stages: {langid: {min_score: 0.5, max_chars: 300}}
            """
        )
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nstages: {langid: {min_score: 0.1}}\nrun: {seed: 7}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg.run.seed == 7 and cfg.run.batch_size == 8
    assert cfg.stage_config("langid").min_score == 0.1
    assert cfg.stage_config("langid").max_chars == 300


def test_input_glob_without_match_is_an_error(tmp_path):
    (tmp_path / "c.yaml").write_text("input: {paths: [nothing-*.warc.gz]}\npipeline: [langid]\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "c.yaml").input_files()
    assert "nothing-*.warc.gz" in str(e.value)


def test_semantic_dedup_config_is_the_base_pipeline_plus_one_stage():
    # lists replace in `extends`, so configs/semantic-dedup.yaml repeats the pipeline: it must not drift
    base = load_config("configs/commoncrawl.yaml").pipeline
    semantic = load_config("configs/semantic-dedup.yaml").pipeline
    assert [s for s in semantic if s != "dedup-semantic"] == base
    assert semantic.index("dedup-semantic") == semantic.index("dedup-minhash") + 1


def test_base_config_restates_the_code_defaults():
    # one source of truth: a value in configs/base.yaml's stages is the stage's own default
    # (its provenance beside it in both), so running a stage alone decides as the pipeline does
    import yaml

    from pipeline.registry import stage_class

    stages = yaml.safe_load(open("configs/base.yaml"))["stages"]
    differ = []
    for name, params in stages.items():
        cfg = stage_class(name).Config
        required = {k: v for k, v in (params or {}).items() if cfg.model_fields[k].is_required()}
        defaults = cfg(**required)
        for key, value in (params or {}).items():
            if key not in required and getattr(cfg(**required, **{key: value}), key) != getattr(defaults, key):
                differ.append(f"{name}.{key}: config {value!r}, code {getattr(defaults, key)!r}")
    assert differ == []
