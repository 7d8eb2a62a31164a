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

# BLOB_TRIGGER_CONTAINERS: function=container pairs (a main.bicep output).
for pair in $(echo "$BLOB_TRIGGER_CONTAINERS" | tr ',' ' '); do
    function="${pair%%=*}"
    container="${pair#*=}"
    echo "subscribing $function to blobs created in $container/"
    az eventgrid system-topic event-subscription create --only-show-errors \
        -g "$AZURE_RESOURCE_GROUP" --system-topic-name "$AZURE_EVENTGRID_SYSTEM_TOPIC" \
        -n "$(echo "$function" | tr '_' '-')" \
        --endpoint-type webhook \
        --endpoint "https://${host}/runtime/webhooks/blobs?functionName=Host.Functions.${function}&code=${key}" \
        --included-event-types Microsoft.Storage.BlobCreated \
        --subject-begins-with "/blobServices/default/containers/${container}/" \
        --max-delivery-attempts 30 --event-ttl 1440 \
        --deadletter-identity systemassigned \
        --deadletter-identity-endpoint "${storage_id}/blobServices/default/containers/eventgrid-deadletter" \
        >/dev/null
done
echo "portal: $PORTAL_URL"
