"""Stage hosts: the Ray worker processes that run the resumable passes of a run (the source and
the map passes), unit by unit, each unit a Ray task.

A host keeps the stages of the pass it last ran (`_Held`: models and lists loaded in `setup`,
the extraction child started) and builds them again only when a unit of another pass reaches it.
Units are tasks, not calls on actors, so a worker process serves every step of a run: the units
of each pass, and between passes the Ray Data tasks of the global steps (their fits). Ray reuses
an idle worker for any task of the job whatever resources the task reserves, so after its first
step a run starts no process. With actors, the pool had to be shut down before each global step
(its reservations held the CPUs the step's tasks needed) and every pass and every fit then paid
for new processes that imported the stage modules again: 2-5 s a step on 2 CPUs, most of a small
run (docs/benchmarks.md, "Fixed cost of a run").

Resources: each unit task reserves what its pass's stages declare (`Resources`: the most CPUs and
GPUs of any of them, the sum of their memory beyond a process's base, since all are loaded at
once), so a run shares a cluster with other jobs without oversubscribing it. As many units are in
flight as the cluster's nodes hold tasks of that shape; a task leaves its reservation when it
ends, so a global step's tasks get the CPUs without anything being shut down. Units are handed
out one at a time as earlier ones finish, so the pass balances itself; what a unit writes does not
depend on the process that ran it.

A unit whose process died (a killed worker, a node lost) is handed out again (up to
`MAX_UNIT_ATTEMPTS` times) after the dropped files the dead attempt wrote are cleared: a redone
unit leaves the same files; Ray starts a process for it wherever it fits.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections import deque

from pipeline.executor.units import PassSpec, UnitWork, clear_unit_drops

log = logging.getLogger(__name__)

MAX_UNIT_ATTEMPTS = 4


class _Held:
    """What this worker process keeps between units: the stages of one pass run."""

    token: str | None = None
    work: UnitWork | None = None

    @classmethod
    def release(cls) -> None:
        if cls.work is not None:
            cls.work.close()
        cls.work, cls.token = None, None


def run_unit(spec: PassSpec, token: str, unit: str, src: str) -> dict:
    """Ray task (made remote in `run_units`): one unit of the pass `token` names, on the
    stages this process built for it, or builds them (releasing another pass's first)."""
    if _Held.token != token:
        _Held.release()
        _Held.work = UnitWork(spec)
        _Held.token = token
    return _Held.work.run(unit, src)


# what one worker process takes before any stage's own lists or models (Python, pyarrow, Ray):
# a stage's declared memory includes it, so fused stages share it once (measured worker peaks
# 160-1,070 MB, bench/stage_scaling.py)
PROCESS_BASE_GB = 0.5


def host_shape(stages: list) -> dict:
    """Ray resources of one unit task for a pass of `stages` (stage classes or instances): the
    most CPUs and GPUs any of them declares; memory, the largest declaration plus what the others
    declare beyond a process's base (all are loaded at once in one process)."""
    res = [s.resources for s in stages]
    declared = sorted((r.memory_gb or 0 for r in res), reverse=True)
    memory = declared[0] + sum(max(m - PROCESS_BASE_GB, 0) for m in declared[1:]) if declared else 0
    shape = {"num_cpus": max(r.num_cpus for r in res), "num_gpus": max(r.num_gpus for r in res)}
    if memory:
        shape["memory"] = int(memory * 2**30)
    return shape


def hosts_per_node(shape: dict) -> list[tuple[str, int]]:
    """(node id, tasks of `shape` that fit it at once) for every alive node, in a stable order."""
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


def slots(shape: dict) -> int:
    """How many unit tasks of `shape` the cluster holds at once."""
    layout = hosts_per_node(shape)
    if not layout:
        raise RuntimeError(f"no node of the cluster can hold a stage host needing {shape}")
    return sum(count for _, count in layout)


def run_units(spec: PassSpec, units: list[tuple[str, str]], limit: int | None = None, progress=None) -> list[dict]:
    """Run `units` of the pass `spec` (at most `limit` at once); per-unit stats. A unit whose
    process died, or that met a transient storage error past its own retries (an object
    store restarting), is redone, up to MAX_UNIT_ATTEMPTS times."""
    import ray
    from ray.exceptions import NodeDiedError, RayTaskError, TaskUnschedulableError, WorkerCrashedError

    shape = host_shape([cls for cls, _, _ in spec.specs])
    width_max = slots(shape)
    if not units:
        return []
    # retries are ours (the dead attempt's dropped files are cleared first); max_calls=0: a
    # process keeps serving units, GPU ones too, so models load once per pass and process
    task = ray.remote(max_retries=0, max_calls=0)(run_unit).options(scheduling_strategy="SPREAD", **shape)
    token = f"{spec.key}:{uuid.uuid4().hex}"  # this pass run: another run's stages are never reused
    spec_ref = ray.put(spec)
    queue = deque(units)
    attempts: dict[str, int] = {}
    width = min(width_max, limit or width_max)
    inflight: dict = {}
    stats: list[dict] = []
    try:
        while queue or inflight:
            while queue and len(inflight) < width:
                unit, src = queue.popleft()
                inflight[task.remote(spec_ref, token, unit, src)] = (unit, src)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                unit, src = inflight.pop(ref)
                try:
                    stats.append(ray.get(ref))
                    if progress is not None:
                        progress.unit_done(stats[-1])
                except (WorkerCrashedError, NodeDiedError, TaskUnschedulableError, RayTaskError) as err:
                    # unschedulable: placed on a node that was dying when the task was sent
                    died = not isinstance(err, RayTaskError)
                    if not died and not _transient(err):
                        raise
                    attempts[unit] = attempts.get(unit, 0) + 1
                    what = "its process died" if died else f"storage error ({_cause(err)})"
                    if attempts[unit] >= MAX_UNIT_ATTEMPTS:
                        raise RuntimeError(f"unit {unit} of {'+'.join(spec.names)}: {what}, {attempts[unit]} times") from err
                    log.warning("unit %s of %s: %s; redone", unit, "+".join(spec.names), what)
                    clear_unit_drops(spec.specs, [unit])
                    queue.appendleft((unit, src))
                    if died:  # a node may be gone: as many in flight as the cluster now holds
                        width = min(slots(shape), limit or width_max)
                    else:
                        time.sleep(2.0 * attempts[unit])
    finally:
        for ref in inflight:  # a failure above: let no unit of this pass keep running
            ray.cancel(ref, force=False)
    return stats


def _cause(err) -> str:
    cause = getattr(err, "cause", None)
    return f"{type(cause).__name__}: {cause}"[:300] if cause is not None else type(err).__name__


def _transient(err) -> bool:
    """A unit's task error worth redoing: storage that failed past its own retries, not a bug or
    a permanent storage error (a missing bucket, denied access)."""
    from pipeline.storage import StorageError

    cause = getattr(err, "cause", None)
    return isinstance(cause, StorageError) and cause.transient
