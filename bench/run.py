#!/usr/bin/env python3
"""Benchmark driver for ../shared/bench/WORKLOADS.md (W1-W7).

Runs every workload for every implementation in rounds (the order of the
implementations rotating from round to round), then writes a Markdown report:
medians with min-max, each implementation's ratio to libyamux and to the raw
transport (raw_uv), the machine, versions, commits and the exact commands.

    python3 bench/run.py [--bin build/bench/yxbench] [--out FILE]
                         [--rounds N] [--quick] [--only W1,W4]
                         [--impls libyamux,raw_uv,...]

Environment (what `make bench` passes on):
  BENCH_ROUNDS=N      rounds (default 5; quick mode 1)
  BENCH_QUICK=1       quick mode: 1 round, 256 MiB bulk, W4 50,000 round
                      trips, W5 20,000 requests, W6 20,000 streams, W7 5,000
                      round trips
  BENCH_ONLY=W1,W4    only these workloads (W6 selects W6hold and W6read)
  BENCH_IMPLS=a,b     only these implementation labels (a label ending in
                      '/...' variants are matched by their full label)

Each run is one process pair whose client prints one RESULT line (see
bench/yxbench.c and bench/go/README.md); a failed run is reported and left
out of the medians.

To add an implementation, add an Impl (label, workloads, argv function) to
build_impls() or next to go_impls(); the tables and ratios pick it up.
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


class Metric:
    def __init__(self, key, unit, higher_is_better, title=None):
        self.key = key  # key of the RESULT line
        self.unit = unit
        self.higher_is_better = higher_is_better
        self.title = title or key


class Workload:
    def __init__(self, name, metrics, pinned, title):
        self.name = name
        self.metrics = metrics  # the first one is the figure of merit
        self.metric = metrics[0].key
        self.unit = metrics[0].unit
        self.pinned = pinned
        self.title = title


def M(key, unit, up, title=None):
    return Metric(key, unit, up, title)


BULK = [M("mibps", "MiB/s", True)]
W6_METRICS = [M("server_rss_per_stream", "B/stream", False),
              M("client_rss_per_stream", "B/stream", False),
              M("server_heap_per_stream", "B/stream", False),
              M("client_heap_per_stream", "B/stream", False),
              M("accepted_secs", "s", False),
              M("close_ms", "ms", False, "close_ms (client session close)"),
              M("teardown_secs", "s", False)]
W7_METRICS = [M("p99_us", "us", False), M("bulk_mibps", "MiB/s", True),
              M("p50_us", "us", False), M("max_us", "us", False),
              M("idle_p99_us", "us", False), M("p99_ratio", "x", False,
                                                "p99_ratio (p99 / idle p99)")]

WORKLOADS = [
    Workload("W1", BULK, False, "bulk TCP, 1 stream"),
    Workload("W1pin", BULK, True, "bulk TCP, both on CPU 0"),
    Workload("W2", BULK, False, "bulk over child stdio pipes"),
    Workload("W2pin", BULK, True, "bulk over child stdio pipes, both on CPU 0"),
    Workload("W3", [M("secs", "s", False)], False,
             "fan-out echo: 8,192 streams x 1 KiB"),
    Workload("W4", [M("rtt_per_s", "rt/s", True), M("p50_us", "us", False),
                    M("p99_us", "us", False)], False,
             "rpc: 64 streams, 64 B ping-pong"),
    Workload("W5", [M("req_per_s", "req/s", True)], False,
             "stream per request"),
    Workload("W6hold", W6_METRICS, False,
             "idle streams, server holds them"),
    Workload("W6read", W6_METRICS, False,
             "idle streams, reading started on every stream"),
    Workload("W7", W7_METRICS, False,
             "head-of-line: 64 B ping-pong beside a bulk stream, TCP"),
    Workload("W7p", W7_METRICS, False,
             "head-of-line over the child's stdio pipes"),
]


class Impl:
    """One row: an implementation (and transport/config variant) of some
    workloads.

    argv(workload, params) returns the command, or None when this
    implementation does not run that workload."""

    def __init__(self, label, workloads, argv, info=False):
        self.label = label
        self.workloads = workloads
        self.argv = argv
        self.info = info  # reported for information, not a baseline


def params_for(quick):
    """Workload sizes: WORKLOADS.md's defaults, smaller in quick mode."""
    return {
        "size": 256 * MiB if quick else GiB,
        "count": 20000 if quick else 100000,  # W5 requests
        "w4_count": 50000 if quick else 200000,
        "w3_streams": 8192,
        "w6_streams": 20000 if quick else 100000,
        "w7_count": 5000 if quick else 20000,
    }


