"""The ``daylight`` command line. Every flag can also be set as DAYLIGHT_<FLAG>."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from exporter import __version__
from exporter.app import commands, launcher
from exporter.app.console import CommandError
from exporter.events.external import DEFAULT_APP_LABELS
from exporter.events.timeutil import parse_duration
from exporter.launcher.render import RuntimeImages

log = logging.getLogger("daylight")

DESCRIPTION = """\
Daylight: DORA metrics for every Kubernetes workload, read-only, from the cluster itself.

It watches Deployments, StatefulSets, DaemonSets (and their ReplicaSets/ControllerRevisions),
Pods, Jobs, Namespaces and the Keptn resources, derives deployments per application, and serves
the DORA keys as Prometheus metrics and a JSON report. Start with `daylight demo`.
"""

EPILOG = """\
Every flag can also be given as an environment variable: DAYLIGHT_ plus the flag name in
capitals with dashes as underscores, e.g. --default-environment -> DAYLIGHT_DEFAULT_ENVIRONMENT.
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _listen(text: str) -> str:
    _host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return text


def _listen_or_off(text: str) -> str:
    return "off" if text.strip().lower() == "off" else _listen(text)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--default-environment",
        default="production",
        help="environment of namespaces without the daylight.dev/environment label "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--app-grouping-window",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="workload deployments of one app starting this close together form one app "
        "deployment (default: 30s)",
    )
    g.add_argument(
        "--rollout-timeout",
        type=_duration,
        default=900.0,
        metavar="DURATION",
        help="a StatefulSet/DaemonSet rollout not complete after this has failed; "
        "Deployments use their progressDeadlineSeconds (default: 15m)",
    )
    g.add_argument(
        "--failure-window",
        type=_duration,
        default=86400.0,
        metavar="DURATION",
        help="how long after a deployment a failure still counts against it (default: 24h)",
    )
    g.add_argument(
        "--degraded-after",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="a workload unavailable this long after its deployment makes it a failed "
        "change, reason degraded (default: 60s)",
    )
    g.add_argument(
        "--alert-app-labels",
        type=_csv,
        default=DEFAULT_APP_LABELS,
        metavar="LABEL[,LABEL]",
        help="alert labels naming the app or workload, first match wins (besides "
        "'namespace'); default: " + ",".join(DEFAULT_APP_LABELS),
    )
    g.add_argument(
        "--dora-report",
        choices=("2021", "2023"),
        default="2023",
        help="which DORA report's performance table to use (default: %(default)s)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="log verbosity (default: %(default)s)",
    )


def _add_cluster(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    g.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
        "or the in-cluster service account when running in a pod)",
    )
    g.add_argument("--context", help="kubeconfig context (default: the current context)")
    g.add_argument(
        "--service-account-dir",
        default="/var/run/secrets/kubernetes.io/serviceaccount",
        metavar="DIR",
        help="in a pod: where the service-account token and ca.crt are mounted "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--namespaces",
        type=_csv,
        default=(),
        metavar="NS[,NS]",
        help="watch only these namespaces (default: all); needs only namespaced read access",
    )
    g.add_argument(
        "--exclude-namespaces",
        type=_csv,
        default=(),
        metavar="NS[,NS]",
        help="ignore these namespaces (e.g. kube-system)",
    )
    g.add_argument(
        "--label-selector",
        help="only workloads, ReplicaSets, ControllerRevisions and Pods matching this selector",
    )


def _add_serve(p: argparse.ArgumentParser, default: str, *, intake: bool = True) -> None:
    p.add_argument(
        "--listen",
        type=_listen,
        default=default,
        metavar="HOST:PORT",
        help="where to serve /metrics, /healthz, /readyz and /api/v1/dora (default: %(default)s)",
    )
    if intake:
        p.add_argument(
            "--api-token-file",
            metavar="FILE",
            help="require 'Authorization: Bearer <token>' on POST /api/v1/changes, "
            "/api/v1/alerts, /api/v1/cdevents and the OTLP receiver; the file is re-read when "
            "it changes (default: no token)",
        )
    p.add_argument(
        "--max-apps",
        type=_count,
        default=5000,
        metavar="N",
        help="cardinality cap: at most N apps on /metrics; the others are left out whole and "
        "counted in daylight_dropped_apps (default: %(default)s)",
    )
    p.add_argument(
        "--max-series",
        type=_count,
        default=40_000,
        metavar="N",
        help="cardinality cap: at most N DORA series on /metrics, workload-level ones "
        "included (about 70 per app plus 16 per workload); apps that would go beyond it are "
        "left out whole, in the order they appeared, and their series counted in "
        "daylight_dropped_series (default: %(default)s)",
    )


