#!/usr/bin/env bash
# Grants the rotator's managed identity the one thing Bicep cannot: a Microsoft Graph application
# permission, and (owner mode) ownership of each app registration it manages. Idempotent: every
# grant is looked up first and only made when missing, so it is safe to re-run after adding apps.
#
#   owner mode (default)  Application.ReadWrite.OwnedBy, and the identity is made an owner of each
#                         --app: it writes keyCredentials of those apps and of no others.
#   self mode             Application.Read.All only: writes go through addKey/removeKey, signed in
#                         as the managed app with its current certificate from Key Vault, so the
#                         identity holds no Graph write permission at all (PRODUCT.md §2 graphMode).
#   both                  both permissions (apps in either mode).
#
# Who can run it: granting an application permission of Microsoft Graph needs Privileged Role
# Administrator (or Global Administrator); adding an owner needs Cloud Application Administrator,
# Application Administrator, or an existing owner of that app registration.
#
# Usage:
#   scripts/grant-graph-permission.sh --function-app NAME --resource-group RG [--mode owner|self|both] [--app APP_ID]...
#   scripts/grant-graph-permission.sh --principal-id OBJECT_ID [--mode ...] [--app APP_ID]...
# With azd: --principal-id "$(azd env get-value APP_PRINCIPAL_ID)".
set -euo pipefail

# Microsoft Graph's well-known application id, and the app role ids of the permissions used, from
# the Microsoft Graph permissions reference. They are cross-checked against the tenant's Graph
# service principal below before anything is granted.
readonly GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'
readonly APPLICATION_READWRITE_OWNEDBY_ID='18a4783c-866b-4cc7-a460-3d5e5662c884'
readonly APPLICATION_READ_ALL_ID='9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30'

usage() {
  # The header comment above is the help text.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}

die() {
  echo "grant-graph-permission: $*" >&2
  exit 1
}

principal_id=''
function_app=''
resource_group=''
mode='owner'
graph_url="${GRAPH_BASE_URL:-https://graph.microsoft.com}"
apps=()

while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id) principal_id="${2:-}"; shift 2 ;;
    --function-app) function_app="${2:-}"; shift 2 ;;
    --resource-group) resource_group="${2:-}"; shift 2 ;;
    --mode) mode="${2:-}"; shift 2 ;;
    --app) apps+=("${2:-}"); shift 2 ;;
    --graph-url) graph_url="${2:-}"; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

graph_url="${graph_url%/}/v1.0"
guid_re='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

case "$mode" in
  owner | self | both) ;;
  *) die "--mode must be owner, self or both (got '$mode')" ;;
esac
for app in "${apps[@]+"${apps[@]}"}"; do
  [[ "$app" =~ $guid_re ]] || die "--app takes an application (client) id, a GUID (got '$app')"
done
if [ "$mode" = self ] && [ "${#apps[@]}" -gt 0 ]; then
  die "self mode needs no ownership: drop --app, or use --mode both"
fi

command -v az >/dev/null || die "the Azure CLI (az) is required: https://aka.ms/azure-cli"

if [ -z "$principal_id" ]; then
  if [ -z "$function_app" ] || [ -z "$resource_group" ]; then
    die "pass --principal-id, or --function-app and --resource-group"
  fi
  # The identity the app runs as: a user-assigned one when the app has AZURE_CLIENT_ID set
  # (infra/main.bicep sets it only then), else the system-assigned one.
  client_id="$(az functionapp config appsettings list --name "$function_app" --resource-group "$resource_group" \
    --query "[?name=='AZURE_CLIENT_ID'].value | [0]" --output tsv)"
  if [ -n "$client_id" ]; then
    principal_id="$(az ad sp show --id "$client_id" --query id --output tsv)"
  else
    principal_id="$(az functionapp identity show --name "$function_app" --resource-group "$resource_group" \
      --query principalId --output tsv)"
  fi
  [ -n "$principal_id" ] || die "$function_app has no managed identity"
fi
[[ "$principal_id" =~ $guid_re ]] || die "--principal-id must be the identity's object id, a GUID (got '$principal_id')"

graph_sp_id="$(az rest --method GET \
  --url "$graph_url/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id" --query id --output tsv)"
[ -n "$graph_sp_id" ] || die "Microsoft Graph's service principal was not found in this tenant"

app_role_id() {
  az rest --method GET --url "$graph_url/servicePrincipals/$graph_sp_id?\$select=appRoles" \
    --query "appRoles[?value=='$1' && contains(allowedMemberTypes, 'Application')].id | [0]" --output tsv
}

grant_app_role() {
  local permission="$1" expected_id="$2" role_id existing
  role_id="$(app_role_id "$permission")"
  [ "$role_id" = "$expected_id" ] ||
    die "Microsoft Graph's $permission app role is '$role_id' in this tenant, not the documented $expected_id; refusing to guess"
  existing="$(az rest --method GET --url "$graph_url/servicePrincipals/$principal_id/appRoleAssignments" \
    --query "value[?appRoleId=='$role_id' && resourceId=='$graph_sp_id'].id | [0]" --output tsv)"
  if [ -n "$existing" ]; then
    echo "ok       $permission already granted to $principal_id"
    return
  fi
  az rest --method POST --url "$graph_url/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers 'Content-Type=application/json' \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}" \
    --output none
  echo "granted  $permission to $principal_id"
}

add_owner() {
  local app_id="$1" object_id existing
  object_id="$(az rest --method GET --url "$graph_url/applications(appId='$app_id')?\$select=id" --query id --output tsv)" ||
    die "app registration $app_id not found (or not readable by you)"
  existing="$(az rest --method GET --url "$graph_url/applications/$object_id/owners?\$select=id" \
    --query "value[?id=='$principal_id'].id | [0]" --output tsv)"
  if [ -n "$existing" ]; then
    echo "ok       $principal_id already owns app $app_id"
    return
  fi
  az rest --method POST --url "$graph_url/applications/$object_id/owners/\$ref" \
    --headers 'Content-Type=application/json' \
    --body "{\"@odata.id\":\"$graph_url/directoryObjects/$principal_id\"}" \
    --output none
  echo "added    $principal_id as owner of app $app_id"
}

if [ "$mode" = owner ] || [ "$mode" = both ]; then
  grant_app_role 'Application.ReadWrite.OwnedBy' "$APPLICATION_READWRITE_OWNEDBY_ID"
fi
if [ "$mode" = self ] || [ "$mode" = both ]; then
  grant_app_role 'Application.Read.All' "$APPLICATION_READ_ALL_ID"
fi
for app in "${apps[@]+"${apps[@]}"}"; do
  add_owner "$app"
done
if [ "$mode" != self ] && [ "${#apps[@]}" -eq 0 ]; then
  echo "note     no --app given: the identity owns no app yet, so owner mode can manage none; re-run with --app APP_ID"
fi
