"""Read-only PromQL queries (Prometheus and Thanos speak the same HTTP API).

Every query is one GET with a total timeout, a capped response size and no retries of its
own (the evaluation retries on its schedule). Answers are reduced to one number or a reason:
``ok`` with a value, ``no_data`` (an empty result), or ``error`` (the server refused the
query, answered garbage, more than one series, or could not be reached). Nothing here
blocks the event loop: aiohttp does the I/O, JSON is small and capped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from exporter.events.urls import redact, redact_text, valid_http_url

MAX_BODY = 1024 * 1024
AGGREGATIONS = ("avg", "max", "min", "median", "p90", "p95", "p99")


@dataclass(frozen=True, slots=True)
class QueryResult:
    status: str  # "ok" | "no_data" | "error"
    value: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _Answer(msgspec.Struct):
    status: str = ""
    data: Any = None
    errorType: str = ""
    error: str = ""


_answer = msgspec.json.Decoder(_Answer)


def _number(sample: Any) -> float:
    if not isinstance(sample, list) or len(sample) != 2:
        raise ValueError("malformed sample")
    return float(sample[1])  # "NaN", "+Inf" parse too


def reduce_instant(data: Any) -> QueryResult:
    if not isinstance(data, dict):
        return QueryResult("error", message="malformed answer: no data")
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return QueryResult("ok", _number(result))
        if kind == "vector" and isinstance(result, list):
            if not result:
                return QueryResult("no_data", message="the query returned no series")
            if len(result) > 1:
                return QueryResult(
                    "error", message=f"the query returned {len(result)} series; expected one"
                )
            return QueryResult("ok", _number(result[0].get("value")))
    except (ValueError, TypeError, AttributeError) as exc:
        return QueryResult("error", message=f"malformed answer: {exc}")
    return QueryResult("error", message=f"unsupported result type {kind!r}")


def aggregate(values: Sequence[float], how: str) -> float:
    data = sorted(v for v in values if not math.isnan(v))
    if not data:
        return math.nan
    if how == "max":
        return data[-1]
    if how == "min":
        return data[0]
    if how == "median":
        return float(statistics.median(data))
    if how in ("p90", "p95", "p99"):
        rank = int(how[1:]) / 100 * (len(data) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(data) - 1)
        return data[low] + (data[high] - data[low]) * (rank - low)
    return sum(data) / len(data)


def reduce_range(data: Any, how: str) -> QueryResult:
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        return QueryResult("error", message="malformed range answer")
    result = data.get("result")
    if not isinstance(result, list):
        return QueryResult("error", message="malformed range answer")
    if not result:
        return QueryResult("no_data", message="the query returned no series")
    if len(result) > 1:
        return QueryResult("error", message=f"the query returned {len(result)} series")
    try:
        values = [_number(v) for v in result[0].get("values", [])]
    except (ValueError, TypeError, AttributeError) as exc:
        return QueryResult("error", message=f"malformed answer: {exc}")
    if not values:
        return QueryResult("no_data", message="the series has no samples in the range")
    return QueryResult("ok", aggregate(values, how))


class PrometheusClient:
    """One aiohttp session for every server; ``insecure`` skips TLS verification (only when
    the KeptnMetricsProvider asks for it)."""

    def __init__(self, timeout_s: float = 10.0, user_agent: str = "daylight-evaluations") -> None:
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=16, limit_per_host=4)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, url: str, params: Mapping[str, str], insecure: bool) -> tuple[int, Any]:
        session = self._get_session()
        async with session.get(
            url,
            params=params,
            headers={"Accept": "application/json", "User-Agent": self.user_agent},
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ssl=not insecure,
            allow_redirects=False,
        ) as response:
            body = await response.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise ValueError(f"answer larger than {MAX_BODY} bytes")
            return response.status, body

    async def _call(
        self, server: str, path: str, params: Mapping[str, str], insecure: bool
    ) -> tuple[Any, QueryResult | None]:
        if not valid_http_url(server):
            return None, QueryResult("error", message=f"invalid server URL {redact(server)!r}")
        url = server.rstrip("/") + path
        try:
            status, body = await self._get(url, params, insecure)
        except TimeoutError:
            return None, QueryResult("error", message=f"timed out after {self.timeout_s:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            detail = redact_text(f"{type(exc).__name__}: {exc}")
            return None, QueryResult("error", message=detail[:300])
        try:
            answer = _answer.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            text = bytes(body[:120]).decode("utf-8", "replace")
            return None, QueryResult(
                "error", message=f"HTTP {status}, not a Prometheus answer: {text!r}"
            )
        if answer.status != "success":
            detail = f"{answer.errorType}: {answer.error}" if answer.error else f"HTTP {status}"
            return None, QueryResult("error", message=detail[:300])
        return answer.data, None

    async def instant(self, server: str, query: str, *, insecure: bool = False) -> QueryResult:
        data, failure = await self._call(server, "/api/v1/query", {"query": query}, insecure)
        return failure if failure is not None else reduce_instant(data)

    async def range(
        self,
        server: str,
        query: str,
        *,
        start: float,
        end: float,
        step_s: float,
        aggregation: str,
        insecure: bool = False,
    ) -> QueryResult:
        params = {
            "query": query,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{max(step_s, 1.0):g}",
        }
        data, failure = await self._call(server, "/api/v1/query_range", params, insecure)
        return failure if failure is not None else reduce_range(data, aggregation)
