#!/usr/bin/env bash
# Overlapping runs (issue 13, SPEC § Delivery): starts two `rapidbyte run` of
# the same pipeline together, N times (default 50), each round into a fresh
# target schema, and checks after every round that each source row landed
# exactly once and that a run that failed was refused by the run lease
# (RUN_IN_PROGRESS) naming the run that holds it.
#
#   cargo build -p rapidbyte && cargo xtask build && scripts/overlapping-runs.sh [N]
#
# Uses $RAPIDBYTE_TEST_PG (default postgres://postgres@127.0.0.1:5432/test)
# for a database of its own, dropped at the end.
set -euo pipefail
rounds="${1:-50}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${RAPIDBYTE_BIN:-$repo/target/debug/rapidbyte}"
export RAPIDBYTE_CONNECTOR_DIR="${RAPIDBYTE_CONNECTOR_DIR:-$repo/target/connectors}"
url="${RAPIDBYTE_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
db="rb_overlap_$$"
work="$(mktemp -d)"
psql -q "$url" -c "CREATE DATABASE $db"
cleanup() { psql -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; rm -rf "$work"; }
trap cleanup EXIT
dburl="${url%/*}/$db"
host_port="${url#*@}"; host="${host_port%%:*}"; port="${host_port#*:}"; port="${port%%/*}"
user="${url#postgres://}"; user="${user%%@*}"
psql -q "$dburl" -c "CREATE TABLE ev (id int8 PRIMARY KEY, v text); INSERT INTO ev SELECT i, 'v' || i FROM generate_series(1, 50000) i"
rows=50000
failures=0
for round in $(seq 1 "$rounds"); do
  cat > "$work/p$round.yaml" <<YAML
pipeline: overlap-$round
source:
  use: postgres
  config: {host: $host, port: $port, user: $user, database: $db, schema: public}
destination:
  use: postgres
  config: {host: $host, port: $port, user: $user, database: $db, schema: o$round}
streams:
  - name: ev
    sync_mode: incremental
    cursor_field: id
    write_mode: append
limits:
  checkpoint_interval_rows: 5000
YAML
  "$bin" run "$work/p$round.yaml" --quiet > "$work/a$round.log" 2>&1 & a=$!
  "$bin" run "$work/p$round.yaml" --quiet > "$work/b$round.log" 2>&1 & b=$!
  set +e; wait $a; ra=$?; wait $b; rb=$?; set -e
  read -r n distinct < <(psql -qtA -F ' ' "$dburl" -c "SELECT count(*), count(DISTINCT id) FROM o$round.ev")
  verdict="ok"
  if [[ "$n" != "$rows" || "$distinct" != "$rows" ]]; then verdict="ROWS $n ($distinct distinct) of $rows"; fi
  for side in a b; do
    rc=$ra; [[ $side == b ]] && rc=$rb
    if [[ $rc -ne 0 ]] && ! grep -q "RUN_IN_PROGRESS" "$work/$side$round.log"; then
      verdict="run $side failed (exit $rc) other than by the lease: $(tail -3 "$work/$side$round.log" | tr '\n' ' ')"
    elif [[ $rc -ne 0 ]] && ! grep -q "being written by run" "$work/$side$round.log"; then
      verdict="run $side refused without naming the holder: $(grep RUN_IN_PROGRESS "$work/$side$round.log" | head -1)"
    fi
  done
  [[ $ra -ne 0 && $rb -ne 0 ]] && verdict="both runs failed"
  echo "round $round: exits $ra/$rb, $n rows — $verdict"
  [[ "$verdict" == ok ]] || failures=$((failures + 1))
done
echo "$rounds rounds, $failures failed"
[[ $failures -eq 0 ]]