def _add_ci_intake(p: argparse.ArgumentParser) -> None:
    """``daylight run``'s CI/CD intake: the OTLP/HTTP receiver and how spans name apps."""
    g = p.add_argument_group("CI/CD spans in (OTLP/HTTP receiver)")
    g.add_argument(
        "--otlp-listen",
        type=_listen_or_off,
        default="0.0.0.0:4318",
        metavar="HOST:PORT|off",
        help="serve POST /v1/traces (OTLP/HTTP, protobuf or JSON) here: CI/CD pipeline-run "
        "spans become changes (lead time); the same bearer token as --api-token-file "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--otlp-grpc-listen",
        type=_listen_or_off,
        default="off",
        metavar="HOST:PORT|off",
        help="also serve OTLP/gRPC TraceService/Export here (4317 is its usual port; needs "
        "the grpc extra: pip install daylight[grpc]) (default: %(default)s)",
    )
    g.add_argument(
        "--otlp-max-body",
        type=_count,
        default=20 * 1024 * 1024,
        metavar="BYTES",
        help="largest OTLP request body, after decompression; larger ones get 413 "
        "(default: 20 MiB)",
    )
    g.add_argument(
        "--ci-app-map",
        type=_csv,
        default=(),
        metavar="KEY=[NAMESPACE/]APP[,...]",
        help="the app (and namespace) of CI runs whose service.name or repository is KEY, for "
        "pipelines that set neither daylight.app nor k8s.namespace.name (default: none; "
        "such runs match any app by image digest, version or sha)",
    )


