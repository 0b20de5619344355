#!/usr/bin/env bash
# Runs the Node conformance suite (official @dropbox/sign SDK) against a real `countersign serve`.
#
#   conformance/node/run.sh [node --test options, e.g. --test-name-pattern=cancel]
#
# Installs the pinned SDK with `npm ci` when node_modules is missing or package-lock.json changed since the
# last install. Environment (see lib/harness.js): COUNTERSIGN_BIN (default <repo>/target/debug/countersign),
# CONFORMANCE_DATABASE_URL (postgres://…, default SQLite in a temp dir), CONFORMANCE_KEEP_TMP=1.
# Exits non-zero when a test fails.
set -euo pipefail

# A relative COUNTERSIGN_BIN is relative to the caller's directory, not to this one.
if [ -n "${COUNTERSIGN_BIN:-}" ] && [ "${COUNTERSIGN_BIN#/}" = "$COUNTERSIGN_BIN" ]; then
    COUNTERSIGN_BIN="$PWD/$COUNTERSIGN_BIN"
    export COUNTERSIGN_BIN
fi

cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null 2>&1; then
    echo "run.sh: node is not installed (Node 20 or newer is needed)" >&2
    exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "run.sh: Node $(node --version) is too old; Node 20 or newer is needed" >&2
    exit 1
fi

stamp=node_modules/.conformance-package-lock.json
if [ ! -d node_modules ] || ! cmp -s package-lock.json "$stamp"; then
    echo "==> npm ci (conformance/node)"
    npm ci --no-audit --no-fund
    cp package-lock.json "$stamp"
fi

mapfile -t files < <(find test -name '*.test.js' | sort)
if [ ${#files[@]} -eq 0 ]; then
    echo "run.sh: no test files under $(pwd)/test" >&2
    exit 1
fi
exec node --test --test-reporter=spec "$@" "${files[@]}"
