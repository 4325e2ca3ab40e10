#!/usr/bin/env bash
# DNS over TLS and DNS over HTTPS, side by side: Sekisho and Unbound on
# loopback, each forwarding to one NSD authoritative for a small zone
# (enc.example, NAMES names), caches warmed over UDP, then:
#
#   throughput  cache-hit q/s with `dnsperf -m dot` and `dnsperf -m doh`, the
#               same flags for both servers (CLIENTS connections, DP_THREADS
#               threads, OUTSTANDING queries in flight, LEN seconds), and DoH
#               again with h2load (nghttp2's HTTP/2 load generator: GET
#               ?dns= of the same names, ID 0, CLIENTS connections,
#               OUTSTANDING/CLIENTS streams each), because dnsperf's DoH
#               client loses answers that arrive several to a read (see
#               README.md); ROUNDS rounds with the order of the two servers
#               alternated
#   rotation    `dnsperf -m dot -Q ROT_QPS` for ROT_LEN seconds against Sekisho;
#               at ROT_AT seconds its certificate and key files are replaced by
#               a new certificate from the same CA and `sekishoctl reload` runs;
#               dnsperf's sent / completed / lost, and which certificate a new
#               handshake gets before and after
#
# The CA and certificates are made with openssl in the run's temp dir. Raw
# output goes to $OUT/raw/, the table to $OUT/RESULTS.md.
#
# usage: benches/encrypted/run.sh            (as root, from anywhere)
#   env: SEKISHO_BIN (default <repo>/target/release/sekisho)
#        SEKISHOCTL_BIN (default: sekishoctl next to SEKISHO_BIN)
#        OUT (default <repo>/benches/results/<UTC date>-encrypted)
#        TRANSPORTS ("dot doh h2load"), ROUNDS (3), LEN (15), CLIENTS (8), DP_THREADS (1), OUTSTANDING (100),
#        THREADS (2: server threads), NAMES (50), DOH_METHOD (GET),
#        ROT_QPS (5000), ROT_LEN (20), ROT_AT (10)
# Loopback only. Needs root (ports 53, 853, 443), nsd, unbound (built with
# libnghttp2 for DoH), dnsperf (with DoT/DoH: 2.10 or later), h2load
# (Debian: nghttp2-client), dig, openssl,
# python3, flock, ss. Holds /tmp/sekisho-bench.lock (shared with the other
# benchmarks), refuses to start if anything already listens on its
# addresses, and stops everything it started on exit (by PID), also on Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SEKISHO_BIN=${SEKISHO_BIN:-$ROOT/target/release/sekisho}
SEKISHOCTL_BIN=${SEKISHOCTL_BIN:-$(dirname "$SEKISHO_BIN")/sekishoctl}
OUT=${OUT:-$ROOT/benches/results/$(date -u +%F)-encrypted}
# Never write over an earlier run's results: a second run the same day gets the time too.
[ -e "$OUT" ] && OUT="$OUT-$(date -u +%H%M)"
[ -e "$OUT" ] && { echo "$OUT exists; set OUT"; exit 2; }
TRANSPORTS=${TRANSPORTS:-"dot doh h2load"}
ROUNDS=${ROUNDS:-3}
LEN=${LEN:-15}
CLIENTS=${CLIENTS:-8}
DP_THREADS=${DP_THREADS:-1}
OUTSTANDING=${OUTSTANDING:-100}
THREADS=${THREADS:-2}
NAMES=${NAMES:-50}
DOH_METHOD=${DOH_METHOD:-GET}
ROT_QPS=${ROT_QPS:-5000}
ROT_LEN=${ROT_LEN:-20}
ROT_AT=${ROT_AT:-10}
W=${TMPDIR:-/tmp}/sekisho-encrypted
BENCH_LOCK=/tmp/sekisho-bench.lock
ZONE=enc.example

declare -A ADDR=([sekisho]=127.0.62.1 [unbound]=127.0.62.2)
AUTH=127.0.62.10
SERVERS="sekisho unbound"

for c in nsd unbound unbound-checkconf dnsperf h2load dig openssl python3 flock ss timeout; do
  command -v $c >/dev/null || { echo "need $c"; exit 2; }
