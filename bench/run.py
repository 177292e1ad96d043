#!/usr/bin/env python3
"""Benchmark driver for the workloads W1-W9 (bench/README.md).

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
                      round trips, W9 2,000 sessions and 50,000 round trips
  BENCH_ONLY=W1,W4    only these workloads (W6 selects W6hold and W6read)
  BENCH_IMPLS=a,b     only these implementation labels (a label ending in
                      '/...' variants are matched by their full label)

Each run is one process pair whose client prints one RESULT line (see
bench/yxbench.c and bench/go/README.md); a failed run is reported and left
out of the medians. The W8 family runs through a fresh toxiproxy per run
(class Toxiproxy; --toxiproxy names the server binary). Ratios in the report
are medians of per-round ratios of same-round pairs.

    python3 bench/run.py --smoke      W8 smoke test for CI (make bench-smoke)
    python3 bench/run.py --instr DIR  callgrind counts (make bench-instr)

To add an implementation, add an Impl (label, workloads, argv function) to
build_impls() or next to go_impls(); the tables and ratios pick it up.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

GiB = 1 << 30
MiB = 1 << 20


class Metric:
    def __init__(self, key, unit, higher_is_better, title=None):
        self.key = key  # key of the RESULT line
        self.unit = unit
        self.higher_is_better = higher_is_better
        self.title = title or key


class Link:
    """An emulated link: toxiproxy toxics on both directions."""

    def __init__(self, latency_ms, bandwidth_kbps=None):
        self.latency_ms = latency_ms  # each way
        self.bandwidth_kbps = bandwidth_kbps  # KB/s each way, or None

    def rtt_ms(self):
        return 2 * self.latency_ms

    def toxics(self):
        out = []
        for d in ("upstream", "downstream"):
            out.append({"name": "latency_" + d, "type": "latency",
                        "stream": d, "toxicity": 1.0,
                        "attributes": {"latency": self.latency_ms,
                                       "jitter": 0}})
            if self.bandwidth_kbps:
                out.append({"name": "bandwidth_" + d, "type": "bandwidth",
                            "stream": d, "toxicity": 1.0,
                            "attributes": {"rate": self.bandwidth_kbps}})
        return out

    def describe(self):
        d = "toxiproxy, latency %d ms each way (RTT %d ms)" % (
            self.latency_ms, self.rtt_ms())
        if self.bandwidth_kbps:
            d += ", bandwidth %s KB/s each way" % "{:,}".format(
                self.bandwidth_kbps)
        return d


class Workload:
    def __init__(self, name, metrics, pinned, title, link=None):
        self.name = name
        self.metrics = metrics  # the first one is the figure of merit
        self.metric = metrics[0].key
        self.unit = metrics[0].unit
        self.pinned = pinned
        self.title = title
        self.link = link  # W8: run through a fresh toxiproxy


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

W8_METRICS = [M("mibps", "MiB/s", True),
              M("steady_mibps", "MiB/s", True),
              M("ramp_secs", "s", False),
              M("rx_rss_mib", "MiB", False, "rx_rss_mib (receiver RSS growth)")]
W8LAT_METRICS = [M("p99_ms", "ms", False), M("bulk_mibps", "MiB/s", True),
                 M("p50_ms", "ms", False), M("idle_p99_ms", "ms", False),
                 M("p99_ratio", "x", False, "p99_ratio (p99 / idle p99)")]
W9_METRICS = [M("server_rss_per_session", "B/session", False),
              M("idle_cpu_pct", "% of a core", False,
                "idle_cpu_pct (server, keepalive)"),
              M("rtt_per_s", "rt/s", True), M("p99_us", "us", False),
              M("connect_secs", "s", False),
              M("client_rss_per_session", "B/session", False),
              M("client_idle_cpu_pct", "% of a core", False)]
WAN = Link(25)
WAN100 = Link(50)
WANLAT = Link(25, 12500)

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
    Workload("W8", W8_METRICS, False,
             "bulk over an emulated WAN link (RTT 50 ms), 1 stream", WAN),
    Workload("W8x8", W8_METRICS, False,
             "W8 with 8 streams sharing the bytes", WAN),
    Workload("W8r100", W8_METRICS, False, "W8 at RTT 100 ms", WAN100),
    Workload("W8m", [M("rx_rss_mib", "MiB", False,
                       "rx_rss_mib (receiver RSS growth)"),
                     M("mibps", "MiB/s", True)], False,
             "1,000 streams all sending over W8's link: receiver memory",
             WAN),
    Workload("W8lat", W8LAT_METRICS, False,
             "64 B ping-pong beside a bulk stream on a 100 Mbit/s, "
             "RTT 50 ms link", WANLAT),
    Workload("W9", W9_METRICS, False,
             "many sessions: idle with a 1 s keepalive, then 64 B round "
             "trips on 1,000 of them"),
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
        "w8_size": 64 * MiB if quick else 256 * MiB,
        "w8m_size": 250 * MiB if quick else 1000 * MiB,
        "w8lat_count": 100 if quick else 200,
        "w8lat_warmup": 2000 if quick else 5000,
        "w9_sessions": 2000 if quick else 10000,
        "w9_count": 50000 if quick else 200000,
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
    if n in ("W8", "W8x8", "W8r100", "W8m"):
        streams = {"W8x8": 8, "W8m": 1000}.get(n, 1)
        size = p["w8m_size"] if n == "W8m" else p["w8_size"]
        return ["-size=%d" % size, "-streams=%d" % streams, "-chunk=65536",
                "-depth=4"]
    if n == "W8lat":
        return ["-count=%d" % p["w8lat_count"], "-msg=64", "-chunk=65536",
                "-warmup=%d" % p["w8lat_warmup"]]
    if n == "W9":
        return ["-sessions=%d" % p["w9_sessions"], "-busy=1000",
                "-count=%d" % p["w9_count"], "-msg=64", "-inflight=256",
                "-keepalive=1000", "-idle=10000"]
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


# The W8 family: a multiplexer runs all of it; the raw transport only the
# bulk transfer (one connection: W8m has nothing to measure, and in W8lat
# two connections would not share the bottleneck).
W8_ALL = {"W8", "W8x8", "W8r100", "W8m", "W8lat"}
W8_RAW = {"W8", "W8x8", "W8r100"}


def build_impls(binary):
    bulk = {"W1", "W1pin", "W2", "W2pin"}
    mux = {"W3", "W4", "W5", "W7", "W7p"}
    return [
        yxbench_impl(binary, "libyamux",
                     bulk | mux | {"W6hold", "W6read", "W9"} | W8_ALL),
        yxbench_impl(binary, "raw_uv", bulk | mux | W8_RAW),
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
        # The latency stream at urgency 0 (yamux_stream_set_priority), the
        # bulk stream at the default: what priorities add to the defaults.
        yxbench_impl(binary, "libyamux", {"W7", "W7p", "W8lat"},
                     ["-prio=1"], "libyamux/prio", True),
    ]


# ---- the peers: Go (bench/go/, build/bench/gobench) and rust-yamux
# (bench/rust/, build/bench/rustbench) ------------------------------------
# They get exactly the workload flags the C program gets (yxbench_impl's
# argv), limited to the flags they know (PEER_FLAGS); see bench/go/README.md
# and bench/rust/README.md.

PEER_FLAGS = ("-impl=", "-w=", "-size=", "-chunk=", "-streams=", "-count=",
              "-msg=", "-resp=", "-mode=", "-exitwait=", "-timeout=",
              "-warmup=", "-proxy=", "-maxwindow=", "-sessions=", "-busy=",
              "-inflight=", "-keepalive=", "-idle=")
MUX_WORKLOADS = ({"W1", "W1pin", "W2", "W2pin", "W3", "W4", "W5", "W6hold",
                  "W6read", "W7", "W7p"} | W8_ALL)
RAW_GO_WORKLOADS = {"W1", "W1pin", "W2", "W2pin", "W3", "W4", "W5", "W7",
                    "W7p"} | W8_RAW


def peer_binary(c_binary, name, build):
    path = os.path.join(os.path.dirname(c_binary) or ".", name)
    if not os.path.exists(path):
        print("run.py: %s not found, skipped (make %s)" % (path, build),
              file=sys.stderr)
        return None
    return path


def peer_impl(binary, impl, workloads, extra=(), label=None, info=False):
    base = yxbench_impl(binary, impl, set(), extra)

    def argv(w, p):
        a = base.argv(w, p)
        return a[:1] + [x for x in a[1:] if x.startswith(PEER_FLAGS)]
    return Impl(label or impl, workloads, argv, info)


def go_impls(c_binary):
    gobin = peer_binary(c_binary, "gobench", "bench-go-build")
    if gobin is None:
        return []
    # W9 compares the yamux implementations (smux is another protocol).
    impls = [peer_impl(gobin, impl, MUX_WORKLOADS | {"W9"})
             for impl in ("hashicorp", "goyamux")]
    impls.append(peer_impl(gobin, "smux", MUX_WORKLOADS))
    impls.append(peer_impl(gobin, "raw_go", RAW_GO_WORKLOADS))
    # What frp and libp2p do on long links: hashicorp's window raised to
    # 16 MiB (MaxStreamWindowSize). For information: the goals compare
    # defaults.
    impls.append(peer_impl(gobin, "hashicorp", W8_ALL - {"W8m"},
                           ["-maxwindow=16777216"], "hashicorp/win16m", True))
    return impls


def rust_impls(c_binary):
    rbin = peer_binary(c_binary, "rustbench", "bench-rust-build")
    if rbin is None:
        return []
    return [peer_impl(rbin, "rustyamux", MUX_WORKLOADS | {"W9"})]


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
    """Marginal instruction counts, for libyamux and for raw libuv measured
    the same way: the difference between a large and a small run, divided
    by the difference in work, so that process start, set-up and teardown
    cancel out. The ratios libyamux / raw_uv are the cost of multiplexing
    per MiB and per round trip."""
    shapes = [
        ("per MiB moved (W1 shape, 64 KiB writes)", "W1",
         lambda n: ["-size=%d" % (n * MiB)], 16, 64, "MiB"),
        ("per round trip (W4 shape, 64 streams x 64 B)", "W4",
         lambda n: ["-streams=64", "-msg=64", "-count=%d" % n], 10000, 40000,
         "round trip"),
    ]
    rows = {}  # (shape title, impl, role) -> {total, lib, sys}
    cmds = []
    for title, w, flags, small, large, unit in shapes:
        for impl in ("libyamux", "raw_uv"):
            base = [binary, "-impl=" + impl, "-w=" + w]
            a = callgrind_counts(base + flags(small), outdir + "/small")
            b = callgrind_counts(base + flags(large), outdir + "/large")
            for role in ("client", "server"):
                rows[(title, impl, role)] = {
                    k: (b[role][k] - a[role][k]) / float(large - small)
                    for k in ("total", "lib", "sys")}
            cmds.append(" ".join(base + flags(large)))
    lines = ["Instruction counts (valgrind --tool=callgrind, marginal: "
             "(large run - small run) / extra work), libyamux and raw libuv "
             "(raw_uv: the same workload on plain TCP connections) by the "
             "same method", "",
             "| shape | side | impl | instructions | in libyamux (src/) | "
             "syscalls |", "|---|---|---|---|---|---|"]
    for (title, impl, role), d in rows.items():
        lines.append("| %s | %s | %s | %s | %s | %.2f |" %
                     (title, role, impl, "{:,.0f}".format(d["total"]),
                      "{:,.0f}".format(d["lib"]), d["sys"]))
    lines += ["", "libyamux / raw_uv (issue 11's goal, W1 shape, client: "
              "instructions <= 1.5x, syscalls <= 1.2x):", "",
              "| shape | side | instructions | syscalls |", "|---|---|---|---|"]
    for title, _, _, _, _, _ in shapes:
        for role in ("client", "server"):
            y, r = rows[(title, "libyamux", role)], rows[(title, "raw_uv",
                                                          role)]
            lines.append("| %s | %s | %s | %s |" % (
                title, role,
                "%.2fx" % (y["total"] / r["total"]) if r["total"] else "-",
                "%.2fx" % (y["sys"] / r["sys"]) if r["sys"] else "-"))
    lines.append("")
    lines.append("Commands (each run under valgrind --tool=callgrind "
                 "--trace-children=yes --collect-systime=yes; small runs: "
                 "16 MiB, 10,000 round trips):")
    for cmd in cmds:
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


# ---- the emulated link (W8): one fresh toxiproxy per run -----------------

class LinkError(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Toxiproxy:
    """A toxiproxy server on a free 127.0.0.1 port with one proxy, PROXY,
    and the link's toxics, checked (through the API, then by timing a
    round trip through the proxy) before the run and again after it. The
    benchmark client points the proxy at its server child (-proxy)."""

    PROXY = "w8"

    def __init__(self, binary, link):
        self.binary = binary
        self.link = link
        self.proc = None
        self.port = None
        self.rtt_ms = None

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), data=data,
            method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        try:
            return json.loads(text)
        except ValueError:
            return text  # /version is plain text

    def start(self):
        if not os.path.exists(self.binary):
            raise LinkError("%s not found (make toxiproxy)" % self.binary)
        for _ in range(5):  # the free port may be taken meanwhile
            self.port = free_port()
            self.proc = subprocess.Popen(
                [self.binary, "-host", "127.0.0.1", "-port", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0 = time.time()
            while self.proc.poll() is None and time.time() - t0 < 10:
                try:
                    self.api("GET", "/version")
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                self.proc.kill()
                self.proc.wait()
                continue
            break
        else:
            raise LinkError("toxiproxy did not start")
        # The upstream is a placeholder until the client points it at its
        # server (first at the probe's echo server below).
        self.api("POST", "/proxies", {"name": self.PROXY,
                                      "listen": "127.0.0.1:0",
                                      "upstream": "127.0.0.1:9",
                                      "enabled": True})
        for t in self.link.toxics():
            self.api("POST", "/proxies/%s/toxics" % self.PROXY, t)
        self.check_toxics()
        self.rtt_ms = self.probe()

    def check_toxics(self):
        have = self.api("GET", "/proxies/%s/toxics" % self.PROXY)
        key = (lambda t: (t["type"], t["stream"],
                          json.dumps(t["attributes"], sort_keys=True)))
        want = sorted(key(t) for t in self.link.toxics())
        if sorted(key(t) for t in have) != want:
            raise LinkError("toxics are %s, want %s" % (have, want))

    def probe(self):
        """The smallest of 3 one-byte round trips through the proxy to an
        echo server, in ms: must be the link's RTT."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def echo():
            c, _ = srv.accept()
            while True:
                b = c.recv(1)
                if not b:
                    break
                c.sendall(b)
            c.close()
        th = threading.Thread(target=echo, daemon=True)
        th.start()
        p = self.api("POST", "/proxies/" + self.PROXY,
                     {"upstream": "127.0.0.1:%d" % srv.getsockname()[1]})
        host, port = p["listen"].rsplit(":", 1)
        c = socket.create_connection((host, int(port)), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        best = None
        for _ in range(3):
            t0 = time.monotonic()
            c.sendall(b"p")
            if c.recv(1) != b"p":
                raise LinkError("probe: no echo through the proxy")
            ms = (time.monotonic() - t0) * 1e3
            best = ms if best is None else min(best, ms)
        c.close()
        th.join(5)
        srv.close()
        check_rtt("probe through the proxy", best, self.link)
        return best

    def stop(self, check=True):
        try:
            if check and self.proc is not None and self.proc.poll() is None:
                self.check_toxics()  # still in place after the run
        finally:
            if self.proc is not None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


def check_rtt(what, ms, link):
    """A measured round trip must be the link's: at least 0.9x its RTT and
    at most 1.5x (plus 5 ms of scheduling)."""
    want = link.rtt_ms()
    if not (0.9 * want <= ms <= 1.5 * want + 5):
        raise LinkError("%s took %.1f ms, the link's RTT is %d ms: the "
                        "toxics are not in place" % (what, ms, want))


def run_one(argv, pinned, timeout, link=None, toxiproxy_bin=None):
    if pinned:
        argv = ["taskset", "-c", "0"] + argv
    proxy = None
    if link is not None:
        proxy = Toxiproxy(toxiproxy_bin, link)
        try:
            proxy.start()
        except (LinkError, OSError) as e:
            proxy.stop(check=False)
            return None, "link: %s" % e, argv
        argv = argv + ["-proxy=127.0.0.1:%d/%s" % (proxy.port, proxy.PROXY)]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, universal_newlines=True)
    except subprocess.TimeoutExpired:
        return None, "timeout after %ds" % timeout, argv
    finally:
        if proxy is not None:
            try:
                proxy.stop()
            except (LinkError, OSError) as e:
                return None, "link after the run: %s" % e, argv
    res = parse_result(p.stdout)
    if p.returncode != 0 or res is None:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return None, "exit %d: %s" % (p.returncode, err), argv
    if proxy is not None:
        res["link_rtt_ms"] = "%.1f" % proxy.rtt_ms
        if "rtt_ms" in res:  # the raw baseline's own round trip
            try:
                check_rtt("the raw baseline's round trip",
                          float(res["rtt_ms"]), link)
            except LinkError as e:
                return None, "link: %s" % e, argv
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
    ap.add_argument("--toxiproxy", default="",
                    help="toxiproxy-server for the W8 link (default: "
                    "toxiproxy/toxiproxy-server beside the bench directory "
                    "of --bin)")
    ap.add_argument("--instr", metavar="DIR", default="",
                    help="print callgrind instruction counts (work in DIR)")
    ap.add_argument("--smoke", action="store_true",
                    help="W8 smoke test for CI: one run each of libyamux "
                    "and raw_uv, 8 MiB, through toxiproxy; fails on a "
                    "broken workload or link")
    args = ap.parse_args()
    if args.instr:
        return instr_main(args.bin, args.instr)

    if not args.toxiproxy:
        args.toxiproxy = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(args.bin))),
            "toxiproxy", "toxiproxy-server")
    if args.smoke:
        args.quick, args.rounds = True, 1
        args.only = args.only or "W8"
        args.impls = args.impls or "libyamux,raw_uv"
    rounds = args.rounds or (1 if args.quick else 5)
    params = params_for(args.quick)
    if args.smoke:
        params["w8_size"] = 8 * MiB
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
    configs = {}  # (workload, label) -> the run's non-default settings
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
                res, err, full = run_one(argv, w.pinned, args.timeout,
                                         w.link, args.toxiproxy)
                cmd = " ".join(shlex.quote(a) for a in full)
                commands[(w.name, impl.label)] = cmd
                if err is None:
                    lost = [m.key for m in w.metrics if m.key not in res]
                    if as_float(res.get(w.metric)) is None or lost:
                        err = "no %s in %s" % (
                            ", ".join(lost) or w.metric, res)
                if err:
                    failures.append("round %d %s %s: %s" %
                                    (r + 1, w.name, impl.label, err))
                    print("FAILED %s %s: %s" % (w.name, impl.label, err),
                          file=sys.stderr)
                    continue
                res["_round"] = r
                results.setdefault((w.name, impl.label), []).append(res)
                ver = " ".join("%s=%s" % (k2, res[k2])
                               for k2 in ("lib", "go", "runtime") if k2 in res)
                if ver:
                    versions[impl.label] = ver
                if config_of(res):
                    configs[(w.name, impl.label)] = config_of(res)
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
                  versions, configs, failures, info, elapsed)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print("wrote " + args.out, file=sys.stderr)
    return 1 if failures else 0


