"""Every setting the code reads is provided, locally and in Azure.

The settings are found by a scan, not listed here:
- the fields of `shared.settings.Settings` (the Function App and the SIP edge) and of
  `NodeEnvironment` (a ConfigDB node), each under its environment names (the field name in
  upper case, or its aliases);
- `os.environ` / `os.getenv` reads in the production code each process imports.

A process reads a `Settings` field when a module it imports (walked in a subprocess) names it:
`.field`, a `"field"` string (`require_secrets("...")`), or a `Settings` property or method
whose body reads it (`.cors_origins` reads WEB_ORIGINS and PUBLIC_BASE_URL).

(a) Locally: each is in local.settings.json or has a default (the defaults are the local
    development values) -- and local.settings.json names no setting the code does not read.
(b) In Azure: each is in its host's Bicep settings (infra/azure: the `{ name: 'X', value: ... }`
    entries of `functionAppSettings`, `edgeEnvironment`, `configdbEnvironment`) or its image's
    ENV, or is in `shared.settings.PRODUCTION_DEFAULTS` (a default right for production, one reason
    each, kept in the code) -- and the Bicep arrays name nothing the code does not read, besides
    the Azure platform's own settings.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from shared.settings import PRODUCTION_DEFAULTS, NodeEnvironment, Settings

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "azure"
PRODUCTION_CODE = ("function_app.py", "functions/", "shared/", "sip_edge/", "configdb_nodes/")
NOT_DEPLOYED = ("functions/devhost/",)  # the local Functions host


@dataclass(frozen=True)
class Host:
    name: str
    entry: tuple[str, ...]  # the modules the process starts from
    settings: type[BaseSettings]
    bicep_array: str
    dockerfile: str | None


HOSTS = [
    Host("function app", ("function_app",), Settings, "functionAppSettings", None),
    Host("sip edge", ("sip_edge.__main__",), Settings, "edgeEnvironment", "sip_edge/Dockerfile"),
    Host(
        "configdb node",
        ("configdb_nodes.__main__",),
        NodeEnvironment,
        "configdbEnvironment",
        "configdb_nodes/Dockerfile",
    ),
]
IDS = [h.bicep_array for h in HOSTS]

# The Azure platform's own settings, which the Bicep may set though no code of ours reads them.
PLATFORM = re.compile(
    r"^(FUNCTIONS_\w+|WEBSITE_\w+|SCM_\w+|ENABLE_ORYX_BUILD|AzureWebJobs(Storage__\w+|FeatureFlags|"
    r"SecretStorageType|DisableHomepage)|APPLICATIONINSIGHTS_AUTHENTICATION_STRING|PYTHON_\w+|"
    r"ServiceBusConnection__\w+|AZURE_CLIENT_ID|OTEL_\w+)$"
)
# The Functions host's own local settings.
LOCAL_HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}


# -- the scan ---------------------------------------------------------------------------------


def env_names(settings_cls: type[BaseSettings], field: str) -> list[str]:
    """The environment names of a field: its aliases, else its name in upper case."""
    alias = settings_cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [a for a in alias.choices if isinstance(a, str) and a != field]
    if isinstance(alias, str):
        return [alias]
    return [field.upper()]


def primary(settings_cls: type[BaseSettings], field: str) -> str:
    return env_names(settings_cls, field)[0]


CONSTRUCTION = "<construction>"


@cache
def member_fields(settings_cls: type[BaseSettings]) -> dict[str, frozenset[str]]:
    """The fields each property and method of `settings_cls` reads (through `self.x`, and
    through the other members it calls); under the key CONSTRUCTION, what its model validators
    read, which every process that builds the settings does."""
    fields = set(settings_cls.model_fields)
    members = [
        (name, member.fget if isinstance(member, property) else member)
        for name, member in vars(settings_cls).items()
        if not name.startswith("__")
    ]
    members += [
        (CONSTRUCTION, d.func) for d in settings_cls.__pydantic_decorators__.model_validators.values()
    ]
    direct: dict[str, set[str]] = {}
    for name, func in members:
        if not inspect.isfunction(func):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        direct.setdefault(name, set()).update(
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        )
    resolved: dict[str, frozenset[str]] = {}
    for name in direct:
        seen, todo, out = set(), [name], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for attr in direct.get(current, ()):
                if attr in fields:
                    out.add(attr)
                elif attr in direct:
                    todo.append(attr)
        resolved[name] = frozenset(out)
    return resolved


@cache
def host_files(entry: tuple[str, ...]) -> tuple[str, ...]:
    """The production source files a process loads, from a subprocess that imports its entry."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(entry)!r}:\n"
        "    importlib.import_module(m)\n"
        "files = {getattr(m, '__file__', None) or '' for m in list(sys.modules.values())}\n"
        "print(json.dumps(sorted(files)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PBX_ENVIRONMENT": "local", "PATH": "/usr/bin:/bin", "DATA_DIR": "/tmp/settings-contract"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    files = []
    for f in json.loads(proc.stdout.strip().splitlines()[-1]):
        if not f.startswith(str(REPO) + "/"):
            continue
        rel = str(Path(f).relative_to(REPO))
        if rel.startswith(PRODUCTION_CODE) and not rel.startswith(NOT_DEPLOYED):
            files.append(rel)
    return tuple(sorted(files))