def workload_flags(w, p):
    """The workload's flags, the same for every implementation."""
    n = w.name
    if n in ("W1", "W1pin", "W2", "W2pin"):
        return ["-size=%d" % p["size"], "-chunk=65536", "-depth=4"]
    if n == "W3":
        return ["-streams=%d" % p["w3_streams"], "-msg=1024"]
    if n == "W4":
        return ["-streams=64", "-count=%d" % p["w4_count"], "-msg=64"]
    if n == "W5":
        return ["-count=%d" % p["count"], "-streams=32", "-msg=100",
                "-resp=1024"]
    if n.startswith("W6"):
        return ["-streams=%d" % p["w6_streams"], "-mode=" + n[2:],
                "-exitwait=10"]
    if n in ("W7", "W7p"):
        return ["-count=%d" % p["w7_count"], "-msg=64", "-chunk=65536"]
    raise ValueError(n)


def yxbench_impl(binary, impl, workloads, extra=(), label=None, info=False):
    def argv(w, p):
        a = [binary, "-impl=" + impl, "-w=" + w.name] + workload_flags(w, p)
        # The one default a workload cannot run with: 100,000 inbound
        # streams need max_inbound_streams above its default of 65,536.
        if (impl == "libyamux" and w.name.startswith("W6") and
                p["w6_streams"] > 65536):
            a.append("-maxinbound=%d" % p["w6_streams"])
        return a + list(extra)
    return Impl(label or impl, workloads, argv, info)


