"""The state file's loader against damage: real state files (written from replayed event logs,
with an open failure, a firing alert and CI changes) are corrupted page by page, truncated,
lose tables, and get garbage in every column and in every field of their JSON.

The property, for every damaged file: opening it, restoring it into a new model and saving
either works — and then the model is well-formed (the report and /metrics render), and the
saved file loads again with no unreadable row but in app_deployments (the tables rewritten
whole are clean) — or raises ``StateError`` with one line naming the file. Nothing else.
Damage to a column or a JSON field never refuses the whole file: only that row is skipped.

Faults: a save that fails at any of its statements (as a full disk does) raises
``StateError``, writes nothing, and the next save writes everything the failed one had.

The default ("ci") profile runs fixed, bounded examples (about 20 s); set
``DAYLIGHT_FUZZ_EXAMPLES=N`` for N random examples per hypothesis test (tests/fuzz/conftest.py).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.app.commands import replay_into
from exporter.events.envelope import SideKind
from exporter.events.external import Change
from exporter.model.engine import DoraModel
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import build_report
from exporter.state.schema import COLUMNS
from exporter.state.store import StateError, StateStore

TESTS = Path(__file__).resolve().parents[1]
LOGS = {
    "demo-world": TESTS / "golden" / "demo-world.jsonl.gz",
    "multi-workload-app": TESTS / "fixtures" / "multi-workload-app.jsonl",
    "progress-deadline-rollback": TESTS / "fixtures" / "progress-deadline-rollback.jsonl",
    "statefulset-daemonset": TESTS / "fixtures" / "statefulset-daemonset.jsonl",
}
TABLES = sorted(COLUMNS)
DAY = 86400.0


@dataclass(frozen=True)
class Base:
    """A state file as written by a real save, and the time it was written at."""

    data: bytes
    now: float
    page_size: int

    @property
    def pages(self) -> int:
        return len(self.data) // self.page_size


def _ledger(name: str, tmp: Path) -> tuple[DoraModel, float]:
    source = LOGS[name]
    log = tmp / source.name.removesuffix(".gz")
    raw = source.read_bytes()
    log.write_bytes(gzip.decompress(raw) if source.suffix == ".gz" else raw)
    model = DoraModel()
    last = replay_into(model, str(log)).last
    assert last is not None
    # the app that deployed last gets an incident (an open failure and a firing alert)
    app = max(
        model.apps, key=lambda k: max((g.started_at for g in model.apps[k].live_groups), default=0)
    )
    labels = {"alertname": "Fuzz", "namespace": app.namespace, "app": app.app}
    model.apply_external(SideKind.ALERT, {"status": "firing", "labels": labels}, last + 1)
    for n in range(120):  # enough CI changes to spread over several pages
        change = Change(f"{n:07x}", last - 3600 + n, version=f"v{n}", namespace=app.namespace)
        model.apply_change(change, last + 2 + n)
    now = last + 200
    model.advance(now)
    assert model.failures.open and model.firing_alerts and model.pending_changes
    return model, now


@functools.cache
def base(name: str) -> Base:
    with tempfile.TemporaryDirectory() as tmp:
        model, now = _ledger(name, Path(tmp))
        db = Path(tmp) / "state.db"
        store = StateStore(db)
        store.save(model, now, everything=True)
        store.close()
        with contextlib.closing(sqlite3.connect(db)) as conn:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        assert all(counts.values()), counts
        assert not db.with_name("state.db-wal").exists(), "the WAL was not checkpointed"
        data = db.read_bytes()
    return Base(data, now, page_size)


@contextlib.contextmanager
def state_file(name: str) -> Iterator[tuple[Path, float]]:
    """A fresh copy of the named base state file, in its own directory."""
    b = base(name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        path.write_bytes(b.data)
        yield path, b.now


def load_cycle(path: Path, now: float) -> bool:
    """Open, restore, check the model, save: True if it worked, False if refused."""
    try:
        store = StateStore(path)
    except StateError as exc:
        assert_one_line(exc, path)
        return False
    try:
        model = DoraModel()
        store.restore_into(model, now)
        build_report(model, now, 30 * DAY)
        build_report(model, now + 91 * DAY, 90 * DAY)
        MetricsRenderer(model).render(now)
        store.save(model, now, everything=True)
        model.advance(now + 3600)
        store.save(model, now + 3600)
    except StateError as exc:
        assert_one_line(exc, path)
        return False
    finally:
        with contextlib.suppress(StateError):
            store.close()
    again = StateStore(path)  # what the save wrote loads again
    snapshot = again.load(now)
    again.close()
    assert set(snapshot.skipped) <= {"app_deployments"}, snapshot.skipped
    return True


def assert_one_line(exc: StateError, path: Path) -> None:
    message = str(exc)
    assert str(path) in message, message
    assert "\n" not in message, message


BASES = st.sampled_from(sorted(LOGS))


# ------------------------------------------------------------------------- pages


@pytest.mark.parametrize("name", sorted(LOGS))
def test_every_page_damaged_at_fixed_offsets(name: str) -> None:
    b = base(name)
    offsets = sorted({0, 1, 3, 5, 8, 12, 100, b.page_size // 2, b.page_size - 8, b.page_size - 1})
    for page in range(b.pages):
        for offset in offsets:
            for damage in (b"\x00", b"\xff"):
                with state_file(name) as (path, now):
                    with path.open("r+b") as f:
                        f.seek(page * b.page_size + offset)
                        f.write(damage * 4)
                    load_cycle(path, now)


@given(name=BASES, data=st.data())
def test_random_bytes_damaged(name: str, data: st.DataObject) -> None:
    b = base(name)
    flips = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, b.pages - 1),
                st.integers(0, b.page_size - 1),
                st.integers(0, 255),
            ),
            min_size=1,
            max_size=12,
        )
    )
    with state_file(name) as (path, now):
        raw = bytearray(path.read_bytes())
        for page, offset, mask in flips:
            at = page * b.page_size + offset
            raw[at] = raw[at] ^ mask if mask else 0
        path.write_bytes(bytes(raw))
        load_cycle(path, now)


# -------------------------------------------------------------------- truncation


@pytest.mark.parametrize("name", sorted(LOGS))
def test_truncated_at_every_page(name: str) -> None:
    b = base(name)
    for page in range(b.pages + 1):
        for delta in (-1, 0, 1, 100):
            size = max(0, min(len(b.data), page * b.page_size + delta))
            with state_file(name) as (path, now):
                path.write_bytes(b.data[:size])
                loaded = load_cycle(path, now)
            assert loaded or size > 0, "an empty file starts a new ledger"


@given(name=BASES, data=st.data())
def test_truncated_anywhere(name: str, data: st.DataObject) -> None:
    size = data.draw(st.integers(0, len(base(name).data)))
    with state_file(name) as (path, now):
        path.write_bytes(base(name).data[:size])
        load_cycle(path, now)


# ------------------------------------------------------------------------ tables


@pytest.mark.parametrize("table", TABLES)
def test_a_dropped_table_is_refused(table: str) -> None:
    with state_file("multi-workload-app") as (path, now):
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(f"DROP TABLE {table}")
        assert not load_cycle(path, now)
        with pytest.raises(StateError, match=f"state file {path} unusable: table {table}"):
            StateStore(path)


def test_a_dropped_index_is_no_problem() -> None:
    with state_file("multi-workload-app") as (path, now):
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("DROP INDEX app_deployments_finished")
        assert load_cycle(path, now)


# ----------------------------------------------------------------------- columns

# values of the right type in the wrong place: other outcomes, times at the edges, ids
TELLING_VALUES = [
    *(0, -1, 1.5, 2**63, 1e300, 253402300799.0, 253402300800.0, 1.8e9, "", "succeeded"),
    *("failed", "progressing", "superseded", "Deployment", "rollback", "alert:x", [], True),
]
TELLING = st.sampled_from(TELLING_VALUES)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | TELLING,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
FIELD_VALUES = st.one_of(TELLING, SCALARS, JSON)
SQL_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
    JSON.map(json.dumps),
)


WRONG_SQL = [None, 0, -1, 1.5, float("inf"), 2**62, "", "text", b"\xff\xfe", "{}", "[1]", "{bad"]


@pytest.mark.parametrize("table", TABLES)
def test_every_column_of_every_row_with_wrong_values(table: str) -> None:
    for column in COLUMNS[table]:
        for value in WRONG_SQL:
            with state_file("multi-workload-app") as (path, now):
                with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
                    try:
                        conn.execute(f"UPDATE {table} SET {column} = ?", (value,))
                    except sqlite3.IntegrityError:
                        continue  # NOT NULL, or a key the rows would share
                assert load_cycle(path, now), (column, value)


def _rowids(path: Path, table: str) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [int(r[0]) for r in conn.execute(f"SELECT rowid FROM {table}")]


@given(name=BASES, data=st.data())
def test_garbage_in_any_column(name: str, data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(TABLES))
    column = data.draw(st.sampled_from(COLUMNS[table]))
    value = data.draw(SQL_VALUES)
    with state_file(name) as (path, now):
        rowids = _rowids(path, table)
        which = data.draw(st.sampled_from([None, *rowids]))  # None: every row
        where = "" if which is None else f" WHERE rowid = {which}"
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            try:
                conn.execute(f"UPDATE {table} SET {column} = ?{where}", (value,))
            except sqlite3.IntegrityError:
                return  # NOT NULL or a duplicate key: SQLite refuses it, nothing to load
        assert load_cycle(path, now)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value: dict keys and list indexes, nested."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, dict | list):
            yield from _paths(item, (*prefix, key))


def _by_field(record: Any) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The places of a record by field (list indexes left out): each field is as likely to be
    damaged as any other, however many workloads or digests a record has."""
    places: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for path in _paths(record):
        places.setdefault(tuple(k for k in path if isinstance(k, str)), []).append(path)
    return places


