"""Workload events, in order: first sight (new, or found with history), template edits,
rollout progress and health. The one place that decides which part of the model an event
of a Deployment, StatefulSet or DaemonSet concerns."""

from __future__ import annotations

from exporter.events.envelope import ObjectEvent
from exporter.events.objects import Workload
from exporter.events.timeutil import parse_rfc3339
from exporter.model import history, rollout_status
from exporter.model.facts import FactLog, WorkloadListed
from exporter.model.grouping import Grouping
from exporter.model.health import Health
from exporter.model.identity import IdentityResolver
from exporter.model.inventory import Inventory
from exporter.model.ledger import Ledger
from exporter.model.records import WorkloadKey
from exporter.model.resume import Resume
from exporter.model.rollouts import Rollouts
from exporter.model.timers import Timers
from exporter.model.workloads import Registry, TrackedWorkload

CREATION_SLACK_S = 2.0  # creationTimestamp has one-second resolution


class WorkloadTracking:
    def __init__(
        self,
        *,
        inventory: Inventory,
        identities: IdentityResolver,
        registry: Registry,
        ledger: Ledger,
        grouping: Grouping,
        rollouts: Rollouts,
        health: Health,
        resume: Resume,
        timers: Timers,
        facts: FactLog,
    ) -> None:
        self.inventory = inventory
        self.identities = identities
        self.registry = registry
        self.ledger = ledger
        self.grouping = grouping
        self.rollouts = rollouts
        self.health = health
        self.resume = resume
        self.timers = timers
        self.facts = facts

    def on_workload(self, workload: Workload, event: ObjectEvent, deleted: bool) -> None:
        meta = workload.metadata
        tracked = self.registry.get(meta.uid)
        if deleted:
            if tracked is not None:
                if tracked.active is not None:
                    self.rollouts.supersede(tracked.active)
                self.rollouts.set_current(tracked, None)
                self.registry.remove(meta.uid)
            return
        raw = bytes(workload.spec.template)
        marker, fp = self.inventory.fingerprint(raw)
        if tracked is None:
            tracked = TrackedWorkload(
                meta.uid, WorkloadKey(meta.namespace, workload.kind, meta.name)
            )
            self.registry.add(tracked)
            tracked.last = workload
            self._first_sight(tracked, workload, event, raw, marker, fp)
        else:
            tracked.last = workload
            if marker != tracked.marker:
                self.rollouts.template_edited(tracked, workload, event.time, raw, marker, fp)
            elif tracked.resume_pending and not workload.spec.paused:
                self.rollouts.resumed(tracked, workload, event.time, raw, fp)
        if tracked.identity is not None and (tracked.active is not None or event.initial):
            self.ledger.touch(self.identities.app_key(meta.namespace, tracked.identity))
        if tracked.active is None:
            self.health.check(tracked, workload, event.time)
        else:
            self.rollouts.evaluate(tracked, workload, event.time, event.initial)
        if event.initial:
            self.facts.add(WorkloadListed(tracked.key, tracked.active, tracked.current))

    def _preexisting(self, workload: Workload, event: ObjectEvent) -> bool:
        if event.initial:
            return True
        created = parse_rfc3339(workload.metadata.creation_timestamp)
        start = self.timers.observation_start
        return created is not None and start is not None and created < start - CREATION_SLACK_S

    def _first_sight(
        self,
        tracked: TrackedWorkload,
        workload: Workload,
        event: ObjectEvent,
        raw: bytes,
        marker: str,
        fp: str,
    ) -> None:
        tracked.marker, tracked.fingerprint = marker, fp
        identity = tracked.identity = self.identities.of_raw(workload, raw, fp)
        if not self._preexisting(workload, event):
            created = parse_rfc3339(workload.metadata.creation_timestamp)
            start = event.time if created is None else min(max(created, 0.0), event.time)
            self.rollouts.start(tracked, workload, identity, fp, start, rollback=False)
            return
        rebuilt = history.rebuild(tracked, workload, self.inventory, self.identities)
        since = history.complete_since(rebuilt + self.resume.known(tracked.key))
        if since is not None:
            app = self.identities.app_key(workload.metadata.namespace, identity)
            self.ledger.of(app).history_incomplete_before(since)
        complete = rollout_status.rolled_out(workload)
        past, newer = self.resume.merge(tracked, workload, rebuilt, fp)
        for wd in past:
            tracked.deployed.add(wd.fingerprint)
            tracked.ship(wd)
        last = past[-1] if past else None
        if tracked.active is not None or (tracked.current is not None and last is None):
            pass  # resumed from the state file
        elif last is not None and last.fingerprint == fp and not complete:
            past.pop()  # the current revision is still rolling out: track it live
            tracked.deployed = {w.fingerprint for w in past} | tracked.deployed
            self.rollouts.start(
                tracked, workload, identity, fp, last.started_at, last.rollback, last.revision
            )
        elif last is not None and last.fingerprint != fp and workload.spec.paused:
            # edited while paused, before we started: the last revision is what runs
            tracked.fingerprint = last.fingerprint
            tracked.resume_pending = True
            tracked.current = tracked.last_finished = last
            self.rollouts.set_current(tracked, last)
        elif last is not None and last.fingerprint == fp:
            hint = parse_rfc3339(rollout_status.completion_time_hint(workload))
            if hint is not None and hint >= last.started_at:
                last.finished_at = hint
            tracked.current = tracked.last_finished = last
            tracked.full_capacity = rollout_status.capacity_now(workload)
            self.rollouts.set_current(tracked, last)
        else:
            tracked.deployed.add(fp)  # deployed before we saw it, revision history lost
        self.grouping.add_history(past)
        if newer:
            self.resume.catch_up(tracked, workload, newer, fp, complete, event.time)
