#!/usr/bin/env python3
"""Medians of the cache-hit throughput shares over repeated side-by-side runs.

usage: tput_medians.py RESULTS.md [RESULTS.md ...]
       (copies of the report bench.sh writes, one per run of
        `bench.sh -p "echo sekisho unbound ..." -n "0 1000000" -m tput -b`)

One run of the throughput part gives each peer 15 s per mix on 2 cores it
shares with dnsperf, and the same peer's share of the echo ceiling moves by
about a tenth between runs (the echo itself moves as much). A share is only
comparable with the echo of the same run, so each run's shares are taken as
the report computed them, and the median and range over the runs are printed
per peer, rule count and mix. Rows of a peer must come from the same runs:
run bench.sh with -b and every peer each time, or the report keeps an older
run's row for a peer left out.
"""

import re
import statistics
import sys


def rows(path):
    """{(peer, n): (clean share, mixed share)} of one report's section (c)."""
    out = {}
    text = open(path, encoding="utf-8").read()
    start = text.find("## (c) Cache-hit throughput")
    if start < 0:
        return out
    section = text[start:]
    nxt = section.find("\n## ", 5)
    if nxt > 0:
        section = section[:nxt]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # peer | N | clean q/s | clean share | lat | max | lost | mixed q/s | mixed share | ...
        if len(cells) < 9 or not re.fullmatch(r"\d+", cells[1]):
            continue
        try:
            out[(cells[0], int(cells[1]))] = (float(cells[3]), float(cells[8]))
        except ValueError:
            continue
    return out


def main(paths):
    runs = [rows(p) for p in paths]
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k[1], k[0]))
    print(f"Cache-hit throughput as a share of the echo ceiling, {len(paths)} runs: median (range)\n")
    print("| peer | N rules | clean | mixed | runs |")
    print("|---|---:|---|---|---:|")
    for key in keys:
        got = [r[key] for r in runs if key in r]
        cols = []
        for i in range(2):
            vals = [g[i] for g in got]
            cols.append(f"{statistics.median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})")
        print(f"| {key[0]} | {key[1]} | {cols[0]} | {cols[1]} | {len(got)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1:])