# ---- statistics: medians, per-round ratios, spread --------------------------

WIDE = 1.5  # max/min over the rounds above this: the run is flagged
# What the C program prints for a setting it changed from the defaults.
C_CONFIG_KEYS = ("max_frame_size", "initial_window", "max_inbound_streams",
                 "max_window", "keepalive_interval_ms")


def config_of(res):
    """A run's non-default settings ('' for library defaults)."""
    parts = ["%s=%s" % (k, res[k]) for k in C_CONFIG_KEYS if k in res]
    if res.get("config", "default") != "default":
        parts.append(res["config"])
    return ", ".join(parts)


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


def wide(lo, hi):
    return lo is not None and lo > 0 and hi / lo > WIDE


def pair_ratios(results, w, a, b, key):
    """a / b for every round in which both ran: (median, min, max, n), or
    None. Same-round pairs, so that a slow round moves both sides."""
    va = {r["_round"]: as_float(r.get(key))
          for r in results.get((w, a), [])}
    vb = {r["_round"]: as_float(r.get(key))
          for r in results.get((w, b), [])}
    rs = [va[k] / vb[k] for k in va if k in vb and va[k] is not None and
          vb[k] not in (None, 0)]
    if not rs:
        return None
    return statistics.median(rs), min(rs), max(rs), len(rs)