ENV_READ = re.compile(
    r"os\.(?:environ\.get|getenv)\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*(,)?|os\.environ\[\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*\]"
)


def environ_reads(files: tuple[str, ...]) -> dict[str, bool]:
    """`os.environ` reads in these files: name -> whether the code gives a default."""
    reads: dict[str, bool] = {}
    for rel in files:
        for m in ENV_READ.finditer((REPO / rel).read_text()):
            name = m.group(1) or m.group(3)
            reads[name] = reads.get(name, True) and bool(m.group(2))
    return reads


@cache
def settings_read(host: Host) -> dict[str, bool]:
    """Environment name -> has a default in the code, for every setting `host`'s process reads."""
    files = host_files(host.entry)
    assert files, f"{host.name}: no production module found"
    cls = host.settings
    reads: dict[str, bool] = {}
    if cls is Settings:
        text = "\n".join((REPO / f).read_text() for f in files if f != "shared/settings.py")
        used = {f for f in cls.model_fields if re.search(rf"\.{f}\b|[\"']{f}[\"']", text)}
        for member, fields in member_fields(cls).items():
            if re.search(rf"\.{member}\b", text):
                used |= fields
        # read by every construction of Settings: the Key Vault source, the model validators
        used |= {"pbx_environment", "key_vault_url"} | member_fields(cls).get(CONSTRUCTION, frozenset())
    else:
        used = set(cls.model_fields)  # the node reads its whole NodeEnvironment
    for field in used:
        reads[primary(cls, field)] = not cls.model_fields[field].is_required()
    reads |= environ_reads(files)
    return reads


# -- where settings come from -----------------------------------------------------------------


def bicep_array(name: str) -> list[str] | None:
    """The `name: 'X'` entries of `var NAME = [ ... ]` in infra/azure, or None without one."""
    for path in sorted(BICEP_DIR.rglob("*.bicep")):
        text = path.read_text()
        m = re.search(rf"^\s*var\s+{name}\s*=\s*\[", text, re.MULTILINE)
        if not m:
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"[": 1, "]": -1}.get(text[i], 0)
            i += 1
        return re.findall(r"\{\s*name:\s*'([^']+)'", text[m.end() : i])
    return None


def image_env(dockerfile: str | None) -> set[str]:
    if dockerfile is None:
        return set()
    text = (REPO / dockerfile).read_text().replace("\\\n", " ")
    names: set[str] = set()
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            names |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", line))
    return names


