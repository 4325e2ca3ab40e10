#!/usr/bin/env python3
"""Prints the hostile-traffic benchmark's results as Markdown tables.

usage: summarise.py RAW_DIR      (RAW_DIR = <out>/raw as written by run.sh)

One table per pass: for each scenario and resolver, the legitimate clients'
answered share and p50/p99 latency (hits and misses apart; latency over the
answered queries only), the hostile traffic actually sent, and the
resolver's CPU seconds, peak RSS and peak open descriptors over the window.
Then, per scenario, Sekisho against the best peer (the peer whose legitimate
clients got the largest answered share, hits and misses together).
"""

import json
import os
import re
import sys

RESOLVERS = ["sekisho", "unbound", "bind", "pdns"]
SCENARIOS = ["base", "sink", "slow", "crafted", "tcp", "heavy"]
NAMES = {"sekisho": "Sekisho", "unbound": "Unbound", "bind": "BIND", "pdns": "PowerDNS"}
WHAT = {
    "base": "no hostile traffic",
    "sink": "random subdomains, server never answers",
    "slow": "random subdomains, server answers in 0.5-1 s",
    "crafted": "KeyTrap + NSEC3 150 iterations",
    "tcp": "TCP clients that never read",
    "heavy": "one address, cache hits at full rate",
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def attack_summary(d, sc):
    if sc == "base":
        return "-"
    if sc == "tcp":
        t = load(os.path.join(d, "tcphold.json"))
        if not t:
            return "?"
        return "%d/%d conn., %d closed" % (t["connected"], t["clients"], t["closed_by_server_at_end"])
    f = load(os.path.join(d, "attack.json"))
    if f:
        return "%s q/s sent, %d%% answered" % (f"{f['rate']:,.0f}", round(100 * f["answers"] / f["sent"]) if f["sent"] else 0)
    try:
        text = open(os.path.join(d, "attack.txt")).read()
    except OSError:
        return "?"
    sent = re.search(r"Queries sent:\s+(\d+)", text)
    done = re.search(r"Queries completed:\s+(\d+)", text)
    secs = re.search(r"Run time \(s\):\s+([\d.]+)", text)
    if not (sent and done and secs):
        return "?"
    s, c, t = int(sent.group(1)), int(done.group(1)), float(secs.group(1))
    return "%s q/s sent, %d%% answered" % (f"{s / t:,.0f}", round(100 * c / s) if s else 0)


def ms(v):
    if v is None:
        return "-"
    return "%.1f" % v if v < 10 else "%.0f" % v


def pct(v):
    return "-" if v is None else "%.1f%%" % (100 * v)


def row_values(raw, pss, r, sc):
    d = os.path.join(raw, pss, r, sc)
    legit = load(os.path.join(d, "legit.json"))
    sample = load(os.path.join(d, "sample.json"))
    if not legit:
        return None
    state = "?"
    try:
        state = open(os.path.join(d, "state")).read().strip()
    except OSError:
        pass
    return {"legit": legit, "sample": sample or {}, "attack": attack_summary(d, sc), "state": state}


def share(v):
    h, m = v["legit"]["hit"], v["legit"]["miss"]
    sent = h["sent"] + m["sent"]
    return (h["answered"] + m["answered"]) / sent if sent else 0.0


def main():
    raw = sys.argv[1]
    meta = {}
    try:
        for line in open(os.path.join(raw, "meta.txt")):
            if ":" in line:
                k, v = line.split(":", 1)
                meta[k.strip()] = v.strip()
    except OSError:
        pass
    print("# Hostile traffic: legitimate clients' answers under attack\n")
    print("Run %s; Sekisho %s (commit %s); %s; %s; %s. %s cores, load average before %s, after %s; "
          "window %s s per scenario after %s s of ramp; legitimate clients %s q/s hits + %s q/s misses; "
          "run took %s s.\n" % (
              meta.get("date", "?"), meta.get("version_sekisho", "?"), meta.get("sekisho_commit", "?"),
              meta.get("version_unbound", "?"), meta.get("version_bind", "?"), meta.get("version_pdns", "?"),
              meta.get("cores", "?"), meta.get("load_before", "?"), meta.get("load_after", "?"),
              meta.get("window_s", "?"), meta.get("ramp_s", "?"), meta.get("hit_rate", "?"),
              meta.get("miss_rate", "?"), meta.get("elapsed_s", "?")))
    print("Answered = NOERROR or NXDOMAIN within 2 s; latency over answered queries. "
          "CPU, RSS (peak) and descriptors (peak) are the resolver process's over the window.\n")
    passes = [p for p in ("default", "tuned") if os.path.isdir(os.path.join(raw, p))]
    results = {}
    for pss in passes:
        print("## Pass: %s\n" % pss)
        print("| scenario | resolver | hits answered | hit p50/p99 ms | misses answered | miss p50/p99 ms "
              "| hostile traffic | CPU s | RSS MiB | fds |")
        print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
        for sc in SCENARIOS:
            for r in RESOLVERS:
                v = row_values(raw, pss, r, sc)
                if v is None:
                    continue
                results[(pss, r, sc)] = v
                h, m, s = v["legit"]["hit"], v["legit"]["miss"], v["sample"]
                note = "" if v["state"] == "alive" else " (**%s**)" % v["state"]
                print("| %s | %s%s | %s | %s / %s | %s | %s / %s | %s | %s | %s | %s |" % (
                    sc, NAMES[r], note, pct(h["answered_share"]), ms(h["p50_ms"]), ms(h["p99_ms"]),
                    pct(m["answered_share"]), ms(m["p50_ms"]), ms(m["p99_ms"]), v["attack"],
                    "%.1f" % s["cpu_s"] if "cpu_s" in s else "-",
                    s["rss_kib_max"] // 1024 if "rss_kib_max" in s else "-",
                    s.get("fds_max", "-")))
        print()
    print("## Sekisho against the best peer\n")
    print("Best peer: of Unbound, BIND and PowerDNS in the same pass (PowerDNS's tuned pass is its default), the one "
          "whose legitimate clients got the largest answered share (hits and misses together; ties: the lower miss "
          "p99). Each cell: Sekisho / best peer (ratio). Answered: higher is better; p99, CPU, RSS: lower is better.\n")
    print("| pass | scenario | best peer | hits answered | misses answered | hit p99 ms | miss p99 ms | CPU s | RSS MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")

    def cell(x, y, fmt):
        if x is None or y is None:
            return "%s / %s" % (fmt(x) if x is not None else "-", fmt(y) if y is not None else "-")
        return "%s / %s (%s)" % (fmt(x), fmt(y), "%.2f" % (x / y) if y else "-")

    for pss in passes:
        for sc in SCENARIOS:
            sk = results.get((pss, "sekisho", sc))
            peers = []
            for r in RESOLVERS[1:]:
                v = results.get((pss, r, sc)) or (results.get(("default", r, sc)) if r == "pdns" else None)
                if v:
                    peers.append((share(v), -(v["legit"]["miss"]["p99_ms"] or 1e9), r, v))
            if not sk or not peers:
                continue
            _, _, best, bv = max(peers)
            L, P = sk["legit"], bv["legit"]
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                pss, sc, NAMES[best],
                cell(L["hit"]["answered_share"], P["hit"]["answered_share"], pct),
                cell(L["miss"]["answered_share"], P["miss"]["answered_share"], pct),
                cell(L["hit"]["p99_ms"], P["hit"]["p99_ms"], ms),
                cell(L["miss"]["p99_ms"], P["miss"]["p99_ms"], ms),
                cell(sk["sample"].get("cpu_s"), bv["sample"].get("cpu_s"), lambda x: "%.1f" % x),
                cell((sk["sample"].get("rss_kib_max") or 0) / 1024 or None,
                     (bv["sample"].get("rss_kib_max") or 0) / 1024 or None, lambda x: "%.0f" % x)))
    print()
    print("Scenarios:\n")
    for sc in SCENARIOS:
        print("- `%s`: %s" % (sc, WHAT[sc]))


if __name__ == "__main__":
    main()