def build_impls(binary):
    bulk = {"W1", "W1pin", "W2", "W2pin"}
    mux = {"W3", "W4", "W5", "W7", "W7p"}
    return [
        yxbench_impl(binary, "libyamux", bulk | mux | {"W6hold", "W6read"}),
        yxbench_impl(binary, "raw_uv", bulk | mux),
        yxbench_impl(binary, "raw_block", bulk),
        # What uv_spawn's UV_CREATE_PIPE and yamux_session_spawn() give:
        # AF_UNIX socketpairs instead of pipes. For information only.
        yxbench_impl(binary, "libyamux", {"W2", "W2pin"},
                     ["-transport=socketpair"], "libyamux/socketpair", True),
        yxbench_impl(binary, "raw_uv", {"W2", "W2pin"},
                     ["-transport=socketpair"], "raw_uv/socketpair", True),
        # Window auto-tuning off (max_window = the 256 KiB initial window):
        # how much of W7's latency (and of bulk speed) is the window.
        yxbench_impl(binary, "libyamux", {"W1", "W1pin", "W2pin", "W7", "W7p"},
                     ["-maxwindow=262144"], "libyamux/maxwindow256k", True),
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


# ---- rust-yamux (bench/rust/, built as build/bench/rustbench) -------------
# Same flags as gobench (GO_FLAGS); see bench/rust/README.md.

RUST_WORKLOADS = {"W1", "W1pin", "W2", "W2pin", "W3", "W4", "W5",
                  "W6hold", "W6read", "W7", "W7p"}


def rust_impls(c_binary):
    rbin = os.path.join(os.path.dirname(c_binary) or ".", "rustbench")
    if not os.path.exists(rbin):
        print("run.py: %s not found, rust-yamux skipped "
              "(make bench-rust-build)" % rbin, file=sys.stderr)
        return []
    base = yxbench_impl(rbin, "rustyamux", set())

    def argv(w, p):
        a = base.argv(w, p)
        return a[:1] + [x for x in a[1:]
                        if x.startswith(("-impl=", "-w=") + GO_FLAGS)]
    return [Impl("rustyamux", RUST_WORKLOADS, argv)]


# ---- deterministic counters (make bench-instr) ----------------------------

def callgrind_counts(argv, outdir):
    """Runs argv under callgrind (children traced); returns {role: {total,
    lib, sys}}: instructions of the whole process, instructions in libyamux
    (src/*.c), and system calls."""
    import glob
    import shutil
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
           "--collect-systime=yes",
           "--callgrind-out-file=%s/cg.%%p" % outdir] + argv
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0 or parse_result(p.stdout) is None:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr[-500:]))
    out = {}
    for f in glob.glob(outdir + "/cg.*"):
        role = "client"
        events, totals = [], []
        with open(f) as fh:
            for line in fh:
                if line.startswith("cmd:") and "-role=server" in line:
                    role = "server"
                elif line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:"):
                    totals = [int(x) for x in line.split()[1:]]
        tot = dict(zip(events, totals))
        ann = subprocess.run(["callgrind_annotate", "--inclusive=no",
                              "--threshold=100", f], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL,
                             universal_newlines=True).stdout
        lib = 0
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+) .*?(\S+):\S+ \[", line)
            if m and re.search(r"(^|/)src/[^/]+\.c$", m.group(2)):
                lib += int(m.group(1).replace(",", ""))
        out[role] = {"total": tot.get("Ir", 0), "lib": lib,
                     "sys": tot.get("sysCount", 0)}
    return out


def instr_main(binary, outdir):
    """Marginal instruction counts: the difference between a large and a
    small run, divided by the difference in work, so that process start,
    set-up and teardown cancel out."""
    shapes = [
        ("per MiB moved (W1 shape, 64 KiB writes)", "W1",
         lambda n: ["-size=%d" % (n * MiB)], 16, 64, "MiB"),
        ("per round trip (W4 shape, 64 streams x 64 B)", "W4",
         lambda n: ["-streams=64", "-msg=64", "-count=%d" % n], 10000, 40000,
         "round trip"),
    ]
    rows = []
    for title, w, flags, small, large, unit in shapes:
        base = [binary, "-impl=libyamux", "-w=" + w]
        a = callgrind_counts(base + flags(small), outdir + "/small")
        b = callgrind_counts(base + flags(large), outdir + "/large")
        for role in ("client", "server"):
            d = {k: (b[role][k] - a[role][k]) / float(large - small)
                 for k in ("total", "lib", "sys")}
            rows.append((title, role, d, " ".join(base + flags(large))))
    lines = ["libyamux instruction counts (valgrind --tool=callgrind, "
             "marginal: (large run - small run) / extra work)", "",
             "| shape | side | instructions | in libyamux (src/) | "
             "syscalls |", "|---|---|---|---|---|"]
    for title, role, d, _ in rows:
        lines.append("| %s | %s | %s | %s | %.2f |" %
                     (title, role, "{:,.0f}".format(d["total"]),
                      "{:,.0f}".format(d["lib"]), d["sys"]))
    lines.append("")
    lines.append("Commands (each run under valgrind --tool=callgrind "
                 "--trace-children=yes --collect-systime=yes; small runs: "
                 "16 MiB, 10,000 round trips):")
    for _, role, _, cmd in rows:
        if role == "client":
            lines.append("    " + cmd)
    print("\n".join(lines))
    return 0


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
        "go": sh("go version"),
        "somaxconn": sh("cat /proc/sys/net/core/somaxconn"),
        "commit": sh("git rev-parse --short HEAD") +
        (" (working tree modified)" if sh("git status --porcelain -- src include")
         else ""),
    }


def fmt_num(x):
    if x >= 1000:
        return "{:,.0f}".format(x)
    if x >= 100:
        return "%.0f" % x
    if x >= 1:
        return "%.2f" % x
    return "%.3f" % x


def as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


