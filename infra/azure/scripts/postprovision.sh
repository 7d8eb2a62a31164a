#!/bin/sh
# azd postprovision hook: build the two container images in the registry (no local Docker needed),
# roll them onto the VMs one at a time (ConfigDB keeps its quorum), and make the Function App
# re-read its Key Vault references (its identity's role may be younger than its first start).
set -eu

tag="$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)"
for image in configdb:configdb_nodes/Dockerfile sip-edge:sip_edge/Dockerfile; do
    name="cloudpbx-${image%%:*}"
    file="${image#*:}"
    echo "building $name:$tag in $AZURE_CONTAINER_REGISTRY_NAME"
    az acr build --only-show-errors --no-logs --registry "$AZURE_CONTAINER_REGISTRY_NAME" \
        --image "$name:$tag" --image "$name:latest" --file "$file" .
done

restart() { # VM PORT: once cloud-init is done, restart its container and wait for /healthz on
    # the VM's own address (the ConfigDB binds it, and the edge its EDGE_CONTROL_HOST)
    echo "restarting $1"
    az vm run-command invoke --only-show-errors -g "$AZURE_RESOURCE_GROUP" -n "$1" \
        --command-id RunShellScript --query 'value[0].message' -o tsv --scripts \
        "cloud-init status --wait >/dev/null; systemctl restart pbx.service; ip=\$(ip -4 -o addr show dev eth0 | awk '{print \$4}' | cut -d/ -f1); for i in \$(seq 1 60); do curl -fsS -o /dev/null http://\$ip:$2/healthz && echo healthy && exit 0; sleep 5; done; echo 'not healthy after 5 minutes'; systemctl status pbx.service --no-pager; exit 1"
}

for vm in $(echo "$AZURE_CONFIGDB_VMS" | tr ',' ' '); do
    restart "$vm" 7101
done
restart "$AZURE_EDGE_VM" 7401

app_id="$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query id -o tsv)"
az rest --only-show-errors --method post \
    --url "https://management.azure.com${app_id}/config/configreferences/appsettings/refresh?api-version=2022-03-01" \
    >/dev/null || az functionapp restart -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME"
