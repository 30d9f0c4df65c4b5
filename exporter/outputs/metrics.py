"""/metrics: the DORA families, pre-rendered per app, joined per scrape.

Like kube-state-metrics, each app's lines are rendered once when the app changes (or when its
window gauges are due for a refresh) and a scrape only joins cached bytes: rendering 10k series
through ``generate_latest`` costs ~80 ms, joining them well under 1 ms. The text format wants
all samples of a family together, so the cache is per (app, family).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from exporter.model.engine import DoraModel
from exporter.model.ledger import AppLedger
from exporter.model.records import AppDeployment, AppKey
from exporter.model.stats import AppStats, Histogram
from exporter.model.windows import WINDOWS
from exporter.outputs.families import FAMILIES, AppView, DoraFamily

_HEADERS = {family.name: family.header for family in FAMILIES}
FAMILY_NAMES = tuple(_HEADERS)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs)


_FRAGMENTS: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
_MAX_FRAGMENTS = 50_000
_BOUNDS: dict[tuple[float, ...], list[str]] = {}


def _fragment(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """``,name="value"...`` for a family's own labels; the same few (windows, outcomes,
    reasons) recur in every app, so they are escaped once and reused (bounded)."""
    key = (names, values)
    text = _FRAGMENTS.get(key)
    if text is None:
        if len(_FRAGMENTS) >= _MAX_FRAGMENTS:
            _FRAGMENTS.clear()
        text = _FRAGMENTS[key] = "," + _labels(zip(names, values, strict=True))
    return text


def _number(value: float) -> str:
    if type(value) is int:
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _histogram(name: str, base: str, hist: Histogram) -> list[str]:
    bounds = _BOUNDS.get(hist.bounds)
    if bounds is None:
        bounds = _BOUNDS[hist.bounds] = [_number(b) for b in hist.bounds]
    lines = []
    for bound, count in zip(bounds, hist.cumulative(), strict=True):
        lines.append(f'{name}_bucket{{{base},le="{bound}"}} {count}')
    lines.append(f'{name}_bucket{{{base},le="+Inf"}} {hist.count}')
    lines.append(f"{name}_sum{{{base}}} {_number(hist.total)}")
    lines.append(f"{name}_count{{{base}}} {hist.count}")
    return lines


@dataclass(slots=True)
class _Cached:
    revision: int
    valid_until: float
    families: dict[str, bytes] | None  # None: counted only (the app is over a cap)
    series: int


@dataclass(slots=True)
class MetricsRenderer:
    """Keeps per-app rendered text; ``render(now)`` re-renders only stale apps.

    Two caps keep a scrape bounded: at most ``max_apps`` apps and ``max_series`` DORA series
    (workload-level families included). Apps are kept whole, in the order they first
    appeared, so the series that exist do not flap when a new app pushes past a cap; an app
    that does not fit is left out and counted (``daylight_dropped_apps``, its series in
    ``daylight_dropped_series``). Left-out apps are still rendered to count their series,
    but their text is not kept.
    """

    model: DoraModel
    dora_report: str = "2023"
    max_apps: int = 5000
    max_series: int = 40_000
    cache: dict[AppKey, _Cached] = field(default_factory=dict)
    dropped_apps: int = 0
    dropped_series: int = 0
    series: int = 0
    _body: bytes = b""

    def render(self, now: float) -> bytes:
        for _ in self.steps(now):
            pass
        return self._body

    async def render_async(self, now: float) -> bytes:
        """The same, yielding to the event loop between batches of apps (big clusters)."""
        for _ in self.steps(now):
            await asyncio.sleep(0)
        return self._body

    def steps(self, now: float, batch: int = 50) -> Iterator[None]:
        """Render, pausing after every ``batch`` re-rendered apps; the body is kept."""
        apps = self.model.apps
        for stale in set(self.cache) - set(apps):
            del self.cache[stale]
        chunks: dict[str, list[bytes]] = {name: [] for name in FAMILY_NAMES}
        series = kept = dropped_apps = dropped_series = rendered = 0
        for key, ledger in list(apps.items()):
            cached = self.cache.get(key)
            if (
                cached is None
                or cached.revision != ledger.revision
                or now >= cached.valid_until
                or (cached.families is None and self._fits(kept, series, cached.series))
            ):
                cached = self._render_app(ledger, now)
                self.cache[key] = cached
                rendered += 1
                if rendered % batch == 0:
                    yield
            if not self._fits(kept, series, cached.series):
                dropped_apps += 1
                dropped_series += cached.series
                cached.families = None  # counted, not kept: nothing of it is served
                continue
            assert cached.families is not None
            kept += 1
            series += cached.series
            for name, text in cached.families.items():
                chunks[name].append(text)
        self.series, self.dropped_apps, self.dropped_series = series, dropped_apps, dropped_series
        out = []
        for name in FAMILY_NAMES:
            if chunks[name]:
                out.append(_HEADERS[name])
                out.extend(chunks[name])
        self._body = b"".join(out)

    def _fits(self, kept: int, series: int, more: int) -> bool:
        return kept < self.max_apps and series + more <= self.max_series

    def _render_app(self, ledger: AppLedger, now: float) -> _Cached:
        key = ledger.key
        app = AppView(
            key,
            ledger,
            [s for _, s in sorted(self.model.stats.workloads.get(key, {}).items())],
            self.model.stats.apps.get(key) or AppStats(),
            self.model.failures.is_open(key),
            now,
            self.dora_report,
        )
        base = _labels(
            (("environment", key.environment), ("namespace", key.namespace), ("app", key.app))
        )
        families: dict[str, bytes] = {}
        count = 0
        for family in FAMILIES:
            lines = _family_lines(family, app, base)
            if lines:
                families[family.name] = ("\n".join(lines) + "\n").encode()
                count += len(lines)
        return _Cached(ledger.revision, _valid_until(app.deployments, now), families, count)


def _family_lines(family: DoraFamily, app: AppView, base: str) -> list[str]:
    """The family's samples for one app, its name and the app's labels injected here."""
    name = family.name
    lines: list[str] = []
    for values, value in family.read(app):
        labels = base + _fragment(family.labels, values) if values else base
        if isinstance(value, Histogram):
            lines.extend(_histogram(name, labels, value))
        else:
            lines.append(f"{name}{{{labels}}} {_number(value)}")
    return lines


def _valid_until(deployments: list[AppDeployment], now: float) -> float:
    """When the window gauges next change without any new event: a deployment (or restore)
    leaves a window. Anything else that changes them bumps the app's revision. Exact, so a
    steady scrape is a join of cached bytes however long the scrape interval."""
    soonest = math.inf
    for d in deployments:
        for moment in (d.finished_at, d.restored_at):
            if moment is None:
                continue
            if moment > now:
                soonest = min(soonest, moment)
                continue
            for length in WINDOWS.values():
                if moment + length > now:
                    soonest = min(soonest, moment + length)
    return soonest
