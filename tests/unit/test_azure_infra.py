"""The Azure deployment's files agree with the code: infra/azure (Bicep, cloud-init, hook scripts)
and azure.yaml.

Nothing here reaches Azure. The VMs' boot script runs for real against a local stand-in of the
instance metadata service, Key Vault and the registry's token exchange, with a `docker` that
records its arguments; the portal build script runs on a copy of web/.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from shared.settings import NodeEnvironment, Settings, key_vault_secret_name, secret_fields

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO / "infra" / "azure"
RESOURCES = (AZURE / "resources.bicep").read_text()
MAIN = (AZURE / "main.bicep").read_text()
ARRAYS = ("functionAppSettings", "edgeEnvironment", "configdbEnvironment")
KV_REF = re.compile(r"@Microsoft\.KeyVault\(SecretUri=\$\{kv\}/([a-z0-9-]+)/\)")


def bicep_array(name: str, text: str = RESOURCES) -> list[str]:
    """The lines of `var NAME = [ ... ]`."""
    match = re.search(rf"^var {name} = \[\n(.*?)^\]", text, re.M | re.S)
    assert match, f"no `var {name} = [` array in the Bicep"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def settings_of(array: str) -> dict[str, str]:
    """name -> value expression of one settings array; each line is one literal object."""
    out: dict[str, str] = {}
    for line in bicep_array(array):
        match = re.fullmatch(r"\{ name: '([A-Za-z0-9_]+)', value: (.+) \}", line)
        assert match, f"{array}: not a literal {{ name, value }} line: {line}"
        name, value = match.groups()
        assert name not in out, f"{array}: {name} twice"
        out[name] = value
    return out


def env_names(cls: type[Any]) -> dict[str, str]:
    """field -> the environment names it is read from (aliases, else the upper-case field)."""
    out = {}
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        names = [c for c in alias.choices if isinstance(c, str)] if alias is not None else []
        out[field_name] = names or [field_name.upper()]
    return out


def test_each_host_has_its_settings_as_literal_unique_objects() -> None:
    for array in ARRAYS:
        assert len(settings_of(array)) >= 3
    assert {"PBX_ENVIRONMENT"} <= set(settings_of("configdbEnvironment"))
    for array in ARRAYS:
        assert settings_of(array)["PBX_ENVIRONMENT"] == "'production'"


def test_every_secret_setting_is_a_key_vault_reference_to_a_secret_the_template_writes() -> None:
    written = set(
        re.findall(r"\{ name: '([a-z0-9-]+)', value: [A-Za-z]+ \}", "\n".join(bicep_array("secretValues")))
    )
    written |= set(
        re.findall(
            r"^\s+name: '([a-z0-9-]+)'\n", RESOURCES.split("resource appInsightsSecret", 1)[1][:400], re.M
        )
    )
    assert "applicationinsights-connection-string" in written
    for array, cls in (
        ("functionAppSettings", Settings),
        ("edgeEnvironment", Settings),
        ("configdbEnvironment", NodeEnvironment),
    ):
        provided = {k.lower(): v for k, v in settings_of(array).items()}
        secret_names = {n.lower() for f in secret_fields(cls) for n in env_names(cls)[f]}
        for name, value in provided.items():
            refs = KV_REF.findall(value)
            if name in secret_names:
                assert refs, f"{array}: {name} is a secret but not a Key Vault reference: {value}"
            for ref in refs:
                assert ref in written, (
                    f"{array}: {name} references secret {ref}, which the template does not write"
                )
                assert ref == key_vault_secret_name(name), f"{array}: {name} reads secret {ref}"
            if not refs:
                assert "secret" not in value.lower() or name == "jwt_previous_secrets", (array, name)


def test_service_bus_queues_are_the_code_queues_with_five_deliveries() -> None:
    from shared.message_contract import QUEUES

    queues = re.search(r"^var queues = \[(.*?)\]", RESOURCES, re.M)
    assert queues
    assert sorted(re.findall(r"'([a-z-]+)'", queues.group(1))) == sorted(QUEUES)
    assert "maxDeliveryCount: 5" in RESOURCES
    assert "deadLetteringOnMessageExpiration: true" in RESOURCES


def test_storage_containers_cover_every_container_the_code_uses() -> None:
    from shared.billing.services.rates import RATES_CONTAINER
    from shared.billing.services.report_links import REPORTS_CONTAINER
    from shared.directory.services.prompts import CONTAINER as PROMPTS
    from shared.history.services.access import RECORDINGS_CONTAINER, VOICEMAIL_CONTAINER
    from shared.quality.services.quality_watch import REPORTS_CONTAINER as QUALITY_REPORTS

    lines = bicep_array("containers")
    created = {line.strip("'") for line in lines}
    used = {
        RATES_CONTAINER,
        REPORTS_CONTAINER,
        PROMPTS,
        RECORDINGS_CONTAINER,
        VOICEMAIL_CONTAINER,
        QUALITY_REPORTS,
    }
    assert used <= created, f"missing containers: {sorted(used - created)}"
    assert "Standard_GZRS" in RESOURCES and "allowSharedKeyAccess: false" in RESOURCES


def test_event_grid_subscriptions_name_each_blob_trigger_and_its_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PBX_ENVIRONMENT", "local")
    import azure.functions as func

    from functions import directory, voicemail

    app = func.FunctionApp()
    app.register_functions(voicemail.bp)
    app.register_functions(directory.bp)
    triggers = {}
    for function in app.get_functions():
        for binding in function.get_bindings():
            if binding.type == "blobTrigger":
                spec = binding.get_dict_repr()
                assert spec.get("source") == "EventGrid", (
                    f"{function.get_function_name()}: Flex needs source=EventGrid"
                )
                triggers[function.get_function_name()] = spec["path"].split("/", 1)[0]
    output = re.search(r"^output BLOB_TRIGGER_CONTAINERS string = '([^']+)'", MAIN, re.M)
    assert output
    assert dict(pair.split("=") for pair in output.group(1).split(",")) == triggers


def test_configdb_node_arguments_parse_with_the_node_parser() -> None:
    from configdb_nodes.__main__ import parse_args

    nodes = [dict(re.findall(r"(\w+): '([^']*)'", line)) for line in bicep_array("configdbNodes")]
    assert [n["zone"] for n in nodes] == ["1", "2", "3"]
    template = re.search(r"replace\(configdbCloudInit, '__ARGS__', '([^']+)'\)", RESOURCES)
    assert template
    ips = {n["ip"] for n in nodes}
    for node in nodes:
        argv = (
            template.group(1)
            .replace("${n.id}", node["id"])
            .replace("${n.ip}", node["ip"])
            .replace("${n.peers}", node["peers"])
            .replace("${configdbHttpPort}", "7101")
            .replace("${configdbStreamPort}", "7201")
            .replace("${configdbRaftPort}", "7301")
            .replace("${pbxRegion}", "eu")
            .split()
        )
        args = parse_args(argv)
        assert args.node_id == node["id"]
        assert args.raft == (node["ip"], 7301)
        assert {p.split(":")[0] for p in args.peer_list} == ips - {node["ip"]}


def test_parameters_file_and_main_bicep_agree() -> None:
    params = json.loads((AZURE / "main.parameters.json").read_text())["parameters"]
    declared = dict(re.findall(r"^param (\w+) \w+( = .*)?$", MAIN, re.M))
    assert set(params) <= set(declared), sorted(set(params) - set(declared))
    required = {name for name, default in declared.items() if not default}
    assert required <= set(params), sorted(required - set(params))
    module = MAIN.split("module resources", 1)[1]
    for name in declared:
        assert f"    {name}: {name}\n" in module, f"main.bicep does not pass {name} to resources.bicep"


def test_azure_yaml_services_and_hooks() -> None:
    project = yaml.safe_load((REPO / "azure.yaml").read_text())
    assert project["infra"] == {"provider": "bicep", "path": "infra/azure", "module": "main"}
    api, web = project["services"]["api"], project["services"]["web"]
    assert (api["project"], api["language"], api["host"]) == (".", "python", "function")
    assert (web["project"], web["host"]) == ("web", "staticwebapp")
    scripts = [hook["posix"]["run"] for hook in project["hooks"].values()]
    scripts.append(str(Path("web") / web["hooks"]["prepackage"]["posix"]["run"]))
    for script in scripts:
        path = (REPO / script).resolve()
        assert path.is_file() and os.access(path, os.X_OK), script
        subprocess.run(["sh", "-n", str(path)], check=True)


# --- the portal build


def test_build_web_points_the_portal_at_its_own_origin_and_fills_the_csp(tmp_path: Path) -> None:
    shutil.copytree(REPO / "web", tmp_path / "web")
    (tmp_path / "infra" / "azure" / "scripts").mkdir(parents=True)
    script = tmp_path / "infra" / "azure" / "scripts" / "build-web.sh"
    shutil.copy(AZURE / "scripts" / "build-web.sh", script)
    env = {**os.environ, "AZURE_STORAGE_ACCOUNT_NAME": "stexample123"}
    subprocess.run(["sh", str(script)], cwd=tmp_path / "web", env=env, check=True)
    out = tmp_path / "infra" / "azure" / ".build" / "web"
    assert json.loads((out / "config.json").read_text()) == {"apiBase": "/api/v1"}
    config = json.loads((out / "staticwebapp.config.json").read_text())
    csp = config["globalHeaders"]["Content-Security-Policy"]
    assert "media-src 'self' blob: https://stexample123.blob.core.windows.net;" in csp
    assert "connect-src 'self';" in csp
    assert (out / "index.html").is_file() and not (out / "README.md").exists()
    # the source stays a template
    assert "PRODUCTION_BLOB_ACCOUNT" in (REPO / "web" / "staticwebapp.config.json").read_text()


# --- the VMs' boot script, against local stand-ins


class _Azure(BaseHTTPRequestHandler):
    """IMDS tokens, Key Vault secrets and the registry's token exchange."""

    secrets: ClassVar[dict[str, str]] = {}
    seen: ClassVar[list[str]] = []

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.seen.append(url.path)
        if url.path == "/metadata/identity/oauth2/token":
            assert self.headers["Metadata"] == "true"
            resource = parse_qs(url.query)["resource"][0]
            self._json(200, {"access_token": f"token-for-{resource}"})
        elif url.path.startswith("/secrets/"):
            assert self.headers["Authorization"] == "Bearer token-for-https://vault.azure.net"
            assert parse_qs(url.query)["api-version"] == ["7.4"]
            name = url.path.split("/")[2]
            if name in self.secrets:
                self._json(200, {"value": self.secrets[name]})
            else:
                self._json(404, {"error": {"code": "SecretNotFound"}})
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        self.seen.append(self.path)
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        assert self.path == "/oauth2/exchange"
        assert form["grant_type"] == ["access_token"]
        assert form["access_token"] == ["token-for-https://management.azure.com/"]
        self._json(200, {"refresh_token": "acr-refresh-token"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def azure_standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Azure)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Azure.seen.clear()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _boot_files(env: list[dict[str, str]]) -> dict[str, Any]:
    text = (AZURE / "cloud-init" / "container-host.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    text = text.replace("__ENV_B64__", base64.b64encode(json.dumps(env).encode()).decode())
    doc = yaml.safe_load(text)
    assert "docker.io" in doc["packages"]
    return {f["path"]: f for f in doc["write_files"]}


def _run_prepare(
    tmp_path: Path, host: str, env: list[dict[str, str]]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    files = _boot_files(env)
    etc, run, bin_dir = tmp_path / "etc", tmp_path / "run", tmp_path / "bin"
    for d in (etc, bin_dir):
        d.mkdir()
    (etc / "env.json").write_bytes(base64.b64decode(files["/etc/pbx/env.json"]["content"]))
    (etc / "image").write_text("cr.example/cloudpbx-sip-edge:latest\n")
    script = (
        files["/usr/local/bin/pbx-prepare"]["content"]
        .replace("/etc/pbx/", f"{etc}/")
        .replace("/run/pbx", str(run))
        .replace("http://169.254.169.254", f"http://{host}")
        .replace("__REGISTRY__", host)
        .replace('f"https://{REGISTRY}', 'f"http://{REGISTRY}')
        .replace("(https://[^)]+)", "(https?://[^)]+)")
    )
    (tmp_path / "pbx-prepare").write_text(script)
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/docker.log\ncat >> {tmp_path}/docker.stdin\n')
    docker.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "pbx-prepare")],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc, run / "env"


def test_boot_script_resolves_key_vault_references_and_pulls_with_the_identity(
    tmp_path: Path, azure_standin: str
) -> None:
    _Azure.secrets = {"edge-control-token": "s3cret-token", "configdb-tokens": '[{"name": "edge"}]'}
    vault = f"http://{azure_standin}/secrets"
    env = [
        {"name": "PBX_ENVIRONMENT", "value": "production"},
        {
            "name": "EDGE_CONTROL_TOKEN",
            "value": f"@Microsoft.KeyVault(SecretUri={vault}/edge-control-token/)",
        },
        {"name": "CONFIGDB_TOKENS", "value": f"@Microsoft.KeyVault(SecretUri={vault}/configdb-tokens/)"},
        {"name": "REGION_BASE_URLS", "value": '{"eu": "https://site/api"}'},
    ]
    proc, env_file = _run_prepare(tmp_path, azure_standin, env)
    assert proc.returncode == 0, proc.stderr
    assert env_file.read_text().splitlines() == [
        "PBX_ENVIRONMENT=production",
        "EDGE_CONTROL_TOKEN=s3cret-token",
        'CONFIGDB_TOKENS=[{"name": "edge"}]',
        'REGION_BASE_URLS={"eu": "https://site/api"}',
    ]
    assert env_file.stat().st_mode & 0o777 == 0o600
    docker = (tmp_path / "docker.log").read_text().splitlines()
    assert docker == [
        f"login {azure_standin} -u 00000000-0000-0000-0000-000000000000 --password-stdin",
        "pull --quiet cr.example/cloudpbx-sip-edge:latest",
    ]
    assert (tmp_path / "docker.stdin").read_text() == "acr-refresh-token"


def test_boot_script_stops_on_a_missing_secret_and_leaves_no_env_file(
    tmp_path: Path, azure_standin: str
) -> None:
    _Azure.secrets = {}
    env = [
        {
            "name": "JWT_SECRET",
            "value": f"@Microsoft.KeyVault(SecretUri=http://{azure_standin}/secrets/jwt-secret/)",
        }
    ]
    proc, env_file = _run_prepare(tmp_path, azure_standin, env)
    assert proc.returncode != 0
    assert "404" in proc.stderr
    assert not env_file.exists()
    assert not (tmp_path / "docker.log").exists()


def test_the_container_unit_runs_the_image_on_the_host_network_with_the_data_disk() -> None:
    unit = _boot_files([])["/etc/systemd/system/pbx.service"]["content"]
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert (
        "--network host" in start and "--env-file /run/pbx/env" in start and "--volume /data:/data" in start
    )
    assert start.endswith("__IMAGE__ __ARGS__")
    assert "Restart=always" in unit


def bicep_var(name: str) -> str:
    """The value of a one-line `var NAME = '...'` string."""
    match = re.search(rf"^var {name} = '([^']*)'$", RESOURCES, re.M)
    assert match, f"no `var {name} = '...'` in the Bicep"
    return match.group(1)


def test_the_edge_binds_its_control_api_on_its_private_address_for_the_functions_only() -> None:
    # The edge itself listens where the Function App's EDGE_CONTROL_URL points: no relay on the VM.
    assert settings_of("edgeEnvironment")["EDGE_CONTROL_HOST"] == "edgeIp"
    assert settings_of("edgeEnvironment")["SIP_HOST"] == "edgeIp"  # SIP too, not the wildcard
    assert settings_of("functionAppSettings")["EDGE_CONTROL_URL"] == "'http://${edgeIp}:${edgeControlPort}'"
    assert Settings(edge_control_host=bicep_var("edgeIp")).edge_control_host == "10.40.3.10"
    assert ipaddress.ip_address(bicep_var("edgeIp")) in ipaddress.ip_network(bicep_var("edgeSubnetPrefix"))
    cloud_init = (AZURE / "cloud-init" / "container-host.yaml").read_text()
    assert "socat" not in yaml.safe_load(cloud_init)["packages"]
    assert "pbx-forward" not in cloud_init and "__FORWARD__" not in cloud_init + RESOURCES
    # ... and the edge's NSG admits that port from the functions' integration subnet only.
    edge_nsg = RESOURCES.split("resource edgeNsg ", 1)[1].split("\nresource ", 1)[0]
    rules = re.findall(r"name: '([a-z-]+)'\n\s+properties: \{(.*?)\n\s{8}\}", edge_nsg, re.S)
    control = [body for _, body in rules if "destinationPortRange: string(edgeControlPort)" in body]
    assert len(control) == 1, [name for name, _ in rules]
    assert "sourceAddressPrefix: functionsSubnetPrefix" in control[0]
    assert "access: 'Allow'" in control[0] and "protocol: 'Tcp'" in control[0]
    deny = [body for name, body in rules if "access: 'Deny'" in body and "sourceAddressPrefix: '*'" in body]
    assert deny, "the edge NSG ends in a deny-all inbound rule"


# --- the azd hooks, with stand-ins for `az` and `azd` that record their calls


def _fake(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


STORAGE, TOPICS = "Microsoft.Storage/storageAccounts", "Microsoft.EventGrid/systemTopics"


def test_postdeploy_subscribes_each_blob_trigger_to_its_container(tmp_path: Path) -> None:
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    _fake(
        tmp_path / "bin",
        "az",
        f"""case "$*" in
  *"keys list"*) echo blobs-key ;;
  *"storage account show"*) echo /subscriptions/s/resourceGroups/rg/providers/{STORAGE}/st1 ;;
  *"functionapp show"*) echo func-x.azurewebsites.net ;;
  *"resource show"*) echo /subscriptions/s/resourceGroups/rg/providers/{TOPICS}/evgt ;;
  rest*) while [ $# -gt 0 ]; do
           case "$1" in --url) url="$2" ;; --body) body="$2" ;; esac; shift
         done
         printf '%s' "$body" > "{bodies}/$(basename "${{url%%\\?*}}").json" ;;
  *) exit 3 ;;
esac
""",
    )
    output = re.search(r"^output BLOB_TRIGGER_CONTAINERS string = '([^']+)'", MAIN, re.M)
    assert output
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZURE_FUNCTION_APP_NAME": "func-x",
        "AZURE_STORAGE_ACCOUNT_NAME": "st1",
        "AZURE_EVENTGRID_SYSTEM_TOPIC": "evgt",
        "BLOB_TRIGGER_CONTAINERS": output.group(1),
        "PORTAL_URL": "https://site",
    }
    subprocess.run(["sh", str(AZURE / "scripts" / "postdeploy.sh")], env=env, check=True, capture_output=True)
    made = {p.stem: json.loads(p.read_text())["properties"] for p in bodies.iterdir()}
    assert set(made) == {"voicemailnew", "promptconvert"}
    vm = made["voicemailnew"]
    assert vm["destination"]["properties"]["endpointUrl"] == (
        "https://func-x.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.voicemail_new&code=blobs-key"
    )
    assert vm["filter"] == {
        "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
        "subjectBeginsWith": "/blobServices/default/containers/voicemail/",
    }
    dead = vm["deadLetterWithResourceIdentity"]["deadLetterDestination"]["properties"]
    assert dead["blobContainerName"] == "eventgrid-deadletter" and dead["resourceId"].endswith("/st1")
    assert made["promptconvert"]["filter"]["subjectBeginsWith"] == "/blobServices/default/containers/prompts/"


def test_preprovision_requires_the_operator_settings_then_generates_each_secret_once(tmp_path: Path) -> None:
    store = tmp_path / "azd-env"
    _fake(tmp_path / "bin", "azd", f'[ "$1 $2" = "env set" ] && printf "%s=%s\\n" "$3" "$4" >> {store}\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "JWT_", "CONFIGDB_", "EDGE_"))}
    base |= {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "AZURE_ENV_NAME": "test"}
    script = str(AZURE / "scripts" / "preprovision.sh")
    refused = subprocess.run(["sh", script], env=base, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "TRUNK_CIDRS PROVIDER_ADDRESS SMTP_HOST" in refused.stderr
    assert not store.exists()

    env = base | {
        "TRUNK_CIDRS": "203.0.113.10/32",
        "PROVIDER_ADDRESS": "sip.example:5060",
        "SMTP_HOST": "smtp",
    }
    env["JWT_SECRET"] = "kept-" + "x" * 40
    subprocess.run(["sh", script], env=env, cwd=tmp_path, check=True, capture_output=True)
    values = dict(line.split("=", 1) for line in store.read_text().splitlines())
    generated = {"CONFIGDB_TOKEN", "CONFIGDB_APP_TOKEN", "CONFIGDB_EDGE_TOKEN", "CONFIGDB_PEER_TOKEN"}
    generated |= {"EDGE_CONTROL_TOKEN", "MONGODB_ADMIN_PASSWORD", "VM_SSH_PUBLIC_KEY"}
    assert set(values) == generated  # JWT_SECRET was set: kept
    tokens = [values[name] for name in generated - {"VM_SSH_PUBLIC_KEY"}]
    assert len(set(tokens)) == len(tokens) and all(re.fullmatch(r"[A-Za-z0-9]{40,}", t) for t in tokens)
    assert values["VM_SSH_PUBLIC_KEY"].startswith("ssh-ed25519 ")
    assert (tmp_path / ".azure" / "test" / "vm_ssh").is_file()
