"""The SQLite state file (``--state-file``): the ledger survives restarts.

What the cluster cannot tell a new process — exact finish times, failures, restores, rework,
lead times from CI, open alerts, which traces were sent — is written here. Writes are
idempotent upserts keyed by the app deployment's stable id, in WAL mode, so a crash between
two flushes loses at most the last second and never double-counts: on restart the same ids
are loaded and the cluster's history is merged into them, not added to them.

A file that cannot be trusted is refused at open with one line (``StateError``): damaged
(``PRAGMA quick_check``), foreign, newer, missing a table, or read-only. A single unreadable
row is skipped with a warning and counted in ``skipped_rows``. Every database problem, at
open, load or save, is raised as ``StateError`` and nothing else.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from exporter.events.external import Change, change_to_dict
from exporter.model.engine import DoraModel
from exporter.model.records import AppKey, Outcome
from exporter.model.snapshot import app_deployment_to_dict
from exporter.state.rows import Snapshot, read_snapshot
from exporter.state.schema import (
    DB_ERRORS,
    MIGRATIONS,
    SCHEMA_VERSION,
    StateError,
    open_database,
)

__all__ = ["MIGRATIONS", "RETENTION_S", "SCHEMA_VERSION", "Snapshot", "StateError", "StateStore"]

log = logging.getLogger("daylight.state")
_encode = msgspec.json.Encoder().encode
RETENTION_S = 100 * 86400.0  # the longest window (90d) plus margin

# What the changes table was last written from: (length, first entry, newest entry) of the
# model's pending deque. The deque only grows at the right and shrinks at the left (also
# when full), and its entries are new tuples, held here so no other can take their id: the
# same three mean the same content.
_ChangesMark = tuple[int, object, object]


def _changes_mark(changes: deque[tuple[float, Change]]) -> _ChangesMark:
    return (len(changes), changes[0] if changes else None, changes[-1] if changes else None)


def _same_changes(saved: _ChangesMark | None, now: _ChangesMark) -> bool:
    return saved is not None and saved[0] == now[0] and saved[1] is now[1] and saved[2] is now[2]


class StateStore:
    """One state file. Raises ``StateError`` (only) for a database problem: at open for a
    file that cannot be used, and from ``restore_into``, ``save`` and ``close``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = open_database(self.path)
        self.skipped_rows = 0  # unreadable rows skipped by the loads so far (each warned)
        self.save_failures = 0  # saves that raised StateError (each retried in full)
        self.saved_at: float | None = None  # model time of the last save that succeeded
        self._saved_revision: dict[AppKey, int] = {}
        self._saved_failures: dict[AppKey, str] | None = None
        self._saved_changes: _ChangesMark | None = None
        self._saved_alerts: dict[str, AppKey] | None = None

    def counters(self) -> dict[str, float | None]:
        return {
            "save_failures": self.save_failures,
            "skipped_rows": self.skipped_rows,
            "saved_at": self.saved_at,
        }

    # ------------------------------------------------------------------ load

    def load(self, now: float) -> Snapshot:
        snapshot = read_snapshot(self.db, self.path, now - RETENTION_S)
        self.skipped_rows += sum(snapshot.skipped.values())
        # a table with a skipped row is rewritten at the next save, without it
        self._saved_alerts = None if "alerts" in snapshot.skipped else dict(snapshot.alerts)
        self._saved_changes = None
        return snapshot

    def restore_into(self, model: DoraModel, now: float) -> int:
        snapshot = self.load(now)
        model.restore(snapshot.groups, snapshot.failures, snapshot.changes, snapshot.alerts)
        for key, ledger in model.apps.items():
            self._saved_revision[key] = ledger.revision
        pending = model.pending_changes
        if "changes" not in snapshot.skipped and len(pending) == len(snapshot.changes):
            self._saved_changes = _changes_mark(pending)
        log.info(
            "state file %s: %d app deployments, %d open failures restored",
            self.path,
            len(snapshot.groups),
            len(snapshot.failures),
        )
        if snapshot.skipped:
            log.warning(
                "state file %s: %d unreadable rows skipped (%s); the rest of the ledger is "
                "restored",
                self.path,
                sum(snapshot.skipped.values()),
                ", ".join(f"{t}={n}" for t, n in sorted(snapshot.skipped.items())),
            )
        return len(snapshot.groups)

    # ------------------------------------------------------------------ save

    def save(self, model: DoraModel, now: float, *, everything: bool = False) -> int:
        """Upsert what changed since the last save; returns rows written.

        Raises ``StateError`` (only) when the database fails (a full disk, a read-only or
        damaged file): nothing of this save is written, and the next save writes it again,
        so a caller may log the error and keep running."""
        revisions: dict[AppKey, int] = {}
        rows = self._deployment_rows(model, now, everything, revisions)
        failures = {
            key: json.dumps(
                {
                    "opened_at": f.opened_at,
                    "signals": sorted(str(s) for s in f.signals),
                    "ids": [d.identity for d in f.deployments],
                }
            )
            for key, f in model.failures.open.items()
        }
        changes = list(model.pending_changes)
        changes_mark = _changes_mark(model.pending_changes)
        alerts = dict(model.firing_alerts)
        write_failures = failures != self._saved_failures
        write_changes = not _same_changes(self._saved_changes, changes_mark)
        write_alerts = alerts != self._saved_alerts
        if not (rows or write_failures or write_changes or write_alerts):
            self._saved_revision.update(revisions)
            self.saved_at = now
            return 0
        try:
            self._write(
                now,
                rows,
                failures if write_failures else None,
                changes if write_changes else None,
                alerts if write_alerts else None,
            )
        except DB_ERRORS as exc:
            self.save_failures += 1
            raise StateError(f"state file {self.path}: save failed: {_one_line(exc)}") from exc
        self.saved_at = now
        self._saved_revision.update(revisions)
        self._saved_failures = failures
        self._saved_changes = changes_mark
        self._saved_alerts = alerts
        return len(rows)

    def _deployment_rows(
        self, model: DoraModel, now: float, everything: bool, revisions: dict[AppKey, int]
    ) -> list[tuple[Any, ...]]:
        """The app deployments to upsert; ``revisions`` gets the ledger revisions they are
        of, to be marked saved once they are written."""
        rows: list[tuple[Any, ...]] = []
        recent = now - model.config.failure_window_s - 86400.0
        for key, ledger in model.apps.items():
            if not everything and self._saved_revision.get(key) == ledger.revision:
                continue
            revisions[key] = ledger.revision
            open_failure = model.failures.open.get(key)
            # history too: what the cluster keeps now, it may have pruned by the next start
            for group in (*ledger.history_groups, *ledger.live_groups):
                if group.outcome is Outcome.SUPERSEDED and not group.active_workloads:
                    continue
                if not (
                    everything
                    or group.outcome is Outcome.PROGRESSING
                    or group.started_at >= recent
                    or (group.restored_at or 0) >= recent
                    or (open_failure is not None and group in open_failure.deployments)
                ):
                    continue
                data = app_deployment_to_dict(group)
                rows.append(
                    (
                        group.identity,
                        key.environment,
                        key.namespace,
                        key.app,
                        group.started_at,
                        group.finished_at,
                        _encode(data).decode(),
                    )
                )
        return rows

    def _write(
        self,
        now: float,
        rows: list[tuple[Any, ...]],
        failures: dict[AppKey, str] | None,
        changes: list[tuple[float, Change]] | None,
        alerts: dict[str, AppKey] | None,
    ) -> None:
        """One transaction: all of it or, on any error, none of it."""
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT INTO app_deployments VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO "
                "UPDATE SET finished_at=excluded.finished_at, data=excluded.data",
                rows,
            )
            if failures is not None:
                self.db.execute("DELETE FROM failures")
                self.db.executemany(
                    "INSERT INTO failures VALUES (?, ?, ?, ?)",
                    [(k.environment, k.namespace, k.app, v) for k, v in failures.items()],
                )
            if changes is not None:
                self.db.execute("DELETE FROM changes")
                self.db.executemany(
                    "INSERT INTO changes VALUES (?, ?)",
                    [(at, json.dumps(change_to_dict(c))) for at, c in changes],
                )
            if alerts is not None:
                self.db.execute("DELETE FROM alerts")
                self.db.executemany(
                    "INSERT INTO alerts VALUES (?, ?, ?, ?)",
                    [(fp, k.environment, k.namespace, k.app) for fp, k in alerts.items()],
                )
            self.db.execute(
                "DELETE FROM app_deployments WHERE finished_at IS NOT NULL AND finished_at < ?",
                (now - RETENTION_S,),
            )
            self.db.execute("COMMIT")
        except DB_ERRORS:
            if self.db.in_transaction:  # SQLite may have rolled back already (a full disk)
                try:
                    self.db.execute("ROLLBACK")
                except DB_ERRORS:
                    log.debug("state file %s: rollback failed", self.path, exc_info=True)
            raise

    def close(self) -> None:
        try:
            self.db.close()
        except DB_ERRORS as exc:
            raise StateError(f"state file {self.path}: close failed: {_one_line(exc)}") from exc


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
