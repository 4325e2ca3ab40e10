#!/usr/bin/env bash
# What the hit outputs cost on the cache-hit path: one Sekisho with a 1M-rule
# policy zone, forwarding to NSD (authoritative for `test.`), measured with
# dnsperf at unlimited rate on the mix where every 10th query hits a rule
# (benches/peers/gen_rpz.py: q_mixed.txt), in alternating rounds:
#
#   off      zone `log = false`, no rpz-log, no dnstap
#   hitlog   + rpz-log JSON records to a file
#   dnstap   + dnstap client-query and client-response for every query, to
#              fstrm_capture writing a file
#   dnstapnull the same, fstrm_capture writing to /dev/null (the collector's
#              own disk work off the machine's two cores)
#   both     rpz-log and dnstap together
#   bindline zone `log = true` (BIND's line in the main log, the default)
#
# Each configuration is a fresh daemon (the policy zone loads in well under a
# second), warmed with two passes, then measured for $SECS seconds; ROUNDS
# rounds, in order, so drift of the machine spreads over all of them. Prints
# the median q/s of each and its ratio to `off`. Loopback only (127.0.52.0/24);
# every run is bounded (-l and timeout). dnsperf and the daemon share the
# machine's cores: compare the ratios, not the rates.
#
# usage: benches/scripts/hitlog_cost.sh [SECS] [ROUNDS]   (repo root, after cargo build --release)
set -euo pipefail
SECS=${1:-10}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
W=${TMPDIR:-/tmp}/sekisho-bench-hitlog
RULES=${RULES:-1000000}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-$W/results}
for c in nsd dnsperf fstrm_capture python3; do
  command -v $c >/dev/null || { echo "need $c (apt-get install nsd dnsperf fstrm-bin python3)"; exit 2; }
done
mkdir -p "$W" "$OUT"
Z=$W/zones; mkdir -p "$Z"
[ -s "$Z/rpz-$RULES.zone" ] || python3 "$ROOT/benches/peers/gen_rpz.py" "$RULES" "$Z/rpz-$RULES.zone"
[ -s "$Z/upstream-test.zone" ] || python3 "$ROOT/benches/peers/gen_upstream.py" "$Z/upstream-test.zone" 60000
[ -s "$Z/q_mixed.txt" ] || python3 "$ROOT/benches/peers/gen_rpz.py" --queries "$Z"

cat > "$W/nsd.conf" <<EOC
server:
  ip-address: 127.0.52.1@53
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$W/zone.list"
  xfrdfile: "$W/xfrd.state"
  pidfile: "$W/nsd.pid"
remote-control:
  control-enable: no
zone:
  name: "test."
  zonefile: "$Z/upstream-test.zone"
EOC

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
nsd -d -c "$W/nsd.conf" > "$W/nsd.log" 2>&1 & pids+=($!)

# config NAME: the daemon's configuration for one variant.
config() {
  local log=false rpzlog="" tap=""
  case $1 in
    hitlog) rpzlog="rpz-log = \"$W/rpz.jsonl\"";;
    dnstap|dnstapnull) tap="[dnstap]
socket = \"$W/dnstap.sock\"
messages = [\"client-query\", \"client-response\"]";;
    both) rpzlog="rpz-log = \"$W/rpz.jsonl\""; tap="[dnstap]
socket = \"$W/dnstap.sock\"
messages = [\"client-query\", \"client-response\"]";;
    bindline) log=true;;
  esac
  cat <<EOC
[server]
listen = ["127.0.52.2:53"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$W"
threads = $THREADS
[dnssec]
validation = "no"
[[forward-zone]]
name = "."
forward-addr = ["127.0.52.1@53"]
[[response-policy.zone]]
name = "rpz.local"
file = "$Z/rpz-$RULES.zone"
log = $log
[control]
socket = "$W/control.sock"
[metrics]
listen = "127.0.52.2:9153"
[logging]
level = "info"
$rpzlog
$tap
EOC
}

# measure NAME ROUND: one fresh daemon, warmed, measured; prints q/s.
measure() {
  local name=$1 round=$2 cap="" d
  rm -f "$W/rpz.jsonl" "$W/dnstap.fstrm" "$W/dnstap.sock"
  config "$name" > "$W/$name.toml"
  if [[ $name == dnstap || $name == dnstapnull || $name == both ]]; then
    local file=$W/dnstap.fstrm
    [[ $name == dnstapnull ]] && file=/dev/null
    fstrm_capture -t protobuf:dnstap.Dnstap -u "$W/dnstap.sock" -w "$file" > "$W/fstrm-$name-$round.log" 2>&1 &
    cap=$!
    for _ in $(seq 50); do [ -S "$W/dnstap.sock" ] && break; sleep 0.1; done
  fi
  "$BIN/sekisho" --config "$W/$name.toml" > "$W/$name-$round.log" 2>&1 &
  d=$!
  # Ready when the last rule rewrites (the zone is loaded before listening).
  for _ in $(seq 300); do
    dig +short +tries=1 +time=1 @127.0.52.2 host0.test A > /dev/null 2>&1 && break; sleep 0.1
  done
  for _ in 1 2; do timeout 120 dnsperf -s 127.0.52.2 -d "$Z/q_mixed.txt" -n 2 -q 20 -t 2 > /dev/null 2>&1 || true; done
  timeout $((SECS + 30)) dnsperf -s 127.0.52.2 -d "$Z/q_mixed.txt" -l "$SECS" -q 200 -c 8 -T 1 -t 1 \
    > "$OUT/$name-$round.dnsperf" 2>&1 || true
  curl -s "http://127.0.52.2:9153/metrics" | grep -E '^sekisho_(rpz_log_records|dnstap_frames)_total' \
    > "$OUT/$name-$round.metrics" || true
  kill "$d" 2>/dev/null || true; wait "$d" 2>/dev/null || true
  if [ -n "$cap" ]; then
    sleep 0.3; kill "$cap" 2>/dev/null || true; wait "$cap" 2>/dev/null || true
    ls -l "$W/dnstap.fstrm" >> "$OUT/$name-$round.metrics" 2>/dev/null || true
  fi
  [ -f "$W/rpz.jsonl" ] && wc -l < "$W/rpz.jsonl" | sed 's/^/rpz.jsonl lines: /' >> "$OUT/$name-$round.metrics"
  awk '/Queries per second/ {print $4}' "$OUT/$name-$round.dnsperf"
}

VARIANTS=${VARIANTS:-"off hitlog dnstap dnstapnull both bindline"}
declare -A runs
for r in $(seq "$ROUNDS"); do
  for v in $VARIANTS; do
    q=$(measure "$v" "$r")
    runs[$v]="${runs[$v]:-} $q"
    echo "round $r $v: $q q/s"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
off=$(echo "${runs[off]}" | median)
{
  echo "cache-hit throughput, q_mixed (10% policy hits), $RULES rules, dnsperf ${SECS}s x $ROUNDS rounds, $(nproc) cores shared with dnsperf"
  for v in $VARIANTS; do
    m=$(echo "${runs[$v]}" | median)
    awk -v v="$v" -v m="$m" -v o="$off" -v all="${runs[$v]}" 'BEGIN { printf "%-9s median %9.0f q/s  ratio to off %.3f  (runs:%s)\n", v, m, m / o, all }'
  done
} | tee "$OUT/summary.txt"