def _set_everywhere(record: Any, field: tuple[Any, ...], value: Any) -> None:
    for *parents, last in sorted(_by_field(record).get(field, []), key=len):
        target = record
        with contextlib.suppress(TypeError, KeyError, IndexError):  # inside a value set already
            for step in parents:
                target = target[step]
            target[last] = copy.deepcopy(value)


@pytest.mark.parametrize("table", ["app_deployments", "failures", "changes"])
def test_every_json_field_of_every_row_with_telling_values(table: str) -> None:
    with (
        state_file("multi-workload-app") as (path, _),
        contextlib.closing(sqlite3.connect(path)) as conn,
    ):
        records = [json.loads(r[0]) for r in conn.execute(f"SELECT data FROM {table}")]
    fields = sorted({f for r in records for f in _by_field(r)}, key=repr)
    for field in fields:
        for value in [None, {}, *TELLING_VALUES]:
            with state_file("multi-workload-app") as (path, now):
                with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # one transaction
                    for rowid, text in conn.execute(f"SELECT rowid, data FROM {table}").fetchall():
                        record = json.loads(text)
                        _set_everywhere(record, field, value)
                        conn.execute(
                            f"UPDATE {table} SET data = ? WHERE rowid = ?",
                            (json.dumps(record), rowid),
                        )
                assert load_cycle(path, now), (field, value)


