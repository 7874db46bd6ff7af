"""Stage hosts: long-lived Ray actors, one per CPU of the cluster, that run every resumable pass
of a run (the source and the map passes), unit by unit.

Why not a Ray Data actor pool per pass: each pool starts new worker processes that import the
stage modules and build their stages, and a Ray Data plan brings helper actors and an autoscaler
that grows the pool from one actor; on the shared WARC files that fixed cost was most of a run
(9 passes, 57 Ray worker processes started for 268 pages, bench/e2e_datatrove.py). A host is
started once per run; per pass it builds that pass's stages once (models and lists load in
`setup`, the extraction child starts) and keeps them while the pass's units run, then releases
them. Units are handed out one at a time to whichever host is free, so the pass balances itself;
what a unit writes does not depend on the host that ran it.

Hosts ask Ray for no CPU (`num_cpus=0`): they work only while the runner runs a pass, and the
global stages' Ray Data tasks between passes need the CPUs the hosts would otherwise hold. The
runner never runs a pass and a global step at once, and sizes the pool to the cluster's CPUs.

A host that dies (a killed worker, a node lost) is replaced by a new one wherever Ray can place
it, and its unit is handed out again (up to `MAX_UNIT_ATTEMPTS` times): the unit's files are
written under temporary names and renamed at commit, so a redone unit leaves the same files.
"""
from __future__ import annotations

import logging
import os
from collections import deque

from pipeline.units import PassSpec, UnitWork

log = logging.getLogger(__name__)

MAX_UNIT_ATTEMPTS = 4


class StageHost:
    """Ray actor (made remote in `HostPool`): runs the units of one pass at a time."""

    def __init__(self):
        self._key: str | None = None
        self._work: UnitWork | None = None

    def run_unit(self, spec: PassSpec, unit: str, src: str) -> dict:
        if spec.key != self._key:
            self.release()
            self._work = UnitWork(spec)
            self._key = spec.key
        return self._work.run(unit, src)

    def release(self) -> None:
        """Drop the pass's stages (models, extraction child): the next pass builds its own."""
        if self._work is not None:
            self._work.close()
        self._work, self._key = None, None

    def pid(self) -> int:
        return os.getpid()


def cluster_cpus_by_node() -> list[tuple[str, int]]:
    """(node id, whole CPUs) of every alive node with CPUs, in a stable order."""
    import ray

    nodes = [(n["NodeID"], int(n.get("Resources", {}).get("CPU", 0))) for n in ray.nodes() if n.get("Alive")]
    return sorted((node, cpus) for node, cpus in nodes if cpus > 0)


class HostPool:
    """The run's stage hosts, started on first use."""

    def __init__(self):
        self.hosts: list = []

    @staticmethod
    def _new_host(node: str | None = None):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(StageHost)
        # hard affinity: Ray's soft affinity placed every 0-CPU host on one node (seen on 2 nodes)
        opts = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)} if node else {}
        return actor.options(**opts).remote()

    def start(self) -> None:
        if self.hosts:
            return
        layout = cluster_cpus_by_node() or [(None, 1)]
        self.hosts = [self._new_host(node) for node, cpus in layout for _ in range(max(cpus, 1))]
        log.info("stage hosts: %d on %d node(s)", len(self.hosts), len(layout))

    def _replace(self, host):
        """A new host for one that died, placed wherever Ray can (its node may be gone)."""
        import ray

        ray.kill(host)
        new = self._new_host()
        self.hosts[self.hosts.index(host)] = new
        return new

    def run(self, spec: PassSpec, units: list[tuple[str, str]], limit: int | None = None) -> list[dict]:
        """Run `units` of the pass `spec` on the hosts (at most `limit` at once); per-unit stats."""
        import ray
        from ray.exceptions import RayActorError

        self.start()
        if not units:
            return []
        spec_ref = ray.put(spec)
        queue = deque(units)
        attempts: dict[str, int] = {}
        idle = list(self.hosts[: limit or len(self.hosts)])
        inflight: dict = {}
        stats: list[dict] = []
        try:
            while queue or inflight:
                while idle and queue:
                    host = idle.pop()
                    unit, src = queue.popleft()
                    inflight[host.run_unit.remote(spec_ref, unit, src)] = (host, unit, src)
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    host, unit, src = inflight.pop(ref)
                    try:
                        stats.append(ray.get(ref))
                    except RayActorError as err:
                        attempts[unit] = attempts.get(unit, 0) + 1
                        if attempts[unit] >= MAX_UNIT_ATTEMPTS:
                            raise RuntimeError(f"unit {unit} of {'+'.join(spec.names)}: its host died {attempts[unit]} times") from err
                        log.warning("unit %s of %s: its host died (%s); a new host redoes the unit",
                                    unit, "+".join(spec.names), type(err).__name__)
                        queue.appendleft((unit, src))
                        host = self._replace(host)
                    idle.append(host)
        finally:
            for ref in inflight:  # a failure above: let no unit of this pass keep running
                ray.cancel(ref, force=False)
        self.release()
        return stats

    def release(self) -> None:
        import ray

        ray.get([h.release.remote() for h in self.hosts])

    def shutdown(self) -> None:
        import ray

        for h in self.hosts:
            ray.kill(h)
        self.hosts = []
