"""What each ``daylight`` subcommand does, once its flags are parsed (launcher: ``launch``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from exporter.app.console import CommandError, json_dump, parse_now, run_async
from exporter.app.guard import Supervisor
from exporter.app.pipeline import Pipeline, ReplayResult
from exporter.app.runtime import LiveRuntime
from exporter.app.serving import (
    checks_from,
    cluster_access,
    model_config,
    otlp_receiver,
    serve_exporter,
    serve_otlp,
    serve_otlp_grpc,
    state_from,
    traces_from,
    watch_scope,
)
from exporter.evaluations.checks import KeptnChecks
from exporter.events.envelope import EventType
from exporter.intake.otlp import OtlpReceiver
from exporter.kube import eventlog
from exporter.kube.client import ApiClient
from exporter.kube.config import ClusterAccess
from exporter.kube.informer import Disabled
from exporter.kube.scope import build_informers
from exporter.model.engine import DoraModel
from exporter.outputs.http import bound_port
from exporter.outputs.report import build_report, render_table

log = logging.getLogger("daylight")

# ----------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    return run_async(_run(cluster_access(args), args))


async def _run(access: ClusterAccess, args: argparse.Namespace) -> int:
    model = DoraModel(model_config(args))
    checks = checks_from(model, args)
    runtime = LiveRuntime(
        access,
        model,
        watch_scope(args),
        state=state_from(args),
        traces=traces_from(args, checks),
        checks=checks,
    )
    runtime.build_informers()
    receiver = otlp_receiver(args, model, lambda: runtime.started)
    runner = await _serve_runtime(runtime, args, "run", receiver)
    otlp_runner = None
    stop_grpc = None
    try:
        if receiver is not None:
            otlp_runner = await serve_otlp(receiver, args.otlp_listen)
            log.info("OTLP/HTTP receiver of CI/CD spans on http://%s/v1/traces", args.otlp_listen)
            if args.otlp_grpc_listen != "off":
                stop_grpc = await serve_otlp_grpc(receiver, args.otlp_grpc_listen)
                log.info("OTLP/gRPC receiver of CI/CD spans on %s", args.otlp_grpc_listen)
        log.info("serving http://%s/metrics; watching %s", args.listen, access.description)
        await runtime.start()
        await asyncio.Event().wait()
    finally:
        await runtime.stop()
        if stop_grpc is not None:
            await stop_grpc()
        if otlp_runner is not None:
            await otlp_runner.cleanup()
        await runner.cleanup()
    return 0


async def _serve_runtime(
    runtime: LiveRuntime, args: argparse.Namespace, mode: str, otlp: OtlpReceiver | None = None
) -> Any:
    return await serve_exporter(
        args,
        model=runtime.model,
        mode=mode,
        ready=runtime.ready,
        informers=lambda: runtime.informers,
        supervisor=runtime.supervisor,
        traces=runtime.traces,
        checks=runtime.checks,
        state=runtime.state,
        otlp=otlp,
    )


# ---------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    return run_async(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    from kubesim import SimCluster  # the demo's cluster: the only production use of kubesim

    sim = SimCluster(seed=args.seed, live_interval_s=args.interval)
    url = await sim.start()
    model = DoraModel(model_config(args))
    runtime = LiveRuntime(ClusterAccess.plain(url), model, traces=traces_from(args))
    runtime.build_informers()
    runner = await _serve_runtime(runtime, args, "demo")
    port = bound_port(runner)
    host = args.listen.rpartition(":")[0] or "127.0.0.1"
    print(
        f"Daylight demo: simulated cluster at {url}\n"
        f"  metrics: http://{host}:{port}/metrics\n"
        f"  report:  http://{host}:{port}/api/v1/dora\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        await runtime.start()
        while deadline is None or time.monotonic() < deadline:
            step = args.refresh or 1.0
            if deadline is not None:
                step = max(0.05, min(step, deadline - time.monotonic()))
            await asyncio.sleep(step)
            if args.refresh:
                report = build_report(model, time.time(), 30 * 86400.0, args.dora_report)
                clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else "\n"
                print(clear + render_table(report), flush=True)
    finally:
        await runtime.stop()
        await runner.cleanup()
        await sim.stop()
    return 0


# -------------------------------------------------------------------------- replay


def replay_into(model: DoraModel, path: str) -> ReplayResult:
    """Feed a log through the pipeline, task Job outcomes included (evaluations do not run:
    they would query today's Prometheus about the past)."""
    if not Path(path).is_file():
        raise CommandError(f"no such event log: {path}")
    pipeline = Pipeline(model, subscribers=[KeptnChecks(model, evaluations=False)])
    try:
        return pipeline.replay(Path(path))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    now_arg = parse_now(args.now)
    model = DoraModel(model_config(args))
    if args.replay:
        last = replay_into(model, args.replay).last
        now = now_arg if now_arg is not None else (last if last is not None else time.time())
        if now_arg is not None:
            model.advance(now_arg)
    else:
        if now_arg is not None:
            raise CommandError("--now only goes with --replay")
        run_async(_sync_once(cluster_access(args), model, args))
        now = time.time()
    report = build_report(model, now, args.window, args.dora_report)
    print(json_dump(report) if args.format == "json" else render_table(report))
    return 0


async def _sync_once(access: ClusterAccess, model: DoraModel, args: argparse.Namespace) -> int:
    client = ApiClient(access)
    pipeline = Pipeline(model, subscribers=[KeptnChecks(model, evaluations=False)])
    try:
        await asyncio.wait_for(pipeline.sync(build_informers(client, watch_scope(args))), 120)
    except TimeoutError:
        raise CommandError(f"timed out listing {access.description}") from None
    finally:
        await client.close()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    now_arg = parse_now(args.now)
    model = DoraModel(model_config(args))
    result = replay_into(model, args.file)
    now = now_arg if now_arg is not None else (result.last or time.time())
    model.advance(now)
    log.info(
        "replayed %d object events (%d alert/change lines) from %s",
        result.objects,
        result.side,
        args.file,
    )
    return run_async(_serve_replay(model, now, args))


async def _serve_replay(model: DoraModel, now: float, args: argparse.Namespace) -> int:
    runner = await serve_exporter(
        args, model=model, mode="replay", ready=lambda: (True, []), intake=False, clock=lambda: now
    )
    print(f"serving the replay at http://{args.listen}/metrics", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


# -------------------------------------------------------------------------- record


def cmd_record(args: argparse.Namespace) -> int:
    return run_async(_record(cluster_access(args), args))


async def _record(access: ClusterAccess, args: argparse.Namespace) -> int:
    client = ApiClient(access)
    informers = build_informers(client, watch_scope(args), item_type=dict[str, Any])
    supervisor = Supervisor()
    try:
        handle = open(args.file, "ab")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise CommandError(f"cannot write {args.file}: {exc}") from None
    writer = eventlog.Writer(handle)
    try:
        now = time.time()
        for informer in informers:  # WATCHED order: ReplicaSets before their workloads
            try:
                items = await informer.initial_list()
            except Disabled:
                continue  # logged; its watch retries
            for obj in items:
                writer.write(now, "ADDED", obj)
        log.info("recorded %d objects; now watching (%s)", writer.lines, args.file)

        def sink(event_type: EventType, obj: Any, _initial: bool) -> None:
            writer.write(time.time(), event_type, obj)

        for informer in informers:
            informer.sink = sink
            supervisor.start(f"watch {informer.name}", informer.run)
        if args.duration:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        await supervisor.stop()
        await client.close()
        handle.close()
        log.info("wrote %d events to %s", writer.lines, args.file)
    return 0
