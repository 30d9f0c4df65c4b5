"""The SQLite state file (``--state-file``): the ledger survives restarts.

What the cluster cannot tell a new process — exact finish times, failures, restores, rework,
lead times from CI, open alerts, which traces were sent — is written here. Writes are
idempotent upserts keyed by the app deployment's stable id, in WAL mode, so a crash between
two flushes loses at most the last second and never double-counts: on restart the same ids
are loaded and the cluster's history is merged into them, not added to them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from exporter.events.external import Change, change_from_dict, change_to_dict
from exporter.model.engine import DoraModel
from exporter.model.records import AppDeployment, AppKey, Outcome
from exporter.model.snapshot import app_deployment_from_dict, app_deployment_to_dict

log = logging.getLogger("daylight.state")
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
SCHEMA_VERSION = 1
RETENTION_S = 100 * 86400.0  # the longest window (90d) plus margin

# Each migration takes the database from version N-1 to N.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE app_deployments (id TEXT PRIMARY KEY, environment TEXT, namespace TEXT,"
        " app TEXT, started_at REAL, finished_at REAL, data TEXT NOT NULL)",
        "CREATE INDEX app_deployments_finished ON app_deployments (finished_at)",
        "CREATE TABLE failures (environment TEXT, namespace TEXT, app TEXT, data TEXT NOT NULL,"
        " PRIMARY KEY (environment, namespace, app))",
        "CREATE TABLE changes (received_at REAL, data TEXT NOT NULL)",
        "CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, environment TEXT, namespace TEXT,"
        " app TEXT)",
    ),
}


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


@dataclass(slots=True)
class Snapshot:
    groups: list[AppDeployment] = field(default_factory=list)
    failures: list[tuple[AppKey, float, list[str], list[str]]] = field(default_factory=list)
    changes: list[tuple[float, Change]] = field(default_factory=list)
    alerts: dict[str, AppKey] = field(default_factory=dict)


class StateStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state file {self.path} unusable: {exc}") from exc
        except OSError as exc:
            raise StateError(f"state file {self.path}: {exc.strerror or exc}") from exc
        self._saved_revision: dict[AppKey, int] = {}
        self._saved_failures: dict[AppKey, str] = {}
        self._saved_changes = 0
        self._saved_alerts: dict[str, AppKey] = {}

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path} has schema {version}, newer than this daylight "
                f"({SCHEMA_VERSION}); upgrade daylight or use another --state-file"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN")
            for statement in MIGRATIONS[target]:
                self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={target}")
            self.db.execute("COMMIT")
            log.info("state file %s migrated to schema %d", self.path, target)

    # ------------------------------------------------------------------ load

    def load(self, now: float) -> Snapshot:
        snapshot = Snapshot()
        horizon = now - RETENTION_S
        for (data,) in self.db.execute(
            "SELECT data FROM app_deployments WHERE finished_at IS NULL OR finished_at >= ?",
            (horizon,),
        ):
            try:
                snapshot.groups.append(app_deployment_from_dict(_decode(data)))
            except (KeyError, ValueError, TypeError, msgspec.DecodeError) as exc:
                log.warning("state file: skipped an unreadable app deployment: %s", exc)
        for env, ns, app, data in self.db.execute(
            "SELECT environment, namespace, app, data FROM failures"
        ):
            item = json.loads(data)
            snapshot.failures.append(
                (AppKey(env, ns, app), item["opened_at"], item["signals"], item["ids"])
            )
        for received, data in self.db.execute("SELECT received_at, data FROM changes"):
            item = json.loads(data)
            snapshot.changes.append((received, change_from_dict(item)))
        for fingerprint, env, ns, app in self.db.execute(
            "SELECT fingerprint, environment, namespace, app FROM alerts"
        ):
            snapshot.alerts[fingerprint] = AppKey(env, ns, app)
        self._saved_changes = -1  # the model's change revision; saved once after a restore
        self._saved_alerts = dict(snapshot.alerts)
        return snapshot

    def restore_into(self, model: DoraModel, now: float) -> int:
        snapshot = self.load(now)
        model.restore(snapshot.groups, snapshot.failures, snapshot.changes, snapshot.alerts)
        for key, ledger in model.apps.items():
            self._saved_revision[key] = ledger.revision
        log.info(
            "state file %s: %d app deployments, %d open failures restored",
            self.path,
            len(snapshot.groups),
            len(snapshot.failures),
        )
        return len(snapshot.groups)

    # ------------------------------------------------------------------ save

    def save(self, model: DoraModel, now: float, *, everything: bool = False) -> int:
        """Upsert what changed since the last save; returns rows written."""
        rows: list[tuple[Any, ...]] = []
        recent = now - model.config.failure_window_s - 86400.0
        for key, ledger in model.apps.items():
            if not everything and self._saved_revision.get(key) == ledger.revision:
                continue
            self._saved_revision[key] = ledger.revision
            open_failure = model.failures.open.get(key)
            for group in ledger.live_groups:
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
        changes_revision = model.changes.revision
        alerts = dict(model.firing_alerts)
        if (
            not rows
            and failures == self._saved_failures
            and changes_revision == self._saved_changes
            and alerts == self._saved_alerts
        ):
            return 0
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT INTO app_deployments VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO "
                "UPDATE SET finished_at=excluded.finished_at, data=excluded.data",
                rows,
            )
            if failures != self._saved_failures:
                self.db.execute("DELETE FROM failures")
                self.db.executemany(
                    "INSERT INTO failures VALUES (?, ?, ?, ?)",
                    [(k.environment, k.namespace, k.app, v) for k, v in failures.items()],
                )
            if changes_revision != self._saved_changes:
                self.db.execute("DELETE FROM changes")
                self.db.executemany(
                    "INSERT INTO changes VALUES (?, ?)",
                    [(at, json.dumps(change_to_dict(c))) for at, c in changes],
                )
            if alerts != self._saved_alerts:
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
        except sqlite3.DatabaseError:
            self.db.execute("ROLLBACK")
            raise
        self._saved_failures = failures
        self._saved_changes = changes_revision
        self._saved_alerts = alerts
        return len(rows)

    def close(self) -> None:
        self.db.close()
