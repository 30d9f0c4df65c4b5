"""Timestamp parsing and formatting. Parsing is pure; nothing here reads a clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

MIN_PLAUSIBLE = 946_684_800.0  # 2000-01-01T00:00:00Z: older commit times are bad input


def parse_rfc3339(value: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when absent or malformed."""
    if not value or not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_commit_time(value: str | None) -> float | None:
    """RFC 3339 or Unix seconds (design §2); None if it cannot be read."""
    if value is None:
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        try:
            return float(text)
        except ValueError:
            return None
    return parse_rfc3339(text)


def parse_ci_time(value: object) -> float | None:
    """A commit time as CI systems send it: RFC 3339, GitLab's ``2006-01-02 15:04:05 UTC``,
    or Unix seconds (an int, a float, or a string of digits); None when it cannot be read.
    Values this large are nanoseconds or milliseconds since the epoch and are scaled."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        if text.replace(".", "", 1).isdigit():
            seconds = float(text)
        else:
            parsed = parse_rfc3339(text)
            return parsed
    else:
        return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    if seconds > 1e17:
        seconds /= 1e9  # nanoseconds (OTLP's time unit)
    elif seconds > 1e11:
        seconds /= 1e3  # milliseconds (JavaScript)
    return seconds


def format_rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``24h``, ``30d`` or plain seconds."""
    text = text.strip()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
    try:
        unit = units.get(text[-1:], 0.0)
        value = float(text[:-1]) * unit if unit else float(text)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 24h, 30d)") from None
    if value < 0 or value != value:
        raise ValueError(f"duration must be positive: {text!r}")
    return value


# --- Go-style durations (Keptn's timeout and retryInterval fields) -----------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """``5m``, ``1h30m``, ``500ms`` or ``0``; ValueError otherwise (also for bare numbers)."""
    value = text.strip()
    if value == "0":
        return 0.0
    if not value or len(value) > 32:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    total = 0.0
    position = 0
    for match in _GO_DURATION.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return total
