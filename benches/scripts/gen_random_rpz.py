#!/usr/bin/env python3
"""Deterministic RPZ zone of random-looking names (a blocklist's shape, unlike gen_rpz.py's
numbered names under 100 parents).

usage: gen_random_rpz.py N OUT [--origin rpz.local.] [--seed S]

Rule i: a name of 1-3 random labels (3-14 characters of [a-z0-9-], no leading or trailing
hyphen) under one of 40 top-level domains; 5% are wildcards (`*.name`), the rest
`name CNAME .`. Names repeat with negligible probability; a repeat is merged on load.
"""
import random
import sys

TLDS = ("com net org info biz io co uk de ru cn br fr it nl pl es jp in au ca ch se no "
        "xyz top site online club shop app dev me tv cc ws us eu be at").split()
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def label(rng):
    n = rng.randint(3, 14)
    s = [rng.choice(CHARS) for _ in range(n)]
    if n > 4 and rng.random() < 0.2:
        s[rng.randint(1, n - 2)] = "-"
    return "".join(s)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    n, out = int(args[0]), args[1]
    origin, seed = "rpz.local.", 1
    if "--origin" in args:
        origin = args[args.index("--origin") + 1]
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    rng = random.Random(seed)
    with open(out, "w", buffering=1 << 20) as f:
        f.write("$ORIGIN %s\n$TTL 300\n" % origin)
        f.write("@ SOA ns.%s hostmaster.%s 1 3600 600 86400 300\n" % (origin, origin))
        f.write("@ NS ns.%s\n" % origin)
        for i in range(n):
            name = ".".join(label(rng) for _ in range(rng.choice((1, 1, 2, 2, 2, 3))))
            name += "." + rng.choice(TLDS)
            if i % 20 == 0:
                name = "*." + name
            f.write("%s CNAME .\n" % name)


if __name__ == "__main__":
    main()
