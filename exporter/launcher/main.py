"""``daylight launcher``: its own flags, and the process (launcher + /metrics, /healthz, /readyz).

The CLI adds the cluster and model flags it shares with ``daylight run`` (``--namespaces``,
``--exclude-namespaces``, ``--label-selector``, ``--default-environment``, ...) and a
``--listen``; :func:`add_arguments` adds the launcher's own, and :func:`run` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from exporter.events.timeutil import parse_duration
from exporter.kube.config import ClusterAccess
from exporter.launcher.render import Limits, RuntimeImages
from exporter.launcher.service import Launcher, LauncherConfig
from exporter.model.engine import ModelConfig

log = logging.getLogger("daylight.launcher")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def config_from(args: argparse.Namespace) -> tuple[LauncherConfig, ModelConfig]:
    def get(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return default if value is None else value

    catch_up = float(get("catch_up_window", 300.0))
    images = RuntimeImages()
    config = LauncherConfig(
        allowed_namespaces=tuple(get("allowed_namespaces", ())),
        images=RuntimeImages(
            python=get("python_runtime_image", images.python),
            deno=get("deno_runtime_image", images.deno),
        ),
        limits=Limits(
            max_timeout_s=float(get("max_task_timeout", 86400.0)),
            min_ttl_s=int(catch_up),
        ),
        catch_up_window_s=catch_up,
        definition_grace_s=float(get("definition_grace", 30.0)),
        events=get("task_events", "on") == "on",
        namespaces=tuple(get("namespaces", ())),
        exclude_namespaces=frozenset(get("exclude_namespaces", ())),
        label_selector=get("label_selector", None) or None,
    )
    model = ModelConfig(
        default_environment=get("default_environment", "production"),
        app_grouping_window_s=float(get("app_grouping_window", 30.0)),
        rollout_timeout_s=float(get("rollout_timeout", 900.0)),
        failure_window_s=float(get("failure_window", 86400.0)),
        degraded_after_s=float(get("degraded_after", 60.0)),
    )
    return config, model


def http_app(launcher: Launcher) -> web.Application:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    registry.register(launcher.collector())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, waiting = launcher.ready()
        if ok:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="waiting for: " + ", ".join(waiting) + "\n")

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def run(args: argparse.Namespace, access: ClusterAccess) -> int:
    """The ``daylight launcher`` process; returns when cancelled (SIGTERM/SIGINT)."""
    from exporter.outputs.http import serve

    config, model_config = config_from(args)
    launcher = Launcher(access, config, model_config)
    listen = getattr(args, "listen", None) or "0.0.0.0:9401"
    runner = await serve(http_app(launcher), listen)
    log.info("launcher serving http://%s/metrics; watching %s", listen, access.description)
    try:
        await launcher.start()
        await asyncio.Event().wait()
    finally:
        await launcher.stop()
        await runner.cleanup()
    return 0
