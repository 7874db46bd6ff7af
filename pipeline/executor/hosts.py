"""Stage hosts: long-lived Ray actors that run the resumable passes of a run (the source and the
map passes), unit by unit.

Why not a Ray Data actor pool per pass: each pool starts new worker processes that import the
stage modules and build their stages, and a Ray Data plan brings helper actors and an autoscaler
that grows the pool from one actor; on the shared WARC files that fixed cost was most of a run
(9 passes, 57 Ray worker processes started for 268 pages, bench/e2e_datatrove.py). Per pass a
host builds that pass's stages once (models and lists load in `setup`, the extraction child
starts) and keeps them while the pass's units run. Units are handed out one at a time to
whichever host is free, so the pass balances itself; what a unit writes does not depend on the
host that ran it.

Resources: a host reserves what its pass's stages declare (`Resources`: the most CPUs and GPUs of
any of them, the sum of their memory, since all are loaded at once), so a run shares a cluster
with other jobs without oversubscribing it; the pool holds as many hosts as each node's CPUs,
GPUs and memory fit. Consecutive passes of the same shape keep their hosts; before a global
step the runner shuts the pool down, so that step's Ray tasks get the CPUs.

A host that dies (a killed worker, a node lost) is replaced by a new one wherever Ray can place
it, and its unit is handed out again (up to `MAX_UNIT_ATTEMPTS` times), after the dropped files
the dead attempt wrote are cleared: a redone unit leaves the same files.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque

from pipeline.executor.units import PassSpec, UnitWork, clear_unit_drops

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


# what one worker process takes before any stage's own lists or models (Python, pyarrow, Ray):
# a stage's declared memory includes it, so fused stages share it once (measured worker peaks
# 160-1,070 MB, bench/stage_scaling.py)
PROCESS_BASE_GB = 0.5


def host_shape(stages: list) -> dict:
    """Ray resources of one host for a pass of `stages` (stage classes or instances): the most
    CPUs and GPUs any of them declares; memory, the largest declaration plus what the others
    declare beyond a process's base (all are loaded at once in one process)."""
    res = [s.resources for s in stages]
    declared = sorted((r.memory_gb or 0 for r in res), reverse=True)
    memory = declared[0] + sum(max(m - PROCESS_BASE_GB, 0) for m in declared[1:]) if declared else 0
    shape = {"num_cpus": max(r.num_cpus for r in res), "num_gpus": max(r.num_gpus for r in res)}
    if memory:
        shape["memory"] = int(memory * 2**30)
    return shape


def hosts_per_node(shape: dict) -> list[tuple[str, int]]:
    """(node id, hosts of `shape` that fit it) for every alive node, in a stable order."""
    import ray

    out = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        have = n.get("Resources", {})
        fits = []
        for key, res in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
            want = shape.get(key) or 0
            if want > 0:
                fits.append(int(have.get(res, 0) // want))
        count = min(fits) if fits else int(have.get("CPU", 0))
        if count > 0:
            out.append((n["NodeID"], count))
    return sorted(out)


class HostPool:
    """The stage hosts of the pass being run, started for its resource shape."""

    def __init__(self):
        self.hosts: list = []
        self.nodes: dict = {}  # host -> the node it was placed on
        self.shape: dict | None = None

    def _new_host(self, node: str | None = None):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor = ray.remote(max_restarts=0, max_task_retries=0, **self.shape)(StageHost)
        # hard affinity: Ray's soft affinity placed every host on one node (seen on 2 nodes)
        opts = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)} if node else {}
        return actor.options(**opts).remote()

    def start(self, shape: dict) -> None:
        if self.hosts and shape == self.shape:
            return
        self.shutdown()
        self.shape = shape
        layout = hosts_per_node(shape)
        if not layout:
            raise RuntimeError(f"no node of the cluster can hold a stage host needing {shape}")
        for node, count in layout:
            for _ in range(count):
                host = self._new_host(node)
                self.hosts.append(host)
                self.nodes[host] = node
        log.info("stage hosts: %d on %d node(s), each %s", len(self.hosts), len(layout), shape)

    def _replace(self, host) -> list:
        """New hosts for one that died: a new host for one that died, on the same node while that node lives (the dead host's
        reservation is free again); none when the node is gone (the pool shrinks: a new host
        elsewhere would wait forever for CPUs the other hosts hold), a fresh pool if none is left."""
        import ray

        ray.kill(host)
        node = self.nodes.pop(host, None)
        self.hosts.remove(host)
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        if node in alive:
            new = self._new_host(node)
            self.hosts.append(new)
            self.nodes[new] = node
            return [new]
        log.warning("a node of the cluster is gone: %d stage host(s) left", len(self.hosts))
        if not self.hosts:
            shape, self.shape = self.shape, None
            self.start(shape)
            return list(self.hosts)
        return []

    def run(self, spec: PassSpec, units: list[tuple[str, str]], limit: int | None = None, progress=None) -> list[dict]:
        """Run `units` of the pass `spec` on the hosts (at most `limit` at once); per-unit stats.
        A unit whose host died, or that met a transient storage error past its own retries
        (an object store restarting), is redone, up to MAX_UNIT_ATTEMPTS times."""
        import ray
        from ray.exceptions import ActorUnschedulableError, RayActorError, RayTaskError

        self.start(host_shape([cls for cls, _, _ in spec.specs]))
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
                        if progress is not None:
                            progress.unit_done(stats[-1])
                    except (RayActorError, ActorUnschedulableError, RayTaskError) as err:
                        # unschedulable: a host placed on a node that was dying when it was made
                        died = isinstance(err, (RayActorError, ActorUnschedulableError))
                        if not died and not _transient(err):
                            raise
                        attempts[unit] = attempts.get(unit, 0) + 1
                        what = "its host died" if died else f"storage error ({_cause(err)})"
                        if attempts[unit] >= MAX_UNIT_ATTEMPTS:
                            raise RuntimeError(f"unit {unit} of {'+'.join(spec.names)}: {what}, {attempts[unit]} times") from err
                        log.warning("unit %s of %s: %s; redone", unit, "+".join(spec.names), what)
                        clear_unit_drops(spec.specs, [unit])
                        queue.appendleft((unit, src))
                        if died:
                            idle.extend(self._replace(host))
                            continue
                        time.sleep(2.0 * attempts[unit])
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
        """Kill the hosts (their reservations go back to the cluster)."""
        import ray

        for h in self.hosts:
            ray.kill(h)
        self.hosts, self.shape, self.nodes = [], None, {}


def _cause(err) -> str:
    cause = getattr(err, "cause", None)
    return f"{type(cause).__name__}: {cause}"[:300] if cause is not None else type(err).__name__


def _transient(err) -> bool:
    """A unit's task error worth redoing: storage that failed past its own retries, not a bug or
    a permanent storage error (a missing bucket, denied access)."""
    from pipeline.storage import StorageError

    cause = getattr(err, "cause", None)
    return isinstance(cause, StorageError) and cause.transient
