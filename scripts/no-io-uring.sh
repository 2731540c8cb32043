#!/usr/bin/env bash
# The addon built without the cargo feature io-uring (`cargo build -p
# streamline-io-binding --no-default-features`) must compile, load, carry the helpers,
# and make openIo() run the standard backend with the reason. Run by .ci/run beside the
# lint (not in npm test: it builds a second addon). Needs `npm run build:ts` first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p streamline-io-binding --no-default-features
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The package as ts/native.ts's loader sees it: dist/ts/native.js looks two levels up.
cp -r dist "$tmp/dist"
cp package.json "$tmp/package.json"
ln -s "$PWD/node_modules" "$tmp/node_modules"
cp target/debug/libstreamline_io_binding.so "$tmp/streamline-io.linux-x64-gnu.node"
node dist/scripts/no-io-uring-check.js "$tmp"
