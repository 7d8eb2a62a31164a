#!/bin/sh
# azd preprovision hook: check the settings only the operator can know, and generate every
# missing secret once into the azd environment (.azure/<env>/.env), from where main.parameters.json
# passes them to Bicep, which writes them to Key Vault. Re-running keeps the existing values;
# docs/deploy-azure.md says how to rotate one.
set -eu

missing=""
for name in TRUNK_CIDRS PROVIDER_ADDRESS SMTP_HOST; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "Set these first with 'azd env set NAME VALUE' (docs/deploy-azure.md, Prerequisites):$missing" >&2
    echo "  TRUNK_CIDRS: the SIP trunk's source addresses, comma-separated CIDRs (e.g. 203.0.113.10/32)" >&2
    echo "  PROVIDER_ADDRESS: host:port of the provider for outbound legs" >&2
    echo "  SMTP_HOST: the SMTP relay (SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_SENDER are optional)" >&2
    exit 1
fi

random() { # $1 characters of [A-Za-z0-9]
    LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"
}

ensure() { # NAME VALUE: set NAME in the azd environment unless it already holds a value
    eval "current=\${$1:-}"
    if [ -z "$current" ]; then
        azd env set "$1" "$2" >/dev/null
        echo "generated $1"
    fi
}

ensure JWT_SECRET "$(random 64)"
ensure CONFIGDB_TOKEN "$(random 48)"
ensure CONFIGDB_APP_TOKEN "$(random 48)"
ensure CONFIGDB_EDGE_TOKEN "$(random 48)"
ensure CONFIGDB_PEER_TOKEN "$(random 48)"
ensure EDGE_CONTROL_TOKEN "$(random 48)"
# MongoDB vCore: 8-256 characters from three classes; letters and digits only, so the URI needs no escaping.
ensure MONGODB_ADMIN_PASSWORD "Pb1$(random 40)"

if [ -z "${VM_SSH_PUBLIC_KEY:-}" ]; then
    dir=".azure/${AZURE_ENV_NAME}"
    mkdir -p "$dir"
    [ -f "$dir/vm_ssh" ] || ssh-keygen -q -t ed25519 -N "" -C "cloudpbx-${AZURE_ENV_NAME}" -f "$dir/vm_ssh"
    azd env set VM_SSH_PUBLIC_KEY "$(cat "$dir/vm_ssh.pub")" >/dev/null
    echo "generated the VMs' SSH key: $dir/vm_ssh"
fi
