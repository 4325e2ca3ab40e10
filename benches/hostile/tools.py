#!/usr/bin/env python3
"""Helpers for the hostile-traffic benchmark (benches/hostile/run.sh).

Standard library only (plus `cryptography` for `mkzones`, to make valid
P-256 public keys). Everything talks to loopback addresses only, and every
loop is bounded in time.

Subcommands:
  legit     the legitimate clients: a fixed rate of cache hits and cache
            misses (unique names under healthy wildcard zones) from one source
            address; records every query's outcome and latency as JSON
  warm      ask a list of names twice (fills the cache before a window)
  sink      a UDP "authority" that reads every packet and never answers
  slowauth  a UDP authority for one zone that answers every query after a
            random delay (default 500-1000 ms)
  tcphold   N TCP clients that connect, send one query and never read
  sample    samples a PID's RSS, open descriptors and CPU time every second
  mkzones   builds the KeyTrap and NSEC3 zones (keys, signing, crafted
            key-tag collisions) and the delegations to add to the parents
  names     writes a dnsperf query file of unique random names under a zone
"""

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import select
import socket
import struct
import subprocess
import sys
import time

TYPES = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "DNSKEY": 48, "DS": 43}


# --- wire helpers ---------------------------------------------------------

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def make_query(qid, name, qtype, rd=True, edns=True):
    flags = 0x0100 if rd else 0
    arcount = 1 if edns else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", TYPES.get(qtype, 1), 1)
    if edns:
        msg += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return msg


def read_question(msg):
    """Returns (qname lower-case without trailing dot, qtype, end offset) or None."""
    if len(msg) < 12:
        return None
    pos, labels = 12, []
    for _ in range(128):
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace").lower())
        pos += n
    else:
        return None
    if pos + 4 > len(msg):
        return None
    qtype = struct.unpack("!H", msg[pos:pos + 2])[0]
    return ".".join(labels), qtype, pos + 4


# --- legitimate clients ---------------------------------------------------