done
[ -x "$SEKISHO_BIN" ] || { echo "no $SEKISHO_BIN: cargo build --release -p sekisho-resolver, or set SEKISHO_BIN"; exit 2; }
[ -x "$SEKISHOCTL_BIN" ] || { echo "no $SEKISHOCTL_BIN: set SEKISHOCTL_BIN"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (ports 53, 853, 443)"; exit 2; }
DNSPERF_HELP=$(dnsperf -h 2>&1 || true)
grep -q 'dot or doh' <<<"$DNSPERF_HELP" || { echo "this dnsperf has no -m dot/doh (need 2.10 or later)"; exit 2; }

# --- state and cleanup ------------------------------------------------------
declare -A PID=()
bg_pids=()
kill_pid() { # pid: TERM, up to 5 s, then KILL
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  set +e
  for p in "${PID[@]}" "${bg_pids[@]}"; do kill_pid "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

answers() { dig +time=1 +tries=1 @"$1" "$2" "${3:-SOA}" >/dev/null 2>&1; }
listening() { # addr port: does anything listen there (or on the wildcard)?
  ss -Hltn | awk '{print $4}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2\$"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

rm -rf "$W"; mkdir -p "$W" "$OUT/raw"
exec 9> "$BENCH_LOCK"
if ! flock -n 9; then echo "waiting for $BENCH_LOCK (another benchmark is measuring)"; flock 9; fi
for a in "${ADDR[@]}" $AUTH; do
  answers "$a" . && { echo "something already answers on $a:53; refusing"; exit 3; }
  for p in 53 853 443; do listening "$a" $p && { echo "something already listens on $a:$p (or the wildcard); refusing"; exit 3; }; done
done

# --- certificates: one CA, two server certificates (the second for the rotation) ---
echo "$(date -u +%T) certificates"
C=$W/certs; mkdir -p "$C"
SAN="subjectAltName=DNS:localhost,DNS:resolver.$ZONE,IP:${ADDR[sekisho]},IP:${ADDR[unbound]}"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=sekisho bench CA" -keyout "$C/ca.key" -out "$C/ca.pem" 2>/dev/null
for n in 1 2; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=resolver.$ZONE" \
    -keyout "$C/server$n.key" -out "$C/server$n.csr" 2>/dev/null
  openssl x509 -req -in "$C/server$n.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial "$((1000 + n))" \
    -days 2 -extfile <(echo "$SAN") -out "$C/server$n.pem" 2>/dev/null
done
cp "$C/server1.pem" "$C/cert.pem"; cp "$C/server1.key" "$C/key.pem"
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
SERIAL1=$(serial_of "$C/server1.pem"); SERIAL2=$(serial_of "$C/server2.pem")

# --- the authoritative: NSD with a small zone --------------------------------------
echo "$(date -u +%T) authoritative and resolvers"
mkdir -p "$W/nsd"
{ echo "\$ORIGIN $ZONE."; echo '$TTL 86400'; echo "@ SOA ns hostmaster 1 3600 600 86400 3600"; echo "@ NS ns"; echo "ns A $AUTH"
  for i in $(seq 1 "$NAMES"); do echo "host$i A 192.0.2.$(( (i - 1) % 250 + 1 ))"; done; } > "$W/nsd/$ZONE.zone"
for i in $(seq 1 "$NAMES"); do echo "host$i.$ZONE A"; done > "$W/queries.txt"
# the same questions as DoH GET URIs for h2load (ID 0, RFC 8484 base64url without padding), one file per server
for r in $SERVERS; do
  python3 - "${ADDR[$r]}" "$ZONE" "$NAMES" > "$W/uris-$r.txt" <<'EOPY'
import base64, struct, sys
addr, zone, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(1, n + 1):
    qname = b''.join(bytes([len(l)]) + l.encode() for l in f'host{i}.{zone}'.split('.')) + b'\0'
    msg = struct.pack('>6H', 0, 0x0100, 1, 0, 0, 0) + qname + struct.pack('>2H', 1, 1)
    print(f"https://{addr}/dns-query?dns={base64.urlsafe_b64encode(msg).rstrip(b'=').decode()}")
EOPY
done
cat > "$W/nsd/nsd.conf" <<EOC
server:
  ip-address: $AUTH@53
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$W/nsd/zone.list"
  xfrdfile: "$W/nsd/xfrd.state"
  xfrdir: "$W/nsd"
  pidfile: "$W/nsd/nsd.pid"
  logfile: "$W/nsd/nsd.log"
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: "$ZONE."
  zonefile: "$W/nsd/$ZONE.zone"
EOC
nsd -d -c "$W/nsd/nsd.conf" > "$W/nsd/stderr" 2>&1 9>&- & bg_pids+=($!)
for _ in $(seq 1 50); do answers $AUTH $ZONE && break; sleep 0.2; done
answers $AUTH $ZONE || { echo "nsd did not come up on $AUTH"; cat "$W/nsd/stderr"; exit 1; }

# --- the resolvers: both forward everything to NSD, no validation ------------------
S=$W/sekisho; U=$W/unbound; mkdir -p "$S/state" "$U"
a=${ADDR[sekisho]}
cat > "$S/sekisho.toml" <<EOC
[server]
listen = ["$a:53"]
listen-tls = ["$a:853"]
listen-https = ["$a:443"]
tls-cert-file = "$C/cert.pem"
tls-key-file = "$C/key.pem"
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$S/state"
threads = $THREADS
[dnssec]
validation = "no"                 # as Unbound's module-config: "iterator"
[[forward-zone]]
name = "."
forward-addr = ["$AUTH@53"]
[control]
socket = "$S/control.sock"
[metrics]
listen = "none"
[logging]
level = "warn"
EOC
"$SEKISHO_BIN" check-config "$S/sekisho.toml" >/dev/null
a=${ADDR[unbound]}
cat > "$U/unbound.conf" <<EOC
server:
  interface: $a@53
  interface: $a@853
  interface: $a@443
  tls-port: 853
  https-port: 443
  tls-service-key: "$C/key.pem"
  tls-service-pem: "$C/cert.pem"
  http-endpoint: "/dns-query"
  # the default is 10 per thread; Sekisho's tcp-max-connections is 1024
  incoming-num-tcp: 1024
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$U"
  pidfile: "$U/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: $THREADS
  so-reuseport: yes
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: $AUTH@53
EOC
unbound-checkconf "$U/unbound.conf" >/dev/null

"$SEKISHO_BIN" --config "$S/sekisho.toml" > "$S/daemon.log" 2>&1 9>&- & PID[sekisho]=$!
unbound -d -c "$U/unbound.conf" > "$U/daemon.log" 2>&1 9>&- & PID[unbound]=$!
for r in $SERVERS; do
  for _ in $(seq 1 150); do
    kill -0 "${PID[$r]}" 2>/dev/null || { echo "$r exited at start:"; tail -5 "$W/$r/daemon.log"; exit 1; }
    answers "${ADDR[$r]}" $ZONE && break
    sleep 0.1
  done
  answers "${ADDR[$r]}" $ZONE || { echo "$r did not answer on ${ADDR[$r]} within 15 s"; exit 1; }
done

# warm both caches over UDP, then check that each transport answers
for r in $SERVERS; do
  for _ in 1 2; do timeout 60 dnsperf -s "${ADDR[$r]}" -d "$W/queries.txt" -n 1 -q 10 > /dev/null 2>&1 || true; done
done
handshake_serial() { # addr: the serial of the certificate a new DoT handshake gets
  timeout 10 openssl s_client -connect "$1:853" -servername "resolver.$ZONE" </dev/null 2>/dev/null \
    | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
for r in $SERVERS; do
  a=${ADDR[$r]}
  {
    echo "== $r udp";   dig +time=2 +tries=1 @"$a" "host1.$ZONE" A | grep -E 'HEADER|^host1'
    echo "== $r dot";   dig +time=2 +tries=1 +tls @"$a" "host1.$ZONE" A | grep -E 'HEADER|^host1'
    echo "== $r doh";   dig +time=2 +tries=1 +https @"$a" "host1.$ZONE" A | grep -E 'HEADER|^host1'
    echo "== $r certificate serial on 853: $(handshake_serial "$a")"
  } >> "$OUT/raw/probe.txt" 2>&1 || true
done
for r in $SERVERS; do for t in dot doh; do
  grep -A1 "== $r $t" "$OUT/raw/probe.txt" | grep -q NOERROR || { echo "$r does not answer over $t:"; cat "$OUT/raw/probe.txt"; exit 1; }
done; done

version_of() {
  case $1 in
    sekisho) "$SEKISHO_BIN" --version 2>&1 | head -1;;
    unbound) unbound -V 2>/dev/null | head -1;;
  esac
}
{
  echo "date: $(date -u '+%F %T') UTC"
  echo "sekisho_bin: $SEKISHO_BIN"
  echo "sekisho_commit: ${SEKISHO_COMMIT:-$(git -C "$(dirname "$SEKISHO_BIN")" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  for r in $SERVERS; do echo "version_$r: $(version_of $r)"; done
  echo "version_dnsperf: $(grep -i '^version' <<<"$DNSPERF_HELP" | head -1)"
  echo "version_h2load: $(h2load --version 2>&1 | head -1)"
  echo "version_openssl: $(openssl version)"
  echo "transports: $TRANSPORTS"; echo "h2load_streams: $(( (OUTSTANDING + CLIENTS - 1) / CLIENTS ))"
  echo "rounds: $ROUNDS"; echo "len_s: $LEN"; echo "clients: $CLIENTS"; echo "dnsperf_threads: $DP_THREADS"
  echo "outstanding: $OUTSTANDING"; echo "server_threads: $THREADS"; echo "names: $NAMES"; echo "doh_method: $DOH_METHOD"
  echo "rot_qps: $ROT_QPS"; echo "rot_len_s: $ROT_LEN"; echo "rot_at_s: $ROT_AT"
  echo "cores: $(nproc)"; echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/raw/meta.txt"
cp "$S/sekisho.toml" "$U/unbound.conf" "$OUT/raw/"
TCK=$(getconf CLK_TCK)

# --- throughput ------------------------------------------------------------------
measure() { # round transport server
  local n=$1 t=$2 r=$3 a=${ADDR[$3]} o="$OUT/raw/tput-$1-$2-$3" c0 c1 extra=()
  [ "$t" = doh ] && extra=(-O "doh-uri=https://$a/dns-query" -O "doh-method=$DOH_METHOD")
  c0=$(cpu_ticks "${PID[$r]}")
  if [ "$t" = h2load ]; then
    timeout $((LEN + 30)) h2load -i "$W/uris-$r.txt" -c "$CLIENTS" -t "$DP_THREADS" \
      -m $(( (OUTSTANDING + CLIENTS - 1) / CLIENTS )) -D "$LEN" > "$o.txt" 2>&1 9>&- || true
  else
    timeout $((LEN + 30)) dnsperf -m "$t" -s "$a" -d "$W/queries.txt" -l "$LEN" -c "$CLIENTS" -T "$DP_THREADS" \
      -q "$OUTSTANDING" "${extra[@]}" > "$o.txt" 2>&1 9>&- || true
  fi
  c1=$(cpu_ticks "${PID[$r]}")
  echo "server_cpu_s: $(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" >> "$o.txt"
  if [ "$t" = h2load ]; then
    echo "$(date -u +%T) round $n $t $r: $(grep -o '[0-9.]* req/s' "$o.txt" | head -1), $(grep '^requests:' "$o.txt")"
  else
    echo "$(date -u +%T) round $n $t $r: $(awk '/Queries per second/ {print $4}' "$o.txt") q/s, lost $(awk '/Queries lost/ {print $3}' "$o.txt")"
  fi
}
T0=$SECONDS
for n in $(seq 1 "$ROUNDS"); do
  for t in $TRANSPORTS; do
    if [ $((n % 2)) = 1 ]; then order="sekisho unbound"; else order="unbound sekisho"; fi
    for r in $order; do measure "$n" "$t" "$r"; done
  done
done

# --- certificate rotation under load (Sekisho) --------------------------------------
a=${ADDR[sekisho]}
echo "before: $(handshake_serial "$a") (server1 $SERIAL1, server2 $SERIAL2)" > "$OUT/raw/rotation.txt"
timeout $((ROT_LEN + 30)) dnsperf -m dot -s "$a" -d "$W/queries.txt" -l "$ROT_LEN" -Q "$ROT_QPS" -c "$CLIENTS" \
  -T "$DP_THREADS" -q "$OUTSTANDING" -S 1 > "$OUT/raw/rotation-dnsperf.txt" 2>&1 9>&- & rot_pid=$!
bg_pids+=($rot_pid)
sleep "$ROT_AT"
cp "$C/server2.key" "$C/key.pem.new"; cp "$C/server2.pem" "$C/cert.pem.new"
mv "$C/key.pem.new" "$C/key.pem"; mv "$C/cert.pem.new" "$C/cert.pem"
set +e
rs=$(date +%s.%N)
"$SEKISHOCTL_BIN" -s "$S/control.sock" reload > "$OUT/raw/rotation-reload.txt" 2>&1; reload_rc=$?
re=$(date +%s.%N)
set -e
{ echo "reload_rc: $reload_rc"; echo "reload_s: $(awk -v a="$rs" -v b="$re" 'BEGIN { printf "%.3f", b - a }')"; } >> "$OUT/raw/rotation.txt"
echo "during (new handshake right after the reload): $(handshake_serial "$a")" >> "$OUT/raw/rotation.txt"
wait "$rot_pid" || true
echo "after: $(handshake_serial "$a")" >> "$OUT/raw/rotation.txt"
echo "$(date -u +%T) rotation: $(awk '/Queries completed/ {print $3}' "$OUT/raw/rotation-dnsperf.txt") completed, lost $(awk '/Queries lost/ {print $3}' "$OUT/raw/rotation-dnsperf.txt"), reload rc $reload_rc"

for r in $SERVERS; do
  kill -0 "${PID[$r]}" 2>/dev/null && echo "state_$r: alive" >> "$OUT/raw/meta.txt" || echo "state_$r: exited" >> "$OUT/raw/meta.txt"
  tail -50 "$W/$r/daemon.log" > "$OUT/raw/$r-daemon.log.tail" 2>/dev/null || true
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/raw/meta.txt"
echo "elapsed_s: $((SECONDS - T0))" >> "$OUT/raw/meta.txt"

# --- the table -----------------------------------------------------------------------
python3 - "$OUT/raw" > "$OUT/RESULTS.md" <<'EOPY'
import re, sys, glob, os, statistics
raw = sys.argv[1]
meta = dict(l.split(': ', 1) for l in open(f'{raw}/meta.txt').read().splitlines() if ': ' in l)
def dp(path):
    t = open(path).read()
    g = lambda k: (re.search(k + r'\s+([\d.]+)', t) or [None, None])[1]
    if 'h2load' in os.path.basename(path):
        m = re.search(r'finished in [\d.]+s, ([\d.]+) req/s', t)
        req = re.search(r'requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout', t)
        ok = re.search(r'status codes: (\d+) 2xx', t)
        done = int(ok.group(1)) if ok else 0
        # "lost" for h2load: requests that failed, errored or timed out (those still in flight when -D ends are not)
        return dict(qps=float(m.group(1)) if m else 0, sent=int(req.group(2)) if req else 0, done=done,
                    lost=sum(int(req.group(i)) for i in (5, 6, 7)) if req else 0, http200=done,
                    cpu=float(g('server_cpu_s:') or 0))
    h = re.search(r'HTTP/2 return codes:.*?200: (\d+)', t)
    return dict(qps=float(g('Queries per second:') or 0), sent=int(g('Queries sent:') or 0),
                done=int(g('Queries completed:') or 0), lost=int(g('Queries lost:') or 0),
                http200=int(h.group(1)) if h else None, cpu=float(g('server_cpu_s:') or 0))
runs = {}
for p in sorted(glob.glob(f'{raw}/tput-*.txt')):
    n, t, r = os.path.basename(p)[5:-4].split('-')
    runs.setdefault(t, {}).setdefault(int(n), {})[r] = dp(p)
print(f"# DoT and DoH side by side, {meta['date']}\n")
print(f"Sekisho `{meta['sekisho_commit']}` ({meta['version_sekisho']}) and Unbound {meta['version_unbound'].replace('Version ', '')}, "
      f"each forwarding to NSD on loopback, {meta['names']} cached names, {meta['server_threads']} server threads, "
      f"dnsperf {meta['version_dnsperf'].replace('Version ', '')} `-c {meta['clients']} -T {meta['dnsperf_threads']} -q {meta['outstanding']} -l {meta['len_s']}` "
      f"for both, DoH `{meta['doh_method']}` over HTTP/2; {meta['version_h2load']} "
      f"`-c {meta['clients']} -t {meta['dnsperf_threads']} -m {meta['h2load_streams']} -D {meta['len_s']}`, GET of the same names. "
      f"The load generator shares the machine's {meta['cores']} cores with the server it measures: "
      f"compare the ratios, not the q/s. Load average {meta['load_before']} before, {meta['load_after']} after.\n")
print("## Cache-hit throughput\n")
print("| transport (tool) | round | Sekisho q/s | Unbound q/s | Sekisho/Unbound | lost S / U | HTTP 200s seen S / U | server CPU s S / U |")
print("|---|---|---|---|---|---|---|---|")
label = {'dot': 'DoT (dnsperf)', 'doh': 'DoH (dnsperf)', 'h2load': 'DoH (h2load)'}
hs = lambda x: '-' if x.get('http200') is None else f"{x['http200']:,}"
summary = []
for t in ('dot', 'doh', 'h2load'):
    for n in sorted(runs.get(t, {})):
        s, u = runs[t][n].get('sekisho'), runs[t][n].get('unbound')
        if not s or not u: continue
        print(f"| {label[t]} | {n} | {s['qps']:,.0f} | {u['qps']:,.0f} | {s['qps']/u['qps'] if u['qps'] else 0:.2f} | "
              f"{s['lost']:,} / {u['lost']:,} | {hs(s)} / {hs(u)} | {s['cpu']:.1f} / {u['cpu']:.1f} |")
    sq = [runs[t][n]['sekisho']['qps'] for n in runs.get(t, {}) if 'sekisho' in runs[t][n]]
    uq = [runs[t][n]['unbound']['qps'] for n in runs.get(t, {}) if 'unbound' in runs[t][n]]
    if sq and uq:
        ms, mu = statistics.median(sq), statistics.median(uq)
        summary.append((t, ms, mu))
        print(f"| **{label[t]}** | median | **{ms:,.0f}** | **{mu:,.0f}** | **{ms/mu if mu else 0:.2f}** | | | |")
print()
print("## Certificate rotation under load (Sekisho)\n")
r = dp(f'{raw}/rotation-dnsperf.txt')
rot = open(f'{raw}/rotation.txt').read()
rc = re.search(r'reload_rc: (\d+)', rot).group(1)
print(f"`dnsperf -m dot -Q {meta['rot_qps']} -l {meta['rot_len_s']}`; at {meta['rot_at_s']} s the certificate and key "
      f"files are replaced (new certificate, same CA) and `sekishoctl reload` runs (exit {rc}).\n")
print("| sent | completed | lost | q/s | certificate serial on a new handshake: before / right after reload / after |")
print("|---|---|---|---|---|")
ser = [ (re.search(p + r'[^:]*: (\S*)', rot) or [None, '?'])[1] for p in ('before', 'during', 'after') ]
print(f"| {r['sent']:,} | {r['done']:,} | **{r['lost']}** | {r['qps']:,.0f} | {' / '.join(s or '-' for s in ser)} |")
print()
print("dnsperf's \"lost\" is queries it timed out; \"HTTP 200s seen\" is its own count of HTTP/2 200 responses: "
      "more 200s than completed queries means answers reached dnsperf and were not counted (README.md). "
      "For h2load, \"lost\" is requests that failed, errored or timed out (not those in flight when the run ends), "
      "and its q/s is its req/s (HTTP answers with status 2xx; it does not read the DNS message).\n")
print("Raw dnsperf and h2load output, configurations, probes and daemon log tails: `raw/`.")
EOPY
cat "$OUT/RESULTS.md"
