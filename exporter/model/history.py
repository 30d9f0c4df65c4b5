"""Past rollouts of a workload, from what the cluster keeps (design §3 "History").

Deployments keep old ReplicaSets (``revisionHistoryLimit``, 10 by default), StatefulSets and
DaemonSets ControllerRevisions. Each carries revision numbers (a reused ReplicaSet lists all
of its numbers in ``revision-history``) and its creation time; consecutive revisions with the
same template are restarts, a template seen before is a rollback. Start times of reused
ReplicaSets are lower bounds: the later use cannot be dated more exactly.
"""

from __future__ import annotations

from exporter.events.external import SOURCE_ANNOTATION
from exporter.events.objects import PodTemplate, Workload
from exporter.model.identity import IdentityResolver
from exporter.model.inventory import Inventory, Revision
from exporter.model.records import Outcome, WorkloadDeployment
from exporter.model.workloads import TrackedWorkload


def rebuild(
    tracked: TrackedWorkload,
    workload: Workload,
    inventory: Inventory,
    identities: IdentityResolver,
) -> list[WorkloadDeployment]:
    """The workload's past deployments in revision order, all succeeded (history)."""
    entries: list[tuple[int, int, float, Revision]] = []
    for record in inventory.records_of(tracked.uid):
        if record.created is None or not record.numbers:
            continue
        first = min(record.numbers)
        for number in record.numbers:
            entries.append((number, 0 if number == first else 1, record.created, record))
    entries.sort(key=lambda e: e[0])
    history: list[WorkloadDeployment] = []
    seen: set[str] = set()
    commits: set[str] = set()
    previous_start = 0.0
    previous_fp = ""
    for number, reused, created, record in entries:
        fp = record.fingerprint
        if fp == previous_fp:
            continue  # same template as the revision before: a restart, not a deployment
        previous_fp = fp
        exact = not reused and created >= previous_start
        start = created if exact else max(created, previous_start)
        previous_start = start
        ident = identities.of_template(workload, record.template or PodTemplate(), fp)
        history.append(
            WorkloadDeployment(
                key=tracked.key,
                workload=ident.workload,
                app=identities.app_key(workload.metadata.namespace, ident),
                version=ident.version,
                fingerprint=fp,
                revision=str(number),
                started_at=start,
                rollback=fp in seen,
                history=True,
                finished_at=start,
                outcome=Outcome.SUCCEEDED,
                commit_time=identities.commit_time(ident),
                commit_sha=ident.commit_sha,
                images=ident.images,
                replaced_at=record.written if exact and number == max(record.numbers) else None,
            )
        )
        wd = history[-1]
        if wd.commit_time is not None:
            wd.commit_source = SOURCE_ANNOTATION
        if not wd.rollback and wd.commit is not None and wd.commit in commits:
            wd.commit_time, wd.redeployed = None, True
        if wd.commit is not None:
            commits.add(wd.commit)
        seen.add(fp)
    inventory.forget_templates(tracked.uid)
    return history


def complete_since(known: list[WorkloadDeployment]) -> float | None:
    """When the history of a workload is complete from: None if its first revision is still
    known (kept by the cluster or saved in the state file); otherwise the start of the
    oldest revision known — the cluster pruned the ones before (``revisionHistoryLimit``)."""
    numbered = [(int(w.revision), w.started_at) for w in known if w.revision.isdigit()]
    if not numbered:
        return None
    number, started = min(numbered)
    return None if number <= 1 else started
