#!/bin/sh
# azd postdeploy hook: subscribe the blob-triggered functions to the storage account's Event Grid
# system topic. On Flex Consumption blob triggers are Event Grid based (source=EventGrid), and the
# webhook needs the host's blobs_extension key, which exists only once the deployed code runs.
set -eu

echo "waiting for the Functions host's blobs_extension key"
key=""
for _ in $(seq 1 60); do
    key="$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
        --query systemKeys.blobs_extension -o tsv 2>/dev/null || true)"
    [ -n "$key" ] && break
    sleep 5
done
if [ -z "$key" ]; then
    echo "the Function App has no blobs_extension key after 5 minutes: is the code deployed and the host running? (docs/deploy-azure.md, Troubleshooting)" >&2
    exit 1
fi

storage_id="$(az storage account show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_STORAGE_ACCOUNT_NAME" --query id -o tsv)"
host="$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query defaultHostName -o tsv)"
topic="$(az resource show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_EVENTGRID_SYSTEM_TOPIC" \
    --resource-type Microsoft.EventGrid/systemTopics --query id -o tsv)"

# BLOB_TRIGGER_CONTAINERS: function=container pairs (a main.bicep output). One subscription each
# (PUT creates or updates; Event Grid validates the webhook, which the blobs extension answers).
for pair in $(echo "$BLOB_TRIGGER_CONTAINERS" | tr ',' ' '); do
    function="${pair%%=*}"
    container="${pair#*=}"
    name="$(echo "$function" | tr -d '_')"
    echo "subscribing $function to blobs created in $container/"
    body=$(cat <<JSON
{
  "properties": {
    "destination": {
      "endpointType": "WebHook",
      "properties": {
        "endpointUrl": "https://${host}/runtime/webhooks/blobs?functionName=Host.Functions.${function}&code=${key}"
      }
    },
    "filter": {
      "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
      "subjectBeginsWith": "/blobServices/default/containers/${container}/"
    },
    "eventDeliverySchema": "EventGridSchema",
    "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
    "deadLetterWithResourceIdentity": {
      "identity": {"type": "SystemAssigned"},
      "deadLetterDestination": {
        "endpointType": "StorageBlob",
        "properties": {"resourceId": "${storage_id}", "blobContainerName": "eventgrid-deadletter"}
      }
    }
  }
}
JSON
)
    az rest --only-show-errors --method put \
        --url "https://management.azure.com${topic}/eventSubscriptions/${name}?api-version=2022-06-15" \
        --body "$body" >/dev/null
done
echo "portal: $PORTAL_URL"
