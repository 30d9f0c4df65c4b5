"""kubeconfig files read the way kubectl reads them: which files, how they merge, which entries.

- The files: ``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``. Either of the
  first two may list several files separated by ``os.pathsep``; missing ones in a list are
  skipped, as kubectl does.
- The merge: for clusters, users and contexts the first file defining a name wins;
  ``current-context`` comes from the first file that sets one.
- Paths (``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``, an
  ``exec`` command containing a path separator) are relative to the file that defines them.

Nothing here interprets credentials; ``config`` turns the selected entries into access.
Error messages name files and entries, never a value (a token or key could be one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.kube.access import ConfigError

DEFAULT_LOCATION = "~/.kube/config"

# the fields holding file paths, resolved against the directory of the file defining them
_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")
_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One named cluster, user or context, with its paths made absolute."""

    name: str
    body: Mapping[str, Any]
    source: str


@dataclass(slots=True)
class Merged:
    """Several kubeconfig files merged like kubectl: first definition of a name wins."""

    files: list[str] = field(default_factory=list)
    current_context: str = ""
    sections: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {section: {} for section, _ in _SECTIONS}
    )

    @property
    def where(self) -> str:
        return "kubeconfig " + os.pathsep.join(self.files)


@dataclass(frozen=True, slots=True)
class Selection:
    """The context in force and the cluster and user it names."""

    where: str
    context: str
    cluster: Entry
    user: Entry

    def describe(self) -> str:
        user = self.user.name or "-"
        return f"{self.where} context {self.context} (cluster {self.cluster.name}, user {user})"


def candidate_files(path: str | None) -> tuple[list[Path], bool]:
    """The files to read, and whether they were asked for (flag or env) or the default."""
    listed = path or os.environ.get("KUBECONFIG", "")
    if listed:
        return [Path(os.path.expanduser(p)) for p in listed.split(os.pathsep) if p], True
    return [Path(os.path.expanduser(DEFAULT_LOCATION))], False


def read(files: Sequence[Path]) -> Merged:
    """Parse and merge the files that exist (none: nothing merged, ``files`` empty);
    ConfigError when one is unreadable or malformed."""
    merged = Merged()
    for file in files:
        if not file.is_file():
            continue
        merged.files.append(str(file))
        _merge(merged, file, _parse(file))
    return merged


def select(merged: Merged, context: str | None) -> Selection:
    """The context (``--context``, else ``current-context``) and its cluster and user."""
    contexts = merged.sections["contexts"]
    name = context or merged.current_context
    known = ", ".join(sorted(contexts)) or "none"
    if not name:
        raise ConfigError(f"{merged.where} sets no current-context; pass --context ({known})")
    chosen = contexts.get(name)
    if chosen is None:
        raise ConfigError(f"{merged.where} has no context {name!r} (contexts: {known})")
    cluster_name = text(chosen.body, "cluster", f"context {name!r}")
    if not cluster_name:
        raise ConfigError(f"{merged.where}: context {name!r} names no cluster")
    cluster = merged.sections["clusters"].get(cluster_name)
    if cluster is None:
        raise ConfigError(
            f"{merged.where}: context {name!r} names cluster {cluster_name!r}, "
            "which no kubeconfig file defines"
        )
    user_name = text(chosen.body, "user", f"context {name!r}")
    user = merged.sections["users"].get(user_name) if user_name else Entry("", {}, "")
    if user is None:
        raise ConfigError(
            f"{merged.where}: context {name!r} names user {user_name!r}, "
            "which no kubeconfig file defines"
        )
    return Selection(merged.where, name, cluster, user)


def text(body: Mapping[str, Any], key: str, what: str) -> str:
    """A string field ("" when absent or null); ConfigError naming the field otherwise."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{what}: {key} must be a string, not {type(value).__name__}")
    return value


def _parse(file: Path) -> Mapping[str, Any]:
    try:
        raw = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kubeconfig {file} unreadable: {exc}") from None
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {file} is not valid YAML: {_yaml_problem(exc)}") from None
    if doc is None:  # an empty file is an empty config, as for kubectl
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"kubeconfig {file} is not a mapping but a {type(doc).__name__}")
    return doc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint and position, without the snippet of the document it quotes
    (the offending line could hold a token)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem or exc.context or 'syntax error'}{where}"
    return type(exc).__name__


def _merge(merged: Merged, file: Path, doc: Mapping[str, Any]) -> None:
    base = os.path.dirname(os.path.abspath(file))
    where = f"kubeconfig {file}"
    if not merged.current_context:
        merged.current_context = text(doc, "current-context", where)
    for section, key in _SECTIONS:
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise ConfigError(f"{where}: {section} must be a list")
        known = merged.sections[section]
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise ConfigError(f"{where}: every entry of {section} needs a name")
            body = item.get(key) or {}
            if not isinstance(body, Mapping):
                raise ConfigError(f"{where}: {key} {item['name']!r} must be a mapping")
            if item["name"] not in known:
                known[item["name"]] = Entry(item["name"], _resolved(key, body, base), str(file))


def _resolved(kind: str, body: Mapping[str, Any], base: str) -> Mapping[str, Any]:
    fields = {"cluster": _CLUSTER_PATHS, "user": _USER_PATHS}.get(kind, ())
    out = dict(body)
    for key in fields:
        value = out.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            out[key] = os.path.join(base, value)
    plugin = out.get("exec")
    if kind == "user" and isinstance(plugin, Mapping):
        command = plugin.get("command")
        # only a command with a path separator is a path; a bare name is looked up in PATH
        if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
            out["exec"] = {**plugin, "command": os.path.join(base, command)}
    return out
