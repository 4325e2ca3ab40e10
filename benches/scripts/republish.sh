#!/usr/bin/env bash
# Republishing a 1M-rule policy zone with 1,000 changes (500 rules removed, 500
# added), two ways, on a Sekisho primary with two secondaries that it NOTIFYs:
#   (a) full file reload: the zone file rewritten (temp + rename), `sekishoctl
#       reload block` (Sekisho re-reads and recompiles the whole file, then re-reads
#       it for the served version and diffs it against the previous one);
#   (b) one DNS UPDATE batch: `nsupdate -v` with a TSIG key, the 1,000 changes in
#       one message (applied incrementally, journalled, the file written later).
# For each: the time to publish (until `sekishoctl reload` returns, or nsupdate
# gets its NOERROR: the primary enforces and serves the new serial from then on),
# and the time until a BIND 9.18 secondary and a Sekisho secondary hold the new
# serial (both take it by IXFR after the NOTIFY; polled every 20 ms: BIND by an
# SOA query, Sekisho by `sekishoctl --json zones`). Between (a) and (b) the script
# waits SETTLE seconds (default 15) so that (b) does not wait on (a)'s aftermath.
#
# Addresses: 127.0.231.1 (primary), .2 (BIND), .3 (Sekisho secondary), port 5300;
# they are added to lo and removed again (needs root). Holds flock
# /tmp/sekisho-bench.lock, shared with the other benchmarks.
#
# usage: benches/scripts/republish.sh [RULES] [CHANGES]   (default 1000000 1000)
#        from the repo root, after cargo build --release -p sekisho-resolver -p sekisho-ctl
set -euo pipefail
RULES=${1:-1000000}
CHANGES=${2:-1000}
case "$RULES$CHANGES" in ''|*[!0-9]*) echo "RULES and CHANGES must be numbers"; exit 2;; esac
HALF=$((CHANGES / 2))
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
W=${TMPDIR:-/tmp}/sekisho-bench-republish
P=127.0.231.1; B=127.0.231.2; S=127.0.231.3; PORT=5300
SECRET=c2VraXNoby1yZXB1Ymxpc2gtYmVuY2gta2V5LTMyYg==
BENCH_LOCK=/tmp/sekisho-bench.lock
for c in named nsupdate dig flock ip timeout; do command -v $c >/dev/null || { echo "need $c (apt-get install bind9 bind9-dnsutils)"; exit 2; }; done
for b in sekisho sekishoctl; do [ -x "$BIN/$b" ] || { echo "build first: cargo build --release -p sekisho-resolver -p sekisho-ctl"; exit 2; }; done

added_addrs=(); pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for a in "${added_addrs[@]}"; do ip addr del "$a/32" dev lo 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
rm -rf "$W"; mkdir -p "$W/primary" "$W/secondary" "$W/bind"
LOADDRS=$(ip -4 -o addr show dev lo)
for a in $P $B $S; do
  grep -qF " $a/32 " <<<"$LOADDRS" || { ip addr add "$a/32" dev lo; added_addrs+=("$a"); }
done

# The zone: RULES QNAME rules (NXDOMAIN), as `sekisho rpz build` writes them.
# Version 2 drops host1..HALF and adds hostRULES+1..RULES+HALF.
zone() { # serial first last
  awk -v s="$1" -v a="$2" -v b="$3" 'BEGIN {
    print "$ORIGIN block."; print "$TTL 60"
    printf "@ SOA ns.block. hostmaster.block. %d 3600 600 86400 60\n", s; print "@ NS localhost."
    for (i = a; i <= b; i++) printf "host%d.example-%d.jp CNAME .\n", i, i % 1000
  }'
}
zone 1 1 "$RULES" > "$W/primary/block.rpz"
KEYS=$(printf '[[key]]\nname = "xfr-key"\nalgorithm = "hmac-sha256"\nsecret = "%s"\n[[key]]\nname = "upd-key"\nalgorithm = "hmac-sha256"\nsecret = "%s"\n' "$SECRET" "$SECRET")
cat > "$W/primary/sekisho.toml" <<EOC
[server]
listen = ["$P:$PORT"]
allow-query = ["127.0.0.0/8"]
directory = "$W/primary"
$KEYS
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
file = "block.rpz"
key = "xfr-key"
allow-transfer = ["key xfr-key"]
also-notify = ["$B@$PORT", "$S@$PORT"]
allow-update = ["key upd-key"]
journal-size = "64MiB"
[control]
socket = "$W/primary/control.sock"
[metrics]
listen = "none"
[logging]
level = "info"
EOC
cat > "$W/secondary/sekisho.toml" <<EOC
[server]
listen = ["$S:$PORT"]
allow-query = ["127.0.0.0/8"]
directory = "$W/secondary"
$KEYS
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
primaries = ["$P@$PORT"]
key = "xfr-key"
file = "block.rpz"
max-transfer-time = "10m"
[control]
socket = "$W/secondary/control.sock"
[metrics]
listen = "none"
[logging]
level = "info"
EOC
cat > "$W/bind/named.conf" <<EOC
options {
  directory "$W/bind";
  listen-on port $PORT { $B; };
  listen-on-v6 { none; };
  pid-file "$W/bind/named.pid";
  session-keyfile "$W/bind/session.key";
  recursion no;
  notify no;
  transfer-source $B;
  query-source address $B;
  max-transfer-time-in 10;
};
key "xfr-key" { algorithm hmac-sha256; secret "$SECRET"; };
controls { };
zone "block" { type secondary; file "$W/bind/block.db"; primaries { $P port $PORT key "xfr-key"; }; };
EOC

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
bind_serial() { dig +time=1 +tries=1 +short -p $PORT @$B block SOA 2>/dev/null | awk '{print $3}'; }
sek_serial() { timeout 5 "$BIN/sekishoctl" --socket "$W/secondary/control.sock" --json zones 2>/dev/null \
  | tr ',' '\n' | awk -F: '/"serial"/ { gsub(/[^0-9]/, "", $2); print $2; exit }'; }
