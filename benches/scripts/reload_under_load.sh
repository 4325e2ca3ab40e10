#!/usr/bin/env bash
# Reloads that change the configuration under load: one Sekisho (release
# build) forwarding `test.` (1,000 names) to NSD, warmed, then dnsperf at
# $RATE q/s of cache hits while, every $PHASE seconds, the configuration file
# is changed and `sekishoctl reload` applies it:
#
#   1 add      a policy zone (file, 10,000 rules) in front of the others
#   2 forward  a forward zone added (`other.`, to NSD) and a second listen
#              address added (UDP and TCP)
#   3 remove   that policy zone, that forward zone and that listen address
#              removed again
#
# After each reload the script checks that it took effect (a name of the
# added zone rewritten, then answered again; the new address answering, then
# not) and reads the cache counters. Prints what dnsperf sent and lost over
# the whole run and the cache-hit rate of each phase (the phase before the
# first reload is the reference: every later phase must keep at least 95% of
# it, which a reload that emptied the cache would not). Exits non-zero when a
# query was lost or a change did not take effect. Loopback only
# (127.0.55.0/24); every run is bounded (-l and timeout).
#
# dnsperf and the daemon share the machine's cores: a run on a busy machine
# still counts lost queries truly, but the rates are not capacity.
#
# usage: benches/scripts/reload_under_load.sh [PHASE] [RATE]   (repo root, after
#        cargo build --release -p sekisho-resolver -p sekisho-ctl; default 15 s,
#        20000 q/s; `reload_under_load.sh 3` is a smoke run)
set -euo pipefail
PHASE=${1:-15}
RATE=${2:-20000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
W=${TMPDIR:-/tmp}/sekisho-bench-reload
NSD=127.0.55.1
SK=127.0.55.2
SK2=127.0.55.3
for c in nsd dnsperf dig curl flock python3; do
  command -v $c >/dev/null || { echo "need $c (apt-get install nsd dnsperf dnsutils curl util-linux python3)"; exit 2; }
done
for b in sekisho sekishoctl; do
  [ -x "$BIN/$b" ] || { echo "no $BIN/$b: cargo build --release -p sekisho-resolver -p sekisho-ctl"; exit 2; }
done
rm -rf "$W"; mkdir -p "$W"
. "$ROOT/benches/scripts/common.sh"
bench_test_zone "$W" $NSD 1000
# A name outside the query set for the added policy zone to rewrite.
echo "extra A 192.0.2.200" >> "$W/test.zone"
# other. on the same NSD, for the forward zone added by reload.
{ echo '$ORIGIN other.'; echo '$TTL 86400'; echo '@ SOA ns hostmaster 1 3600 600 86400 60'; echo '@ NS ns'
  echo "ns A $NSD"; echo "www A 192.0.2.99"; } > "$W/other.zone"
printf 'zone:\n  name: "other."\n  zonefile: "%s/other.zone"\n' "$W" >> "$W/nsd.conf"
# The policy zone added by reload: 10,000 QNAME rules (NXDOMAIN), among them extra.test.
{ echo '$TTL 300'; echo '@ SOA localhost. root.localhost. 1 3600 600 86400 60'; echo '@ NS localhost.'
  echo "extra.test CNAME ."; for i in $(seq 1 9999); do echo "block$i.test CNAME ."; done; } > "$W/added.rpz"

# conf ADDED FORWARD: the configuration, with the added policy zone, forward
# zone and listen address when the flags are 1.
conf() {
  local listen="\"$SK:5300\""
  [ "$2" = 1 ] && listen="$listen, \"$SK2:5300\""
  cat <<EOC
[server]
listen = [$listen]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$W"
[dnssec]
validation = "no"
[[forward-zone]]
name = "."
forward-addr = ["$NSD@5300"]
EOC
  [ "$2" = 1 ] && printf '[[forward-zone]]\nname = "other."\nforward-addr = ["%s@5300"]\n' "$NSD"
  if [ "$1" = 1 ]; then
    printf '[[response-policy.zone]]\nname = "added.rpz"\nfile = "%s/added.rpz"\nlog = false\n' "$W"
  fi
  cat <<EOC
[control]
socket = "$W/control.sock"
[metrics]
listen = "$SK:9153"
[logging]
level = "info"
EOC
}
conf 0 0 > "$W/sekisho.toml"
"$BIN/sekisho" check-config "$W/sekisho.toml" >/dev/null

bench_cleanup_on_exit

rcode() { # server name: the rcode of one answer, or "none"
  dig +time=1 +tries=2 @"$1" -p 5300 "$2" A 2>/dev/null | awk '/->>HEADER<<-/ {gsub(",", "", $6); print $6; f=1} END {if (!f) print "none"}'
}
failed=0
expect() { # what got want
  if [ "$2" = "$3" ]; then echo "  ok: $1 ($2)"; else echo "  FAILED: $1: got $2, want $3"; failed=1; fi
}
reload() { # added forward
  conf "$1" "$2" > "$W/sekisho.toml.new" && mv "$W/sekisho.toml.new" "$W/sekisho.toml"
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN/sekishoctl" --socket "$W/control.sock" reload > "$W/reload.out" 2>&1 || { echo "  reload failed:"; cat "$W/reload.out"; failed=1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  reload answered in %.3f s\n", b - a }'
}

