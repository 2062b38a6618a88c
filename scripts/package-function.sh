#!/usr/bin/env bash
# Assembles the Function App package azd deploys (azure.yaml: dist .deploy): the compiled app
# (dist/, which package.json's "main" points at), host.json, package.json and the production
# dependencies only. Built here rather than by a remote build so that the package is the one the
# tests ran against (same lock file), and devDependencies (TypeScript, vitest, azurite) stay out.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-.deploy}"
case "$out" in
  '' | / | . | ..) echo "package-function: refusing to use '$out' as the output folder" >&2; exit 1 ;;
esac

rm -rf "$out"
mkdir -p "$out"
# Compiled straight into the package (the same tsc and tsconfig as `npm run build`), so packaging
# leaves the developer's dist/ as it was.
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$out/dist"
# The dashboard's bundle (README, Dashboard), served from dist/web by the app itself.
node_modules/.bin/vite build --config vite.web.config.ts --outDir "$(cd "$out" && pwd)/dist/web" --logLevel warn
cp host.json package-lock.json "$out"/
# The deployed package.json keeps what the Functions host and npm need (type, main, engines,
# dependencies) and drops scripts and devDependencies: should a platform build ever run on the
# package (an azd without remoteBuild support defaults to one), it finds no `build` script to run
# against sources that are not there, only production dependencies to install.
node -e '
  const fs = require("node:fs");
  const { name, version, private: isPrivate, license, type, main, engines, dependencies } = JSON.parse(fs.readFileSync("package.json", "utf8"));
  const deployed = { name, version, private: isPrivate, license, type, main, engines, dependencies };
  fs.writeFileSync(process.argv[1] + "/package.json", JSON.stringify(deployed, null, 2) + "\n");
' "$out"
# --ignore-scripts: production dependencies need no install scripts, and none should run here.
(cd "$out" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
echo "package-function: $out is ready ($(du -sh "$out" | cut -f1))"
