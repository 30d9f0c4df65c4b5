"""Alertmanager alerts: a firing alert matched to an app is an incident (design §3).

Alertmanager repeats firing notifications and resolves by fingerprint, so the firing set is
keyed by fingerprint and bounded (the oldest is forgotten beyond ``MAX_FIRING``).
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.events.external import Alert
from exporter.model.failures import Signal, SignalKind
from exporter.model.records import AppKey, FailureReason
from exporter.model.stats import ObservedStats

MAX_FIRING = 10_000


class Alerts:
    def __init__(
        self,
        *,
        stats: ObservedStats,
        find_apps: Callable[[str, str], list[AppKey]],
        open_failure: Callable[[AppKey, str, Signal, float], bool],
        clear_failure: Callable[[AppKey, Signal, float], None],
    ) -> None:
        self.stats = stats
        self.find_apps = find_apps
        self.open_failure = open_failure
        self.clear_failure = clear_failure
        self.firing: dict[str, AppKey] = {}

    def apply(self, alert: Alert, at: float) -> bool:
        """False when the alert matches no app (counted as invalid input)."""
        signal = Signal(SignalKind.ALERT, alert.fingerprint)
        if not alert.firing:
            app = self.firing.pop(alert.fingerprint, None)
            if app is not None:
                self.clear_failure(app, signal, at)
            return app is not None
        if alert.fingerprint in self.firing:
            return True  # Alertmanager repeats firing notifications
        apps: list[AppKey] = []
        if alert.namespace is not None:  # "" for apps outside the cluster (CDEvents)
            for name in alert.names:
                apps = self.find_apps(alert.namespace, name)
                if apps:
                    break
        if not apps:
            self.stats.invalid["unmatched_alert"] += 1
            return False
        app = apps[0]
        self.firing[alert.fingerprint] = app
        if len(self.firing) > MAX_FIRING:
            self.firing.pop(next(iter(self.firing)))
        self.open_failure(app, FailureReason.INCIDENT, signal, at)
        return True
