"""Discovery documents (/api, /apis, /version, ...), so clients that probe for CRDs work.

Only installed resources are advertised: removing a CRD removes it from discovery too, which
is how a client can tell "not installed" from a transient 404.
"""

from __future__ import annotations

from kubesim.resources import Registry, ResourceType
from kubesim.util import JsonDict

VERSION_INFO: JsonDict = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0+daylight-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _group_versions(registry: Registry) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rt in registry.served():
        if rt.group:
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
    return groups


def api_versions(server_address: str) -> JsonDict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> JsonDict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> JsonDict:
    groups = [_group(name, versions) for name, versions in _group_versions(registry).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> JsonDict | None:
    versions = _group_versions(registry).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entry(rt: ResourceType) -> JsonDict:
    entry: JsonDict = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": _VERBS,
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> JsonDict | None:
    types = [rt for rt in registry.served() if rt.group == group and rt.version == version]
    if not types:
        return None
    resources: list[JsonDict] = []
    for rt in types:
        resources.append(_resource_entry(rt))
        if rt.has_status:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
