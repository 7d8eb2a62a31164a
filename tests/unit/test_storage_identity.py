"""Storage under a managed identity: the Functions host's identity-based AzureWebJobsStorage
settings, the endpoints the clients are built from, and the production refusal of connection
strings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.adapters import azure_credentials
from shared.adapters.azure_credentials import service_bus_endpoint, storage_endpoint
from shared.settings import DEV_ACCOUNT_KEY, ProductionSecretMissing, Settings, azurite_connection_string


class Isolated(Settings):
    local_settings_file = None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PBX_ENVIRONMENT",
        "AzureWebJobsStorage",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "ServiceBusConnection",
        "ServiceBusConnection__fullyQualifiedNamespace",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_identity_settings_come_from_the_functions_host_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "pbxprod")
    s = Isolated()
    assert s.storage_identity
    assert s.storage_service_url("blob") == "https://pbxprod.blob.core.windows.net"
    assert s.storage_service_url("queue") == "https://pbxprod.queue.core.windows.net"
    env = s.as_env()
    assert env["AzureWebJobsStorage__accountName"] == "pbxprod"
    assert "AzureWebJobsStorage" not in env  # a child would refuse the development default

    monkeypatch.setenv("AzureWebJobsStorage__blobServiceUri", "https://media.pbx.example/")
    assert Isolated().storage_service_url("blob") == "https://media.pbx.example"
    assert Isolated().storage_service_url("queue") == "https://pbxprod.queue.core.windows.net"


def test_without_identity_the_connection_string_is_used() -> None:
    s = Isolated()
    assert not s.storage_identity and s.storage_service_url("blob") is None
    endpoint = storage_endpoint(s, "blob")
    assert endpoint.connection_string == azurite_connection_string() and endpoint.credential is None
    assert DEV_ACCOUNT_KEY not in repr(endpoint)


@pytest.mark.parametrize(
    "values",
    [
        {"storage_account_name": "Not-A-Name"},
        {"storage_blob_service_uri": "http://plain.example"},
        {"storage_blob_service_uri": "https://b.example"},  # without its queue URI
        {"storage_queue_service_uri": "https://q.example"},  # without its blob URI
    ],
)
def test_bad_identity_settings_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Isolated(**values)


def test_under_identity_the_clients_share_the_process_credential() -> None:
    s = Isolated(storage_account_name="pbxprod", service_bus_namespace="pbx.servicebus.windows.net")
    try:
        blob, queue, bus = storage_endpoint(s, "blob"), storage_endpoint(s, "queue"), service_bus_endpoint(s)
        assert blob.connection_string is None and blob.account_url == "https://pbxprod.blob.core.windows.net"
        assert queue.account_url == "https://pbxprod.queue.core.windows.net"
        assert bus.namespace == "pbx.servicebus.windows.net" and bus.connection_string is None
        assert blob.credential is not None and blob.credential is queue.credential is bus.credential
        assert type(blob.credential).__name__ == "DefaultAzureCredential"
    finally:
        azure_credentials.close_process_credential()
    assert azure_credentials._credential is None


def test_a_service_bus_connection_string_wins_over_the_namespace() -> None:
    s = Isolated(service_bus_connection="Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v")
    endpoint = service_bus_endpoint(s)
    assert endpoint.connection_string is not None and endpoint.credential is None
    assert "SharedAccessKey" not in repr(endpoint)
    with pytest.raises(ValueError):
        service_bus_endpoint(Isolated())


PRODUCTION_KEY = (
    "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=cHJvZA==;EndpointSuffix=core.windows.net"
)


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        (
            {},
            "AzureWebJobsStorage__accountName is not set: a production process does not start on the"
            " development default. Set AzureWebJobsStorage__accountName, or PBX_ENVIRONMENT=local for a"
            " local run.",
        ),
        (
            {"storage_connection": PRODUCTION_KEY},
            "AzureWebJobsStorage holds a connection string: a production process reaches storage with its"
            " managed identity. Set AzureWebJobsStorage__accountName instead, or PBX_ENVIRONMENT=local for"
            " a local run.",
        ),
        (
            {"storage_connection": PRODUCTION_KEY, "storage_account_name": "pbxprod"},
            "AzureWebJobsStorage holds a connection string: a production process reaches storage with its"
            " managed identity. Set AzureWebJobsStorage__accountName instead, or PBX_ENVIRONMENT=local for"
            " a local run.",
        ),
        (
            {"storage_connection": azurite_connection_string()},
            "AzureWebJobsStorage holds a development value: a production process does not start on it."
            " Set AzureWebJobsStorage, or PBX_ENVIRONMENT=local for a local run.",
        ),
    ],
)
def test_production_refuses_storage_without_the_identity(values: dict[str, str], sentence: str) -> None:
    with pytest.raises(ProductionSecretMissing) as refusal:
        Isolated(**values).require_secrets("storage_connection")
    assert str(refusal.value.code) == sentence


def test_production_starts_on_the_identity_and_local_on_the_connection_string() -> None:
    Isolated(storage_account_name="pbxprod").require_secrets("storage_connection")
    Isolated(
        storage_blob_service_uri="https://b.example", storage_queue_service_uri="https://q.example"
    ).require_secrets("storage_connection")
    Isolated(pbx_environment="local").require_secrets("storage_connection")


def test_empty_identity_settings_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__blobServiceUri", "KEY_VAULT_URL"):
        monkeypatch.setenv(name, "")
    s = Isolated()
    assert not s.storage_identity and s.storage_service_url("blob") is None
    assert "AzureWebJobsStorage__accountName" not in s.as_env() and "KEY_VAULT_URL" not in s.as_env()