RAW_REFS = ("raw_uv", "raw_go")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default="build/bench/yxbench")
    ap.add_argument("--out", default=None, help="write the Markdown here")
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_ROUNDS", "0") or 0))
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    ap.add_argument("--size", type=int, default=0, help="bulk bytes")
    ap.add_argument("--count", type=int, default=0, help="W5 requests")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                    help="comma-separated workloads (W6: W6hold and W6read)")
    ap.add_argument("--impls", default=os.environ.get("BENCH_IMPLS", ""),
                    help="comma-separated implementation labels")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds per run")
    ap.add_argument("--instr", metavar="DIR", default="",
                    help="print callgrind instruction counts (work in DIR)")
    args = ap.parse_args()
    if args.instr:
        return instr_main(args.bin, args.instr)

    rounds = args.rounds or (1 if args.quick else 5)
    params = params_for(args.quick)
    if args.size:
        params["size"] = args.size
    if args.count:
        params["count"] = args.count
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    workloads = [w for w in WORKLOADS
                 if not only or w.name in only or
                 (w.name.startswith("W6") and "W6" in only)]
    impls = (build_impls(args.bin) + go_impls(args.bin) +
             rust_impls(args.bin))
    want = [x.strip() for x in args.impls.split(",") if x.strip()]
    if want:
        impls = [i for i in impls if i.label in want]

    load_before = os.getloadavg()
    t0 = datetime.datetime.now()
    # results[(workload, label)] = [RESULT dicts, round order]
    results = {}
    commands = {}
    versions = {}
    failures = []
    for r in range(rounds):
        for w in workloads:
            row = [i for i in impls if w.name in i.workloads]
            if not row:
                continue
            k = r % len(row)
            for impl in row[k:] + row[:k]:
                argv = impl.argv(w, params)
                if argv is None:
                    continue
                res, err, full = run_one(argv, w.pinned, args.timeout)
                cmd = " ".join(shlex.quote(a) for a in full)
                commands[(w.name, impl.label)] = cmd
                if err or as_float(res.get(w.metric)) is None:
                    err = err or "no %s in %s" % (w.metric, res)
                    failures.append("round %d %s %s: %s" %
                                    (r + 1, w.name, impl.label, err))
                    print("FAILED %s %s: %s" % (w.name, impl.label, err),
                          file=sys.stderr)
                    continue
                results.setdefault((w.name, impl.label), []).append(res)
                ver = " ".join("%s=%s" % (k2, res[k2])
                               for k2 in ("lib", "go", "config") if k2 in res)
                if ver:
                    versions[impl.label] = ver
                extra = ""
                for m in w.metrics[1:3]:
                    if m.key in res:
                        extra += "  %s=%s" % (m.key, res[m.key])
                print("round %d/%d  %-6s %-24s %12s %s%s" %
                      (r + 1, rounds, w.name, impl.label,
                       fmt_num(float(res[w.metric])), w.unit, extra),
                      file=sys.stderr)
                sys.stderr.flush()

    info = machine_info()
    info["load"] = "load average %.2f before, %.2f after (1 min; other " \
        "work on the machine shows here)" % (load_before[0], os.getloadavg()[0])
    elapsed = (datetime.datetime.now() - t0).total_seconds()
    text = report(args, rounds, params, workloads, impls, results, commands,
                  versions, failures, info, elapsed)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print("wrote " + args.out, file=sys.stderr)
    return 1 if failures else 0


def medians(workloads, impls, results):
    """med[(workload, label, key)] = (median, min, max, n, non-numeric)."""
    med = {}
    for w in workloads:
        for impl in impls:
            runs = results.get((w.name, impl.label))
            if not runs:
                continue
            for m in w.metrics:
                raw = [r.get(m.key) for r in runs if m.key in r]
                vals = [as_float(v) for v in raw if as_float(v) is not None]
                odd = [v for v in raw if as_float(v) is None]
                if vals or odd:
                    med[(w.name, impl.label, m.key)] = (
                        statistics.median(vals) if vals else None,
                        min(vals) if vals else None,
                        max(vals) if vals else None, len(vals), odd)
    return med


