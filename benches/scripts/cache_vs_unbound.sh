#!/usr/bin/env bash
# Cache-hit throughput, Sekisho vs Unbound, same machine, same setup:
# NSD authoritative for `test.` (1,000 names) on 127.0.50.1, each resolver
# forwarding everything to it, warmed twice, then dnsperf for $SECS seconds
# at unlimited rate over the same 1,000 names. The same dnsperf also runs
# against the machine's ceiling, `udp-echo` (a server that only flips the QR
# bit, batched like Sekisho's UDP workers, on 127.0.50.4 with $THREADS
# threads). Prints q/s for the three and the ratios. Loopback only; every
# run is bounded (-l and timeout).
#
# dnsperf and the resolver share the machine's cores: the figures are
# relative (compare the ratio), not capacity.
#
# usage: benches/scripts/cache_vs_unbound.sh [SECS]   (from the repo root, after
#        cargo build --release -p sekisho-resolver -p sekisho-benches --bin udp-echo)
set -euo pipefail
SECS=${1:-15}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
W=${TMPDIR:-/tmp}/sekisho-bench-cache
THREADS=${THREADS:-$(nproc)}   # Sekisho's threads and UDP workers, Unbound's threads, the echo's
rm -rf "$W"; mkdir -p "$W"
for c in nsd unbound dnsperf; do command -v $c >/dev/null || { echo "need $c (apt-get install nsd unbound dnsperf)"; exit 2; }; done

# Authoritative data and the query file.
{ echo '$ORIGIN test.'; echo '$TTL 86400'; echo '@ SOA ns hostmaster 1 3600 600 86400 60'; echo '@ NS ns'; echo 'ns A 127.0.50.1'
  for i in $(seq 0 999); do echo "host$i A 192.0.2.$((i % 250 + 1))"; done; } > "$W/test.zone"
for i in $(seq 0 999); do echo "host$i.test A"; done > "$W/queries.txt"
cat > "$W/nsd.conf" <<EOC
server:
  ip-address: 127.0.50.1@53
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
  zonefile: "$W/test.zone"
EOC
cat > "$W/unbound.conf" <<EOC
server:
  interface: 127.0.50.2@53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$W"
  pidfile: "$W/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: $THREADS
  so-reuseport: yes
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  local-zone: "test." nodefault
forward-zone:
  name: "."
  forward-addr: 127.0.50.1@53
EOC
cat > "$W/sekisho.toml" <<EOC
[server]
listen = ["127.0.50.3:53"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$W"
threads = $THREADS
udp-workers = $THREADS
[dnssec]
validation = "no"                 # as Unbound's module-config: "iterator"
[[forward-zone]]
name = "."
forward-addr = ["127.0.50.1@53"]
[control]
socket = "$W/control.sock"
[metrics]
listen = "none"
[logging]
level = "warn"
EOC
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
nsd -d -c "$W/nsd.conf" > "$W/nsd.log" 2>&1 & pids+=($!)
unbound -d -c "$W/unbound.conf" > "$W/unbound.log" 2>&1 & pids+=($!)
"$BIN/sekisho" --config "$W/sekisho.toml" > "$W/sekisho.log" 2>&1 & pids+=($!)
"$BIN/udp-echo" 127.0.50.4:53 "$THREADS" $((4 * SECS + 300)) > "$W/echo.log" 2>&1 & pids+=($!)
sleep 1

run() { # name addr
  for _ in 1 2; do timeout 60 dnsperf -s "$2" -d "$W/queries.txt" -n 1 -q 100 > /dev/null 2>&1 || true; done
  timeout $((SECS + 30)) dnsperf -s "$2" -d "$W/queries.txt" -l "$SECS" -q 200 -c 8 -T 1 > "$W/$1.dnsperf" 2>&1 || true
  awk '/Queries per second/ {print $4}' "$W/$1.dnsperf"
}
u=$(run unbound 127.0.50.2)
s=$(run sekisho 127.0.50.3)
e=$(run echo 127.0.50.4)
lost_u=$(awk '/Queries lost/ {print $3}' "$W/unbound.dnsperf")
lost_s=$(awk '/Queries lost/ {print $3}' "$W/sekisho.dnsperf")
lost_e=$(awk '/Queries lost/ {print $3}' "$W/echo.dnsperf")
echo "cache-hit throughput, dnsperf ${SECS}s, 1,000 cached names, $(nproc) cores shared with dnsperf"
printf '%-8s %12s q/s  lost %s\n' unbound "$u" "$lost_u" sekisho "$s" "$lost_s" udp-echo "$e" "$lost_e"
awk -v s="$s" -v u="$u" -v e="$e" 'BEGIN { if (u > 0) printf "ratio sekisho/unbound: %.2f\n", s / u
  if (e > 0) printf "share of the ceiling (udp-echo): sekisho %.2f, unbound %.2f\n", s / e, u / e }'
