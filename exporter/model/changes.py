"""Commit metadata from CI (``POST /api/v1/changes``, CI/CD spans over OTLP, CDEvents, CHANGE
lines): lead time for deployments whose pod template carries no commit time (design §2).

A change is kept for ``RETENTION_S`` after it arrived, because CI often registers it before
the rollout starts. It matches a deployment by image digest, by version, by commit sha (a
short sha on either side matches the full one), or by an image tag that is a prefix of the
sha (``:3f2a9c1`` tags); never by guess. A change without a commit time still matches: the
deployment learns its sha (and the CI run to link its trace to) and waits, counted as "no
commit time", for a change of the same sha that has one.

Deliveries are idempotent: a change with the run id and sha of one already kept is the same
delivery (a retry, a re-sent OTLP request, the same run seen by two emitters) and only adds
what the first lacked (a commit time, an image digest).
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict, deque
from functools import lru_cache

from exporter.events.external import Change
from exporter.model.identity import image_tag
from exporter.model.ledger import Ledger
from exporter.model.records import Outcome, WorkloadDeployment
from exporter.model.stats import ObservedStats
from exporter.model.timers import Timers

RETENTION_S = 30 * 86400.0
MAX_PENDING = 10_000
MATCH_LOOKBACK = 50  # recent live app deployments per app a new change is matched against
_HEX_TAG = re.compile(r"[0-9a-f]{7,40}")


@lru_cache(maxsize=8192)
def _hex_tag(image: str) -> str | None:
    """The image's tag, lowercased, when it looks like a (short) sha."""
    tag = image_tag(image)
    return tag.lower() if tag and _HEX_TAG.fullmatch(tag.lower()) else None


def sha_matches(known: str, given: str) -> bool:
    """One sha is the other, or a prefix of it (both at least 7 hex, compared lowercase)."""
    if len(known) < 7 or len(given) < 7:
        return False
    a, b = known.lower(), given.lower()
    return a.startswith(b) if len(a) >= len(b) else b.startswith(a)


def matches(wd: WorkloadDeployment, change: Change) -> bool:
    """By image digest, version, commit sha, or an image tag that is a prefix of the sha."""
    if change.image_digest is not None and change.image_digest in wd.image_digests:
        return True
    if change.version is not None and change.version == wd.version:
        return True
    sha = change.commit_sha
    if not sha:
        return False
    if wd.commit_sha and sha_matches(wd.commit_sha, sha):
        return True
    version = wd.version.lower()
    if _HEX_TAG.fullmatch(version) and sha.startswith(version):
        return True
    return any((tag := _hex_tag(image)) is not None and sha.startswith(tag) for image in wd.images)


def merge(known: Change, new: Change) -> Change:
    """``known`` with what ``new`` adds (fields it left unset), or ``known`` unchanged."""
    updates = {
        f.name: getattr(new, f.name)
        for f in dataclasses.fields(Change)
        if getattr(known, f.name) is None and getattr(new, f.name) is not None
    }
    return dataclasses.replace(known, **updates) if updates else known


class Changes:
    def __init__(self, *, ledger: Ledger, timers: Timers, stats: ObservedStats) -> None:
        self.ledger = ledger
        self.timers = timers
        self.stats = stats
        self.pending: deque[tuple[float, Change]] = deque(maxlen=MAX_PENDING)
        self.by_key: OrderedDict[tuple[str, str], Change] = OrderedDict()
        self.revision = 0  # bumped on every kept change (the state file saves on change)

    def register(self, change: Change, at: float) -> int:
        """Keep ``change`` and apply it to the deployments it matches now; how many got a
        commit time from it. A duplicate delivery adds only what the first one lacked."""
        key = change.dedup_key
        if key is not None:
            known = self.by_key.get(key)
            if known is not None:
                merged = merge(known, change)
                if merged is known:
                    self.stats.ci_changes[(change.source, "duplicate")] += 1
                    return 0
                self._forget(known)
                change = merged
            self.by_key[key] = change
            self.by_key.move_to_end(key)
            while len(self.by_key) > MAX_PENDING:
                self.by_key.popitem(last=False)
        self.stats.ci_changes[(change.source, "accepted")] += 1
        apps = self.ledger.apps
        if change.app is not None and not any(
            k.app == change.app and change.namespace in (None, k.namespace) for k in apps
        ):
            self.stats.invalid["unknown_app"] += 1  # kept: the app may deploy later
        self.pending.append((at, change))
        self.revision += 1
        matched = 0
        for key_, ledger in apps.items():
            if change.namespace is not None and key_.namespace != change.namespace:
                continue
            for group in ledger.live_groups[-MATCH_LOOKBACK:]:
                for wd in group.active_workloads:
                    timeless = wd.commit_time is None
                    if self._apply(wd, change):
                        self.match_pending(wd)  # a change of that sha may know its time
                    if timeless and wd.commit_time is not None:
                        matched += 1
        return matched

    def restore(self, at: float, change: Change) -> None:
        """A change the state file kept (before the first event): pending again, and known
        to the de-duplication."""
        self.pending.append((at, change))
        key = change.dedup_key
        if key is not None:
            self.by_key[key] = change

    def _forget(self, change: Change) -> None:
        for index, (_, kept) in enumerate(self.pending):
            if kept is change:
                del self.pending[index]
                return

    def match_pending(self, wd: WorkloadDeployment) -> None:
        """A new deployment, or one whose pods revealed an image digest: any change for it?"""
        horizon = self.timers.now - RETENTION_S
        while self.pending and self.pending[0][0] < horizon:
            self.pending.popleft()
        for _ in range(2):  # once more when a change without a time taught it its sha
            learned = False
            for _, change in reversed(self.pending):
                learned = self._apply(wd, change) or learned
                if wd.commit_time is not None:
                    return
            if not learned:
                return

    def _apply(self, wd: WorkloadDeployment, change: Change) -> bool:
        """Apply ``change`` if it matches ``wd``; True when ``wd`` learned its sha from it
        (a change without a commit time), so changes of that sha may now match."""
        if wd.rollback or wd.redeployed or wd.commit_time is not None or wd.history:
            return False
        if change.namespace is not None and change.namespace != wd.key.namespace:
            return False
        if change.app is not None and change.app not in (wd.app.app, wd.workload):
            return False
        if not matches(wd, change):
            if change.app is not None and not wd.ci_named:
                wd.ci_named = True  # its CI speaks, but of other images or commits
                self.ledger.touch(wd.app)
            return False
        learned = bool(change.commit_sha) and not wd.commit_sha
        longer = wd.commit_sha is not None and len(change.commit_sha) > len(wd.commit_sha)
        if learned or (longer and sha_matches(wd.commit_sha or "", change.commit_sha)):
            wd.commit_sha = change.commit_sha  # the full sha CI knows beats a short one
        keep_link = wd.change is not None and wd.change.link is not None and change.link is None
        if not keep_link and (wd.change is None or change.commit_time is not None or change.link):
            wd.change = change  # the run its trace links to; a timed one wins
        if change.commit_time is not None:
            wd.commit_time = change.commit_time
            wd.commit_source = change.source
            if wd.group is not None and wd.group.outcome is Outcome.SUCCEEDED:
                self.stats.lead_time_known(wd.group)
        self.ledger.touch(wd.app)
        return learned and change.commit_time is None
