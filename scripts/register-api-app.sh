#!/usr/bin/env bash
# Registers the HTTP API's own app registration (docs/http-api.md): the app roles CertRotator.Reader,
# CertRotator.Operator and CertRotator.Admin (Admin implies Operator implies Reader, in the app),
# the App ID URI api://{appId}, and its service principal (so roles can be assigned). Prints the
# API_AUDIENCE and API_TENANT_ID values infra/main.bicep needs. It also exposes one delegated
# scope, user_impersonation, and pre-authorizes the Azure CLI for it, so that a person holding a
# role gets a token with `az account get-access-token --scope api://{appId}/user_impersonation`
# (--no-azure-cli leaves the CLI out). Idempotent: finds the app by --app-id or display name,
# keeps existing role and scope ids, and assigns roles only when missing.
# --spa-redirect-uri adds the dashboard's address (https://{function app host}/api/ui/, docs/
# the README's Dashboard section) to the app's single-page-app platform, keeping the ones there: the dashboard signs in as this
# app with the authorization code flow and PKCE.
#
# Who can run it: anyone allowed to register applications (Application Developer) for the app;
# assigning roles needs an owner of the app or Cloud Application Administrator.
#
# Usage:
#   scripts/register-api-app.sh [--display-name NAME | --app-id APP_ID]
#       [--assign-admin OBJECT_ID]... [--assign-operator OBJECT_ID]... [--assign-reader OBJECT_ID]...
#       [--assign-admin-self] [--no-azure-cli] [--azd] [--spa-redirect-uri URL]...
# OBJECT_ID is a user's, a group's or a service principal's object id; --assign-admin-self assigns
# CertRotator.Admin to the signed-in user (nobody when signed in as a service principal).
# --azd runs `azd env set` for API_AUDIENCE and API_TENANT_ID, and does nothing when API_AUDIENCE is
# set already (unless --app-id is given). azure.yaml runs `--azd --assign-admin-self` as the
# preprovision hook, so the first `azd up` registers the API and later ones leave it alone.
set -euo pipefail

# Fixed ids make a re-run write the same roles; an app that already has these roles keeps its own.
readonly READER_ROLE_ID='3da6be8f-8130-45c6-94b7-b58cbef0ca2e'
readonly OPERATOR_ROLE_ID='8f87ef42-0496-420f-a960-38b1b0656106'
readonly ADMIN_ROLE_ID='cc5714ad-5163-478b-97e7-74764261131e'
readonly USER_IMPERSONATION_SCOPE_ID='f0750271-474e-4465-86be-9e43c748249e'
# The Azure CLI's well-known public client id.
readonly AZURE_CLI_APP_ID='04b07795-8ddb-461a-bbee-02f9e1bf7b46'

usage() {
  # The header comment above is the help text.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-0}"
}

die() {
  echo "register-api-app: $*" >&2
  exit 1
}

display_name='Entra Cert Rotator API'
app_id=''
use_azd=false
allow_azure_cli=true
graph_url="${GRAPH_BASE_URL:-https://graph.microsoft.com}"
assignments=()
assign_self=false
spa_redirect_uris=()

while [ $# -gt 0 ]; do
  case "$1" in
    --display-name) display_name="${2:-}"; shift 2 ;;
    --app-id) app_id="${2:-}"; shift 2 ;;
    --assign-admin) assignments+=("CertRotator.Admin=${2:-}"); shift 2 ;;
    --assign-operator) assignments+=("CertRotator.Operator=${2:-}"); shift 2 ;;
    --assign-reader) assignments+=("CertRotator.Reader=${2:-}"); shift 2 ;;
    --assign-admin-self) assign_self=true; shift ;;
    --azd) use_azd=true; shift ;;
    --no-azure-cli) allow_azure_cli=false; shift ;;
    --spa-redirect-uri) spa_redirect_uris+=("${2:-}"); shift 2 ;;
    --graph-url) graph_url="${2:-}"; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

graph_url="${graph_url%/}/v1.0"
guid_re='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
for assignment in "${assignments[@]+"${assignments[@]}"}"; do
  [[ "${assignment#*=}" =~ $guid_re ]] || die "role assignees are object ids (GUIDs); got '${assignment#*=}'"
