"""Connecting to (or starting) Ray, with the dashboard bound to loopback unless configured."""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# where a dashboard we start listens: loopback, so that nothing on the network can submit jobs to
# it (the dashboard has no authentication); another host only by saying so
DASHBOARD_HOST_ENV = "CURATE_RAY_DASHBOARD_HOST"
DEFAULT_DASHBOARD_HOST = "127.0.0.1"


def dashboard_host() -> str:
    return os.environ.get(DASHBOARD_HOST_ENV) or DEFAULT_DASHBOARD_HOST


def quiet_ray_data(shuffle: str = "sort") -> None:
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    ctx = DataContext.get_current()
    # Ray 2.60's default hash shuffle costs seconds per shuffle on a small cluster (MinHash alone
    # runs 5+ shuffles: 79 s against 7.9 s with the sort shuffle on 1,593 documents here).
    ctx.shuffle_strategy = {
        "sort": ShuffleStrategy.SORT_SHUFFLE_PULL_BASED,
        "hash": ShuffleStrategy.HASH_SHUFFLE,
    }[shuffle]
    ctx.enable_progress_bars = False
    # Ray 2.60's V2 parquet datasource starts footer-reader actors (a worker process each) for every
    # read: 20 of 106 CPU s of a run on the shared WARC files (docs/design.md)
    ctx.use_datasource_v2 = False
    ctx.print_on_execution_start = False
    # keep Ray Data from reordering blocks: downstream sorts anyway, but stable order eases debugging
    ctx.execution_options.preserve_order = True


def init_ray(
    address: str | None = None, num_cpus: int | None = None, shuffle: str = "sort", dashboard: bool = False
) -> None:
    """Connect to `address` (config) or RAY_ADDRESS (set by `ray job submit`); with neither,
    start a private local Ray. Never attach to whatever Ray instance happens to run on this
    machine (`ray.init()`'s default): another driver's local instance can vanish under us.
    Use address "auto" to join a cluster started with `ray start` on this machine. A private Ray
    starts no dashboard unless `dashboard`, and then binds it to dashboard_host(). Returns whether
    this call connected (False: Ray was initialised already, by a caller who ends it)."""
    import ray

    if ray.is_initialized():
        quiet_ray_data(shuffle)
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs = dict(log_to_driver=True, configure_logging=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        if dashboard:
            kwargs["dashboard_host"] = dashboard_host()
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard, **kwargs)
    quiet_ray_data(shuffle)
    log.info("ray resources: %s", ray.cluster_resources())
    return True
