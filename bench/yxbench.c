/* yxbench: the benchmark workloads (W1-W9, defined in bench/README.md) for
 * libyamux and for the raw transport without multiplexing.
 *
 * One run measures one (impl, workload) pair and prints exactly one line on
 * stdout:
 *   RESULT impl=<impl> w=<W> transport=<tcp|pipe|socketpair> key=value ...
 * The client (this process) spawns itself as the server (-role=server).
 *
 * Usage: yxbench -impl=libyamux|raw_uv|raw_block -w=W1|W1pin|W2|W2pin|W3|W4|
 *                W5|W6|W7|W7p|W8|W8x8|W8r100|W8m|W8lat|W9
 *        [-size=BYTES] [-chunk=BYTES] [-depth=N] [-streams=N] [-count=N]
 *        [-msg=BYTES] [-resp=BYTES] [-transport=pipe|socketpair]
 *        [-mode=hold|read] [-warmup=MS] [-exitwait=SECS] [-timeout=SECS]
 *        [-frame=BYTES] [-window=BYTES] [-maxinbound=N] [-maxwindow=BYTES]
 *        [-prio=1]
 *        [-proxy=HOST:PORT/NAME] [-sessions=N] [-busy=N] [-inflight=N]
 *        [-loops=N] [-keepalive=MS] [-idle=MS]
 *
 *  W1   bulk over one TCP connection: one stream, -size bytes in -chunk
 *       writes, the server acks with 1 byte when it has everything.
 *  W2   the same over the child's stdin/stdout: two pipe(2)s made here and
 *       passed with UV_INHERIT_FD (-transport=socketpair instead uses what
 *       uv_spawn's UV_CREATE_PIPE or yamux_session_spawn() give: AF_UNIX
 *       socketpairs; for information only).
 *  W3   fan-out echo: -streams (8192) streams opened in one loop turn, each
 *       writes -msg (1 KiB), reads the echo, closes. raw_uv: one TCP
 *       connection per stream.
 *  W4   rpc: -streams (64) streams, one untimed round trip each, then -count
 *       (200000) sequential -msg (64 B) echo round trips spread over them;
 *       rtt_per_s, p50/p99 latency. raw_uv: 64 TCP connections.
 *  W5   stream per request over TCP: -streams requests in flight until
 *       -count completed; a request writes -msg bytes, the server answers
 *       -resp bytes and closes. raw_uv: one TCP connection per request.
 *  W6   idle streams (libyamux only; W6hold and W6read are W6 with that
 *       -mode): -streams (100000) streams opened and
 *       held; RSS growth per stream on each side after a 200 ms settle;
 *       -mode=read starts reading on every stream (both sides); then the
 *       session is closed and timed (close_ms, teardown_secs).
 *  W7   head-of-line: a bulk stream writes 64 KiB chunks all along; after
 *       -warmup (1000 ms) a second stream does -count (20000) 64 B round
 *       trips (p50/p99/max, bulk_mibps meanwhile), then the bulk stream
 *       stops and the same number of round trips runs idle (idle_p99_us).
 *       W7p: the same over the child's stdio pipes. raw_uv: two TCP
 *       connections (W7p: two pipe pairs, the child's fds 0/1 and 3/4).
 *  W1pin/W2pin are W1/W2; the driver runs them under `taskset -c 0` (the
 *  child inherits the affinity).
 *  W8   bulk over an emulated WAN link: as W1 (-size 256 MiB) over
 *       -streams streams (W8x8: 8; W8m: 1,000 streams, 1000 MiB), through
 *       toxiproxy: -proxy names its API and a proxy, which the client
 *       points at the server's port before connecting to the proxy's. The
 *       server keeps a receive timeline (100 ms buckets, its RSS at each)
 *       and reports it on its stdout; the client derives steady_mibps,
 *       ramp_secs and rx_rss_mib. raw_uv: one connection, after one untimed
 *       1-byte round trip (rtt_ms: checks the link's delay).
 *  W8lat  W7 through the proxy (the driver adds a bandwidth toxic): -warmup
 *       5000 ms, -count 200; latencies in ms.
 *  W9   many sessions (libyamux only; bench/w9.c): -sessions (10000) TCP
 *       connections, each a session with one stream and one round trip,
 *       established -inflight (256) at a time over -loops loops (one per
 *       core) in each process; the server accepts on one SO_REUSEPORT
 *       socket per loop. Settle 2 s, then -idle (10000) ms with keepalive
 *       every -keepalive (1000) ms: RSS growth per session and CPU of each
 *       process. Then -busy (1000) sessions do -count (200000) -msg (64 B)
 *       round trips: rtt_per_s, p50/p99. connect_secs: establishing all.
 *
 * Timing uses uv_hrtime() in the client; connection and session set-up and
 * teardown are not timed (W6 reports teardown separately).
 *
 * This file parses the options and picks the implementation; bench.c holds
 * the workload code they share (bench.h), impl-libyamux.c, impl-rawuv.c and
 * impl-rawblock.c one implementation each.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static int parse_u64(const char* arg, const char* name, uint64_t* out) {
  size_t len = strlen(name);
  char* end;
  if (strncmp(arg, name, len) != 0 || arg[len] != '=') return 0;
  *out = strtoull(arg + len + 1, &end, 10);
  if (*end != '\0' || end == arg + len + 1) die("bad value in %s", arg);
  return 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: yxbench -impl=libyamux|raw_uv|raw_block "
          "-w=W1|W1pin|W2|W2pin|W3|W4|W5|W6|W6hold|W6read|W7|W7p|\n"
          "                 W8|W8x8|W8r100|W8m|W8lat|W9\n"
          "               [-size=N] [-chunk=N] [-depth=N]\n"
          "               [-streams=N] [-count=N] [-msg=N] [-resp=N] "
          "[-transport=pipe|socketpair] [-timeout=SECS]\n"
          "               [-mode=hold|read] [-warmup=MS] "
          "[-exitwait=SECS]\n"
          "               [-frame=BYTES] [-window=BYTES] [-maxinbound=N] "
          "[-maxwindow=BYTES]\n               (libyamux max_frame_size, "
          "initial_window, max_inbound_streams, max_window)\n"
          "               [-proxy=HOST:PORT/NAME] (W8: toxiproxy's API and "
          "the proxy to point at the server)\n");
  exit(2);
}

/* The workloads: kind, transport and defaults (WORKLOADS.md). W1pin/W2pin
 * are W1/W2 (the driver pins them); W6hold/W6read are W6 with that -mode. */
