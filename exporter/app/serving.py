"""From flags to parts: cluster access, the model's configuration, checks, traces, the state
file, and the one HTTP port of an exporter (metrics, health, report, intake)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client.registry import Collector

from exporter.app.console import CommandError
from exporter.app.guard import Supervisor, SupervisorCollector
from exporter.checks.phases import rollout_phases
from exporter.evaluations.checks import KeptnChecks
from exporter.evaluations.engine import EvaluationConfig
from exporter.intake.cdevents import CdEventsIntake
from exporter.intake.cicd import AppMap
from exporter.intake.endpoints import Intake, TokenFile
from exporter.intake.otlp import OtlpReceiver
from exporter.kube import config as kube_config
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Informer
from exporter.kube.scope import WatchScope
from exporter.model.engine import DoraModel, ModelConfig
from exporter.outputs import selfmetrics
from exporter.outputs.http import HttpApi, serve
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.traces import TraceEmitter, otlp_configured
from exporter.state.store import StateError, StateStore

log = logging.getLogger("daylight")


def cluster_access(args: argparse.Namespace) -> ClusterAccess:
    try:
        return kube_config.load(args.kubeconfig, args.context, Path(args.service_account_dir))
    except kube_config.ConfigError as exc:
        raise CommandError(str(exc)) from None


def model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        default_environment=args.default_environment,
        app_grouping_window_s=args.app_grouping_window,
        rollout_timeout_s=args.rollout_timeout,
        failure_window_s=args.failure_window,
        degraded_after_s=args.degraded_after,
        alert_app_labels=tuple(args.alert_app_labels),
    )


def watch_scope(args: argparse.Namespace) -> WatchScope:
    return WatchScope(
        namespaces=tuple(args.namespaces),
        exclude_namespaces=frozenset(args.exclude_namespaces),
        label_selector=args.label_selector or None,
    )


def checks_from(model: DoraModel, args: argparse.Namespace) -> KeptnChecks:
    return KeptnChecks(
        model,
        allowed_namespaces=tuple(args.allowed_namespaces),
        evaluation=EvaluationConfig(
            default_server=args.prometheus_url or "", query_timeout_s=args.evaluation_timeout
        ),
        evaluations=args.evaluations != "off",
    )


def traces_from(args: argparse.Namespace, checks: KeptnChecks | None = None) -> TraceEmitter | None:
    if args.traces == "off" or (args.traces == "auto" and not otlp_configured()):
        return None
    try:
        return TraceEmitter(
            protocol=args.otlp_protocol,
            cluster_name=args.cluster_name or None,
            phases=checks.trace_phases if checks is not None else rollout_phases,
        )
    except (ValueError, ImportError) as exc:
        log.error("traces disabled: %s", exc)
        return None


def state_from(args: argparse.Namespace) -> StateStore | None:
    if not args.state_file:
        return None
    try:
        return StateStore(args.state_file)
    except StateError as exc:  # names the file and what to do; one line on the terminal
        raise CommandError(" ".join(str(exc).split())) from None


def token_from(args: argparse.Namespace) -> TokenFile | None:
    if not args.api_token_file:
        return None
    path = Path(args.api_token_file)
    if not path.is_file():
        raise CommandError(f"--api-token-file {path}: no such file")
    return TokenFile(path)


def otlp_receiver(
    args: argparse.Namespace, model: DoraModel, ready: Callable[[], bool]
) -> OtlpReceiver | None:
    """The OTLP/HTTP receiver of CI/CD spans (``--otlp-listen``), or None when off."""
    if getattr(args, "otlp_listen", "off") == "off":
        return None
    try:
        apps = AppMap.parse(args.ci_app_map)
    except ValueError as exc:
        raise CommandError(f"--ci-app-map: {exc}") from None
    return OtlpReceiver(
        model, token=token_from(args), apps=apps, max_body=args.otlp_max_body, ready=ready
    )


async def serve_otlp(receiver: OtlpReceiver, listen: str) -> web.AppRunner:
    try:
        return await serve(receiver.app(), listen)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {listen} (--otlp-listen): {exc.strerror or exc}"
        ) from None


async def serve_otlp_grpc(receiver: OtlpReceiver, listen: str) -> Callable[[], Awaitable[None]]:
    """The OTLP/gRPC receiver (the grpc extra); returns what stops it."""
    try:
        from exporter.intake.otlp_grpc import serve_grpc
    except ImportError as exc:
        raise CommandError(
            f"--otlp-grpc-listen needs the grpc extra (pip install daylight[grpc]): {exc}"
        ) from None
    try:
        server = await serve_grpc(receiver, listen)
    except (OSError, RuntimeError) as exc:
        raise CommandError(f"cannot listen on {listen} (--otlp-grpc-listen): {exc}") from None

    async def stop() -> None:
        await server.stop(1)

    return stop


async def serve_exporter(
    args: argparse.Namespace,
    *,
    model: DoraModel,
    mode: str,
    ready: Callable[[], tuple[bool, list[str]]],
    informers: Callable[[], list[Informer]] = list,
    supervisor: Supervisor | None = None,
    traces: TraceEmitter | None = None,
    checks: KeptnChecks | None = None,
    intake: bool = True,
    otlp: OtlpReceiver | None = None,
    clock: Callable[[], float] | None = None,
    state: StateStore | None = None,
) -> web.AppRunner:
    """Serve /metrics, /healthz, /readyz, /api/v1/dora (and the POST intake) on --listen."""
    renderer = MetricsRenderer(
        model, dora_report=args.dora_report, max_apps=args.max_apps, max_series=args.max_series
    )
    collectors: list[Collector] = selfmetrics.exporter_collectors(
        model,
        renderer,
        mode=mode,
        informers=lambda: [(i.name, i.stats) for i in informers()],
        traces=traces.counters if traces is not None else dict,
        otlp=otlp.counters if otlp is not None else None,
    )
    if checks is not None:
        collectors.append(selfmetrics.Checks(checks.stats, evaluations=checks.evaluations_enabled))
    if supervisor is not None:
        collectors.append(SupervisorCollector(supervisor))
    if state is not None:
        collectors.append(selfmetrics.StateFile(state.counters))
    extra = {} if clock is None else {"clock": clock}
    api = HttpApi(
        model,
        renderer,
        selfmetrics.build_registry(collectors),
        ready,
        dora_report=args.dora_report,
        **extra,
    )
    app = api.app()
    if intake:
        token = token_from(args)
        Intake(model, token).register(app)
        CdEventsIntake(model, token).register(app)
    try:
        return await serve(app, args.listen)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
