#!/usr/bin/env bash
# Runs `countersign bench callbacks` in the configurations BENCHMARKS.md reports, RUNS times each
# (default 5), and prints the median of every figure per configuration as a Markdown table row.
# PostgreSQL: COUNTERSIGN_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
PG="${COUNTERSIGN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build --release -q
BIN=target/release/countersign
configs=(
    "sqlite, 1 URL|--events 30000"
    "sqlite, 10 URLs|--events 30000 --endpoints 10"
    "postgres, 1 URL|--events 30000 --database-url $PG"
    "sqlite, --rate 1000|--events 10000 --rate 1000"
    "postgres, --rate 1000|--events 10000 --rate 1000 --database-url $PG"
)
echo "| configuration | deliveries/s | ceiling/s | ratio | p50 ms | p99 ms | commits/s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for config in "${configs[@]}"; do
    name="${config%%|*}"
    args="${config#*|}"
    results=$(mktemp)
    for run in $(seq 1 "$RUNS"); do
        echo "bench: $name, run $run/$RUNS" >&2
        # shellcheck disable=SC2086
        RUST_LOG=warn "$BIN" bench callbacks $args 2>/dev/null | tail -n 1 >> "$results"
    done
    python3 - "$name" "$results" <<'PY'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path) if line.strip()]
med = lambda key: statistics.median(r[key] for r in rows)
print(f"| {name} | {med('deliveries_per_sec'):.0f} | {med('ceiling_per_sec'):.0f} | {med('ratio'):.3f} | "
      f"{med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {med('commits_per_sec'):.0f} | {med('peak_rss_mb'):.1f} |")
PY
    rm -f "$results"
done