bench_lock
bench_refuse_if_busy $SK

nsd -d -c "$W/nsd.conf" > "$W/nsd.log" 2>&1 & pids+=($!)
"$BIN/sekisho" --config "$W/sekisho.toml" > "$W/sekisho.log" 2>&1 & pids+=($!)
bench_warm $SK "$W"

timeout $((4 * PHASE + 60)) dnsperf -s $SK -p 5300 -d "$W/queries.txt" -l $((4 * PHASE + 2)) -Q "$RATE" \
  -q 2000 -c 8 -T 1 > "$W/dnsperf.out" 2>&1 & perf=$!
sleep 1
read -r h0 m0 < <(bench_counters $SK:9153)
sleep "$PHASE"
read -r h1 m1 < <(bench_counters $SK:9153)
echo "phase 0: nothing changed"
bench_hit_rate "  before any reload" "$h0" "$m0" "$h1" "$m1"

echo "phase 1: a policy zone of 10,000 rules added"
reload 1 0
expect "extra.test rewritten by the added zone" "$(rcode $SK extra.test)" NXDOMAIN
sleep "$PHASE"
read -r h2 m2 < <(bench_counters $SK:9153)
bench_hit_rate "  after" "$h1" "$m1" "$h2" "$m2"

echo "phase 2: a forward zone and a listen address added"
reload 1 1
expect "www.other. forwarded by the added zone" "$(rcode $SK www.other)" NOERROR
expect "the added address answers" "$(rcode $SK2 host1.test)" NOERROR
sleep "$PHASE"
read -r h3 m3 < <(bench_counters $SK:9153)
bench_hit_rate "  after" "$h2" "$m2" "$h3" "$m3"

echo "phase 3: the policy zone, the forward zone and the address removed"
reload 0 0
expect "extra.test answered from test. again" "$(rcode $SK extra.test)" NOERROR
# A removed UDP listener stops within its workers' receive timeout (0.1 s),
# answering what it had queued.
sleep 0.5
expect "the removed address is silent" "$(rcode $SK2 host1.test)" none
sleep "$PHASE"
read -r h4 m4 < <(bench_counters $SK:9153)
bench_hit_rate "  after" "$h3" "$m3" "$h4" "$m4"
wait "$perf" || true

sent=$(awk '/Queries sent/ {print $3}' "$W/dnsperf.out")
lost=$(awk '/Queries lost/ {print $3}' "$W/dnsperf.out")
qps=$(awk '/Queries per second/ {print $4}' "$W/dnsperf.out")
echo "reloads under load: dnsperf at $RATE q/s of cache hits, ${PHASE}s a phase"
echo "sent $sent, lost $lost (dnsperf: $qps q/s over the run)"
grep -h "restart\|reload" "$W/sekisho.log" | sed 's/^/  log: /' | tail -n 12 || true
[ "$failed" = 0 ] && [ "${lost:-1}" = 0 ]