def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def cmd_legit(a):
    hits = [l.split() for l in open(a.hits) if l.strip()]
    miss_zones = a.miss_zones.split(",")
    tag = "%x" % random.getrandbits(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((a.source, 0))
    sock.setblocking(False)
    total_rate = a.hit_rate + a.miss_rate
    interval = 1.0 / total_rate
    n_total = int(a.duration * total_rate)
    pending = {}  # id -> (kind, t_sent)
    res = {k: {"sent": 0, "noerror": 0, "nxdomain": 0, "servfail": 0, "other": 0, "timeout": 0, "lat": []}
           for k in ("hit", "miss")}
    start = time.monotonic()
    sent = 0
    hit_i = miss_i = 0
    # interleave: of every (hit_rate + miss_rate) queries, miss_rate are misses, spread evenly
    acc = 0.0
    miss_share = a.miss_rate / total_rate
    end = start + a.duration + a.timeout + 0.5
    # --trace: every answered query's send time (s from start), kind and latency (ms).
    trace = [] if a.trace else None
    while True:
        now = time.monotonic()
        # expire
        if pending:
            for qid in [q for q, (_, t) in pending.items() if now - t > a.timeout]:
                kind, _ = pending.pop(qid)
                res[kind]["timeout"] += 1
        if sent >= n_total and not pending:
            break
        if now > end:
            break
        while sent < n_total and now >= start + sent * interval:
            acc += miss_share
            if acc >= 1.0:
                acc -= 1.0
                kind = "miss"
                name = "m%d-%s.%s" % (miss_i, tag, miss_zones[miss_i % len(miss_zones)])
                qtype = "A"
                miss_i += 1
            else:
                kind = "hit"
                name, qtype = hits[hit_i % len(hits)][:2]
                hit_i += 1
            qid = sent & 0xFFFF
            try:
                sock.sendto(make_query(qid, name, qtype), (a.server, a.port))
            except (BlockingIOError, OSError):
                pass
            pending[qid] = (kind, time.monotonic())
            res[kind]["sent"] += 1
            sent += 1
        next_send = start + sent * interval if sent < n_total else now + 0.05
        wait = max(0.0, min(next_send - time.monotonic(), 0.05))
        r, _, _ = select.select([sock], [], [], wait)
        if r:
            for _ in range(256):
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    break
                if len(data) < 12:
                    continue
                qid, flags = struct.unpack("!HH", data[:4])
                if not flags & 0x8000 or qid not in pending:
                    continue
                kind, t = pending.pop(qid)
                rc = flags & 0xF
                rec = res[kind]
                if rc == 0:
                    rec["noerror"] += 1
                elif rc == 3:
                    rec["nxdomain"] += 1
                elif rc == 2:
                    rec["servfail"] += 1
                else:
                    rec["other"] += 1
                if rc in (0, 3):
                    rec["lat"].append((time.monotonic() - t) * 1000.0)
                    if trace is not None:
                        trace.append((t - start, kind, (time.monotonic() - t) * 1000.0))
    out = {}
    for kind, r in res.items():
        lat = sorted(r.pop("lat"))
        r["answered"] = r["noerror"] + r["nxdomain"]
        r["answered_share"] = r["answered"] / r["sent"] if r["sent"] else None
        r["p50_ms"] = percentile(lat, 50)
        r["p99_ms"] = percentile(lat, 99)
        out[kind] = r
    json.dump(out, open(a.out, "w"), indent=1)
    if trace is not None:
        with open(a.trace, "w") as f:
            for t, kind, ms in trace:
                f.write("%.4f %s %.3f\n" % (t, kind, ms))


def cmd_warm(a):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.source, 0))
    sock.settimeout(a.timeout)
    names = [l.split() for l in open(a.names) if l.strip()]
    for rnd in range(2):
        for i, (name, qtype) in enumerate(names):
            qid = (rnd * 1000 + i) & 0xFFFF
            sock.sendto(make_query(qid, name, qtype), (a.server, a.port))
            deadline = time.monotonic() + a.timeout
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(4096)
                except socket.timeout:
                    break
                if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
                    break


# --- hostile clients --------------------------------------------------------

def cmd_flood(a):
    """Sends at a fixed rate without waiting for answers (as an attacker does);
    counts the answers that come back. Names are unique random labels under
    the given zones, or the lines of a file, cycled."""
    socks = []
    for _ in range(a.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.bind((a.source, 0))
        s.connect((a.server, a.port))
        s.setblocking(False)
        socks.append(s)
    edns = struct.pack("!BHHIH", 0, 41, 1232, 0x8000 if a.dnssec else 0, 0)
    tail_a = struct.pack("!HH", 1, 1) + edns
    if a.names:
        fixed = []
        for line in open(a.names):
            f = line.split()
            if f:
                fixed.append(encode_name(f[0]) + struct.pack("!HH", TYPES.get(f[1] if len(f) > 1 else "A", 1), 1) + edns)
        suffixes = None
    else:
        suffixes = [encode_name(z) for z in a.zones.split(",")]
    salt = "%06x" % random.getrandbits(24)
    rcodes = {}
    sent = errors = answers = 0
    start = time.monotonic()
    end = start + a.duration
    nsock = len(socks)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = min(int((now - start) * a.rate) - sent, 5000)
        for _ in range(max(0, due)):
            qid = sent & 0xFFFF
            head = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1)
            if suffixes is None:
                body = fixed[sent % len(fixed)]
            else:
                label = ("q%s%x" % (salt, sent)).encode()
                body = bytes([len(label)]) + label + suffixes[sent % len(suffixes)] + tail_a
            try:
                socks[sent % nsock].send(head + body)
            except OSError:
                errors += 1
            sent += 1
        for s in socks:
            for _ in range(2000):
                try:
                    data = s.recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                if len(data) >= 4:
                    answers += 1
                    rc = data[3] & 0xF
                    rcodes[rc] = rcodes.get(rc, 0) + 1
        time.sleep(0.002)
    took = time.monotonic() - start
    names = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
    out = {"sent": sent, "seconds": took, "rate": sent / took, "send_errors": errors, "answers": answers,
           "rcodes": {names.get(k, str(k)): v for k, v in sorted(rcodes.items())}}
    json.dump(out, open(a.out, "w"))


