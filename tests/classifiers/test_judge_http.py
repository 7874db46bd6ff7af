"""The OpenAI-compatible backend against a scripted server on 127.0.0.1: logprob parsing,
retries with backoff, timeouts, missing logprobs, rejected documents, and the API key (sent in
the header, found nowhere else)."""
import math
import time

import pytest

from classifiers.judge import JudgeConfig, JudgeError, build_judge
from classifiers.judge.stage import JudgeStage
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext, run_map_stage_local
from tests.judge_fakes import QUALITY_TOP, FakeOpenAIServer, chat_response, completion_response

FAKE_KEY = "sk-test-0123456789-judge-fake-key"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr("classifiers.judge.http_backend._BACKOFF_S", 0.01)


def judge_for(server, tmp_path, **config):
    config = {"backend": "openai", "base_url": server.base_url, "model": "fake", "cache_dir": str(tmp_path), **config}
    return build_judge(JudgeConfig(**config))


def chat_ok(path, body, n):
    if path == "/chat/completions":
        return 200, chat_response(QUALITY_TOP), 0
    return 404, {"error": "not found"}, 0


def test_label_tokens_are_renormalised_from_top_logprobs(tmp_path):
    with FakeOpenAIServer(chat_ok) as server:
        judge = judge_for(server, tmp_path)
        (score,) = judge.score(["a page"], "quality")
        judge.close()
    body = next(b for p, _, b in server.requests if p == "/chat/completions")
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 20
    # "3": 0.6, "4" and " 4": 0.1 + 0.2, "The" is not a label: renormalised over 0.9
    assert score.probs["3"] == pytest.approx(0.6 / 0.9, abs=1e-6) and score.probs["4"] == pytest.approx(0.3 / 0.9, abs=1e-6)
    assert score.label == "3" and score.expected == pytest.approx((3 * 0.6 + 4 * 0.3) / 0.9, abs=1e-5)
    assert score.model == judge.model_id == "openai:fake"


def test_retries_with_backoff_then_succeeds(tmp_path):
    def flaky(path, body, n):
        if path == "/chat/completions" and n < 2:
            return (503, {"error": "overloaded"}, 0) if n == 0 else (429, {"error": "slow down"}, 0)
        return chat_ok(path, body, n)

    with FakeOpenAIServer(flaky) as server:
        judge = judge_for(server, tmp_path, max_retries=2)
        assert judge.score(["x"], "quality")[0].label == "3"
    assert server.counts["/chat/completions"] == 3


def test_gives_up_after_retries_and_on_timeouts(tmp_path):
    with FakeOpenAIServer(lambda p, b, n: (500, {"error": "boom"}, 0)) as server:
        judge = judge_for(server, tmp_path, max_retries=1)
        with pytest.raises(JudgeError, match="failed after 2 tries .*HTTP 500"):
            judge.score(["x"], "quality")
    with FakeOpenAIServer(lambda p, b, n: (200, chat_response(QUALITY_TOP), 2.0)) as server:
        judge = judge_for(server, tmp_path, max_retries=1, timeout_s=0.2)
        t0 = time.monotonic()
        with pytest.raises(JudgeError, match="failed after 2 tries .*Timeout"):
            judge.score(["x"], "quality")
        assert time.monotonic() - t0 < 2.0  # bounded by the timeout, not by the slow server


def test_falls_back_to_completions_then_fails_clearly(tmp_path):
    def chat_without_logprobs(path, body, n):
        if path == "/chat/completions":
            return 200, chat_response(None), 0
        return 200, completion_response({" 5": math.log(0.5), " 1": math.log(0.5)}), 0

    with FakeOpenAIServer(chat_without_logprobs) as server:
        judge = judge_for(server, tmp_path)
        (score,) = judge.score(["x"], "quality")
        assert score.expected == pytest.approx(3.0) and score.label == "1"
        judge.score(["y"], "quality")
    # chat is tried once; after that the judge stays on /completions
    assert server.counts["/chat/completions"] == 1 and server.counts["/completions"] == 2
    assert "Answer:" in server.requests[-1][2]["prompt"]

    with FakeOpenAIServer(lambda p, b, n: (200, chat_response(None) if "chat" in p else completion_response(None), 0)) as server:
        judge = judge_for(server, tmp_path / "second")  # a fresh cache: "x" is labelled in the first
        with pytest.raises(JudgeError, match="no logprobs on /chat/completions nor /completions"):
            judge.score(["x"], "quality")
        strict = judge_for(server, tmp_path / "second", api="chat")
        with pytest.raises(JudgeError, match="chat/completions returned no logprobs"):
            strict.score(["x"], "quality")


def test_rejected_document_is_unlabelled_not_fatal(tmp_path):
    def reject_long(path, body, n):
        if path == "/chat/completions" and "LONG" in body["messages"][1]["content"]:
            return 400, {"error": "context length exceeded"}, 0
        return chat_ok(path, body, n)

    with FakeOpenAIServer(reject_long) as server:
        judge = judge_for(server, tmp_path)
        short, long = judge.score(["short", "LONG"], "quality")
    assert not short.failed and long.failed


def test_multi_token_labels_fail_at_start(tmp_path):
    def tokenizer(path, body, n):
        if path == "/tokenize":  # vLLM's shape, with a BOS always added; "5" splits in two
            text = body.get("prompt", "")
            ids = [1] + ([7, 8] if text == "5" else [9] if text else [])
            return 200, {"tokens": ids, "count": len(ids)}, 0
        return chat_ok(path, body, n)

    with FakeOpenAIServer(tokenizer) as server:
        judge = judge_for(server, tmp_path)
        with pytest.raises(JudgeError, match=r"labels \['5'\] are not single tokens"):
            judge.score(["x"], "quality")
        assert "/chat/completions" not in server.counts


def test_api_key_is_sent_but_never_written(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CURATE_JUDGE_API_KEY", FAKE_KEY)
    caplog.set_level("DEBUG")

    def needs_key(path, body, n):
        if path == "/models":
            return 200, {"data": [{"id": "served-model"}]}, 0
        return chat_ok(path, body, n)

    with FakeOpenAIServer(needs_key) as server:
        ctx = RunContext(output_dir=str(tmp_path / "out"), stage_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
        stage = JudgeStage(JudgeStage.Config(backend="openai", base_url=server.base_url, tasks=["quality", "code"]), ctx)
        kept, _ = run_map_stage_local(stage, documents_from_rows([{"id": "a", "text": "one"}, {"id": "b", "text": "two"}]))
        stage.judge.close()
    assert {h.get("Authorization") for _, h, _ in server.requests} == {f"Bearer {FAKE_KEY}"}
    assert stage.judge.model_id == "openai:served-model"
    assert FAKE_KEY not in repr(stage.config) and FAKE_KEY not in caplog.text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.parent.name == "label-cache" for p in written)
    for p in written:
        assert FAKE_KEY.encode() not in p.read_bytes(), p
    assert FAKE_KEY not in kept.to_pandas().to_csv()
