"""Which strings may become names: label values, app and workload names, versions.

Label values must stay bounded and printable. Kubernetes caps label values at 63 characters,
but annotations are free text, so every value used as an identity is checked here, once.
"""

from __future__ import annotations

import re

MAX_NAME = 127
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/+:@]{0,126}$")


def valid_name(value: str) -> bool:
    return bool(_NAME_RE.match(value))
