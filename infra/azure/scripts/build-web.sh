#!/bin/sh
# azd prepackage hook of the `web` service (runs in web/): the portal as deployed, in
# infra/azure/.build/web: the files of web/, a config.json that sends the API calls to the same
# origin (/api is the Function App, linked to the Static Web App), and the Content-Security-Policy
# with this deployment's blob host for the media player's signed URLs.
set -eu

out="../infra/azure/.build/web"
rm -rf "$out"
mkdir -p "$out"
cp -R . "$out"
rm -f "$out/README.md"
printf '{"apiBase": "/api/v1"}\n' >"$out/config.json"
sed -i.bak \
    -e "s/PRODUCTION_BLOB_ACCOUNT/${AZURE_STORAGE_ACCOUNT_NAME}/g" \
    -e "s# https://PRODUCTION_API_HOST##g" \
    "$out/staticwebapp.config.json"
rm -f "$out/staticwebapp.config.json.bak"
if grep -q PRODUCTION_ "$out/staticwebapp.config.json"; then
    echo "staticwebapp.config.json still holds a PRODUCTION_ placeholder" >&2
    exit 1
fi
