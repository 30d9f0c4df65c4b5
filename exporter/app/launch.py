"""``daylight launcher``: the launcher process (launcher + /metrics, /healthz, /readyz)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from aiohttp import web

from exporter.app.console import run_async
from exporter.app.serving import cluster_access
from exporter.kube.config import ClusterAccess
from exporter.launcher.jobs import LauncherConfig
from exporter.launcher.render import Limits, RuntimeImages
from exporter.launcher.service import Launcher
from exporter.model.engine import ModelConfig
from exporter.outputs.http import serve
from exporter.outputs.selfmetrics import build_registry, render_self

log = logging.getLogger("daylight.launcher")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    registry = build_registry(launcher.collectors())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render_self(registry), headers={"Content-Type": CONTENT_TYPE})

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


def cmd_launcher(args: argparse.Namespace) -> int:
    return run_async(_run(args, cluster_access(args)))


async def _run(args: argparse.Namespace, access: ClusterAccess) -> int:
    """The ``daylight launcher`` process; returns when cancelled (SIGTERM/SIGINT)."""
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
