"""The HTTP backend against a real OpenAI-compatible server: llama-cpp-python's server serving the
same SmolLM2-135M-Instruct GGUF as the local backend, on 127.0.0.1, started and always stopped
by the fixture."""
import json

import pytest

from classifiers.judge import JudgeConfig, build_judge
from tests.judge_models import cache_with_models, require_model_packages, shared_model_cache, weborganizer_docs

pytestmark = pytest.mark.slow
FAKE_KEY = "sk-llama-server-test-key-5f1c0ffee"


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed: the real-server test is skipped")
    require_model_packages()
    from classifiers.judge.llama_server import serve_gguf
    from classifiers.judge.model_store import default_gguf

    with serve_gguf(default_gguf(), n_ctx=2048) as base_url:
        yield base_url


def test_real_server_scores_like_the_local_model(llama_server, shared_data, tmp_path):
    docs = [d["text"][:600] for d in weborganizer_docs(shared_data, 3)]
    http = build_judge(JudgeConfig(backend="openai", base_url=llama_server, cache_dir=str(tmp_path / "http")))
    local = build_judge(JudgeConfig(device="cpu"), cache_dir=str(cache_with_models(tmp_path / "local", shared_model_cache())))
    try:
        for task in ("quality", "topic"):
            remote_scores, local_scores = http.score(docs, task), local.score(docs, task)
            for r, lo in zip(remote_scores, local_scores):
                assert not r.failed and sum(r.probs.values()) == pytest.approx(1.0, abs=1e-4)
                # the same weights (Q4_1 in llama.cpp, dequantised in transformers) and the same
                # chat template: the label distributions agree closely
                assert sum(abs(r.probs[k] - lo.probs[k]) for k in r.probs) < 0.25, (task, r.probs, lo.probs)
        assert http.model_calls == 6
        http.score(docs, "quality")
        assert http.model_calls == 6  # all from the cache
    finally:
        http.close()
        local.close()


def test_stage_over_real_server_never_writes_the_key(llama_server, shared_data, tmp_path, monkeypatch, caplog):
    from classifiers.judge.stage import JudgeStage
    from pipeline.schema import documents_from_rows
    from pipeline.stage import RunContext, run_map_stage_local

    monkeypatch.setenv("CURATE_JUDGE_API_KEY", FAKE_KEY)
    caplog.set_level("DEBUG")
    docs = weborganizer_docs(shared_data, 3)
    out = tmp_path / "out"
    ctx = RunContext(output_dir=str(out), stage_dir=str(out), cache_dir=str(tmp_path / "cache"))
    # chat completions: on the plain /completions prompt (no chat template) SmolLM2-135M puts no
    # digit among its top 20 next tokens, so that path is covered by the scripted server only
    config = JudgeStage.Config(backend="openai", base_url=llama_server, max_chars=500, tasks=["reasoning"])
    stage = JudgeStage(config, ctx)
    kept, _ = run_map_stage_local(stage, documents_from_rows([{"id": f"d{i}", "text": d["text"]} for i, d in enumerate(docs)]))
    stage.judge.close()
    assert all(0 <= json.loads(a)["judge_reasoning"] <= 5 for a in kept["annotations"].to_pylist())
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert FAKE_KEY.encode() not in p.read_bytes(), p
    assert FAKE_KEY not in caplog.text
