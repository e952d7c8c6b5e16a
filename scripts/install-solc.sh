#!/usr/bin/env bash
# Installs solc-js (the Solidity compiler, from the npm registry) into a
# cache directory, pinned, for the zkml/evm test that compiles vai's exported
# Groth16 verifier and runs it on go-ethereum's simulated chain. Prints the
# path of the solcjs command; the test looks there (or in $VAI_SOLCJS).
#
#   scripts/install-solc.sh            # → $HOME/.cache/vai/solc/node_modules/.bin/solcjs
set -euo pipefail
SOLC_VERSION=0.8.28
dir="${VAI_SOLC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vai/solc}"
bin="$dir/node_modules/.bin/solcjs"
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | cut -d+ -f1)" = "$SOLC_VERSION" ]; then
  echo "$bin"; exit 0
fi
if ! command -v npm >/dev/null; then
  echo "install-solc: npm not found; the EVM verifier test will be skipped" >&2; exit 0
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "solc@$SOLC_VERSION" >&2
echo "$bin"