#define GIB 1073741824ull
#define MIB 1048576ull
static const struct {
  const char* name;
  wl_kind_t kind;
  transport_t transport;
  int wan; /* the W8 family: meant to run through -proxy */
  uint64_t size, streams, count, msg, warmup;
} workloads[] = {
    {"W1", WL_BULK, TR_TCP, 0, GIB, 1, 1, 1, 0},
    {"W1pin", WL_BULK, TR_TCP, 0, GIB, 1, 1, 1, 0},
    {"W2", WL_BULK, TR_PIPE, 0, GIB, 1, 1, 1, 0},
    {"W2pin", WL_BULK, TR_PIPE, 0, GIB, 1, 1, 1, 0},
    {"W3", WL_ECHO, TR_TCP, 0, GIB, 8192, 1, 1024, 0},
    {"W4", WL_RPC, TR_TCP, 0, GIB, 64, 200000, 64, 0},
    {"W5", WL_SPR, TR_TCP, 0, GIB, 32, 100000, 100, 0},
    {"W6", WL_IDLE, TR_TCP, 0, GIB, 100000, 1, 1, 0},
    {"W6hold", WL_IDLE, TR_TCP, 0, GIB, 100000, 1, 1, 0},
    {"W6read", WL_IDLE, TR_TCP, 0, GIB, 100000, 1, 1, 0},
    {"W7", WL_HOL, TR_TCP, 0, GIB, 1, 20000, 64, 1000},
    {"W7p", WL_HOL, TR_PIPE, 0, GIB, 1, 20000, 64, 1000},
    /* -size is the total over all streams. W8r100 differs from W8 only in
     * the proxy's toxics; W8m is 1,000 streams all sending at once (the
     * receiver's RSS is the result). */
    {"W8", WL_BULK, TR_TCP, 1, 256 * MIB, 1, 1, 1, 0},
    {"W8x8", WL_BULK, TR_TCP, 1, 256 * MIB, 8, 1, 1, 0},
    {"W8r100", WL_BULK, TR_TCP, 1, 256 * MIB, 1, 1, 1, 0},
    {"W8m", WL_BULK, TR_TCP, 1, 1000 * MIB, 1000, 1, 1, 0},
    {"W8lat", WL_HOL, TR_TCP, 1, GIB, 1, 200, 64, 5000},
    /* -sessions, -busy and the rest have their defaults in w9.c. */
    {"W9", WL_MANY, TR_TCP, 0, GIB, 1, 200000, 64, 0},
};

static const bench_impl_t* const impls[] = {&bench_libyamux, &bench_raw_uv,
                                            &bench_raw_block};