def local_values() -> dict[str, str]:
    return json.loads((REPO / "local.settings.json").read_text())["Values"]


def folded(names: set[str] | list[str]) -> set[str]:
    return {n.lower() for n in names}


# -- the tests --------------------------------------------------------------------------------


def test_the_scan_finds_the_settings_each_process_reads() -> None:
    functions, edge, node = (settings_read(h) for h in HOSTS)
    assert {"JWT_SECRET", "CONFIGDB_APP_TOKEN", "SMTP_HOST", "WEB_ORIGINS", "PUBLIC_BASE_URL"} <= set(
        functions
    )
    assert "JWT_PREVIOUS_SECRETS" in functions  # through the jwt_verification_secrets property
    assert {"CONFIGDB_EDGE_TOKEN", "EDGE_CONTROL_TOKEN", "SIP_HOST", "PROVIDER_ADDRESS"} <= set(edge)
    assert "SIP_EDGE_NATIVE_LOG" in edge  # an os.environ read
    assert not {"SIP_HOST", "PROVIDER_ADDRESS", "CONFIGDB_EDGE_TOKEN"} & set(functions)
    assert not {"JWT_SECRET", "SMTP_HOST", "CONFIGDB_APP_TOKEN"} & set(edge)
    assert set(node) >= {"CONFIGDB_TOKEN", "CONFIGDB_PEER_TOKEN", "CONFIGDB_TOKENS", "PBX_ENVIRONMENT"}


def test_production_defaults_name_real_settings() -> None:
    known = {primary(cls, f) for cls in (Settings, NodeEnvironment) for f in cls.model_fields}
    known |= {n for h in HOSTS for n in settings_read(h)}
    assert not PRODUCTION_DEFAULTS - known, (
        f"PRODUCTION_DEFAULTS names unknown settings: {PRODUCTION_DEFAULTS - known}"
    )


@pytest.mark.parametrize("host", HOSTS, ids=IDS)
def test_every_setting_is_provided_locally(host: Host) -> None:
    local = folded(local_values())
    missing = [
        n for n, has_default in settings_read(host).items() if not has_default and n.lower() not in local
    ]
    assert not missing, (
        f"{host.name} reads settings with no default that local.settings.json lacks: {missing}"
    )


def test_local_settings_name_only_settings_the_code_reads() -> None:
    read = folded({n for h in HOSTS for n in settings_read(h)} | LOCAL_HOST_SETTINGS)
    stale = [n for n in local_values() if n.lower() not in read]
    assert not stale, f"local.settings.json names settings no code reads: {stale}"


@pytest.mark.parametrize("host", HOSTS, ids=IDS)
def test_every_setting_is_provided_in_azure(host: Host) -> None:
    names = bicep_array(host.bicep_array)
    assert names is not None, f"no `var {host.bicep_array} = [...]` under infra/azure"
    provided = folded(names) | folded(image_env(host.dockerfile)) | folded(PRODUCTION_DEFAULTS)
    missing = sorted(n for n in settings_read(host) if n.lower() not in provided)
    assert not missing, (
        f"{host.name} reads settings that neither `{host.bicep_array}` nor its image provides, and whose"
        f" default is not marked safe for production (shared.settings.PRODUCTION_DEFAULTS): {missing}"
    )


@pytest.mark.parametrize("host", HOSTS, ids=IDS)
def test_azure_settings_name_only_settings_the_host_reads(host: Host) -> None:
    names = bicep_array(host.bicep_array)
    assert names is not None, f"no `var {host.bicep_array} = [...]` under infra/azure"
    read = folded(set(settings_read(host)))
    unknown = sorted(n for n in names if n.lower() not in read and not PLATFORM.match(n))
    assert not unknown, f"`{host.bicep_array}` sets what {host.name} never reads: {unknown}"
    assert len(names) == len(folded(names)), f"`{host.bicep_array}` sets a name twice"
