#!/usr/bin/env bash
# `sekisho rpz build` throughput on a generated list in the guideline's CSV
# shape (header; host in column 2; flag in column 5; 1 = block). For each
# size: 90 % of rows flagged, 1 % repeats of earlier hosts, every 10th row
# with a quoted note holding a comma. Times the release binary writing the
# zone to a file (temp + fsync + rename) and prints rows/s and peak RSS.
#
# usage: benches/scripts/rpzbuild_bench.sh [ROWS ...]   (default: 1000000 10000000)
#        from the repo root, after cargo build --release -p sekisho-resolver
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}/sekisho
W=${TMPDIR:-/tmp}/sekisho-bench-rpzbuild
[ -x "$BIN" ] || { echo "build first: cargo build --release -p sekisho-resolver"; exit 2; }
[ $# -gt 0 ] || set -- 1000000 10000000
rm -rf "$W"; mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

for ROWS in "$@"; do
  case "$ROWS" in ''|*[!0-9]*) echo "ROWS must be a number: $ROWS"; exit 2;; esac
  CSV="$W/list-$ROWS.csv"
  # The generator is one bounded awk loop: exactly ROWS data rows.
  awk -v n="$ROWS" 'BEGIN {
    print "id,host,category,registered,dns_block,note"
    for (i = 1; i <= n; i++) {
      h = (i % 100 == 0) ? int(i / 2) : i          # 1 % repeats an earlier host
      flag = (i % 10 == 3) ? 0 : 1                  # 90 % flagged
      note = (i % 10 == 0) ? "\"listed, confirmed\"" : ""
      printf "%d,host%d.sub%d.example-%d.jp,csam,2024-04-01,%d,%s\n", i, h, h % 97, h % 1000, flag, note
    }
  }' > "$CSV"
  SIZE=$(du -m "$CSV" | cut -f1)
  OUT="$W/block-$ROWS.rpz"
  START=$(date +%s.%N)
  if command -v /usr/bin/time >/dev/null; then
    /usr/bin/time -f '%M' -o "$W/rss" "$BIN" rpz build --zone block --csv "$CSV" --host-column 2 --flag-column 5 \
      --warn-a 192.0.2.10 --warn-aaaa 2001:db8::10 -o "$OUT" 2> "$W/stderr"
    RSS="$(( $(cat "$W/rss") / 1024 )) MiB peak RSS"
  else
    "$BIN" rpz build --zone block --csv "$CSV" --host-column 2 --flag-column 5 \
      --warn-a 192.0.2.10 --warn-aaaa 2001:db8::10 -o "$OUT" 2> "$W/stderr"
    RSS="peak RSS n/a (apt-get install time)"
  fi
  END=$(date +%s.%N)
  SUMMARY=$(grep 'rows read' "$W/stderr")
  ZONE_MB=$(du -m "$OUT" | cut -f1)
  awk -v r="$ROWS" -v s="$START" -v e="$END" -v csv="$SIZE" -v zone="$ZONE_MB" -v rss="$RSS" 'BEGIN {
    t = e - s; printf "rpz build: %d rows (%d MB CSV -> %d MB zone) in %.2f s = %.0f rows/s, %s\n", r, csv, zone, t, r / t, rss }'
  echo "  $SUMMARY"
  rm -f "$CSV" "$OUT"
done