int main(int argc, char** argv) {
  uint64_t timeout = 600;
  int want_socketpair = 0;
  int i;

  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strncmp(a, "--", 2) == 0) a++; /* accept --flag too */
    if (strcmp(a, "-role=server") == 0) {
      is_server = 1;
    } else if (strcmp(a, "-role=client") == 0) {
      is_server = 0;
    } else if (strncmp(a, "-impl=", 6) == 0) {
      size_t k;
      for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++)
        if (strcmp(a + 6, impls[k]->name) == 0) break;
      if (k == sizeof(impls) / sizeof(impls[0])) usage();
      impl = impls[k];
    } else if (strncmp(a, "-w=", 3) == 0) {
      wname = a + 3;
    } else if (strcmp(a, "-transport=socketpair") == 0) {
      want_socketpair = 1;
    } else if (strcmp(a, "-transport=pipe") == 0) {
      want_socketpair = 0;
    } else if (strncmp(a, "-proxy=", 7) == 0) {
      opt_proxy = a + 7;
    } else if (strcmp(a, "-mode=read") == 0) {
      opt_read_mode = 1;
    } else if (strcmp(a, "-mode=hold") == 0) {
      opt_read_mode = 0;
    } else if (parse_u64(a, "-size", &opt_size) ||
               parse_u64(a, "-chunk", &opt_chunk) ||
               parse_u64(a, "-depth", &opt_depth) ||
               parse_u64(a, "-streams", &opt_streams) ||
               parse_u64(a, "-count", &opt_count) ||
               parse_u64(a, "-msg", &opt_msg) ||
               parse_u64(a, "-resp", &opt_resp) ||
               parse_u64(a, "-timeout", &timeout) ||
               parse_u64(a, "-frame", &opt_frame) ||
               parse_u64(a, "-window", &opt_window) ||
               parse_u64(a, "-maxinbound", &opt_maxinbound) ||
               parse_u64(a, "-maxwindow", &opt_maxwindow) ||
               parse_u64(a, "-prio", &opt_prio) ||
               parse_u64(a, "-warmup", &opt_warmup) ||
               parse_u64(a, "-exitwait", &opt_exitwait) ||
               parse_u64(a, "-sessions", &opt_sessions) ||
               parse_u64(a, "-busy", &opt_busy) ||
               parse_u64(a, "-inflight", &opt_inflight) ||
               parse_u64(a, "-loops", &opt_loops) ||
               parse_u64(a, "-keepalive", &opt_keepalive) ||
               parse_u64(a, "-idle", &opt_idle)) {
    } else {
      usage();
    }
  }
  for (i = 0; i < (int)(sizeof(workloads) / sizeof(workloads[0])); i++)
    if (strcmp(wname, workloads[i].name) == 0) break;
  if (i == (int)(sizeof(workloads) / sizeof(workloads[0]))) usage();
  wkind = workloads[i].kind;
  transport = workloads[i].transport;
  if (transport == TR_PIPE && want_socketpair) transport = TR_SOCKETPAIR;
  if (wkind == WL_IDLE && wname[2] != '\0') opt_read_mode = wname[2] == 'r';
  /* Workload defaults (WORKLOADS.md) for what was not given. */
  if (opt_streams == 0) opt_streams = workloads[i].streams;
  if (opt_count == 0) opt_count = workloads[i].count;
  if (opt_msg == 0) opt_msg = workloads[i].msg;
  if (opt_size == 0) opt_size = workloads[i].size;
  if (opt_warmup == 0) opt_warmup = workloads[i].warmup;
  wan = workloads[i].wan;
  if (wkind == WL_HOL) opt_size = UINT64_MAX; /* A writes until told */
  if (wan && impl == &bench_raw_block) {
    fprintf(stderr, "yxbench: %s has no raw_block variant\n", wname);
    return 2;
  }
  if (opt_depth < 1 || opt_depth > MAX_DEPTH || opt_chunk < 1 ||
      opt_chunk > (1u << 30) || opt_size < 1 || opt_msg < 1 || opt_resp < 1 ||
      opt_count < 1 || opt_streams < 1)
    usage();
  if (wkind != WL_BULK && impl == &bench_raw_block) {
    fprintf(stderr, "yxbench: %s has no raw_block variant\n", wname);
    return 2;
  }
  if (wkind == WL_IDLE && impl != &bench_libyamux) {
    fprintf(stderr, "yxbench: W6 is for multiplexers only\n");
    return 2;
  }
  if (wkind == WL_MANY && impl != &bench_libyamux) {
    fprintf(stderr, "yxbench: W9 is for libyamux only\n");
    return 2;
  }
  if (wkind == WL_MANY &&
      (opt_sessions < 1 || opt_busy < 1 || opt_inflight < 1 || opt_idle < 1))
    usage();

  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned int)timeout); /* a hung run dies instead of stalling */
  loop = uv_default_loop();
  pattern = malloc((size_t)opt_chunk);
  reqbuf = malloc((size_t)opt_msg);
  respbuf = malloc((size_t)opt_resp);
  if (pattern == NULL || reqbuf == NULL || respbuf == NULL) die("malloc");
  memset(pattern, 'x', (size_t)opt_chunk);
  memset(reqbuf, 'q', (size_t)opt_msg);
  memset(respbuf, 'r', (size_t)opt_resp);

  if (is_server && wan) rx_init();
  if (wkind == WL_MANY) return is_server ? w9_server() : w9_client(argc, argv);
  return is_server ? impl->server() : impl->client(argc, argv);
}
