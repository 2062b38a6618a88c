#!/usr/bin/env bash
# Bundles the compiled entry point and every production dependency it imports into one ES module
# (esbuild), so that a cold start reads and links one file instead of resolving several hundred
# modules across node_modules (measured by `npm run bench -- coldstart`; see BENCHMARKS.md).
# `@azure/functions-core` stays external: the Functions worker provides it at run time through
# require(), which the banner's createRequire gives the bundle's CommonJS parts (the library's
# documented answer to bundlers: github.com/Azure/azure-functions-nodejs-library/issues/201).
# Measured by the coldstart benchmark; scripts/package-function.sh does not use it yet (see
# BENCHMARKS.md: adopting it changes the deployed layout).
# Code splitting keeps what src/index.ts imports on first call (the handlers, the composition root,
# the SDKs) in chunks of their own, so start-up parses only the registrations.
# Usage: scripts/bundle-function.sh <compiled entry, e.g. dist/index.js> <output folder>
set -euo pipefail
cd "$(dirname "$0")/.."

entry="${1:?usage: bundle-function.sh <entry.js> <out-dir>}"
outdir="${2:?usage: bundle-function.sh <entry.js> <out-dir>}"

node_modules/.bin/esbuild "$entry" \
  --bundle \
  --splitting \
  '--chunk-names=chunks/[name]-[hash]' \
  --platform=node \
  --format=esm \
  --target=node22 \
  --external:@azure/functions-core \
  --minify \
  --sourcemap=linked \
  --legal-comments=linked \
  --log-level=warning \
  "--banner:js=import { createRequire as __ecrCreateRequire } from 'node:module'; const require = __ecrCreateRequire(import.meta.url);" \
  --outdir="$outdir"