# --- hostile authorities --------------------------------------------------

def cmd_sink(a):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((a.addr, 53))
    sock.settimeout(1.0)
    buf = bytearray(4096)
    count = 0
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        try:
            sock.recv_into(buf)
            count += 1
        except socket.timeout:
            pass
    print("sink read %d packets" % count)


class SlowAuth(asyncio.DatagramProtocol):
    """Authoritative for one zone; every answer leaves after a random delay."""

    def __init__(self, zone, addr, lo, hi):
        self.zone, self.addr, self.lo, self.hi = zone, addr, lo, hi
        self.transport = None
        self.count = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, peer):
        q = read_question(data)
        if q is None or data[2] & 0x80:
            return
        self.count += 1
        reply = self.answer(data, *q)
        if reply is not None:
            delay = random.uniform(self.lo, self.hi)
            asyncio.get_running_loop().call_later(delay, self.transport.sendto, reply, peer)

    def answer(self, data, qname, qtype, qend):
        zone = self.zone
        if not (qname == zone or qname.endswith("." + zone)):
            return struct.pack("!HHHHHH", struct.unpack("!H", data[:2])[0], 0x8005, 1, 0, 0, 0) + data[12:qend]
        qid = struct.unpack("!H", data[:2])[0]
        rd = data[2] & 0x01
        qsec = data[12:qend]
        soa = encode_name(zone) + struct.pack("!HHIH", 6, 1, 60, 0)
        soa_rdata = encode_name("ns." + zone) + encode_name("hostmaster." + zone) + struct.pack("!IIIII", 1, 3600, 600, 86400, 60)
        soa = soa[:-2] + struct.pack("!H", len(soa_rdata)) + soa_rdata
        ans = []
        auth = []
        if qname == zone and qtype == 2:
            ns = encode_name("ns." + zone)
            ans.append(encode_name(zone) + struct.pack("!HHIH", 2, 1, 3600, len(ns)) + ns)
        elif qname == zone and qtype == 6:
            ans.append(soa)
        elif qtype == 1:
            ip = self.addr if qname == "ns." + zone else "192.0.2.77"
            ans.append(encode_name(qname) + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip))
        else:
            auth.append(soa)
        flags = 0x8400 | (0x0100 if rd else 0)
        head = struct.pack("!HHHHHH", qid, flags, 1, len(ans), len(auth), 0)
        return head + qsec + b"".join(ans) + b"".join(auth)


def cmd_slowauth(a):
    async def main():
        loop = asyncio.get_running_loop()
        proto = SlowAuth(a.zone.rstrip(".").lower(), a.addr, a.min_delay, a.max_delay)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(a.addr, 53))
        try:
            await asyncio.sleep(a.max_seconds)
        finally:
            transport.close()
        print("slowauth got %d queries" % proto.count)
    asyncio.run(main())


