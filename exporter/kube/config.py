"""How to reach and authenticate to the API server.

The ``kubernetes`` package's loaders do the hard parts (contexts, exec credential plugins,
OIDC, in-cluster service-account files) and keep a refresh hook that re-reads a rotated token;
we only borrow the resulting configuration and never use its models or REST client.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """No usable cluster configuration; the message says what was tried."""


@dataclass(slots=True)
class ClusterAccess:
    server: str
    ssl_context: ssl.SSLContext | None = None
    headers: Callable[[], dict[str, str]] = field(default=lambda: {})
    description: str = ""

    @classmethod
    def plain(cls, server: str, token: str | None = None) -> ClusterAccess:
        """An unauthenticated (or static-token) endpoint, e.g. the embedded simulated cluster."""
        static = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(server=server.rstrip("/"), headers=lambda: dict(static), description=server)


def load(
    kubeconfig: str | None = None,
    context: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClusterAccess:
    """In-cluster when running in a pod without an explicit kubeconfig, else the kubeconfig."""
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    if not explicit and "KUBERNETES_SERVICE_HOST" in os.environ:
        return load_in_cluster(service_account_dir / "token", service_account_dir / "ca.crt")
    return load_kubeconfig(explicit, context)


def load_in_cluster(
    token_file: Path = SERVICE_ACCOUNT_DIR / "token",
    ca_file: Path = SERVICE_ACCOUNT_DIR / "ca.crt",
    refresh_period_s: float = 60.0,
) -> ClusterAccess:
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = Configuration()
    try:
        loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]  # kubernetes' loaders are untyped
            token_filename=str(token_file), cert_filename=str(ca_file), try_refresh_token=True
        )
        # kubelet rotates projected tokens (about hourly); re-read the file this often
        loader._token_refresh_period = timedelta(seconds=refresh_period_s)
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]  # kubernetes' loaders are untyped
    except ConfigException as exc:
        raise ConfigError(f"in-cluster configuration unusable: {exc}") from exc
    return _from_configuration(configuration, "in-cluster service account")


def load_kubeconfig(path: str | None, context: str | None) -> ClusterAccess:
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, load_kube_config

    configuration = Configuration()
    location = path or os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)
    if not os.path.exists(location.split(os.pathsep)[0]):
        raise ConfigError(
            f"no kubeconfig at {location} and not running in a pod; pass --kubeconfig, "
            "set KUBECONFIG, or run `daylight demo` to try the simulated cluster"
        )
    try:
        load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes' loaders are untyped
            config_file=location, context=context, client_configuration=configuration
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise ConfigError(f"kubeconfig {location} unusable: {exc}") from exc
    return _from_configuration(configuration, f"kubeconfig {location} context {context or '-'}")


def _from_configuration(configuration: Any, description: str) -> ClusterAccess:
    server = str(configuration.host).rstrip("/")
    context: ssl.SSLContext | None = None
    if server.startswith("https"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)

    def headers() -> dict[str, str]:
        # get_api_key_with_prefix runs the loader's refresh hook: rotated service-account
        # tokens and expiring exec-plugin credentials are picked up without a restart.
        # Newer clients store the token as "BearerToken", older ones as "authorization".
        token = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            token = str(token)
            if not token.lower().startswith("bearer "):
                token = f"Bearer {token}"
            return {"Authorization": "Bearer " + token[7:]}
        if configuration.username:
            return {"Authorization": str(configuration.get_basic_auth_token())}
        return {}

    return ClusterAccess(
        server=server, ssl_context=context, headers=headers, description=description
    )
