#!/usr/bin/env bash
# Runs the Bicep CLI with the given arguments: `bicep` on PATH, else the one `az bicep install` put in
# ~/.azure/bin (called directly: `az bicep build` takes --file, not the bicep CLI's arguments), else
# the pinned CLI restored from NuGet (Azure.Bicep.CommandLine.linux-x64) with `dotnet` into a cache
# outside the repository. `scripts/bicep.sh --which` prints the command it would run, or fails saying how to get one.
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
CACHE="${ENTRA_CERT_ROTATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/entra-cert-rotator}/bicep-${BICEP_VERSION}"

find_bicep() {
  if command -v bicep >/dev/null 2>&1; then
    echo "bicep"
  elif [ -x "$HOME/.azure/bin/bicep" ]; then
    echo "$HOME/.azure/bin/bicep"
  elif [ -x "$CACHE/bicep" ]; then
    echo "$CACHE/bicep"
  elif command -v dotnet >/dev/null 2>&1 && restore_from_nuget >&2; then
    echo "$CACHE/bicep"
  else
    echo "scripts/bicep.sh: no Bicep CLI: install it (https://aka.ms/bicep-install), or 'az bicep install', or the .NET SDK (dotnet) so this script can restore Azure.Bicep.CommandLine.linux-x64 ${BICEP_VERSION} from NuGet" >&2
    return 1
  fi
}

# A throwaway project whose only job is to download the package; the binary is copied into the cache.
restore_from_nuget() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "scripts/bicep.sh: the NuGet fallback carries the linux-x64 CLI only; install bicep for $(uname -s)-$(uname -m)" >&2; return 1 ;;
  esac
  local work
  work="$(mktemp -d)"
  cat >"$work/restore.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[${BICEP_VERSION}]" /></ItemGroup>
</Project>
EOF
  echo "scripts/bicep.sh: restoring Azure.Bicep.CommandLine.linux-x64 ${BICEP_VERSION} from NuGet into ${CACHE}" >&2
  local status=0
  dotnet restore "$work/restore.csproj" --packages "$work/packages" --nologo --verbosity quiet >&2 &&
    mkdir -p "$CACHE" &&
    install -m 0755 "$work/packages/azure.bicep.commandline.linux-x64/${BICEP_VERSION}/tools/bicep" "$CACHE/bicep" || status=$?
  rm -rf "$work"
  return "$status"
}

command_line="$(find_bicep)"
if [ "${1:-}" = "--which" ]; then
  echo "$command_line"
  exit 0
fi
exec "$command_line" "$@"
