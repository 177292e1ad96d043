/* yxbench: the workloads of shared/bench/WORKLOADS.md (W1-W7) for libyamux
 * and for the raw transport without multiplexing.
 *
 * One run measures one (impl, workload) pair and prints exactly one line on
 * stdout:
 *   RESULT impl=<impl> w=<W> transport=<tcp|pipe|socketpair> key=value ...
 * The client (this process) spawns itself as the server (-role=server).
 *
 * Usage: yxbench -impl=libyamux|raw_uv|raw_block -w=W1|W1pin|W2|W2pin|W3|W4|
 *                W5|W6|W7|W7p
 *        [-size=BYTES] [-chunk=BYTES] [-depth=N] [-streams=N] [-count=N]
 *        [-msg=BYTES] [-resp=BYTES] [-transport=pipe|socketpair]
 *        [-mode=hold|read] [-warmup=MS] [-exitwait=SECS] [-timeout=SECS]
 *        [-frame=BYTES] [-window=BYTES] [-maxinbound=N] [-maxwindow=BYTES]
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
          "-w=W1|W1pin|W2|W2pin|W3|W4|W5|W6|W6hold|W6read|W7|W7p\n"
          "               [-size=N] [-chunk=N] [-depth=N]\n"
          "               [-streams=N] [-count=N] [-msg=N] [-resp=N] "
          "[-transport=pipe|socketpair] [-timeout=SECS]\n"
          "               [-mode=hold|read] [-warmup=MS] "
          "[-exitwait=SECS]\n"
          "               [-frame=BYTES] [-window=BYTES] [-maxinbound=N] "
          "[-maxwindow=BYTES]\n               (libyamux max_frame_size, "
          "initial_window, max_inbound_streams, max_window)\n");
  exit(2);
}

/* The workloads: kind, transport and defaults (WORKLOADS.md). W1pin/W2pin
 * are W1/W2 (the driver pins them); W6hold/W6read are W6 with that -mode. */
static const struct {
  const char* name;
  wl_kind_t kind;
  transport_t transport;
  uint64_t streams, count, msg;
} workloads[] = {
    {"W1", WL_BULK, TR_TCP, 1, 1, 1},
    {"W1pin", WL_BULK, TR_TCP, 1, 1, 1},
    {"W2", WL_BULK, TR_PIPE, 1, 1, 1},
    {"W2pin", WL_BULK, TR_PIPE, 1, 1, 1},
    {"W3", WL_ECHO, TR_TCP, 8192, 1, 1024},
    {"W4", WL_RPC, TR_TCP, 64, 200000, 64},
    {"W5", WL_SPR, TR_TCP, 32, 100000, 100},
    {"W6", WL_IDLE, TR_TCP, 100000, 1, 1},
    {"W6hold", WL_IDLE, TR_TCP, 100000, 1, 1},
    {"W6read", WL_IDLE, TR_TCP, 100000, 1, 1},
    {"W7", WL_HOL, TR_TCP, 1, 20000, 64},
    {"W7p", WL_HOL, TR_PIPE, 1, 20000, 64},
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
               parse_u64(a, "-warmup", &opt_warmup) ||
               parse_u64(a, "-exitwait", &opt_exitwait)) {
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
  if (wkind == WL_HOL) opt_size = UINT64_MAX; /* A writes until told */
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

  return is_server ? impl->server() : impl->client(argc, argv);
}
