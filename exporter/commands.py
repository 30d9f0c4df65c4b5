"""What each ``daylight`` subcommand does, once its flags are parsed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from exporter.cli import json_dump, parse_now, run_async
from exporter.evaluations.checks import KeptnChecks
from exporter.events.envelope import EventType, ObjectEvent
from exporter.events.external import InvalidInput
from exporter.intake import Intake, TokenFile
from exporter.kube import config as kube_config
from exporter.kube import eventlog
from exporter.kube.config import ClusterAccess
from exporter.model.engine import DoraModel
from exporter.outputs.http import HttpApi, bound_port, serve
from exporter.outputs.metrics import MetricsRenderer
from exporter.outputs.report import build_report, render_table
from exporter.outputs.selfmetrics import SelfState
from exporter.outputs.traces import TraceEmitter, otlp_configured, rollout_phases
from exporter.runtime import LiveRuntime, WatchOptions, model_config
from exporter.state.store import StateError, StateStore

log = logging.getLogger("daylight")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def _access(args: argparse.Namespace) -> ClusterAccess:
    try:
        return kube_config.load(args.kubeconfig, args.context, Path(args.service_account_dir))
    except kube_config.ConfigError as exc:
        raise CommandError(str(exc)) from None


def _watch_options(args: argparse.Namespace) -> WatchOptions:
    return WatchOptions(
        namespaces=tuple(args.namespaces),
        exclude_namespaces=frozenset(args.exclude_namespaces),
        label_selector=args.label_selector or None,
    )


async def _serve_live(
    runtime: LiveRuntime, args: argparse.Namespace, mode: str
) -> tuple[web.AppRunner, MetricsRenderer]:
    renderer = MetricsRenderer(runtime.model, dora_report=args.dora_report, max_apps=args.max_apps)
    state = SelfState(runtime.model, renderer, runtime.informer_stats, mode=mode)
    if runtime.traces is not None:
        state.trace_counters = runtime.traces.counters
    if runtime.checks is not None:
        state.extra_collectors.append(runtime.checks.collector())
    api = HttpApi(state, runtime.ready, dora_report=args.dora_report)
    app = api.app()
    token = Path(args.api_token_file) if args.api_token_file else None
    if token is not None and not token.is_file():
        raise CommandError(f"--api-token-file {token}: no such file")
    Intake(runtime.model, TokenFile(token) if token else None).register(app)
    try:
        runner = await serve(app, args.listen)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    return runner, renderer


# ----------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    access = _access(args)
    return run_async(_run(access, args))


def _traces(args: argparse.Namespace, checks: KeptnChecks | None = None) -> TraceEmitter | None:
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


def _state(args: argparse.Namespace) -> StateStore | None:
    if not args.state_file:
        return None
    try:
        return StateStore(args.state_file)
    except StateError as exc:
        raise CommandError(str(exc)) from None


async def _run(access: ClusterAccess, args: argparse.Namespace) -> int:
    model = DoraModel(model_config(args))
    checks = KeptnChecks.from_args(model, args)
    options = _watch_options(args)
    runtime = LiveRuntime(
        access,
        model,
        options,
        state=_state(args),
        traces=_traces(args, checks),
        checks=checks,
    )
    runtime.build_informers()
    runner, _ = await _serve_live(runtime, args, "run")
    log.info("serving http://%s/metrics; watching %s", args.listen, access.description)
    try:
        await runtime.start()
        await asyncio.Event().wait()
    finally:
        await runtime.stop()
        await runner.cleanup()
    return 0


# ---------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    return run_async(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    from kubesim import SimCluster

    sim = SimCluster(seed=args.seed, live_interval_s=args.interval)
    url = await sim.start()
    model = DoraModel(model_config(args))
    runtime = LiveRuntime(ClusterAccess.plain(url), model, WatchOptions(), traces=_traces(args))
    runtime.build_informers()
    runner, _ = await _serve_live(runtime, args, "demo")
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


def _replay_into(model: DoraModel, path: str) -> tuple[float | None, int, int]:
    """Feed a log; returns (last event time, object events, side inputs skipped)."""
    if not Path(path).is_file():
        raise CommandError(f"no such event log: {path}")
    last: float | None = None
    objects = side = 0
    checks = KeptnChecks(model, evaluations=False)  # task Job outcomes in the log count too
    try:
        for event in eventlog.read(path):
            if isinstance(event, ObjectEvent):
                model.apply(event)
                checks.on_event(event)
                objects += 1
            else:
                side += 1
                try:
                    model.apply_external(event.kind, event.body, event.time)
                except InvalidInput as exc:
                    log.warning("%s: skipped %s line at %s: %s", path, event.kind, event.time, exc)
            last = event.time if last is None else max(last, event.time)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if last is not None:
        model.advance(last)
    model.settle()
    return last, objects, side


def cmd_report(args: argparse.Namespace) -> int:
    try:
        now_arg = parse_now(args.now)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    model = DoraModel(model_config(args))
    if args.replay:
        last, _, _ = _replay_into(model, args.replay)
        now = now_arg if now_arg is not None else (last if last is not None else time.time())
        if now_arg is not None:
            model.advance(now_arg)
    else:
        if now_arg is not None:
            raise CommandError("--now only goes with --replay")
        access = _access(args)
        run_async(_sync_once(access, model, args))
        now = time.time()
    report = build_report(model, now, args.window, args.dora_report)
    if args.format == "json":
        print(json_dump(report))
    else:
        print(render_table(report))
    return 0


async def _sync_once(access: ClusterAccess, model: DoraModel, args: argparse.Namespace) -> int:
    runtime = LiveRuntime(access, model, _watch_options(args))
    runtime.build_informers()
    try:
        snapshots = await asyncio.wait_for(runtime.initial_lists(), timeout=120)
    except TimeoutError:
        raise CommandError(f"timed out listing {access.description}") from None
    finally:
        await runtime.stop()
    now = time.time()
    for items in snapshots:
        for obj in items:
            model.apply(ObjectEvent(now, EventType.ADDED, obj, initial=True))
    model.settle()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        now_arg = parse_now(args.now)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    model = DoraModel(model_config(args))
    last, objects, side = _replay_into(model, args.file)
    now = now_arg if now_arg is not None else (last or time.time())
    model.advance(now)
    log.info("replayed %d object events (%d alert/change lines) from %s", objects, side, args.file)
    return run_async(_serve_replay(model, now, args))


async def _serve_replay(model: DoraModel, now: float, args: argparse.Namespace) -> int:
    renderer = MetricsRenderer(model, dora_report=args.dora_report, max_apps=args.max_apps)
    state = SelfState(model, renderer, mode="replay")
    api = HttpApi(state, lambda: (True, []), clock=lambda: now, dora_report=args.dora_report)
    try:
        runner = await serve(api.app(), args.listen)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    print(f"serving the replay at http://{args.listen}/metrics", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


# ------------------------------------------------------------------------ launcher


def cmd_launcher(args: argparse.Namespace) -> int:
    from exporter.launcher.main import run as run_launcher

    access = _access(args)
    return run_async(run_launcher(args, access))


# -------------------------------------------------------------------------- record


def cmd_record(args: argparse.Namespace) -> int:
    access = _access(args)
    return run_async(_record(access, args))


async def _record(access: ClusterAccess, args: argparse.Namespace) -> int:
    runtime = LiveRuntime(access, DoraModel(), _watch_options(args))
    informers = runtime.build_informers(item_type=dict[str, Any])
    try:
        handle = open(args.file, "ab")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise CommandError(f"cannot write {args.file}: {exc}") from None
    writer = eventlog.Writer(handle)
    try:
        snapshots = await runtime.initial_lists()
        now = time.time()
        for items in snapshots:  # WATCHED order: ReplicaSets before their workloads
            for obj in items:
                writer.write(now, "ADDED", obj)
        log.info("recorded %d objects; now watching (%s)", writer.lines, args.file)

        def sink(event_type: str, obj: Any, _initial: bool) -> None:
            writer.write(time.time(), event_type, obj)

        for informer in informers:
            informer.sink = sink
            runtime.tasks.append(asyncio.create_task(informer.run()))
        if args.duration:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        await runtime.stop()
        handle.close()
        log.info("wrote %d events to %s", writer.lines, args.file)
    return 0
