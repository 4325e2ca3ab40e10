#!/usr/bin/env python3
"""Where a cache miss's time goes, from a packet capture of the loopback.

Reads a pcap written by `tcpdump -i lo -w FILE udp port 53` during a run of
benches/hostile/run.sh (or any run whose clients send from 127.0.70.0/24 to
the resolvers at 127.0.61.x) and, for every client query under ZONE that the
resolver answered after exactly the upstream traffic it caused, splits the
resolver's time in three:

  in->upq    client query seen -> the resolver's first query upstream
  upq->upr   that query -> the authority's (last) answer
  upr->out   the authority's answer -> the resolver's answer to the client

and prints p50/p90/p99 of each (microseconds) per resolver. The authority's
share includes the time it waits for a core, which on a small machine is
often the resolver's: a resolver that keeps running after its send delays
the reply it waits for.

usage: decompose.py CAPTURE [ZONE]    (ZONE default wild.corp.example)
"""
import struct
import sys
from collections import Counter, defaultdict

RESOLVERS = {"127.0.61.1": "sekisho", "127.0.61.2": "unbound",
             "127.0.61.3": "bind", "127.0.61.4": "pdns"}
CLIENTS = "127.0.70."
AUTHORITIES = "127.0.20."


def packets(path):
    """(time, src, dst, id, qr, lower-case qname) of each IPv4 UDP DNS packet."""
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, usec, caplen, _ = struct.unpack("<IIII", h)
            d = f.read(caplen)
            if d[12:14] != b"\x08\x00":
                continue
            ip = d[14:]
            if len(ip) < 20 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            src = ".".join(map(str, ip[12:16]))
            dst = ".".join(map(str, ip[16:20]))
            dns = ip[ihl + 8:]
            if len(dns) < 12:
                continue
            qid, flags = struct.unpack(">HH", dns[:4])
            labels, i = [], 12
            try:
                while dns[i]:
                    n = dns[i]
                    labels.append(dns[i + 1:i + 1 + n])
                    i += 1 + n
            except IndexError:
                continue
            yield (sec + usec / 1e6, src, dst, qid, flags >> 15,
                   b".".join(labels).lower())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    zone = (sys.argv[2] if len(sys.argv) > 2 else "wild.corp.example").encode()
    by_name = defaultdict(list)
    for p in packets(sys.argv[1]):
        if p[5].endswith(zone):
            by_name[p[5]].append(p)
    out = defaultdict(list)
    for ps in by_name.values():
        asked = [p for p in ps if p[4] == 0 and p[2] in RESOLVERS and p[1].startswith(CLIENTS)]
        if len(asked) != 1:
            continue
        t0, client, resolver = asked[0][0], asked[0][1], asked[0][2]
        answered = [p for p in ps if p[4] == 1 and p[1] == resolver and p[2] == client]
        up_q = [p for p in ps if p[4] == 0 and p[2].startswith(AUTHORITIES)]
        up_r = [p for p in ps if p[4] == 1 and p[1].startswith(AUTHORITIES)]
        if not (answered and up_q and up_r):
            continue
        t1, t2, t3 = up_q[0][0], up_r[-1][0], answered[0][0]
        out[RESOLVERS[resolver]].append((t1 - t0, t2 - t1, t3 - t2, t3 - t0, len(up_q), up_q[0][2]))
    for name, rows in sorted(out.items()):
        print(f"{name}: {len(rows)} misses, {sum(r[4] for r in rows) / len(rows):.2f} upstream queries each,"
              f" servers {dict(Counter(r[5] for r in rows))}")
        for k, what in enumerate(["in->upq", "upq->upr", "upr->out", "total"]):
            xs = [r[k] * 1e6 for r in rows]
            print(f"  {what:9s} p50 {pct(xs, .5):7.1f} us  p90 {pct(xs, .9):7.1f}  p99 {pct(xs, .99):7.1f}")


if __name__ == "__main__":
    main()
