"""No process starts in production on the repository's development secrets.

Each entry point is spawned as a real process: the ConfigDB node (`python -m configdb_nodes`),
the SIP edge (`python -m sip_edge`) and the functions host (`python -m functions.devhost` importing
`function_app`). Without PBX_ENVIRONMENT (production) and without the secret, each exits non-zero
within seconds and its stderr names the setting; with PBX_ENVIRONMENT=local it starts. The
children run in the repository, so local.settings.json hands them its development values: those
count as development values too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from functions.http_api.app import create_app
from infra.local.azurite import Azurite
from infra.local.commands import configdb_node_command, edge_command
from infra.local.configdb_cluster import REPO, LocalCluster
from infra.local.managed import ManagedProcess, http_ok
from infra.local.ports import free_port
from shared.settings import (
    DEV_CONFIGDB_APP_TOKEN,
    LOCAL_ENVIRONMENT,
    ProductionSecretMissing,
    Settings,
)
from tests.waiting import eventually

SECRET_NAMES = (
    "PBX_ENVIRONMENT",
    "CONFIGDB_TOKEN",
    "CONFIGDB_APP_TOKEN",
    "CONFIGDB_EDGE_TOKEN",
    "CONFIGDB_PEER_TOKEN",
    "CONFIGDB_TOKENS",
    "JWT_SECRET",
    "EDGE_CONTROL_TOKEN",
    "AZUREWEBJOBSSTORAGE",
)
EXIT_WITHIN_S = 20.0  # "a few seconds", with room for a loaded 2-core machine


def production_env(**extra: str) -> dict[str, str]:
    """This process's environment without PBX_ENVIRONMENT and without any of the secrets."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SECRET_NAMES}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def refused(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run `cmd` to its end: (exit status, stderr, seconds it took)."""
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=EXIT_WITHIN_S)
    return done.returncode, done.stderr, time.monotonic() - started


def assert_names(stderr: str, *names: str) -> None:
    for name in names:
        assert f"{name} is not set" in stderr or f"{name} holds a development value" in stderr, (name, stderr)
        assert f"Set {name}, or PBX_ENVIRONMENT=local for a local run." in stderr, stderr
    assert "Traceback" not in stderr, stderr


# --------------------------------------------------------------------------- ConfigDB node


def node_cmd(base: Path) -> tuple[list[str], int]:
    http = free_port()
    cmd = configdb_node_command(
        *("--node-id", "n1", "--data-dir", str(base / "n1")),
        *("--http", f"127.0.0.1:{http}", "--stream", f"127.0.0.1:{free_port()}"),
        *("--raft", f"127.0.0.1:{free_port()}"),
    )
    return cmd, http


def node_answers(http_port: int, token: str) -> bool:
    try:
        r = httpx.get(
            f"http://127.0.0.1:{http_port}/v1/status", headers={"Authorization": f"Bearer {token}"}, timeout=1
        )
        return r.status_code == 200
    except httpx.HTTPError:
        return False