def fmt_ratio(rr, unit="x"):
    """'0.85x (0.80-0.90)'; one round: '0.85x (1 round)'."""
    if rr is None:
        return "-"
    m, lo, hi, n = rr
    if n == 1:
        return "%.2f%s (1 round)" % (m, unit)
    flag = " ‼" if wide(lo, hi) else ""
    return "%.2f%s (%.2f-%.2f)%s" % (m, unit, lo, hi, flag)


class Goals:
    """Goals computed from this run: every ratio is the median of the
    per-round ratios of same-round pairs (range in brackets); a verdict from
    fewer than 3 rounds is marked as such."""

    def __init__(self, results, impls, rounds):
        self.results = results
        self.med = medians([Workload(w, [M(k, "", True) for k in keys],
                                     False, "")
                            for w, keys in self._keys(results).items()],
                           impls, results)
        self.peers = [i.label for i in impls
                      if i.label not in ("libyamux",) + RAW_REFS +
                      ("raw_block",) and not i.info]
        self.rounds = rounds
        self.rows = []

    @staticmethod
    def _keys(results):
        keys = {}
        for (w, _), runs in results.items():
            for r in runs:
                keys.setdefault(w, set()).update(
                    k for k in r if as_float(r[k]) is not None)
        return keys

    def g(self, w, label, key):
        v = self.med.get((w, label, key))
        return v[0] if v else None

    def ratio(self, w, a, b, key):
        return pair_ratios(self.results, w, a, b, key)

    def raw(self, w, key):
        for rl in RAW_REFS:
            if self.g(w, rl, key) is not None:
                return rl
        return None

    def best(self, w, key, up, peers=None):
        vals = [(self.g(w, p, key), p) for p in (peers or self.peers)
                if self.g(w, p, key) is not None]
        if not vals:
            return None
        return (max if up else min)(vals)[1]

    def row(self, name, have, target, ok):
        verdict = "-" if ok is None else ("met" if ok else "NOT met")
        if ok is not None and self.rounds < 3:
            verdict += " (%d round%s)" % (self.rounds,
                                          "" if self.rounds == 1 else "s")
        self.rows.append("| %s | %s | %s | %s |" % (name, have, target,
                                                    verdict))

    def vs(self, w, other, key, unit):
        """'0.85x raw_uv (0.80-0.90) (5.2 vs 6.1 MiB/s)' and the median."""
        rr = self.ratio(w, "libyamux", other, key)
        if rr is None:
            return None, None
        return rr[0], "%s %s; %s vs %s %s" % (
            fmt_ratio(rr), other, fmt_num(self.g(w, "libyamux", key)),
            fmt_num(self.g(w, other, key)), unit)

    def issue5(self):
        bp = self.best("W1pin", "mibps", True)
        if bp:
            r, txt = self.vs("W1pin", bp, "mibps", "MiB/s")
            if txt:
                self.row("W1pin bulk TCP", txt, ">= 1.2x best peer",
                         r >= 1.2)
        r, txt = self.vs("W2pin", "raw_uv", "mibps", "MiB/s")
        if txt:
            self.row("W2pin bulk stdio pipes", txt, ">= 0.8x raw libuv",
                     r >= 0.8)
        bp = self.best("W3", "secs", False)
        if bp:
            r, txt = self.vs("W3", bp, "secs", "s")
            if txt:
                self.row("W3 fan-out echo", txt, "<= 0.4x best peer",
                         r <= 0.4)
        r, txt = self.vs("W4", "raw_uv", "rtt_per_s", "rt/s")
        p, ptxt = self.vs("W4", "raw_uv", "p99_us", "us")
        if txt and ptxt:
            self.row("W4 rpc", "rt/s %s; p99 %s" % (txt, ptxt),
                     ">= 1.0x raw, p99 <= raw's", r >= 1.0 and p <= 1.0)
        r, txt = self.vs("W5", "raw_uv", "req_per_s", "req/s")
        if txt:
            self.row("W5 stream per request", txt, ">= 2x raw", r >= 2)
        for w in ("W6read", "W6hold"):
            sv = self.g(w, "libyamux", "server_rss_per_stream")
            cv = self.g(w, "libyamux", "client_rss_per_stream")
            if sv is not None and cv is not None:
                self.row("%s bytes per stream" % w,
                         "server %.0f, client %.0f B (RSS, medians)" %
                         (sv, cv), "<= 256 B each side" +
                         (" (goal is read mode)" if w == "W6hold" else ""),
                         max(sv, cv) <= 256 if w == "W6read" else None)
        self.hol("W7", 0.75, 1.2, "us")
        for w in ("W6read", "W6hold"):
            c = self.g(w, "libyamux", "close_ms")
            if c is not None:
                self.row("close a session with its streams (%s)" % w,
                         "%.1f ms (client session close, median)" % c,
                         "< 100 ms", c < 100)

    def hol(self, w, p99_target, bulk_target, unit):
        """p99 under bulk against the peer with the best p99, and the bulk
        rate against that peer's."""
        bp = self.best(w, "p99_" + unit, False)
        if self.g(w, "libyamux", "p99_" + unit) is None:
            return
        if bp is None:
            self.row("%s p99 under bulk" % w, "%s %s (no peer in the run)" %
                     (fmt_num(self.g(w, "libyamux", "p99_" + unit)), unit),
                     "p99 <= %.2gx best peer" % p99_target, None)
            return
        p, ptxt = self.vs(w, bp, "p99_" + unit, unit)
        b, btxt = self.vs(w, bp, "bulk_mibps", "MiB/s")
        if ptxt and btxt:
            self.row("%s p99 under bulk" % w, "p99 %s; bulk %s" %
                     (ptxt, btxt), "p99 <= %.2gx best peer, bulk >= %.2gx" %
                     (p99_target, bulk_target),
                     p <= p99_target and b >= bulk_target)

    def issue11(self):
        for w in ("W8", "W8x8", "W8r100"):
            rl = self.raw(w, "mibps")
            if rl:
                r, txt = self.vs(w, rl, "mibps", "MiB/s")
                if txt:
                    self.row("%s vs raw TCP through the proxy" % w, txt,
                             ">= 0.8x raw", r >= 0.8)
            # smux's default protocol (v1) has no per-stream flow control:
            # it moves bulk at the raw transport's speed, with no bound on
            # what one stream makes the receiver buffer. The goal is judged
            # against the yamux peers; smux's ratio is shown beside it.
            bp = self.best(w, "mibps", True,
                           [p for p in self.peers if p != "smux"])
            if bp:
                r, txt = self.vs(w, bp, "mibps", "MiB/s")
                if txt:
                    self.row("%s vs the best yamux peer (defaults)" % w,
                             txt, ">= 1.5x best peer", r >= 1.5)
            r, txt = self.vs(w, "smux", "mibps", "MiB/s")
            if txt:
                self.row("%s vs smux (no per-stream flow control)" % w, txt,
                         "for information", None)
        ramp = self.g("W8", "libyamux", "ramp_secs")
        if ramp is not None:
            lo, hi = self.med[("W8", "libyamux", "ramp_secs")][1:3]
            self.row("W8 ramp_secs", "%.3f s (%.3f-%.3f)" % (ramp, lo, hi),
                     "<= 1.0 s", ramp <= 1.0)
        pr = self.g("W8lat", "libyamux", "p99_ratio")
        bulk = self.g("W8lat", "libyamux", "bulk_mibps")
        if pr is not None and bulk is not None:
            self.row("W8lat p99 / idle p99, bulk / link rate",
                     "%.2f (p99 %s ms, idle p99 %s ms); bulk %.2fx 11.9 "
                     "MiB/s (%s MiB/s), medians" %
                     (pr, fmt_num(self.g("W8lat", "libyamux", "p99_ms")),
                      fmt_num(self.g("W8lat", "libyamux", "idle_p99_ms")),
                      bulk / 11.9, fmt_num(bulk)),
                     "<= 2.0, bulk >= 0.85x", pr <= 2.0 and bulk >= 0.85 *
                     11.9)
            for peer in self.peers:
                p, ptxt = self.vs("W8lat", peer, "p99_ms", "ms")
                b, btxt = self.vs("W8lat", peer, "bulk_mibps", "MiB/s")
                if ptxt and btxt:
                    self.row("W8lat vs %s" % peer, "p99 %s; bulk %s" %
                             (ptxt, btxt), "p99 < 1x at bulk >= 1x",
                             p < 1.0 and b >= 1.0)
        self.hol("W7p", 0.5, 1.0, "us")
        p99 = self.g("W7", "libyamux", "p99_us")
        if p99 is not None:
            lo, hi = self.med[("W7", "libyamux", "p99_us")][1:3]
            self.row("W7 p99 (TCP) against the last full run's 259 us",
                     "%.0f us (%.0f-%.0f)" % (p99, lo, hi),
                     "not worse by more than noise", None)
        rss = self.g("W8m", "libyamux", "rx_rss_mib")
        if rss is not None:
            bound = 1000 * 0.25 + 256  # initial windows + growth budget
            self.row("W8m receiver RSS, 1,000 streams sending",
                     "%.1f MiB (median growth)" % rss,
                     "<= %.0f MiB (1,000 x 256 KiB windows + 256 MiB "
                     "budget)" % bound, rss <= bound)

    def pinging(self, w, label):
        """False if the runs say that the implementation sent no keepalive
        (rust-yamux has none: config=keepalive:none)."""
        return not any("keepalive:none" in r.get("config", "")
                       for r in self.results.get((w, label), []))

    def issue13(self):
        w = "W9"
        if self.g(w, "libyamux", "server_rss_per_session") is None:
            return
        bp = self.best(w, "server_rss_per_session", False)
        rss = self.g(w, "libyamux", "server_rss_per_session")
        if bp:
            r, txt = self.vs(w, bp, "server_rss_per_session", "B")
            if txt:
                self.row("W9 server RSS per session", txt,
                         "<= 0.125x best peer and <= 4096 B",
                         r <= 0.125 and rss <= 4096)
        else:
            self.row("W9 server RSS per session", "%.0f B (no peer in the "
                     "run)" % rss, "<= 4096 B", rss <= 4096)
        # Idle CPU is judged against the peers that ping: one that sends no
        # keepalive does less work (shown for information).
        pingers = [p for p in self.peers if self.pinging(w, p)]
        bp = self.best(w, "idle_cpu_pct", False, pingers) if pingers else None
        if bp:
            r, txt = self.vs(w, bp, "idle_cpu_pct", "%")
            if txt:
                self.row("W9 server idle CPU, keepalive every 1 s", txt,
                         "<= 0.5x best peer (of those that ping)", r <= 0.5)
        for p in self.peers:
            if p not in pingers and self.g(w, p, "idle_cpu_pct") is not None:
                r, txt = self.vs(w, p, "idle_cpu_pct", "%")
                if txt:
                    self.row("W9 server idle CPU vs %s (sends no keepalive)"
                             % p, txt, "for information", None)
        bp = self.best(w, "rtt_per_s", True)
        if bp:
            r, txt = self.vs(w, bp, "rtt_per_s", "rt/s")
            p, ptxt = self.vs(w, bp, "p99_us", "us")
            if txt and ptxt:
                self.row("W9 busy: 1,000 sessions' round trips",
                         "rt/s %s; p99 %s" % (txt, ptxt),
                         ">= 1.5x best peer, p99 <= its p99",
                         r >= 1.5 and p <= 1.0)
        bp = self.best(w, "connect_secs", False)
        if bp:
            r, txt = self.vs(w, bp, "connect_secs", "s")
            if txt:
                self.row("W9 connect_secs (all sessions established)", txt,
                         "<= best peer", r <= 1.0)


