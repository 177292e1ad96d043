#!/usr/bin/env python3
"""Benchmark driver: runs every workload for every implementation in rounds
(the order rotating from round to round), then prints a table of medians with
min-max and each implementation's ratio to libyamux and to raw_uv, and writes
it as Markdown.

    python3 bench/run.py [--bin build/bench/yxbench] [--out FILE]
                         [--rounds N] [--quick] [--only W1,W5]

Environment: BENCH_ROUNDS (default 5), BENCH_QUICK=1 (1 round, 256 MiB bulk,
20,000 requests). Each run is one process pair; its single RESULT line is
parsed (see bench/yxbench.c). A failed run is reported and left out.

To add an implementation (a peer library, a later issue), append an Impl to
IMPLS with the command that runs one (workload, size) and prints a RESULT
line; the table and the ratios pick it up.
"""

import argparse
import datetime
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys

GiB = 1 << 30
MiB = 1 << 20


class Workload:
    def __init__(self, name, metric, unit, pinned, title, higher_is_better=True):
        self.name = name
        self.metric = metric  # key of the RESULT line
        self.unit = unit
        self.pinned = pinned
        self.title = title
        self.higher_is_better = higher_is_better


WORKLOADS = [
    Workload("W1", "mibps", "MiB/s", False, "bulk TCP, 1 stream"),
    Workload("W1pin", "mibps", "MiB/s", True, "bulk TCP, both on CPU 0"),
    Workload("W2", "mibps", "MiB/s", False, "bulk over child stdio pipes"),
    Workload("W2pin", "mibps", "MiB/s", True,
             "bulk over child stdio pipes, both on CPU 0"),
    Workload("W5", "req_per_s", "req/s", False, "stream per request"),
]


class Impl:
    """One row: an implementation (and transport variant) of some workloads.

    argv(workload, params) returns the command, or None when this
    implementation does not run that workload."""

    def __init__(self, label, workloads, argv, info=False):
        self.label = label
        self.workloads = workloads
        self.argv = argv
        self.info = info  # reported for information, not a baseline


def yxbench_impl(binary, impl, workloads, extra=(), label=None, info=False):
    def argv(w, p):
        a = [binary, "-impl=" + impl, "-w=" + w.name]
        if w.metric == "mibps":
            a += ["-size=%d" % p["size"], "-chunk=65536", "-depth=4"]
        else:
            a += ["-count=%d" % p["count"], "-streams=32", "-msg=100",
                  "-resp=1024"]
        return a + list(extra)
    return Impl(label or impl, workloads, argv, info)


def build_impls(binary):
    bulk = {"W1", "W1pin", "W2", "W2pin"}
    return [
        yxbench_impl(binary, "libyamux", bulk | {"W5"}),
        yxbench_impl(binary, "raw_uv", bulk | {"W5"}),
        yxbench_impl(binary, "raw_block", bulk),
        # What uv_spawn's UV_CREATE_PIPE and yamux_session_spawn() give:
        # AF_UNIX socketpairs instead of pipes. For information only.
        yxbench_impl(binary, "libyamux", {"W2", "W2pin"},
                     ["-transport=socketpair"], "libyamux/socketpair", True),
        yxbench_impl(binary, "raw_uv", {"W2", "W2pin"},
                     ["-transport=socketpair"], "raw_uv/socketpair", True),
    ]


# ---- Go implementations (bench/go/, built as build/bench/gobench) --------
# The Go peers and raw Go get exactly the workload flags the C program gets
# (yxbench_impl's argv), limited to the flags gobench knows.

GO_IMPLS = ["hashicorp", "goyamux", "smux", "raw_go"]
GO_WORKLOADS = {"W1", "W1pin", "W2", "W2pin", "W3", "W4", "W5", "W6",
                "W6hold", "W6read", "W7", "W7p"}
GO_FLAGS = ("-size=", "-chunk=", "-streams=", "-count=", "-msg=", "-resp=",
            "-mode=", "-exitwait=", "-timeout=")


def go_impls(c_binary):
    gobin = os.path.join(os.path.dirname(c_binary) or ".", "gobench")
    if not os.path.exists(gobin):
        print("run.py: %s not found, Go implementations skipped "
              "(make bench-go-build)" % gobin, file=sys.stderr)
        return []
    impls = []
    for impl in GO_IMPLS:
        base = yxbench_impl(gobin, impl, set())

        def argv(w, p, base=base, impl=impl):
            if impl == "raw_go" and w.name.startswith("W6"):
                return None
            a = base.argv(w, p)
            return a[:1] + [x for x in a[1:]
                            if x.startswith(("-impl=", "-w=") + GO_FLAGS)]
        ws = GO_WORKLOADS - ({"W6", "W6hold", "W6read"}
                             if impl == "raw_go" else set())
        impls.append(Impl(impl, ws, argv))
    return impls


RESULT_RE = re.compile(r"^RESULT (.*)$", re.M)


def parse_result(text):
    m = RESULT_RE.search(text)
    if not m:
        return None
    kv = {}
    for tok in m.group(1).split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            kv[k] = v
    return kv


def run_one(argv, pinned, timeout):
    if pinned:
        argv = ["taskset", "-c", "0"] + argv
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, universal_newlines=True)
    except subprocess.TimeoutExpired:
        return None, "timeout after %ds" % timeout, argv
    res = parse_result(p.stdout)
    if p.returncode != 0 or res is None:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return None, "exit %d: %s" % (p.returncode, err), argv
    return res, None, argv


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL,
                              universal_newlines=True).stdout.strip()
    except OSError:
        return ""


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "host": "%s, %s, %d CPUs (%s)" % (platform.node(), platform.platform(),
                                          os.cpu_count() or 0, cpu),
        "compiler": sh("${CC:-cc} --version | head -1"),
        "libuv": sh("pkg-config --modversion libuv"),
        "commit": sh("git rev-parse --short HEAD") +
        (" (working tree modified)" if sh("git status --porcelain -- src include")
         else ""),
    }


