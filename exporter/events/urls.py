"""URLs from outside input (task httpRefs, metrics providers): checked, and never shown with
the credentials they may carry (``https://user:token@host/...``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def valid_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def redact(url: str) -> str:
    """The URL without its user name and password, and without a query string (tokens are
    often passed there); for logs, Events, annotations and error messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = ("***@" if "@" in parts.netloc else "") + host
        query = "***" if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return redact_text(url)


def without_credentials(url: str) -> str | None:
    """An http(s) URL fit to show and to send on (a CI run's URL on our spans): no user name,
    password, query string or fragment; None when it is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact_text(text: str) -> str:
    """Any ``scheme://user:pass@`` inside free text (an error message quoting a URL)."""
    return _USERINFO.sub("***@", text)
