"""Golden folders are tests by themselves: every folder named after a registered map stage is
checked with the stage's defaults, every registered filter must have one, and a new filter needs
nothing but its file and its golden folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import registry
from pipeline.stage import Filter, MapStage
from tests.golden import GOLDEN_DIR, check_golden

ROOT = Path(__file__).resolve().parent.parent
# folders whose stage needs more than its defaults: their own tests check them
CUSTOM = {
    "url-safety": "a blocklist written by the test (tests/filters/test_url_safety.py)",
    "decontaminate": "pages built from HumanEval at test time (tests/filters/test_decontaminate.py)",
}
# map stages without a golden folder yet: each needs a model or artifact to be meaningful. The
# test fails when one gains a folder (take it off) or when a new map stage has none.
NO_GOLDEN_YET = {
    "assign-bucket", "code-score", "judge", "langid", "quality-fasttext", "quality-transformer",
    "reasoning-score", "tokenize", "topic",
}


def map_stage_folders() -> list[str]:
    names = sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir())
    return [n for n in names if n in registry.STAGES and n not in CUSTOM and issubclass(registry.stage_class(n), MapStage)]


@pytest.mark.parametrize("name", map_stage_folders())
def test_golden_folder_with_the_stage_defaults(name, regen_golden):
    check_golden(registry.stage_class(name)(), name, regen_golden)


def test_every_registered_map_stage_has_a_golden_folder():
    have = {p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()}
    map_stages = {n for n in registry.STAGES if issubclass(registry.stage_class(n), MapStage)}
    filters = {n for n in map_stages if issubclass(registry.stage_class(n), Filter)}
    assert filters - have == set(), "every filter has a golden folder"
    assert map_stages - have == NO_GOLDEN_YET


SHOUT = '''"""Fixture filter written by tests/test_goldens.py: drops pages written in capitals."""
from typing import ClassVar

from pipeline.stage import Filter, StageConfig


class ShoutConfig(StageConfig):
    min_letters: int = 10


class Shout(Filter):
    name = "shout-fixture"
    reads: ClassVar[tuple[str, ...]] = ("text",)
    Config = ShoutConfig

    def decide(self, batch):
        return [self.shouting(text or "") for text in batch.column("text").to_pylist()]

    def shouting(self, text: str) -> str | None:
        letters = [c for c in text if c.isalpha()]
        return "shouting" if len(letters) >= self.config.min_letters and all(c.isupper() for c in letters) else None
'''


def test_a_new_filter_is_its_file_and_its_golden_folder(tmp_path, monkeypatch):
    module = ROOT / "filters" / "zz_fixture_shout.py"
    folder = GOLDEN_DIR / "shout-fixture"
    rows = [{"id": "calm", "text": "A quiet page about gardens."}, {"id": "loud", "text": "BUY NOW!!! BEST PRICES EVER!!!"}]
    expected = [{"decision": "kept", "id": "calm", "reason": None}, {"decision": "dropped", "id": "loud", "reason": "shouting"}]
    try:
        module.write_text(SHOUT)
        folder.mkdir()
        (folder / "input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "expected.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in expected))
        monkeypatch.setattr(registry, "STAGES", registry.discover())
        assert registry.STAGES["shout-fixture"] == "filters.zz_fixture_shout:Shout"
        assert "shout-fixture" in map_stage_folders()
        check_golden(registry.stage_class("shout-fixture")(), "shout-fixture", regen=False)
        # and its own command, in a fresh process
        src = tmp_path / "in.jsonl"
        src.write_text("".join(json.dumps({**r, "url": f"http://x/{r['id']}"}) + "\n" for r in rows))
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "shout-fixture", "--input", str(src), "--output", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout.strip().splitlines()[-1])["dropped"] == 1
    finally:
        module.unlink(missing_ok=True)
        for f in folder.glob("*"):
            f.unlink()
        if folder.exists():
            folder.rmdir()
