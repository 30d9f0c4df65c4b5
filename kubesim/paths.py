"""Request URL → (resource, namespace, name, subresource), with the real server's shapes.

Collections: /api/v1/pods, /api/v1/namespaces/{ns}/pods, /apis/{group}/{version}/...;
objects: .../{plural}/{name}[/{subresource}]. A path that names no served resource is a
plain-text 404, like the real server's mux answers for an unknown group/version or plural.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.resources import Registry, ResourceType

# Subresources of the namespace object itself; anything else after /namespaces/{ns}/ is a
# namespaced collection.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True, slots=True)
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def split_api_path(path: str) -> tuple[str, str, list[str]] | None:
    """(group, version, rest) for /api/v1/... and /apis/{g}/{v}/...; None otherwise."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_target(group: str, version: str, rest: list[str]) -> Target | None:
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        if len(rest) > 5:
            return None
        return Target(
            group,
            version,
            rest[2],
            namespace=rest[1],
            name=rest[3] if len(rest) > 3 else None,
            subresource=rest[4] if len(rest) > 4 else None,
        )
    if len(rest) > 3:
        return None
    return Target(
        group,
        version,
        rest[0],
        name=rest[1] if len(rest) > 1 else None,
        subresource=rest[2] if len(rest) > 2 else None,
    )


def resolve(registry: Registry, target: Target) -> ResourceType | None:
    """The resource type the target addresses, if the URL shape is valid for it."""
    rt = registry.by_path(target.group, target.version, target.plural)
    if rt is None:
        return None
    if target.namespace is not None and not rt.namespaced:
        return None
    if target.name is not None and target.namespace is None and rt.namespaced:
        return None
    if target.subresource is not None and target.subresource != "status":
        return None
    return rt
