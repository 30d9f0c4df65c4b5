"""Cluster access: in-cluster token rotation and kubeconfig errors."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.kube import config


def self_signed_ca(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_in_cluster_token_is_reread_when_it_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("first-token")
    self_signed_ca(ca)
    access = config.load_in_cluster(token, ca, refresh_period_s=0)
    assert access.server == "https://10.0.0.1:443"
    assert access.ssl_context is not None
    assert access.headers() == {"Authorization": "Bearer first-token"}
    token.write_text("rotated-token")
    assert access.headers() == {"Authorization": "Bearer rotated-token"}


def test_missing_service_account_files_give_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(config.ConfigError, match="in-cluster"):
        config.load_in_cluster(tmp_path / "token", tmp_path / "ca.crt")


def test_kubeconfig_with_client_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    self_signed_ca(ca)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:6443", certificate-authority: "{ca}"}}
users:
- name: u
  user: {{token: "static-token"}}
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
current-context: ctx
"""
    )
    access = config.load_kubeconfig(str(kubeconfig), None)
    assert access.server == "https://127.0.0.1:6443"
    assert access.headers() == {"Authorization": "Bearer static-token"}
    with pytest.raises(config.ConfigError, match="unusable"):
        config.load_kubeconfig(str(kubeconfig), "no-such-context")