def goals(med, impls):
    """Issue 5's goals, computed from this run's medians."""
    peers = [i.label for i in impls
             if i.label not in ("libyamux",) + RAW_REFS + ("raw_block",)
             and not i.info]

    def g(w, label, key):
        v = med.get((w, label, key))
        return v[0] if v else None

    def best(w, key, up):
        vals = [(g(w, p, key), p) for p in peers if g(w, p, key) is not None]
        if not vals:
            return None, None
        return (max if up else min)(vals)

    rows = []

    def row(name, have, target, ok):
        rows.append("| %s | %s | %s | %s |" %
                    (name, have, target,
                     "-" if ok is None else ("met" if ok else "NOT met")))

    y = g("W1pin", "libyamux", "mibps")
    b, bp = best("W1pin", "mibps", True)
    if y and b:
        row("W1pin bulk TCP", "%.2fx %s (%s vs %s MiB/s)" %
            (y / b, bp, fmt_num(y), fmt_num(b)), ">= 1.2x best peer",
            y / b >= 1.2)
    y, r = g("W2pin", "libyamux", "mibps"), g("W2pin", "raw_uv", "mibps")
    if y and r:
        row("W2pin bulk stdio pipes", "%.2fx raw_uv (%s vs %s MiB/s)" %
            (y / r, fmt_num(y), fmt_num(r)), ">= 0.8x raw libuv", y / r >= 0.8)
    y = g("W3", "libyamux", "secs")
    b, bp = best("W3", "secs", False)
    if y and b:
        row("W3 fan-out echo", "%.2fx %s (%.3f vs %.3f s)" % (y / b, bp, y, b),
            "<= 0.4x best peer", y / b <= 0.4)
    y, r = g("W4", "libyamux", "rtt_per_s"), g("W4", "raw_uv", "rtt_per_s")
    yp, rp = g("W4", "libyamux", "p99_us"), g("W4", "raw_uv", "p99_us")
    if y and r and yp and rp:
        row("W4 rpc", "%.2fx raw_uv rt/s; p99 %.0f vs %.0f us" %
            (y / r, yp, rp), ">= 1.0x raw, p99 <= raw's",
            y / r >= 1.0 and yp <= rp)
    y, r = g("W5", "libyamux", "req_per_s"), g("W5", "raw_uv", "req_per_s")
    if y and r:
        row("W5 stream per request", "%.2fx raw_uv" % (y / r), ">= 2x raw",
            y / r >= 2)
    for w in ("W6read", "W6hold"):
        s = g(w, "libyamux", "server_rss_per_stream")
        c = g(w, "libyamux", "client_rss_per_stream")
        if s is not None and c is not None:
            row("%s bytes per stream" % w,
                "server %.0f, client %.0f B (RSS)" % (s, c),
                "<= 256 B each side" + (" (goal is read mode)"
                                        if w == "W6hold" else ""),
                max(s, c) <= 256 if w == "W6read" else None)
    yp, yb = g("W7", "libyamux", "p99_us"), g("W7", "libyamux", "bulk_mibps")
    vals = [(g("W7", p, "p99_us"), p) for p in peers
            if g("W7", p, "p99_us") is not None]
    if yp and vals:
        bp99, bp = min(vals)
        bb = g("W7", bp, "bulk_mibps")
        row("W7 p99 under bulk", "p99 %.2fx %s (%.0f vs %.0f us), bulk %.2fx" %
            (yp / bp99, bp, yp, bp99, yb / bb if bb else 0),
            "p99 <= 0.75x best peer, bulk >= 1.2x",
            yp / bp99 <= 0.75 and bb and yb / bb >= 1.2)
    elif yp:
        row("W7 p99 under bulk", "%.0f us, bulk %s MiB/s (no peer in run)" %
            (yp, fmt_num(yb or 0)), "p99 <= 0.75x best peer", None)
    for w in ("W6read", "W6hold"):
        c = g(w, "libyamux", "close_ms")
        if c is not None:
            row("close a session with %s streams (%s)" % ("its", w),
                "%.1f ms (client session close)" % c, "< 100 ms", c < 100)
    return rows