def cmd_tcphold(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.clients + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    socks = []
    refused = 0
    for i in range(a.clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((a.source, 0))
        s.setblocking(False)
        try:
            s.connect((a.server, a.port))
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
            s.close()
            continue
        socks.append(s)
    # wait (bounded) for the connections to complete, then send one query each
    poller = select.poll()
    fdmap = {s.fileno(): s for s in socks}
    for fd in fdmap:
        poller.register(fd, select.POLLOUT)
    connected = {}
    deadline = time.monotonic() + 5
    while len(connected) + refused < a.clients and time.monotonic() < deadline:
        for fd, ev in poller.poll(200):
            s = fdmap[fd]
            poller.unregister(fd)
            if ev & (select.POLLERR | select.POLLHUP) or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                refused += 1
                continue
            connected[fd] = s
    q = make_query(0x4242, a.qname, "A")
    sent = 0
    for s in connected.values():
        try:
            s.send(struct.pack("!H", len(q)) + q)
            sent += 1
        except OSError:
            pass
    # hold, never reading; watch (without reading) for the server closing
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        time.sleep(0.5)
    closed = 0
    p2 = select.poll()
    for fd in connected:
        p2.register(fd, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    for fd, ev in p2.poll(0):
        if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
            closed += 1
    json.dump({"clients": a.clients, "connected": len(connected), "failed": a.clients - len(connected),
               "query_sent": sent, "closed_by_server_at_end": closed}, open(a.out, "w"))
    for s in socks:
        s.close()


# --- resource sampler -----------------------------------------------------

def cmd_sample(a):
    tick = os.sysconf("SC_CLK_TCK")
    rows = []
    end = time.monotonic() + a.seconds
    while True:
        t = time.monotonic()
        try:
            with open("/proc/%d/stat" % a.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            rss = 0
            with open("/proc/%d/status" % a.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            fds = len(os.listdir("/proc/%d/fd" % a.pid))
        except (OSError, IndexError, ValueError):
            rows.append({"t": t, "gone": True})
            break
        rows.append({"t": t, "cpu_s": cpu, "rss_kib": rss, "fds": fds})
        if t >= end:
            break
        time.sleep(max(0.0, min(1.0, end - time.monotonic())))
    ok = [r for r in rows if not r.get("gone")]
    out = {"samples": rows, "alive_at_end": not rows[-1].get("gone") if rows else False}
    if ok:
        out.update({"cpu_s": ok[-1]["cpu_s"] - ok[0]["cpu_s"], "window_s": ok[-1]["t"] - ok[0]["t"],
                    "rss_kib_end": ok[-1]["rss_kib"], "rss_kib_max": max(r["rss_kib"] for r in ok),
                    "fds_end": ok[-1]["fds"], "fds_max": max(r["fds"] for r in ok)})
    json.dump(out, open(a.out, "w"))


# --- crafted zones --------------------------------------------------------

def key_tag_sum(rdata):
    ac = 0
    for i, b in enumerate(rdata):
        ac += b if i & 1 else b << 8
    return ac


def dnskey_rdata(fields):
    """DNSKEY presentation fields (flags proto alg key...) to wire rdata."""
    return struct.pack("!HBB", int(fields[0]), int(fields[1]), int(fields[2])) + base64.b64decode("".join(fields[3:]))


def sign_dnskeys(zone, d, keyfile, tag, real_rdata, fakes):
    """An RRSIG (presentation line) by the real key over the whole DNSKEY set, fakes included."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    secret = None
    for line in open(os.path.join(d, keyfile + ".private")):
        if line.startswith("PrivateKey:"):
            secret = int.from_bytes(base64.b64decode(line.split()[1]), "big")
    priv = ec.derive_private_key(secret, ec.SECP256R1())
    owner = encode_name(zone.lower())
    incep, expire = 1704067200, 2524608000  # 2024-01-01, 2050-01-01
    prefix = struct.pack("!HBBIIIH", 48, 13, 2, 300, expire, incep, tag) + owner
    rdatas = sorted([real_rdata] + [struct.pack("!HBB", fl, 3, 13) + k for fl, k in fakes])
    data = prefix + b"".join(owner + struct.pack("!HHIH", 48, 1, 300, len(r)) + r for r in rdatas)
    r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return "%s. 300 IN RRSIG DNSKEY 13 2 300 20500101000000 20240101000000 %d %s. %s\n" % (
        zone, tag, zone, base64.b64encode(sig).decode())


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def cmd_mkzones(a):
    """KeyTrap zone keytrap.test and NSEC3 zone n3.test, both served from a.addr.

    Writes into a.dir: keytrap.test.zone, n3.test.zone (final, signed),
    parent-additions.txt (NS, glue and DS lines for test.).
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    d = a.dir
    os.makedirs(d, exist_ok=True)
    run(["sh", "-c", "rm -f K*.key K*.private dsset-*"], d)
    soa = "@ 300 IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 300\n@ 300 IN NS ns.{z}.\nns 300 IN A %s\n" % a.addr
    parent = []
    # KeyTrap: one real KSK (signs everything) plus N-1 valid P-256 public keys
    # without private keys whose key tag equals the real key's (tags are a
    # checksum: the reserved flag bits, which validators must ignore, are chosen
    # to make the sum match). The answer RRset (a wildcard, so every random
    # name is a fresh validation) carries M RRSIGs with that tag, none valid;
    # the DNSKEY RRset carries M invalid ones before the real one.
    z = "keytrap.test"
    keyfile = run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-n", "ZONE", z], d).strip()
    tag = int(keyfile.rsplit("+", 1)[1])
    fakes = []
    rng = random.Random(1)
    tries = 0
    while len(fakes) < a.keys - 1 and tries < 100000:
        tries += 1
        pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        key = pub.x.to_bytes(32, "big") + pub.y.to_bytes(32, "big")
        base = key_tag_sum(struct.pack("!HBB", 0, 3, 13) + key)
        for flags in range(0x0100, 0x10000):
            # ZONE (0x0100) set, REVOKE (0x0080) clear
            if not flags & 0x0100 or flags & 0x0080:
                continue
            ac = base + flags
            if (ac + ((ac >> 16) & 0xFFFF)) & 0xFFFF == tag:
                fakes.append((flags, key))
                break
    if len(fakes) < a.keys - 1:
        sys.exit("could not find enough colliding keys")
    with open(os.path.join(d, z + ".in"), "w") as f:
        f.write("$ORIGIN %s.\n$TTL 300\n" % z + soa.format(z=z))
        f.write("www 300 IN A 192.0.2.80\n* 300 IN A 192.0.2.81\n")
    run(["dnssec-signzone", "-q", "-S", "-z", "-K", ".", "-o", z, "-s", "20240101000000",
         "-e", "20500101000000", "-O", "full", "-f", z + ".signed", z + ".in", keyfile + ".key"], d)
    fake_sig = lambda owner, covered, labels: "%s 300 IN RRSIG %s 13 %d 300 20500101000000 20240101000000 %d %s. %s\n" % (
        owner, covered, labels, tag, z, base64.b64encode(rng.randbytes(64)).decode())
    out = []
    real_key = None
    for line in open(os.path.join(d, z + ".signed")):
        f = line.split()
        if len(f) > 4 and f[3] == "RRSIG" and f[4] == "DNSKEY":
            out.extend(fake_sig(z + ".", "DNSKEY", 2) for _ in range(a.sigs))
            out.append(sign_dnskeys(z, d, keyfile, tag, real_key, fakes))
        elif len(f) > 4 and f[3] == "DNSKEY" and f[0] == z + ".":
            real_key = dnskey_rdata(f[4:])
            for flags, k in fakes:
                out.append("%s. 300 IN DNSKEY %d 3 13 %s\n" % (z, flags, base64.b64encode(k).decode()))
            out.append(line)
        elif len(f) > 4 and f[3] == "RRSIG" and f[4] == "A" and f[0] == "*." + z + ".":
            out.extend(fake_sig("*." + z + ".", "A", 2) for _ in range(a.sigs))
        else:
            out.append(line)
    open(os.path.join(d, z + ".zone"), "w").write("".join(out))
    parent.append("keytrap NS ns.keytrap.test.\nns.keytrap A %s\n" % a.addr)
    parent.append(open(os.path.join(d, "dsset-%s." % z)).read())
    # NSEC3 with the most iterations the signer allows and many names
    z = "n3.test"
    keyfile = run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-n", "ZONE", z], d).strip()
    with open(os.path.join(d, z + ".in"), "w") as f:
        f.write("$ORIGIN %s.\n$TTL 300\n" % z + soa.format(z=z))
        for i in range(a.names):
            f.write("h%d 300 IN A 192.0.2.%d\n" % (i, i % 250 + 1))
    run(["dnssec-signzone", "-q", "-S", "-z", "-K", ".", "-o", z, "-3", "c0ffee", "-H", str(a.iterations),
         "-s", "20240101000000", "-e", "20500101000000", "-O", "full", "-f", z + ".zone", z + ".in",
         keyfile + ".key"], d)
    parent.append("n3 NS ns.n3.test.\nns.n3 A %s\n" % a.addr)
    parent.append(open(os.path.join(d, "dsset-%s." % z)).read())
    open(os.path.join(d, "parent-additions.txt"), "w").write("".join(parent))
    print("keytrap.test: tag %d, %d keys, %d bogus RRSIGs per RRset; n3.test: %d names, %d iterations"
          % (tag, a.keys, a.sigs, a.names, a.iterations))


def cmd_names(a):
    with open(a.out, "w") as f:
        zones = a.zones.split(",")
        for i in range(a.count):
            f.write("%s%d.%s A\n" % (a.prefix, i, zones[i % len(zones)]))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("legit")
    s.add_argument("--server", required=True)
    s.add_argument("--port", type=int, default=53)
    s.add_argument("--source", required=True)
    s.add_argument("--hits", required=True, help="file of 'name type' lines, already in cache")
    s.add_argument("--miss-zones", required=True, help="comma list of wildcard zones for unique miss names")
    s.add_argument("--hit-rate", type=float, default=200)
    s.add_argument("--miss-rate", type=float, default=50)
    s.add_argument("--duration", type=float, default=20)
    s.add_argument("--timeout", type=float, default=2.0)
    s.add_argument("--out", required=True)
    s.add_argument("--trace", help="write 'sent_s kind latency_ms' per answered query here")
    s = sub.add_parser("warm")
    s.add_argument("--server", required=True)
    s.add_argument("--port", type=int, default=53)
    s.add_argument("--source", default="127.0.0.1")
    s.add_argument("--names", required=True)
    s.add_argument("--timeout", type=float, default=2.0)
    s = sub.add_parser("flood")
    s.add_argument("--server", required=True)
    s.add_argument("--port", type=int, default=53)
    s.add_argument("--source", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--zones", help="comma list: unique random names under these")
    s.add_argument("--names", help="file of 'name type' lines, cycled")
    s.add_argument("--sockets", type=int, default=8)
    s.add_argument("--dnssec", action="store_true", help="set DO")
    s.add_argument("--out", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--addr", required=True)
    s.add_argument("--max-seconds", type=float, default=3600)
    s = sub.add_parser("slowauth")
    s.add_argument("--addr", required=True)
    s.add_argument("--zone", required=True)
    s.add_argument("--min-delay", type=float, default=0.5)
    s.add_argument("--max-delay", type=float, default=1.0)
    s.add_argument("--max-seconds", type=float, default=3600)
    s = sub.add_parser("tcphold")
    s.add_argument("--server", required=True)
    s.add_argument("--port", type=int, default=53)
    s.add_argument("--source", required=True)
    s.add_argument("--clients", type=int, default=2000)
    s.add_argument("--qname", default="www.corp.example")
    s.add_argument("--hold", type=float, default=20)
    s.add_argument("--out", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("mkzones")
    s.add_argument("--dir", required=True)
    s.add_argument("--addr", required=True)
    s.add_argument("--keys", type=int, default=32)
    s.add_argument("--sigs", type=int, default=32)
    s.add_argument("--names", type=int, default=5000)
    s.add_argument("--iterations", type=int, default=150)
    s = sub.add_parser("names")
    s.add_argument("--zones", required=True)
    s.add_argument("--prefix", default="r")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