done
# Entra takes https redirect URIs, and http for localhost only; a quote or backslash would break the JSON below.
for uri in "${spa_redirect_uris[@]+"${spa_redirect_uris[@]}"}"; do
  [[ "$uri" =~ ^(https://[^\"[:space:]]+|http://localhost(:[0-9]+)?(/[^\"[:space:]]*)?)$ ]] ||
    die "--spa-redirect-uri must be an https URL (or http://localhost), such as https://{app}.azurewebsites.net/api/ui/; got '$uri'"
done

# azd hands its environment to hooks as variables. With API_AUDIENCE set (by an earlier run, or by
# hand for an app registered some other way) there is nothing to register: looking the name up
# could find or create a second app, and re-applying roles could clash with a hand-made app.
if [ "$use_azd" = true ] && [ -z "$app_id" ] && [ -n "${API_AUDIENCE:-}" ]; then
  echo "ok       API_AUDIENCE is set in the azd environment ($API_AUDIENCE): nothing to register"
  echo "         (to re-apply the roles and the scope: scripts/register-api-app.sh --app-id APP_ID --azd)"
  exit 0
fi
command -v az >/dev/null || die "the Azure CLI (az) is required: https://aka.ms/azure-cli"

if [ "$assign_self" = true ]; then
  # A service principal (CI) has no signed-in user: nobody is assigned, and that is not an error.
  if me="$(az ad signed-in-user show --query id --output tsv 2>/dev/null)" && [[ "$me" =~ $guid_re ]]; then
    assignments+=("CertRotator.Admin=$me")
  else
    echo "note     no signed-in user (a service principal?): CertRotator.Admin assigned to nobody; use --assign-admin OBJECT_ID"
  fi
fi

if [ -z "$app_id" ]; then
  # An exact match: `az ad app list --display-name` matches a prefix, so "Entra Cert Rotator API"
  # would find "Entra Cert Rotator API (test)" and patch roles into it. OData doubles a quote.
  name_filter="displayName eq '${display_name//\'/\'\'}'"
  count="$(az ad app list --filter "$name_filter" --query 'length(@)' --output tsv)"
  if [ "$count" -gt 1 ]; then
    die "$count app registrations are named '$display_name'; pass --app-id"
  elif [ "$count" -eq 1 ]; then
    app_id="$(az ad app list --filter "$name_filter" --query '[0].appId' --output tsv)"
    echo "found    app registration '$display_name' ($app_id)"
  else
    app_id="$(az ad app create --display-name "$display_name" --sign-in-audience AzureADMyOrg \
      --query appId --output tsv)"
    echo "created  app registration '$display_name' ($app_id)"
  fi
fi
[[ "$app_id" =~ $guid_re ]] || die "--app-id must be an application (client) id, a GUID (got '$app_id')"
object_id="$(az ad app show --id "$app_id" --query id --output tsv)"

identifier_uri="$(az ad app show --id "$app_id" --query 'identifierUris[0]' --output tsv)"
if [ -z "$identifier_uri" ]; then
  identifier_uri="api://$app_id"
  az ad app update --id "$app_id" --identifier-uris "$identifier_uri" --output none
  echo "set      App ID URI $identifier_uri"
else
  echo "ok       App ID URI $identifier_uri"
fi

others="$(az ad app show --id "$app_id" \
  --query "length(appRoles[?!contains(['CertRotator.Reader','CertRotator.Operator','CertRotator.Admin'], value)])" \
  --output tsv)"
[ "$others" = 0 ] ||
  die "the app has $others other app role(s); add CertRotator.Reader, CertRotator.Operator and CertRotator.Admin by hand (README, Deployment)"

role_id() {
  local value="$1" fallback="$2" existing
  existing="$(az ad app show --id "$app_id" --query "appRoles[?value=='$value'].id | [0]" --output tsv)"
  echo "${existing:-$fallback}"
}
reader_id="$(role_id CertRotator.Reader "$READER_ROLE_ID")"
operator_id="$(role_id CertRotator.Operator "$OPERATOR_ROLE_ID")"
admin_id="$(role_id CertRotator.Admin "$ADMIN_ROLE_ID")"

role_json() {
  # Users, groups and daemons (client credentials) may all hold the roles.
  printf '{"id":"%s","value":"%s","displayName":"%s","description":"%s","allowedMemberTypes":["User","Application"],"isEnabled":true}' \
    "$1" "$2" "$3" "$4"
}
body="{\"appRoles\":[$(role_json "$reader_id" CertRotator.Reader 'Certificate rotator reader' 'List managed apps, their state, history and certificates; download public certificates.'),$(role_json "$operator_id" CertRotator.Operator 'Certificate rotator operator' 'Everything a Reader can, and deploy a new certificate now.'),$(role_json "$admin_id" CertRotator.Admin 'Certificate rotator admin' 'Everything an Operator can, and manage app configs, download private keys and delete certificates.')]}"
az rest --method PATCH --url "$graph_url/applications/$object_id" \
  --headers 'Content-Type=application/json' --body "$body" --output none
echo "ok       app roles CertRotator.Reader, CertRotator.Operator, CertRotator.Admin"

other_scopes="$(az ad app show --id "$app_id" \
  --query "length(api.oauth2PermissionScopes[?value!='user_impersonation'])" --output tsv)"
[ "$other_scopes" = 0 ] ||
  die "the app exposes $other_scopes other scope(s); add user_impersonation by hand (README, Deployment)"
scope_id="$(az ad app show --id "$app_id" \
  --query "api.oauth2PermissionScopes[?value=='user_impersonation'].id | [0]" --output tsv)"
scope_id="${scope_id:-$USER_IMPERSONATION_SCOPE_ID}"
scope_json="{\"id\":\"$scope_id\",\"value\":\"user_impersonation\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Call the certificate rotator API\",\"adminConsentDescription\":\"Call the Entra Cert Rotator API as the signed-in user, with the app roles that user holds.\",\"userConsentDisplayName\":\"Call the certificate rotator API\",\"userConsentDescription\":\"Call the Entra Cert Rotator API as you, with the roles you hold.\"}"
# Two writes: Graph rejects a pre-authorization that names a scope the app does not expose yet.
az rest --method PATCH --url "$graph_url/applications/$object_id" --headers 'Content-Type=application/json' \
  --body "{\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[$scope_json]}}" --output none
pre_authorized='[]'
if [ "$allow_azure_cli" = true ]; then
  pre_authorized="[{\"appId\":\"$AZURE_CLI_APP_ID\",\"delegatedPermissionIds\":[\"$scope_id\"]}]"
fi
az rest --method PATCH --url "$graph_url/applications/$object_id" --headers 'Content-Type=application/json' \
  --body "{\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[$scope_json],\"preAuthorizedApplications\":$pre_authorized}}" \
  --output none
echo "ok       scope user_impersonation (v2 tokens)$([ "$allow_azure_cli" = true ] && echo ', Azure CLI pre-authorized')"

if [ "${#spa_redirect_uris[@]}" -gt 0 ]; then
  # Kept: the URIs already there (another deployment's dashboard, a developer's localhost).
  mapfile -t existing_spa < <(az ad app show --id "$app_id" --query 'spa.redirectUris[]' --output tsv)
  spa_json=''
  declare -A seen_spa=()
  for uri in "${existing_spa[@]+"${existing_spa[@]}"}" "${spa_redirect_uris[@]}"; do
    if [ -z "$uri" ] || [ -n "${seen_spa[$uri]:-}" ]; then continue; fi
    seen_spa[$uri]=1
    spa_json="${spa_json:+$spa_json,}\"$uri\""
  done
  az rest --method PATCH --url "$graph_url/applications/$object_id" --headers 'Content-Type=application/json' \
    --body "{\"spa\":{\"redirectUris\":[$spa_json]}}" --output none
  echo "ok       single-page-app redirect URIs: ${spa_redirect_uris[*]} (the dashboard signs in with these)"
fi

sp_id="$(az ad sp list --filter "appId eq '$app_id'" --query '[0].id' --output tsv)"
if [ -z "$sp_id" ]; then
  sp_id="$(az ad sp create --id "$app_id" --query id --output tsv)"
  echo "created  service principal $sp_id"
fi

for assignment in "${assignments[@]+"${assignments[@]}"}"; do
  role="${assignment%%=*}"
  assignee="${assignment#*=}"
  case "$role" in
    CertRotator.Reader) role_guid="$reader_id" ;;
    CertRotator.Operator) role_guid="$operator_id" ;;
    *) role_guid="$admin_id" ;;
  esac
  existing="$(az rest --method GET --url "$graph_url/servicePrincipals/$sp_id/appRoleAssignedTo" \
    --query "value[?principalId=='$assignee' && appRoleId=='$role_guid'].id | [0]" --output tsv)"
  if [ -n "$existing" ]; then
    echo "ok       $assignee already holds $role"
    continue
  fi
  az rest --method POST --url "$graph_url/servicePrincipals/$sp_id/appRoleAssignedTo" \
    --headers 'Content-Type=application/json' \
    --body "{\"principalId\":\"$assignee\",\"resourceId\":\"$sp_id\",\"appRoleId\":\"$role_guid\"}" \
    --output none
  echo "assigned $role to $assignee"
done

tenant_id="$(az account show --query tenantId --output tsv)"
audience="$identifier_uri,$app_id"
echo
echo "API_AUDIENCE=$audience"
echo "API_TENANT_ID=$tenant_id"
if [ "$use_azd" = true ]; then
  azd env set API_AUDIENCE "$audience"
  azd env set API_TENANT_ID "$tenant_id"
else
  echo "(azd env set API_AUDIENCE '$audience' && azd env set API_TENANT_ID $tenant_id)"
fi