def fmt_num(x):
    if x >= 1000:
        return "{:,.0f}".format(x)
    if x >= 100:
        return "%.0f" % x
    return "%.2f" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default="build/bench/yxbench")
    ap.add_argument("--out", default=None, help="write the Markdown here")
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_ROUNDS", "0") or 0))
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    ap.add_argument("--size", type=int, default=0,
                    help="bulk bytes (default 1 GiB, quick 256 MiB)")
    ap.add_argument("--count", type=int, default=0,
                    help="W5 requests (default 100000, quick 20000)")
    ap.add_argument("--only", default="", help="comma-separated workloads")
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()

    rounds = args.rounds or (1 if args.quick else 5)
    params = {
        "size": args.size or (256 * MiB if args.quick else GiB),
        "count": args.count or (20000 if args.quick else 100000),
    }
    workloads = [w for w in WORKLOADS
                 if not args.only or w.name in args.only.split(",")]
    impls = build_impls(args.bin) + go_impls(args.bin)

    load_before = os.getloadavg()
    # results[(workload, label)] = [metric values]
    results = {}
    commands = {}
    failures = []
    for r in range(rounds):
        for w in workloads:
            row = [i for i in impls if w.name in i.workloads]
            k = r % len(row)
            for impl in row[k:] + row[:k]:
                argv = impl.argv(w, params)
                res, err, full = run_one(argv, w.pinned, args.timeout)
                cmd = " ".join(shlex.quote(a) for a in full)
                commands[(w.name, impl.label)] = cmd
                if err:
                    failures.append("round %d %s %s: %s" %
                                    (r + 1, w.name, impl.label, err))
                    print("FAILED %s %s: %s" % (w.name, impl.label, err),
                          file=sys.stderr)
                    continue
                v = float(res[w.metric])
                results.setdefault((w.name, impl.label), []).append(v)
                print("round %d/%d  %-6s %-20s %12s %s" %
                      (r + 1, rounds, w.name, impl.label, fmt_num(v), w.unit),
                      file=sys.stderr)
                sys.stderr.flush()

    info = machine_info()
    info["load"] = "load average %.2f before, %.2f after (1 min; other " \
        "work on the machine shows here)" % (load_before[0], os.getloadavg()[0])
    lines = []
    mode = "quick" if args.quick else "full"
    lines.append("# libyamux first benchmark: W1, W2, W5 against the raw "
                 "transport")
    lines.append("")
    lines.append("Mode: %s; %d round(s), order rotating per round; bulk %d MiB "
                 "in 64 KiB writes (depth 4); W5 %d requests, 32 in flight, "
                 "100 B request, 1024 B response." %
                 (mode, rounds, params["size"] // MiB, params["count"]))
    lines.append("Workload definitions: ../shared/bench/WORKLOADS.md. "
                 "Pinned variants run both processes under `taskset -c 0`.")
    lines.append("")
    lines.append("Machine: %s. Compiler: %s. libuv %s. libyamux commit %s. "
                 "%s; %s." % (info["host"], info["compiler"], info["libuv"],
                              info["commit"], info["date"], info["load"]))
    lines.append("")
    lines.append("Ratios are of medians in this run (higher is better for "
                 "every metric here): `vs libyamux` = row / libyamux, "
                 "`vs raw_uv` = row / raw_uv.")
    lines.append("")
    lines.append("| workload | impl | unit | median (min-max) | vs libyamux "
                 "| vs raw_uv |")
    lines.append("|---|---|---|---|---|---|")
    for w in workloads:
        med = {}
        for impl in impls:
            vals = results.get((w.name, impl.label))
            if vals:
                med[impl.label] = statistics.median(vals)
        for impl in impls:
            if w.name not in impl.workloads:
                continue
            vals = results.get((w.name, impl.label))
            label = impl.label + (" (info)" if impl.info else "")
            if not vals:
                lines.append("| %s | %s | %s | failed | | |" %
                             (w.name, label, w.unit))
                continue
            m = med[impl.label]
            cell = "%s (%s-%s)" % (fmt_num(m), fmt_num(min(vals)),
                                   fmt_num(max(vals)))
            ry = "%.2f" % (m / med["libyamux"]) if "libyamux" in med else "-"
            rr = "%.2f" % (m / med["raw_uv"]) if "raw_uv" in med else "-"
            lines.append("| %s | %s | %s | %s | %s | %s |" %
                         (w.name, label, w.unit, cell, ry, rr))
    lines.append("")
    lines.append("Every run, in round order:")
    lines.append("")
    for w in workloads:
        for impl in impls:
            vals = results.get((w.name, impl.label))
            if vals:
                lines.append("- %s %s: %s" % (w.name, impl.label,
                                              ", ".join(fmt_num(v) for v in vals)))
    lines.append("")
    lines.append("Commands (one run each; the driver is `%s`):" %
                 " ".join(shlex.quote(a) for a in sys.argv))
    lines.append("")
    lines.append("```")
    for w in workloads:
        for impl in impls:
            if (w.name, impl.label) in commands:
                lines.append(commands[(w.name, impl.label)])
    lines.append("```")
    if failures:
        lines.append("")
        lines.append("Failed runs:")
        lines.append("")
        for f in failures:
            lines.append("- " + f)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print("wrote " + args.out, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