@given(name=BASES, data=st.data())
def test_garbage_in_any_json_field(name: str, data: st.DataObject) -> None:
    # app deployments have the most fields: they are damaged most often
    table = data.draw(st.sampled_from(["app_deployments"] * 3 + ["failures", "changes"]))
    with state_file(name) as (path, now):
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            rows = conn.execute(f"SELECT rowid, data FROM {table}").fetchall()
            rowid, text = data.draw(st.sampled_from(rows))
            record = json.loads(text)
            for _ in range(data.draw(st.integers(1, 3))):
                places = _by_field(record)
                if not places:
                    break
                field = data.draw(st.sampled_from(sorted(places, key=repr)))
                *parents, last = data.draw(st.sampled_from(places[field]))
                target = record
                for step in parents:
                    target = target[step]
                if isinstance(target, dict) and data.draw(st.booleans()):
                    del target[last]
                else:
                    target[last] = data.draw(FIELD_VALUES)
            conn.execute(
                f"UPDATE {table} SET data = ? WHERE rowid = ?", (json.dumps(record), rowid)
            )
        assert load_cycle(path, now)


# ------------------------------------------------------------------------ faults


class FaultAt(sqlite3.Connection):
    """A connection whose n-th statement fails as a full disk does (0: none fails)."""

    fault_at = 0
    calls = 0

    def execute(self, *args: Any) -> sqlite3.Cursor:
        self._count()
        return super().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        self._count()
        return super().executemany(*args)

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self.fault_at:
            raise sqlite3.OperationalError("database or disk is full")


def _rows_of(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def _faulty_store(path: Path, fault_at: int) -> tuple[StateStore, FaultAt]:
    store = StateStore(path)
    store.db.close()
    conn = sqlite3.connect(path, isolation_level=None, factory=FaultAt)
    assert isinstance(conn, FaultAt)
    conn.fault_at = fault_at
    store.db = conn
    return store, conn


def test_a_save_failing_at_any_statement_writes_nothing_and_the_next_writes_all() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model, now = _ledger("multi-workload-app", Path(tmp))
        clean = Path(tmp) / "clean.db"
        store, conn = _faulty_store(clean, 0)
        store.save(model, now, everything=True)
        statements = conn.calls
        store.close()
        expected = _rows_of(clean)
        for fault_at in range(1, statements + 1):
            path = Path(tmp) / f"fault-{fault_at}.db"
            store, conn = _faulty_store(path, fault_at)
            with pytest.raises(StateError, match=f"state file {path}: save failed"):
                store.save(model, now, everything=True)
            assert not conn.in_transaction
            assert all(not rows for rows in _rows_of(path).values()), "a save half written"
            store.save(model, now)  # the disk has room again: not only what changed since
            store.close()
            assert _rows_of(path) == expected, f"statement {fault_at} failed"
