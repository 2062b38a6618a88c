#!/usr/bin/env bash
# Grants the rotator's managed identity the one thing Bicep cannot: a Microsoft Graph application
# permission, and (owner mode) ownership of each app registration it manages. Idempotent: every
# grant is looked up first and only made when missing, so it is safe to re-run after adding apps.
#
#   owner mode (default)  Application.ReadWrite.OwnedBy, and the identity is made an owner of each
#                         --app: it writes keyCredentials of those apps and of no others.
#   self mode             Application.Read.All only: writes go through addKey/removeKey, signed in
#                         as the managed app with its current certificate from Key Vault, so the
#                         identity holds no Graph write permission at all (docs/configuration.md graphMode).
#   both                  both permissions (apps in either mode).
#   every mode            Policy.Read.All as well: the preflight reads the tenant's app management
#                         policies (docs/renewal.md, Preflight). Without it nothing is refused early:
#                         each app's state.preflight.warnings asks for it, and Graph still refuses
#                         what a policy forbids when a renewal writes.
#
# Who can run it: granting an application permission of Microsoft Graph needs Privileged Role
# Administrator (or Global Administrator); adding an owner needs Cloud Application Administrator,
# Application Administrator, or an existing owner of that app registration.
#
# When Graph refuses a grant (403, you may not make it), the script goes on with the others and then
# prints the exact commands for someone who may: this script with the same arguments, and the same
# grants as plain `az` commands.
#
# Usage:
#   scripts/grant-graph-permission.sh --function-app NAME --resource-group RG [--mode owner|self|both] [--app APP_ID]...
#   scripts/grant-graph-permission.sh --principal-id OBJECT_ID [--mode ...] [--app APP_ID]...
#   scripts/grant-graph-permission.sh --azd
# --azd is the postprovision hook of azure.yaml: the principal is APP_PRINCIPAL_ID from the azd
# environment, the mode GRAPH_PERMISSION_MODE (default owner) and the apps GRAPH_PERMISSION_APPS
# (comma-separated), unless given as arguments; a refused grant prints the admin's commands and
# exits 0, so `azd up` finishes (the rotator runs, and renews once an admin has granted).
set -euo pipefail

# Microsoft Graph's well-known application id, and the app role ids of the permissions used, from
# the Microsoft Graph permissions reference. They are cross-checked against the tenant's Graph
# service principal below before anything is granted.
readonly GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'
readonly APPLICATION_READWRITE_OWNEDBY_ID='18a4783c-866b-4cc7-a460-3d5e5662c884'
readonly APPLICATION_READ_ALL_ID='9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30'
readonly POLICY_READ_ALL_ID='246dd0d5-5bd0-4def-940b-0421030a5b68'

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
mode=''
azd_hook=false
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
    --azd) azd_hook=true; shift ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

if [ "$azd_hook" = true ]; then
  # azd hands its environment, the deployment's outputs included, to hooks as variables.
  principal_id="${principal_id:-${APP_PRINCIPAL_ID:-}}"
  mode="${mode:-${GRAPH_PERMISSION_MODE:-}}"
  if [ "${#apps[@]}" -eq 0 ] && [ -n "${GRAPH_PERMISSION_APPS:-}" ]; then
    IFS=', ' read -r -a apps <<<"$GRAPH_PERMISSION_APPS"
  fi
  [ -n "$principal_id" ] ||
    die "--azd: APP_PRINCIPAL_ID is not in the azd environment (an output of infra/main.bicep); run azd provision first"
fi
mode="${mode:-owner}"

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

# Grants Graph refused: printed at the end, for someone who may make them.
refused=()

# POSTs to Graph; false when Graph answers 403 (the signed-in account may not), and the grant is then
# remembered as the equivalent az command. Any other failure stops the script.
graph_post() {
  local url="$1" body="$2" what="$3" instead="$4" error
  if error="$(az rest --method POST --url "$url" --headers 'Content-Type=application/json' --body "$body" --output none 2>&1)"; then
    return 0
  fi
  # az rest reports a 403 as `Forbidden({"error":{"code":"Authorization_RequestDenied",…`.
  if [[ "$error" == *Authorization_RequestDenied* || "$error" == *Forbidden\(* ]]; then
    echo "refused  $what: Graph answered 403 (Authorization_RequestDenied) to your account"
    refused+=("$instead")
    return 1
  fi
  printf '%s\n' "$error" >&2
  die "$what failed"
}

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
  local url="$graph_url/servicePrincipals/$principal_id/appRoleAssignments"
  local body="{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}"
  if graph_post "$url" "$body" "granting $permission" \
    "az rest --method POST --url '$url' --headers 'Content-Type=application/json' --body '$body'  # $permission"; then
    echo "granted  $permission to $principal_id"
  fi
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
  if graph_post "$graph_url/applications/$object_id/owners/\$ref" "{\"@odata.id\":\"$graph_url/directoryObjects/$principal_id\"}" \
    "making $principal_id an owner of app $app_id" "az ad app owner add --id $app_id --owner-object-id $principal_id"; then
    echo "added    $principal_id as owner of app $app_id"
  fi
}

if [ "$mode" = owner ] || [ "$mode" = both ]; then
  grant_app_role 'Application.ReadWrite.OwnedBy' "$APPLICATION_READWRITE_OWNEDBY_ID"
fi
if [ "$mode" = self ] || [ "$mode" = both ]; then
  grant_app_role 'Application.Read.All' "$APPLICATION_READ_ALL_ID"
fi
grant_app_role 'Policy.Read.All' "$POLICY_READ_ALL_ID"
for app in "${apps[@]+"${apps[@]}"}"; do
  add_owner "$app"
done
if [ "$mode" != self ] && [ "${#apps[@]}" -eq 0 ]; then
  echo "note     no --app given: the identity owns no app yet, so owner mode can manage none; re-run with --app APP_ID"
fi

if [ "${#refused[@]}" -gt 0 ]; then
  command_line="scripts/grant-graph-permission.sh --principal-id $principal_id --mode $mode"
  for app in "${apps[@]+"${apps[@]}"}"; do command_line+=" --app $app"; done
  echo
  echo "Not granted. A Privileged Role Administrator or Global Administrator (for the permission) and a"
  echo "Cloud Application Administrator, Application Administrator or the app's owner (for ownership) runs:"
  echo "  $command_line"
  echo "or, without this repository:"
  printf '  %s\n' "${refused[@]}"
  if [ "$azd_hook" = true ]; then
    echo "azd goes on: the rotator is deployed, and its renewals fail naming this script until the grant is made."
    exit 0
  fi
  exit 1
fi