def report(args, rounds, params, workloads, impls, results, commands,
           versions, configs, failures, info, elapsed):
    med = medians(workloads, impls, results)
    lines = []
    mode = "quick" if args.quick else "full"
    lines.append("# libyamux benchmark: W1-W9 against the peers and the raw "
                 "transport")
    lines.append("")
    lines.append("Generated by `make bench` (bench/run.py). Mode: %s; %d "
                 "round(s), implementation order rotating per round; %.0f s "
                 "in all." % (mode, rounds, elapsed))
    lines.append("Sizes: bulk %d MiB in 64 KiB writes (C: depth 4); W3 %d "
                 "streams x 1 KiB; W4 64 streams, %d round trips of 64 B; W5 "
                 "%d requests (32 in flight, 100 B / 1024 B); W6 %d streams; "
                 "W7 %d round trips of 64 B after 1 s of bulk; W8 %d MiB "
                 "(W8m %d MiB over 1,000 streams); W8lat %d round trips "
                 "after %d ms of bulk." %
                 (params["size"] // MiB, params["w3_streams"],
                  params["w4_count"], params["count"], params["w6_streams"],
                  params["w7_count"], params["w8_size"] // MiB,
                  params["w8m_size"] // MiB, params["w8lat_count"],
                  params["w8lat_warmup"]))
    if any(w.name == "W9" for w in workloads):
        lines.append("W9: %s sessions (keepalive every 1 s, 256 being "
                     "established at once), 2 s settle, 10 s idle measured, "
                     "then %s round trips of 64 B over 1,000 of them." %
                     ("{:,}".format(params["w9_sessions"]),
                      "{:,}".format(params["w9_count"])))
    links = [(w.name, w.link) for w in workloads if w.link]
    if links:
        lines.append("The W8 link: a fresh toxiproxy per run (%s); %s. "
                     "Before each run the driver checks the toxics through "
                     "the API and times a 1-byte round trip through the "
                     "proxy (`link_rtt_ms`), after it checks the toxics "
                     "again; raw baselines also time their own round trip "
                     "(`rtt_ms`). A reading off the link's RTT fails the "
                     "run." % (
                         "toxiproxy-server, github.com/Shopify/toxiproxy/v2 "
                         "v2.5.0",
                         "; ".join("%s: %s" % (n, l.describe())
                                   for n, l in links)))
    lines.append("Workload definitions and how to read this: "
                 "bench/README.md. Pinned variants run both processes under "
                 "`taskset -c 0`.")
    lines.append("")
    lines.append("Machine: %s. Compiler: %s. libuv %s. %s. "
                 "net.core.somaxconn %s. libyamux commit %s. %s; %s." %
                 (info["host"], info["compiler"], info["libuv"],
                  info["go"] or "no Go", info["somaxconn"], info["commit"],
                  info["date"], info["load"]))
    lines.append("")
    lines.append("## Versions and configuration")
    lines.append("")
    for label in sorted(versions):
        lines.append("- %s: %s" % (label, versions[label]))
    lines.append("")
    if configs:
        lines.append("Settings changed from the library defaults (every "
                     "other run used the defaults):")
        lines.append("")
        for (w, label) in sorted(configs):
            lines.append("- %s %s: %s" % (w, label, configs[(w, label)]))
    else:
        lines.append("Every run used the library defaults.")
    lines.append("")
    lines.append("Ratios are medians of per-round ratios of same-round pairs "
                 "(range over the rounds in brackets): `vs libyamux` = row / "
                 "libyamux, `vs raw` = row / raw_uv (raw_go if raw_uv did not "
                 "run). ↑ higher is better, ↓ lower is better. `(info)` rows "
                 "are variants reported for information. ‼ marks a "
                 "measurement whose max/min over the rounds exceeds %.1f: its "
                 "median is uncertain (see every run below); the figure is "
                 "always the median, never one run." % WIDE)
    gl = Goals(results, impls, rounds)
    gl.issue5()
    if gl.rows:
        lines.append("")
        lines.append("## Goals of issue 5 (this run)")
        lines.append("")
        lines.append("| goal | measured | target | |")
        lines.append("|---|---|---|---|")
        lines.extend(gl.rows)
    gl.rows = []
    gl.issue11()
    if gl.rows:
        lines.append("")
        lines.append("## Goals of issue 11: real links (this run)")
        lines.append("")
        lines.append("| goal | measured | target | |")
        lines.append("|---|---|---|---|")
        lines.extend(gl.rows)
    gl.rows = []
    gl.issue13()
    if gl.rows:
        lines.append("")
        lines.append("## Goals of issue 13: many sessions (this run)")
        lines.append("")
        lines.append("| goal | measured | target | |")
        lines.append("|---|---|---|---|")
        lines.extend(gl.rows)
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
            raw = None
            for rl in RAW_REFS:
                if med.get((w.name, rl, m.key)):
                    raw = rl
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
                if wide(v[1], v[2]):
                    cell += " ‼"
                if v[4]:
                    cell += "; also " + ", ".join(v[4])
                ry = rr = "-"
                if impl.label != "libyamux":
                    ry = fmt_ratio(pair_ratios(results, w.name, impl.label,
                                               "libyamux", m.key), "")
                if raw and impl.label != raw:
                    rr = fmt_ratio(pair_ratios(results, w.name, impl.label,
                                               raw, m.key), "")
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
