#!/usr/bin/env bash
# Runs every test: the Rust unit and black-box tests (SQLite and PostgreSQL), and the conformance suites
# with the official Dropbox Sign SDKs, Python and Node (each on SQLite, then on a fresh PostgreSQL schema).
# Text-tag rectangles are checked against poppler's `pdftotext -bbox` (Debian poppler-utils); without it
# those checks print a notice, and with COUNTERSIGN_REQUIRE_POPPLER=1 (as in CI) they fail instead.
# Word, OpenDocument, RTF and text documents are converted by LibreOffice (`soffice`, Debian
# libreoffice-writer-nogui) when it is on the PATH; without it, a notice, or with
# COUNTERSIGN_REQUIRE_OFFICE=1 (as in CI) a failure.
#
# PostgreSQL: COUNTERSIGN_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Without a
# reachable server its tests print a SKIPPED notice; with COUNTERSIGN_REQUIRE_POSTGRES=1 (as in CI)
# that is a failure instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${COUNTERSIGN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export COUNTERSIGN_TEST_DATABASE_URL="$PG_URL"

echo "==> building"
cargo build --workspace --all-targets

echo "==> Rust tests (unit and black-box, SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

echo "==> Python conformance suite (official dropbox-sign SDK)"
VENV=conformance/python/.venv
if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s conformance/python/requirements.txt "$VENV/.requirements"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r conformance/python/requirements.txt
    cp conformance/python/requirements.txt "$VENV/.requirements"
fi
export CONFORMANCE_REQUIRE_SERVER=1
export COUNTERSIGN_BIN="$PWD/target/debug/countersign"

echo "--> on SQLite"
(cd conformance/python && "../../$VENV/bin/pytest" -q)
echo "==> Node conformance suite (official @dropbox/sign SDK), on SQLite"
bash conformance/node/run.sh

echo "--> on PostgreSQL"
if psql "$PG_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
    schema="cs_conformance_$(date +%s)_$$"
    psql "$PG_URL" -qc "CREATE SCHEMA $schema; CREATE SCHEMA ${schema}_strict" >/dev/null
    trap 'psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_strict CASCADE" >/dev/null 2>&1 || true' EXIT
    sep='?'; case "$PG_URL" in *\?*) sep='&';; esac
    (cd conformance/python \
        && CONFORMANCE_DATABASE_URL="${PG_URL}${sep}options=-c%20search_path%3D${schema}" \
           CONFORMANCE_STRICT_DATABASE_URL="${PG_URL}${sep}options=-c%20search_path%3D${schema}_strict" \
           "../../$VENV/bin/pytest" -q)
    echo "==> Node conformance suite, on PostgreSQL"
    psql "$PG_URL" -qc "CREATE SCHEMA ${schema}_node" >/dev/null
    trap 'psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_strict CASCADE; DROP SCHEMA IF EXISTS ${schema}_node CASCADE" >/dev/null 2>&1 || true' EXIT
    CONFORMANCE_DATABASE_URL="${PG_URL}${sep}options=-c%20search_path%3D${schema}_node" bash conformance/node/run.sh
elif [ "${COUNTERSIGN_REQUIRE_POSTGRES:-}" = "1" ]; then
    echo "FAILED: PostgreSQL is required (COUNTERSIGN_REQUIRE_POSTGRES=1) but $PG_URL is not reachable" >&2
    exit 1
else
    echo "SKIPPED: Python conformance on PostgreSQL, no server reachable at $PG_URL"
fi