wait_serial() { # serial limit-seconds -> prints "bind_ms sekisho_ms" measured from $T0
  local want=$1 until=$(( $(date +%s) + $2 )) tb="" ts=""
  while [ "$(date +%s)" -le "$until" ] && { [ -z "$tb" ] || [ -z "$ts" ]; }; do
    [ -z "$tb" ] && [ "$(bind_serial)" = "$want" ] && tb=$(now)
    [ -z "$ts" ] && [ "$(sek_serial)" = "$want" ] && ts=$(now)
    sleep 0.02
  done
  echo "${tb:+$(ms "$T0" "$tb")} ${ts:+$(ms "$T0" "$ts")}"
}

exec 9> "$BENCH_LOCK"
if ! flock -n 9; then echo "waiting for $BENCH_LOCK (another benchmark is measuring)"; flock 9; fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

T0=$(now)
"$BIN/sekisho" --config "$W/primary/sekisho.toml" > "$W/primary.log" 2>&1 & pids+=($!)
until grep -q "sekisho ready" "$W/primary.log"; do sleep 0.2; kill -0 "${pids[0]}" || { cat "$W/primary.log"; exit 1; }; done
echo "primary up with $RULES rules in $(ms "$T0" "$(now)") ms"
named -g -c "$W/bind/named.conf" > "$W/bind.log" 2>&1 & pids+=($!)
"$BIN/sekisho" --config "$W/secondary/sekisho.toml" > "$W/secondary.log" 2>&1 & pids+=($!)
T0=$(now)
read -r b s <<<"$(wait_serial 1 600)"
[ -n "${b:-}" ] && [ -n "${s:-}" ] || { echo "secondaries did not load serial 1"; tail -5 "$W/bind.log" "$W/secondary.log"; exit 1; }
echo "first transfer (AXFR): BIND ${b} ms, Sekisho ${s} ms"

# (a) full file reload
zone 2 $((HALF + 1)) $((RULES + HALF)) > "$W/primary/block.rpz.new"
mv "$W/primary/block.rpz.new" "$W/primary/block.rpz"
T0=$(now)
timeout 600 "$BIN/sekishoctl" --socket "$W/primary/control.sock" reload block > /dev/null
A_PUB=$(ms "$T0" "$(now)")
read -r A_BIND A_SEK <<<"$(wait_serial 2 600)"
# Let both secondaries finish with (a) before (b): the Sekisho secondary rewrites
# its saved copy after each transfer (a full write of the zone, seconds for 1M
# rules) and takes the next IXFR only after it.
sleep "${SETTLE:-15}"

# (b) one UPDATE batch: the same kind of change on top of serial 2
{
  echo "server $P $PORT"; echo "zone block"
  for i in $(seq $((HALF + 1)) $((HALF * 2))); do echo "update delete host$i.example-$((i % 1000)).jp.block. CNAME ."; done
  for i in $(seq $((RULES + HALF + 1)) $((RULES + HALF * 2))); do echo "update add host$i.example-$((i % 1000)).jp.block. 60 CNAME ."; done
  echo "send"
} > "$W/update.txt"
T0=$(now)
timeout 120 nsupdate -v -y "hmac-sha256:upd-key:$SECRET" "$W/update.txt"
B_PUB=$(ms "$T0" "$(now)")
read -r B_BIND B_SEK <<<"$(wait_serial 3 600)"
# The zone file follows in the background.
T0=$(now)
until grep -q "zone file written" "$W/primary.log"; do sleep 0.1; done
B_FILE=$(ms "$T0" "$(now)")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "republishing $RULES rules with $CHANGES changes ($HALF removed, $HALF added); $(nproc) cores shared;"
echo "load average before $load_before, after $load_after"
printf '%-34s %12s %14s %16s\n' "way" "publish ms" "BIND serial ms" "Sekisho sec. ms"
printf '%-34s %12s %14s %16s\n' "(a) file rewrite + reload" "$A_PUB" "${A_BIND:-timeout}" "${A_SEK:-timeout}"
printf '%-34s %12s %14s %16s\n' "(b) one UPDATE (nsupdate -v)" "$B_PUB" "${B_BIND:-timeout}" "${B_SEK:-timeout}"
echo "(b): zone file written in the background $B_FILE ms after the secondaries had it"
echo
echo "primary's own figures:"
grep -E "policy zone loaded|served zone now at serial|policy zone updated|zone file written" "$W/primary.log" \
  | sed -E 's/^[^ ]+ +//' | cut -c1-220 | tail -6
grep -E "kind=\"ixfr\"" "$W/primary.log" | sed -E 's/^[^ ]+ +//' | cut -c1-200 | tail -4
