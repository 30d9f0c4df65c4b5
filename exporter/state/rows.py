"""Reading the rows of the state file back into ledger records.

Each row is checked whole: a row that is not what the writer writes (bad JSON, a missing
field, a wrong type, text that is not UTF-8) is skipped with a warning that names its table
and rowid, and counted; it never half-loads into the ledger nor fails the start-up. A
database error while reading (damage quick_check did not see) is a ``StateError``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from exporter.events.external import Change
from exporter.model.records import AppDeployment, AppKey
from exporter.model.resume import PersistedFailure
from exporter.model.snapshot import app_deployment_from_dict, checked_change, is_time
from exporter.state.schema import DB_ERRORS, from_sqlite

log = logging.getLogger("daylight.state")
MAX_NAMED = 20  # rows skipped at one load that get a warning line each; then a summary
# what reading one row may raise: bad JSON, wrong types, JSON nested too deep
UNREADABLE = (ValueError, TypeError, KeyError, OverflowError, RecursionError, msgspec.DecodeError)
T = TypeVar("T")
GROUPS_SQL = (
    "SELECT rowid, id, data FROM app_deployments WHERE finished_at IS NULL OR finished_at >= ?"
)
FAILURES_SQL = "SELECT rowid, environment, namespace, app, data FROM failures"
CHANGES_SQL = "SELECT rowid, received_at, data FROM changes"
ALERTS_SQL = "SELECT rowid, fingerprint, environment, namespace, app FROM alerts"


@dataclass(slots=True)
class Snapshot:
    groups: list[AppDeployment] = field(default_factory=list)
    failures: list[PersistedFailure] = field(default_factory=list)
    changes: list[tuple[float, Change]] = field(default_factory=list)
    alerts: dict[str, AppKey] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # table -> rows skipped


class _FailureData(msgspec.Struct):
    opened_at: float
    signals: list[str]
    ids: list[str]


_decode_any = msgspec.json.Decoder().decode
_decode_failure = msgspec.json.Decoder(_FailureData).decode


def read_snapshot(db: sqlite3.Connection, path: Path, horizon: float) -> Snapshot:
    """Every readable row; app deployments finished before ``horizon`` are left out."""
    reader = _Reader(db, path)
    previous = db.text_factory
    db.text_factory = bytes  # decoded here, so text that is not UTF-8 is one bad row
    try:
        reader.read(horizon)
    finally:
        db.text_factory = previous
    skipped = sum(reader.snapshot.skipped.values())
    if skipped > MAX_NAMED:
        log.warning(
            "state file %s: %d unreadable rows skipped in all (%s), the first %d named above",
            path,
            skipped,
            ", ".join(f"{t}={n}" for t, n in sorted(reader.snapshot.skipped.items())),
            MAX_NAMED,
        )
    return reader.snapshot


class _Reader:
    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.snapshot = Snapshot()

    def read(self, horizon: float) -> None:
        s = self.snapshot
        s.groups = self._groups(horizon)
        s.failures = [f for _, f in self._rows("failures", FAILURES_SQL, (), _failure)]
        s.changes = [c for _, c in self._rows("changes", CHANGES_SQL, (), _change)]
        s.alerts = dict(a for _, a in self._rows("alerts", ALERTS_SQL, (), _alert))

    def _groups(self, horizon: float) -> list[AppDeployment]:
        """One per deployment id. The data is what counts; the id column is only its key, so
        a row with a damaged id column still loads, unless another row has the deployment
        with its right key (then that one does: a deployment is never loaded twice)."""
        chosen: dict[str, tuple[int, bool, AppDeployment]] = {}
        table = "app_deployments"
        for rowid, (keyed, group) in self._rows(table, GROUPS_SQL, (horizon,), _group):
            held = chosen.get(group.identity)
            if held is not None and (held[1] or not keyed):
                self._skip(table, rowid, f"the deployment of row {held[0]} again")
                continue
            if held is not None:
                self._skip(table, held[0], f"the deployment of row {rowid} again")
            chosen[group.identity] = (rowid, keyed, group)
        return [group for _, _, group in chosen.values()]

    def _rows(
        self, table: str, sql: str, params: tuple[Any, ...], parse: Callable[..., T]
    ) -> Iterator[tuple[int, T]]:
        """(rowid, parsed) for each readable row; the others are skipped and counted."""
        try:
            for rowid, *values in self.db.execute(sql, params):
                try:
                    parsed = parse(*values)
                except UNREADABLE as exc:
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    self._skip(table, rowid, f"unreadable: {reason}")
                    continue
                yield rowid, parsed
        except DB_ERRORS as exc:
            raise from_sqlite(self.path, exc, f"reading {table}: ") from exc

    def _skip(self, table: str, rowid: int, reason: str) -> None:
        skipped = self.snapshot.skipped
        skipped[table] = skipped.get(table, 0) + 1
        if sum(skipped.values()) <= MAX_NAMED:
            log.warning(
                "state file %s: skipped %s row %d (rowid), %s", self.path, table, rowid, reason
            )


def _text(value: object, column: str) -> str:
    if not isinstance(value, bytes):  # TEXT reads as bytes here (text_factory)
        raise ValueError(f"{column}: expected text, found {_sql_type(value)}")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ValueError(f"{column}: not UTF-8 text") from None


def _json_text(value: object, column: str) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError(f"{column}: expected JSON text, found {_sql_type(value)}")
    return value


def _seconds(value: object, column: str) -> float:
    if not is_time(value):
        raise ValueError(f"{column}: expected seconds since 1970, before 10000")
    return value


def _sql_type(value: object) -> str:
    return "NULL" if value is None else type(value).__name__


def _key(environment: object, namespace: object, app: object) -> AppKey:
    return AppKey(
        _text(environment, "environment"), _text(namespace, "namespace"), _text(app, "app")
    )


def _group(row_id: object, data: object) -> tuple[bool, AppDeployment]:
    """(whether the id column is the deployment's id, the deployment)."""
    group = app_deployment_from_dict(_decode_any(_json_text(data, "data")))
    return isinstance(row_id, bytes) and row_id == group.identity.encode(), group


def _failure(env: object, ns: object, app: object, data: object) -> PersistedFailure:
    key = _key(env, ns, app)
    item = _decode_failure(_json_text(data, "data"))
    return (key, _seconds(item.opened_at, "data.opened_at"), item.signals, item.ids)


def _change(received_at: object, data: object) -> tuple[float, Change]:
    at = _seconds(received_at, "received_at")
    return at, checked_change(_decode_any(_json_text(data, "data")), "data.")


def _alert(fingerprint: object, env: object, ns: object, app: object) -> tuple[str, AppKey]:
    return _text(fingerprint, "fingerprint"), _key(env, ns, app)