def _add_traces(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("traces (OTLP; the standard OTEL_* variables apply)")
    g.add_argument(
        "--traces",
        choices=("auto", "on", "off"),
        default="auto",
        help="one trace per app deployment; auto: on when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT "
        "is set (default: %(default)s)",
    )
    g.add_argument(
        "--otlp-protocol",
        choices=("http/protobuf", "grpc"),
        default=None,
        help="OTLP transport (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)",
    )
    g.add_argument("--cluster-name", help="k8s.cluster.name on every trace (default: none)")


def _add_checks(parser: argparse.ArgumentParser) -> None:
    """Flags of ``daylight run`` for checks (each also DAYLIGHT_<FLAG> through the CLI)."""
    g = parser.add_argument_group("pre/post-deployment checks (Keptn tasks and evaluations)")
    g.add_argument(
        "--allowed-namespaces",
        type=_csv,
        default=(),
        metavar="NS[,NS]",
        help="run evaluations in these namespaces, and in namespaces annotated "
        "keptn.sh/lifecycle-toolkit=enabled (default: annotated namespaces only)",
    )
    g.add_argument(
        "--evaluations",
        choices=("on", "off"),
        default="on",
        help="run KeptnEvaluationDefinitions when deployments start and complete "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--prometheus-url",
        default="",
        metavar="URL",
        help="Prometheus (or Thanos) for inline evaluation queries without a "
        "KeptnMetricsProvider (default: none)",
    )
    g.add_argument(
        "--evaluation-timeout",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="timeout of one evaluation query (default: 10s)",
    )


def _add_launcher(parser: argparse.ArgumentParser) -> None:
    """The launcher's own flags (each also read from DAYLIGHT_<FLAG> by the CLI)."""
    defaults = RuntimeImages()
    g = parser.add_argument_group("launcher")
    g.add_argument(
        "--allowed-namespaces",
        type=_csv,
        default=(),
        metavar="NS[,NS]",
        help="create task Jobs only in these namespaces, or in namespaces annotated "
        "keptn.sh/lifecycle-toolkit=enabled (default: annotated namespaces only)",
    )
    g.add_argument(
        "--python-runtime-image",
        default=defaults.python,
        metavar="IMAGE",
        help="image of python tasks (default: %(default)s)",
    )
    g.add_argument(
        "--deno-runtime-image",
        default=defaults.deno,
        metavar="IMAGE",
        help="image of deno tasks (default: %(default)s)",
    )
    g.add_argument(
        "--catch-up-window",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="after a (re)start, launch the tasks of rollouts that started or completed this "
        "recently (creating a Job that exists is a no-op); finished task Jobs are kept at "
        "least this long (default: 5m)",
    )
    g.add_argument(
        "--definition-grace",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="how long a missing KeptnTaskDefinition may take to appear before the task "
        "fails with reason unknown_definition (default: 30s)",
    )
    g.add_argument(
        "--max-task-timeout",
        type=_duration,
        default=86400.0,
        metavar="DURATION",
        help="task definitions with a longer timeout are invalid (default: 24h)",
    )
    g.add_argument(
        "--task-events",
        choices=("on", "off"),
        default="on",
        help="report launches and invalid tasks as Kubernetes Events on the workload "
        "(needs create on events.events.k8s.io; default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daylight",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"daylight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run",
        help="watch a cluster (kubeconfig or in-cluster) and serve DORA metrics",
        description="Watch the cluster read-only (get/list/watch) and serve DORA metrics.",
    )
    _add_cluster(run)
    _add_serve(run, "0.0.0.0:9400")
    _add_ci_intake(run)
    _add_traces(run)
    _add_checks(run)
    run.add_argument(
        "--state-file",
        metavar="FILE",
        help="SQLite file keeping the ledger (failures, restores, lead times) across "
        "restarts; without it, history is rebuilt from the cluster alone (default: none)",
    )
    _add_common(run)

    demo = sub.add_parser(
        "demo",
        help="start an embedded simulated cluster and the exporter against it",
        description="Start the embedded simulated cluster (30 days of history, new rollouts "
        "every few seconds) and the exporter, which reaches it over HTTP through the same "
        "list/watch code as a real cluster. Prints where /metrics is and refreshes a report.",
    )
    _add_serve(demo, "127.0.0.1:9400")
    _add_traces(demo)
    demo.add_argument("--seed", type=int, default=7, help="simulation seed (default: 7)")
    demo.add_argument(
        "--interval",
        type=_duration,
        default=4.0,
        metavar="DURATION",
        help="time between simulated changes (default: 4s)",
    )
    demo.add_argument(
        "--refresh",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="how often the report table is printed; 0 disables it (default: 10s)",
    )
    demo.add_argument(
        "--duration",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="stop after this long (default: run until interrupted)",
    )
    _add_common(demo)

    report = sub.add_parser(
        "report",
        help="print a one-shot DORA report from the cluster or an event log",
        description="Compute the DORA keys once and print them.",
    )
    report.add_argument("--replay", metavar="FILE", help="read an event log instead of a cluster")
    report.add_argument(
        "--now",
        help="with --replay: the report's 'now' (RFC 3339; default: the last event's time)",
    )
    report.add_argument(
        "--window",
        type=_duration,
        default=30 * 86400.0,
        metavar="DURATION",
        help="report window ending now (default: 30d)",
    )
    report.add_argument("--format", choices=("table", "json"), default="table")
    _add_cluster(report)
    _add_common(report)

    replay = sub.add_parser(
        "replay",
        help="run the engine over an event log and serve the result",
        description="Feed an event log through the model and serve /metrics and the report "
        "as of the log's last event (or --now). An event log is JSON Lines, one watch event "
        'a line: {"time": RFC 3339, "type": "ADDED|MODIFIED|DELETED", "object": {...}}, '
        "plus ALERT and CHANGE lines (docs/design.md §5); `daylight record` writes them.",
    )
    replay.add_argument("file", metavar="FILE")
    replay.add_argument("--now", help="the served 'now' (RFC 3339; default: the last event)")
    _add_serve(replay, "127.0.0.1:9400", intake=False)  # a replay takes no input
    _add_common(replay)

    launcher = sub.add_parser(
        "launcher",
        help="run Keptn pre/post-deployment tasks as Kubernetes Jobs (the only writer)",
        description="Turn KeptnTaskDefinitions into Jobs when a workload version starts "
        "deploying (pre) and when it completes (post). Tasks run beside the rollout: there is "
        "no admission webhook and nothing waits for them. Writes only Jobs, ConfigMaps "
        "(inline code) and Events, only in allowed namespaces.",
    )
    _add_cluster(launcher)
    launcher.add_argument(
        "--listen",
        type=_listen,
        default="0.0.0.0:9401",
        metavar="HOST:PORT",
        help="where to serve /metrics, /healthz and /readyz (default: %(default)s)",
    )
    _add_launcher(launcher)
    _add_common(launcher)

    record = sub.add_parser(
        "record",
        help="write the cluster's watch events as an event log",
        description="List and watch the cluster and append every event to FILE as JSON "
        "Lines (objects exactly as the API serves them), for replay and report --replay.",
    )
    record.add_argument("file", metavar="FILE")
    record.add_argument(
        "--duration",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="stop after this long (default: until interrupted)",
    )
    _add_cluster(record)
    record.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    _apply_env_defaults(parser)
    return parser


def _apply_env_defaults(parser: argparse.ArgumentParser) -> None:
    """DAYLIGHT_<FLAG> environment variables become defaults (flags still win)."""
    subparsers = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]  # argparse has no public walk over subcommands
    for group in subparsers:
        for sub in group.choices.values():
            for action in sub._actions:
                if not action.option_strings or action.dest in ("help",):
                    continue
                flag = max(action.option_strings, key=len).lstrip("-")
                variable = "DAYLIGHT_" + flag.upper().replace("-", "_")
                value = os.environ.get(variable)
                if value is None:
                    continue
                if action.type is not None and callable(action.type):
                    try:
                        converted: Any = action.type(value)
                    except (argparse.ArgumentTypeError, ValueError) as exc:
                        raise SystemExit(f"daylight: {variable}: {exc}") from None
                else:
                    converted = value
                if action.choices is not None and converted not in action.choices:
                    allowed = ", ".join(map(str, action.choices))
                    raise SystemExit(f"daylight: {variable}: {value!r} is not one of {allowed}")
                action.default = converted


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.Formatter.converter = time.gmtime
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": commands.cmd_run,
    "demo": commands.cmd_demo,
    "report": commands.cmd_report,
    "replay": commands.cmd_replay,
    "record": commands.cmd_record,
    "launcher": launcher.cmd_launcher,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    handler = COMMANDS[args.command]
    try:
        result: int = handler(args)
        return result
    except CommandError as exc:
        print(f"daylight {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