def started_node(
    cmd: list[str],
    env: dict[str, str],
    http_port: int,
    token: str,
    log: Path,
    then: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> None:
    """Start the node, wait until it answers `token`, run `then` on it, stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: proc.poll() is None and node_answers(http_port, token), timeout=30)
        if then is not None:
            then(proc)
    finally:
        proc.terminate()
        proc.wait(10)


def test_configdb_node_refuses_production_without_its_tokens(tmp_path: Path) -> None:
    cmd, _ = node_cmd(tmp_path)
    code, stderr, took = refused(cmd, production_env())
    assert code != 0 and took < EXIT_WITHIN_S
    assert_names(stderr, "CONFIGDB_TOKEN", "CONFIGDB_PEER_TOKEN")

    code, stderr, _ = refused(cmd, production_env(CONFIGDB_TOKEN="dev-configdb-token"))
    assert code != 0
    assert "CONFIGDB_TOKEN holds a development value" in stderr

    table = json.dumps([{"name": "functions", "token": DEV_CONFIGDB_APP_TOKEN, "access": "write"}])
    real = {
        "CONFIGDB_TOKEN": "prod-admin-0123456789abcdef",
        "CONFIGDB_PEER_TOKEN": "prod-peer-0123456789abcdef",
    }
    code, stderr, _ = refused(cmd, production_env(**real, CONFIGDB_TOKENS=table))
    assert code != 0
    assert_names(stderr, "CONFIGDB_TOKENS (functions)")

    same = {**real, "CONFIGDB_PEER_TOKEN": real["CONFIGDB_TOKEN"]}
    code, stderr, _ = refused(cmd, production_env(**same))
    assert code != 0 and "CONFIGDB_PEER_TOKEN is also a client token" in stderr


def test_configdb_node_starts_locally_or_with_real_tokens(tmp_path: Path) -> None:
    cmd, http = node_cmd(tmp_path / "local")
    started_node(
        cmd, production_env(PBX_ENVIRONMENT=LOCAL_ENVIRONMENT), http, "dev-configdb-token", tmp_path / "l.log"
    )

    # production, every credential from a file; the scoped one given by its SHA-256 only
    admin, peer, reader = (
        "prod-admin-0123456789abcdef",
        "prod-peer-0123456789abcdef",
        "prod-reader-0123456789",
    )
    files = {name: tmp_path / f"{name}.secret" for name in ("admin", "peer", "tokens")}
    files["admin"].write_text(admin + "\n")
    files["peer"].write_text(peer)
    entry = {"name": "reader", "sha256": hashlib.sha256(reader.encode()).hexdigest(), "access": "read"}
    files["tokens"].write_text(json.dumps([entry]))
    cmd, http = node_cmd(tmp_path / "prod")
    cmd += ["--token-file", str(files["admin"]), "--peer-token-file", str(files["peer"])]
    cmd += ["--tokens-file", str(files["tokens"])]

    def scoped(proc: subprocess.Popen[bytes]) -> None:
        auth = {"Authorization": f"Bearer {reader}"}
        base = f"http://127.0.0.1:{http}"
        assert httpx.get(f"{base}/v1/kv", params={"prefix": ""}, headers=auth, timeout=5).status_code == 200
        assert httpx.put(f"{base}/v1/kv/a", json=1, headers=auth, timeout=5).status_code == 403
        peer_auth = {"Authorization": f"Bearer {peer}"}
        assert httpx.get(f"{base}/v1/status", headers=peer_auth, timeout=5).status_code == 401
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert not any(t.encode() in argv for t in (admin, peer, reader))

    started_node(cmd, production_env(), http, admin, tmp_path / "p.log", then=scoped)


# --------------------------------------------------------------------------- edge and functions


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Azurite, LocalCluster]]:
    """Storage and a one-node shard, for the processes that must start."""
    base = tmp_path_factory.mktemp("prod-secrets")
    with Azurite(base / "azurite") as azurite:
        cluster = LocalCluster(base_dir=base / "configdb", size=1)
        cluster.start()
        try:
            yield azurite, cluster
        finally:
            cluster.stop()


def local_settings(azurite: Azurite, cluster: LocalCluster, data: Path) -> Settings:
    return Settings(
        pbx_environment=LOCAL_ENVIRONMENT,
        configdb_endpoints=cluster.endpoints,
        configdb_app_token=cluster.app_token,
        configdb_edge_token=cluster.edge_token,
        storage_connection=azurite.connection_string,
        data_dir=data,
    )


def test_sip_edge_refuses_production_on_development_secrets() -> None:
    code, stderr, took = refused(edge_command(), production_env())
    assert code != 0 and took < EXIT_WITHIN_S
    assert_names(stderr, "CONFIGDB_EDGE_TOKEN", "EDGE_CONTROL_TOKEN", "AzureWebJobsStorage")


def test_sip_edge_starts_locally(backing: tuple[Azurite, LocalCluster], tmp_path: Path) -> None:
    azurite, cluster = backing
    control = free_port()
    env = {
        **local_settings(azurite, cluster, tmp_path).as_env(),
        "SIP_PORT": str(free_port()),
        "EDGE_CONTROL_PORT": str(control),
    }
    edge = ManagedProcess(
        "sip_edge",
        edge_command(tmp_path / "edge"),
        tmp_path / "edge.log",
        http_ok(f"http://127.0.0.1:{control}/health"),
        env=env,
    )
    # The image's HEALTHCHECK command (sip_edge/Dockerfile), pointed at this edge: healthy while
    # it runs, not after it stopped.
    probe = [sys.executable, "-m", "sip_edge.healthcheck", "--pid"]
    with edge:
        assert edge.alive()
        pid = str(edge.pid)
        healthy = subprocess.run([*probe, pid], env=env, capture_output=True, text=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr
    stopped = subprocess.run([*probe, pid], env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 1


def test_functions_host_refuses_production_on_development_secrets(tmp_path: Path) -> None:
    cmd = [
        *(sys.executable, "-m", "functions.devhost", "--app", "function_app:app"),
        *("--port", str(free_port()), "--data-dir", str(tmp_path / "devhost")),
    ]
    code, stderr, took = refused(cmd, production_env())
    assert code != 0 and took < EXIT_WITHIN_S
    assert_names(stderr, "JWT_SECRET", "CONFIGDB_APP_TOKEN", "EDGE_CONTROL_TOKEN", "AzureWebJobsStorage")


def test_functions_host_starts_locally(backing: tuple[Azurite, LocalCluster], tmp_path: Path) -> None:
    azurite, cluster = backing
    port = free_port()
    host = ManagedProcess(
        "functions",
        [
            *(sys.executable, "-m", "functions.devhost", "--app", "function_app:app"),
            *("--port", str(port), "--data-dir", str(tmp_path / "devhost")),
        ],
        tmp_path / "functions.log",
        http_ok(f"http://127.0.0.1:{port}/api/v1/health"),
        env=local_settings(azurite, cluster, tmp_path).as_env(),
    )
    with host:
        assert host.alive()


class IsolatedSettings(Settings):
    local_settings_file = None


def test_functions_app_refuses_in_process_and_runs_on_real_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PBX_ENVIRONMENT")
    with pytest.raises(ProductionSecretMissing) as refusal:
        create_app(IsolatedSettings(data_dir=tmp_path))
    assert refusal.value.code is not None
    message = str(refusal.value.code)
    for name in (
        "JWT_SECRET",
        "CONFIGDB_APP_TOKEN",
        "EDGE_CONTROL_TOKEN",
        "AzureWebJobsStorage__accountName",
    ):
        assert f"{name} is not set" in message

    real = {
        "data_dir": tmp_path,
        "jwt_secret": "prod-jwt-secret-0123456789abcdef0123456789",
        "configdb_app_token": "prod-app-0123456789abcdef",
        "edge_control_token": "prod-edge-control-0123456789",
    }
    # storage in production: the managed identity; an account-key connection string is refused
    account_key = (
        "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=cHJvZA==;EndpointSuffix=core.windows.net"
    )
    with pytest.raises(ProductionSecretMissing) as refusal:
        create_app(IsolatedSettings(**real, storage_connection=account_key))
    assert str(refusal.value.code) == (
        "AzureWebJobsStorage holds a connection string: a production process reaches storage with its"
        " managed identity. Set AzureWebJobsStorage__accountName instead, or PBX_ENVIRONMENT=local for"
        " a local run."
    )
    assert create_app(IsolatedSettings(**real, storage_account_name="pbxprod")) is not None