def report(args, rounds, params, workloads, impls, results, commands,
           versions, failures, info, elapsed):
    med = medians(workloads, impls, results)
    lines = []
    mode = "quick" if args.quick else "full"
    lines.append("# libyamux benchmark: W1-W7 against the peers and the raw "
                 "transport")
    lines.append("")
    lines.append("Generated by `make bench` (bench/run.py). Mode: %s; %d "
                 "round(s), implementation order rotating per round; %.0f s "
                 "in all." % (mode, rounds, elapsed))
    lines.append("Sizes: bulk %d MiB in 64 KiB writes (C: depth 4); W3 %d "
                 "streams x 1 KiB; W4 64 streams, %d round trips of 64 B; W5 "
                 "%d requests (32 in flight, 100 B / 1024 B); W6 %d streams; "
                 "W7 %d round trips of 64 B after 1 s of bulk." %
                 (params["size"] // MiB, params["w3_streams"],
                  params["w4_count"], params["count"], params["w6_streams"],
                  params["w7_count"]))
    lines.append("Workload definitions: ../shared/bench/WORKLOADS.md; how to "
                 "read this: bench/README.md. Pinned variants run both "
                 "processes under `taskset -c 0`.")
    lines.append("")
    lines.append("Machine: %s. Compiler: %s. libuv %s. %s. "
                 "net.core.somaxconn %s. libyamux commit %s. %s; %s." %
                 (info["host"], info["compiler"], info["libuv"],
                  info["go"] or "no Go", info["somaxconn"], info["commit"],
                  info["date"], info["load"]))
    if versions:
        lines.append("")
        lines.append("Versions and configuration reported by the runs:")
        lines.append("")
        for label in sorted(versions):
            lines.append("- %s: %s" % (label, versions[label]))
    lines.append("")
    lines.append("Ratios are of medians in this run: `vs libyamux` = row / "
                 "libyamux, `vs raw` = row / raw_uv (raw_go if raw_uv did not "
                 "run). ↑ higher is better, ↓ lower is better. `(info)` rows "
                 "are variants reported for information.")
    goal_rows = goals(med, impls)
    if goal_rows:
        lines.append("")
        lines.append("## Goals of issue 5 (this run)")
        lines.append("")
        lines.append("| goal | measured | target | |")
        lines.append("|---|---|---|---|")
        lines.extend(goal_rows)
    lines.append("")
    lines.append("## Results")
    for w in workloads:
        labels = [i for i in impls if w.name in i.workloads and
                  (w.name, i.label) in results]
        missing = [i for i in impls if w.name in i.workloads and
                   (w.name, i.label) not in results and
                   (w.name, i.label) in commands]
        if not labels and not missing:
            continue
        lines.append("")
        lines.append("### %s: %s" % (w.name, w.title))
        lines.append("")
        lines.append("| metric | impl | median (min-max) | vs libyamux | "
                     "vs raw |")
        lines.append("|---|---|---|---|---|")
        for m in w.metrics:
            ref = med.get((w.name, "libyamux", m.key))
            raw = None
            for rl in RAW_REFS:
                if med.get((w.name, rl, m.key)):
                    raw = med[(w.name, rl, m.key)]
                    break
            for impl in labels:
                v = med.get((w.name, impl.label, m.key))
                if v is None:
                    continue
                name = impl.label + (" (info)" if impl.info else "")
                mcol = "%s %s, %s" % (m.title, "↑" if m.higher_is_better
                                      else "↓", m.unit)
                if v[0] is None:
                    lines.append("| %s | %s | %s | | |" %
                                 (mcol, name, ", ".join(v[4])))
                    continue
                cell = "%s (%s-%s)" % (fmt_num(v[0]), fmt_num(v[1]),
                                       fmt_num(v[2]))
                if v[4]:
                    cell += "; also " + ", ".join(v[4])
                ry = "%.2f" % (v[0] / ref[0]) if ref and ref[0] else "-"
                rr = "%.2f" % (v[0] / raw[0]) if raw and raw[0] else "-"
                lines.append("| %s | %s | %s | %s | %s |" %
                             (mcol, name, cell, ry, rr))
        for impl in missing:
            lines.append("| %s | %s | failed | | |" % (w.metric, impl.label))
    lines.append("")
    lines.append("## Every run, in round order")
    lines.append("")
    for w in workloads:
        for impl in impls:
            runs = results.get((w.name, impl.label))
            if runs:
                lines.append("- %s %s %s: %s" % (
                    w.name, impl.label, w.metric,
                    ", ".join(fmt_num(float(r[w.metric])) for r in runs)))
    lines.append("")
    lines.append("## Commands")
    lines.append("")
    lines.append("One run each; the driver was `%s`." %
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
        lines.append("## Failed runs")
        lines.append("")
        for f in failures:
            lines.append("- " + f)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
