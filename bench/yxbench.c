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
 * libyamux is used as a demanding user would: zero-copy writes with -depth
 * 64 KiB writes in flight (write callbacks and the stream's write queue size
 * as backpressure), readers that only count bytes read in place (no
 * alloc_cb), echo servers copy what they echo, TCP_NODELAY on. Timing uses
 * uv_hrtime() in the client; connection and session set-up and teardown are
 * not timed (W6 reports teardown separately).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "yamux.h"

#define MAX_DEPTH 256
#define RX_SIZE 65536

typedef enum { IMPL_YAMUX, IMPL_RAW_UV, IMPL_RAW_BLOCK } impl_t;
typedef enum { WL_BULK, WL_SPR, WL_ECHO, WL_RPC, WL_IDLE, WL_HOL } wl_kind_t;
typedef enum { TR_TCP, TR_PIPE, TR_SOCKETPAIR } transport_t;

static const char* const transport_names[] = {"tcp", "pipe", "socketpair"};

/* Options (the server child gets the client's, plus -role=server). */
static int is_server;
static impl_t impl = IMPL_YAMUX;
static const char* impl_name = "libyamux";
static const char* wname = "W1";
static wl_kind_t wkind = WL_BULK;
static transport_t transport = TR_TCP;
static int want_socketpair;
static uint64_t opt_size = 1073741824ull;
static uint64_t opt_chunk = 65536;
static uint64_t opt_depth = 4;
static uint64_t opt_streams; /* 0 until set: the workload's default */
static uint64_t opt_count;
static uint64_t opt_msg;
static uint64_t opt_resp = 1024;
static unsigned int opt_timeout = 600;
static uint64_t opt_frame;      /* libyamux max_frame_size; 0: the default */
static uint64_t opt_window;     /* libyamux initial_window; 0: the default */
static uint64_t opt_maxinbound; /* libyamux max_inbound_streams; 0: default */
static uint64_t opt_maxwindow;  /* libyamux max_window; 0: the default */
static int opt_read_mode;       /* W6 -mode=read */
static uint64_t opt_warmup = 1000; /* W7 bulk warm-up, ms */
static uint64_t opt_exitwait = 30; /* W6: seconds to wait for the child */

static uv_loop_t* loop;
static char rxbuf[RX_SIZE]; /* every read lands here and is consumed at once */
static char* pattern;       /* the payload: one chunk, reused by every write */
static uint64_t t_start, t_end;

/* Child process (client side). */
static uv_process_t child;
static int child_exited;
static int64_t child_status = -1;
static int port_fd = -1; /* the child's stdout in TCP mode ("PORT n") */

static void die(const char* fmt, ...) {
  va_list ap;
  fprintf(stderr, "yxbench %s (%s %s): ", is_server ? "server" : "client",
          impl_name, wname);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static void check_uv(int rc, const char* what) {
  if (rc < 0) die("%s: %s", what, uv_strerror(rc));
}

static void check_yx(int rc, const char* what) {
  if (rc < 0) die("%s: %s", what, yamux_strerror(rc));
}

static double elapsed_secs(void) {
  return (double)(t_end - t_start) / 1e9;
}

/* ---- generic helpers --------------------------------------------------- */

static void set_nodelay_fd(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    die("TCP_NODELAY: %s", strerror(errno));
}

static void on_handle_closed(uv_handle_t* h) {
  (void)h;
}

static void on_child_exit(uv_process_t* p, int64_t status, int sig) {
  child_exited = 1;
  child_status = sig ? 128 + sig : status;
  uv_close((uv_handle_t*)p, NULL);
}

static char** child_argv(int argc, char** argv, const char* self) {
  char** args = calloc((size_t)argc + 2, sizeof(*args));
  int i;
  if (args == NULL) die("calloc");
  args[0] = (char*)self;
  for (i = 1; i < argc; i++) args[i] = argv[i];
  args[argc] = "-role=server";
  return args;
}

/* W7p raw: a second pipe pair (the child's fds 3 and 4) for the ping-pong. */
static int raw_hol_pipes(void) {
  return wkind == WL_HOL && impl == IMPL_RAW_UV && transport == TR_PIPE;
}

/* Fills opts to run this program (its path goes in self, size bytes) as
 * the server child. Returns the argv to free once spawned. */
static char** child_options(int argc, char** argv, char* self, size_t size,
                            uv_process_options_t* opts) {
  char** args;
  check_uv(uv_exepath(self, &size), "exepath");
  args = child_argv(argc, argv, self);
  memset(opts, 0, sizeof(*opts));
  opts->file = self;
  opts->args = args;
  opts->exit_cb = on_child_exit;
  return args;
}

/* Spawns the server child with the given stdio (count 3, or 5 for W7p's
 * raw second pipe pair). */
static void spawn_child(int argc, char** argv, uv_stdio_container_t* stdio) {
  char self[4096];
  uv_process_options_t opts;
  char** args = child_options(argc, argv, self, sizeof(self), &opts);

  opts.stdio = stdio;
  opts.stdio_count = raw_hol_pipes() ? 5 : 3;
  check_uv(uv_spawn(loop, &child, &opts), "spawn");
  free(args);
}

/* TCP: the child's stdin is /dev/null, its stdout a pipe on which it prints
 * "PORT n". Returns the port. */
static int spawn_tcp_child(int argc, char** argv) {
  uv_stdio_container_t stdio[3];
  uv_file fds[2];
  char line[64];
  size_t got = 0;
  int port;

  check_uv(uv_pipe(fds, 0, 0), "pipe");
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = fds[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  spawn_child(argc, argv, stdio);
  close(fds[1]);
  port_fd = fds[0];
  while (got < sizeof(line) - 1) {
    ssize_t n = read(port_fd, line + got, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("child did not print its port");
    if (line[got] == '\n') break;
    got++;
  }
  line[got] = '\0';
  if (sscanf(line, "PORT %d", &port) != 1) die("bad port line '%s'", line);
  return port;
}

/* Pipes: the child's stdin and stdout are two pipe(2)s (O_CLOEXEC on our
 * ends, so that the child does not hold them). */
static int extra_tx = -1, extra_rx = -1; /* W7p raw: fds 3 and 4 */

static void spawn_pipe_child(int argc, char** argv, int* our_tx, int* our_rx) {
  uv_stdio_container_t stdio[5];
  uv_file in[2], out[2], in2[2], out2[2];

  check_uv(uv_pipe(in, 0, 0), "pipe");
  check_uv(uv_pipe(out, 0, 0), "pipe");
  check_uv(uv_pipe(in2, 0, 0), "pipe");
  check_uv(uv_pipe(out2, 0, 0), "pipe");
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = in[0];
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = in2[0];
  stdio[4].flags = UV_INHERIT_FD;
  stdio[4].data.fd = out2[1];
  spawn_child(argc, argv, stdio);
  close(in[0]);
  close(out[1]);
  close(in2[0]);
  close(out2[1]);
  *our_tx = in[1];
  *our_rx = out[0];
  if (raw_hol_pipes()) {
    extra_tx = in2[1];
    extra_rx = out2[0];
  } else {
    close(in2[1]);
    close(out2[0]);
  }
}

static void sockaddr_loopback(struct sockaddr_in* addr, int port) {
  check_uv(uv_ip4_addr("127.0.0.1", port, addr), "ip4_addr");
}

/* Waits for the child to exit and checks its status. */
static void reap_child(void) {
  uv_run(loop, UV_RUN_DEFAULT);
  if (!child_exited) die("child did not exit");
  if (child_status != 0) die("child exited with status %" PRId64, child_status);
  if (port_fd >= 0) close(port_fd);
}

static void print_config(void);

static void print_bulk_result(void) {
  double secs = elapsed_secs();
  printf("RESULT impl=%s w=%s transport=%s size=%" PRIu64 " chunk=%" PRIu64
         " depth=%" PRIu64 " secs=%.6f mibps=%.1f",
         impl_name, wname, transport_names[transport], opt_size, opt_chunk,
         impl == IMPL_RAW_BLOCK ? 1 : opt_depth, secs,
         (double)opt_size / secs / 1048576.0);
  print_config();
  printf("\n");
  fflush(stdout);
}

static void print_spr_result(void) {
  double secs = elapsed_secs();
  printf("RESULT impl=%s w=%s transport=%s count=%" PRIu64 " streams=%" PRIu64
         " msg=%" PRIu64 " resp=%" PRIu64 " secs=%.6f req_per_s=%.0f",
         impl_name, wname, transport_names[transport], opt_count, opt_streams,
         opt_msg, opt_resp, secs, (double)opt_count / secs);
  print_config();
  printf("\n");
  fflush(stdout);
}

/* Server side of TCP: listens on 127.0.0.1:0 and prints "PORT n". */
static void print_port(int port) {
  printf("PORT %d\n", port);
  fflush(stdout);
}

static uv_tcp_t listener;

static void uv_listen_tcp(uv_connection_cb cb) {
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int len = sizeof(name);

  sockaddr_loopback(&addr, 0);
  check_uv(uv_tcp_init(loop, &listener), "tcp_init");
  check_uv(uv_tcp_bind(&listener, (const struct sockaddr*)&addr, 0), "bind");
  /* The kernel caps the backlog at net.core.somaxconn. */
  check_uv(uv_listen((uv_stream_t*)&listener, 65535, cb), "listen");
  check_uv(uv_tcp_getsockname(&listener, (struct sockaddr*)&name, &len),
           "getsockname");
  print_port(ntohs(((struct sockaddr_in*)&name)->sin_port));
}

static void pipe_open_fd(uv_pipe_t* p, int fd) {
  check_uv(uv_pipe_init(loop, p, 0), "pipe_init");
  check_uv(uv_pipe_open(p, fd), "pipe_open");
}

/* Accepts a TCP connection on t (not yet initialised), TCP_NODELAY on. */
static void tcp_accept(uv_stream_t* server, int status, uv_tcp_t* t) {
  check_uv(status, "connection");
  check_uv(uv_tcp_init(loop, t), "tcp_init");
  check_uv(uv_accept(server, (uv_stream_t*)t), "accept");
  check_uv(uv_tcp_nodelay(t, 1), "nodelay");
}

/* ======================================================================== */
/* libyamux                                                                 */

static yamux_session_t sess;
static int done;

/* YXBENCH_STATS=1: the client's session counters on stderr, to check what
 * went over the wire. */
static void y_dump_stats(void) {
  yamux_session_stats_t st;
  if (getenv("YXBENCH_STATS") == NULL) return;
  if (yamux_session_get_stats(&sess, &st) != 0) return;
  fprintf(stderr,
          "stats: bytes_sent=%" PRIu64 " bytes_received=%" PRIu64
          " frames_sent=%" PRIu64 " frames_received=%" PRIu64
          " data_sent=%" PRIu64 " data_received=%" PRIu64
          " streams_opened=%" PRIu64 " resets=%" PRIu64 "/%" PRIu64 "\n",
          st.bytes_sent, st.bytes_received, st.frames_sent, st.frames_received,
          st.data_bytes_sent, st.data_bytes_received, st.streams_opened,
          st.resets_sent, st.resets_received);
}

/* The measured part is over: stop the clock and end the session. */
static void y_client_done(void) {
  t_end = uv_hrtime();
  done = 1;
  y_dump_stats();
  yamux_session_close(&sess, NULL);
}

/* Library defaults unless -frame / -window say otherwise (then printed in
 * the RESULT line as config changes). */
static const yamux_config_t* y_config(void) {
  static yamux_config_t cfg;
  yamux_config_init(&cfg);
  if (opt_frame) cfg.max_frame_size = (uint32_t)opt_frame;
  if (opt_window) cfg.initial_window = (uint32_t)opt_window;
  if (opt_maxinbound) cfg.max_inbound_streams = (uint32_t)opt_maxinbound;
  if (opt_maxwindow) cfg.max_window = (uint32_t)opt_maxwindow;
  return &cfg;
}

static void print_config(void) {
  if (impl != IMPL_YAMUX) return;
  if (opt_frame) printf(" max_frame_size=%" PRIu64, opt_frame);
  if (opt_window) printf(" initial_window=%" PRIu64, opt_window);
  if (opt_maxinbound) printf(" max_inbound_streams=%" PRIu64, opt_maxinbound);
  if (opt_maxwindow) printf(" max_window=%" PRIu64, opt_maxwindow);
}

static void y_alloc(yamux_stream_t* st, size_t suggested, uv_buf_t* buf) {
  (void)st;
  (void)suggested;
  *buf = uv_buf_init(rxbuf, sizeof(rxbuf));
}

static void y_client_end(yamux_session_t* s, int status) {
  if (!done) die("session ended early: %s", yamux_strerror(status));
  yamux_session_close(s, NULL);
}

static void y_server_end(yamux_session_t* s, int status) {
  if (status != UV_EOF && status != YAMUX_EPEERGOAWAY)
    fprintf(stderr, "yxbench server: session ended: %s\n",
            yamux_strerror(status));
  yamux_session_close(s, NULL);
}

/* ---- bulk (W1, W2): client --------------------------------------------- */

static yamux_stream_t bstream;
static yamux_connect_t bconnect;
static yamux_write_t bwrites[MAX_DEPTH];
static int bfree[MAX_DEPTH];
static unsigned int bnfree;
static uint64_t bsent, brecv;

static void yb_write_cb(yamux_write_t* req, int status);

/* Keeps -depth writes of one chunk in flight. */
static void yb_pump(void) {
  size_t high = (size_t)(opt_depth * opt_chunk);
  while (bsent < opt_size && bnfree > 0 &&
         yamux_stream_get_write_queue_size(&bstream) < high) {
    int slot = bfree[--bnfree];
    uint64_t n = opt_size - bsent < opt_chunk ? opt_size - bsent : opt_chunk;
    uv_buf_t b = uv_buf_init(pattern, (unsigned int)n);
    bwrites[slot].data = (void*)(intptr_t)slot;
    check_yx(yamux_write(&bwrites[slot], &bstream, &b, 1, yb_write_cb),
             "write");
    bsent += n;
  }
}

static void yb_write_cb(yamux_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("write: %s", yamux_strerror(status));
  }
  bfree[bnfree++] = (int)(intptr_t)req->data;
  yb_pump();
}

static void yb_read_ack(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)st;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done) return;
    die("ack read: %s", yamux_strerror((int)n));
  }
  if (n != 1 || bsent != opt_size) die("unexpected ack (%zd bytes)", n);
  y_client_done();
}

static void yb_opened(yamux_connect_t* req, int status) {
  unsigned int i;
  (void)req;
  check_yx(status, "open");
  bnfree = 0;
  for (i = 0; i < opt_depth; i++) bfree[bnfree++] = (int)i;
  t_start = uv_hrtime();
  yb_pump();
}

static void yb_client_start(void) {
  check_yx(yamux_stream_init(&sess, &bstream), "stream_init");
  check_yx(yamux_stream_open(&bconnect, &bstream, yb_opened), "open");
  check_yx(yamux_read_start(&bstream, y_alloc, yb_read_ack), "read_start");
}

/* ---- bulk: server ------------------------------------------------------ */

static yamux_write_t ackreq;
static char ackbyte = 'A';

static void yb_srv_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n <= 0) return; /* EOF / session end: the session's end_cb closes */
  brecv += (uint64_t)n;
  if (brecv > opt_size) die("received too much");
  if (brecv == opt_size) {
    uv_buf_t b = uv_buf_init(&ackbyte, 1);
    check_yx(yamux_write(&ackreq, st, &b, 1, NULL), "ack write");
  }
}

static void yb_srv_conn(yamux_session_t* s, int status) {
  (void)status;
  if (bstream.session != NULL) die("a second stream");
  check_yx(yamux_stream_init(s, &bstream), "stream_init");
  check_yx(yamux_accept(s, &bstream), "accept");
  check_yx(yamux_read_start(&bstream, NULL, yb_srv_read), "read_start");
}

/* ---- stream per request (W5) ------------------------------------------- */

typedef struct req_s {
  yamux_stream_t stream;
  yamux_write_t wreq;
  yamux_shutdown_t sreq;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t uwreq;
  uv_shutdown_t ushut;
  uv_stream_t* urx; /* raw: where this connection reads and writes */
  uv_stream_t* utx;
  uint64_t got;
  int responded;
  /* ping-pong (W4, W7) */
  uint64_t todo; /* timed round trips left in this phase */
  uint64_t t0;   /* when this round trip's write started */
  int warm;      /* the untimed round trip is done */
  int wpending;  /* our write request is in flight */
  int want;      /* a write waits for it */
  int bulk;      /* server: W7's bulk stream (discard, ack its EOF) */
  struct req_s* next;
} req_t;

static req_t* req_pool;
static uint64_t started, completed, served;
static char* reqbuf;
static char* respbuf;

static req_t* req_get(void) {
  req_t* r = req_pool;
  if (r != NULL)
    req_pool = r->next;
  else if ((r = malloc(sizeof(*r))) == NULL)
    die("malloc");
  memset(r, 0, sizeof(*r));
  return r;
}

static void req_put(req_t* r) {
  r->next = req_pool;
  req_pool = r;
}

static void req_pool_free(void) {
  while (req_pool != NULL) {
    req_t* r = req_pool;
    req_pool = r->next;
    free(r);
  }
}

static void y_closed(yamux_stream_t* st) {
  req_put(st->data);
}

static void y5_start(void);

static void y5_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  req_t* r = st->data;
  (void)buf;
  if (n > 0) {
    r->got += (uint64_t)n;
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF) die("request read: %s", yamux_strerror((int)n));
  if (r->got != opt_resp) die("response of %" PRIu64 " bytes", r->got);
  completed++;
  yamux_close(st, y_closed);
  if (started < opt_count) {
    y5_start();
  } else if (completed == opt_count) {
    y_client_done();
  }
}

static void y5_start(void) {
  req_t* r = req_get();
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  started++;
  r->stream.data = r;
  check_yx(yamux_stream_init(&sess, &r->stream), "stream_init");
  check_yx(yamux_stream_open(NULL, &r->stream, NULL), "open");
  /* Same turn as the open: the request rides on the SYN. */
  check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, NULL), "write");
  check_yx(yamux_read_start(&r->stream, NULL, y5_read), "read_start");
}

static void y5_client_start(void) {
  uint64_t i;
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams && started < opt_count; i++) y5_start();
}

static void ys5_closed(yamux_stream_t* st) {
  served++;
  req_put(st->data);
}

static void ys5_shut(yamux_shutdown_t* req, int status) {
  req_t* r = req->data;
  (void)status;
  if (!yamux_is_closing(&r->stream)) yamux_close(&r->stream, ys5_closed);
}

static void ys5_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  req_t* r = st->data;
  (void)buf;
  if (n > 0) {
    r->got += (uint64_t)n;
    if (r->got > opt_msg) die("request too long");
    if (r->got == opt_msg && !r->responded) {
      uv_buf_t b = uv_buf_init(respbuf, (unsigned int)opt_resp);
      r->responded = 1;
      r->sreq.data = r;
      check_yx(yamux_write(&r->wreq, st, &b, 1, NULL), "write");
      check_yx(yamux_shutdown(&r->sreq, st, ys5_shut), "shutdown");
    }
    return;
  }
  if (n == 0 || n == UV_EOF) return; /* we close once our FIN is queued */
  if (!yamux_is_closing(st)) yamux_close(st, ys5_closed);
}

/* Accepts an inbound stream into a pooled req; NULL if it went away. */
static req_t* y_accept_req(yamux_session_t* s) {
  req_t* r = req_get();
  r->stream.data = r;
  check_yx(yamux_stream_init(s, &r->stream), "stream_init");
  if (yamux_accept(s, &r->stream) != 0) {
    req_put(r);
    return NULL;
  }
  return r;
}

static void ys5_conn(yamux_session_t* s, int status) {
  req_t* r = y_accept_req(s);
  (void)status;
  if (r == NULL) return;
  check_yx(yamux_read_start(&r->stream, NULL, ys5_read), "read_start");
}

/* ---- shared by W3, W4, W6, W7 ------------------------------------------ */

/* Round-trip latencies in ns: the timed phase (W4, W7 under bulk) and W7's
 * idle phase. */
static uint64_t* lat;
static uint64_t nlat;
static uint64_t* idle_lat;
static uint64_t nidle;

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in microseconds; sorts v. */
static double pct_us(uint64_t* v, uint64_t n, double p) {
  uint64_t k;
  if (n == 0) return 0;
  qsort(v, (size_t)n, sizeof(*v), cmp_u64);
  k = (uint64_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)v[k - 1] / 1e3;
}

/* VmRSS of this process in bytes. */
static uint64_t rss_bytes(void) {
  char line[256];
  uint64_t kb = 0;
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) die("/proc/self/status: %s", strerror(errno));
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

/* Bytes the C allocator hands out (the C analogue of Go's heap in use). */
static uint64_t heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* Echo servers copy what they read into one of these and write it back. */
typedef struct ebuf_s {
  union {
    yamux_write_t y;
    uv_write_t u;
  } req;
  struct ebuf_s* next;
  size_t cap;
  char data[];
} ebuf_t;

#define EBUF_POOLED 4096
static ebuf_t* ebuf_pool;

static ebuf_t* ebuf_get(const void* p, size_t n) {
  ebuf_t* e;
  if (n <= EBUF_POOLED && ebuf_pool != NULL) {
    e = ebuf_pool;
    ebuf_pool = e->next;
  } else {
    size_t cap = n <= EBUF_POOLED ? EBUF_POOLED : n;
    e = malloc(sizeof(*e) + cap);
    if (e == NULL) die("malloc");
    e->cap = cap;
  }
  memcpy(e->data, p, n);
  return e;
}

static void ebuf_put(ebuf_t* e) {
  if (e->cap != EBUF_POOLED) {
    free(e);
    return;
  }
  e->next = ebuf_pool;
  ebuf_pool = e;
}

static void ebuf_pool_free(void) {
  while (ebuf_pool != NULL) {
    ebuf_t* e = ebuf_pool;
    ebuf_pool = e->next;
    free(e);
  }
}

/* Ping-pong (W4, W7's stream B), the same for every implementation: the
 * implementation provides pp_write (send -msg bytes on r) and the end. */
enum { PP_WARM, PP_TIMED, PP_DRAIN, PP_IDLE, PP_DONE };
static int pp_phase = PP_WARM;
static req_t** pp_streams;
static uint64_t pp_nstreams, pp_warmed, pp_finished;
static void (*pp_write)(req_t* r);
static void (*pp_end)(void);       /* everything measured */
static void (*pp_stop_bulk)(void); /* W7: stop stream A; then pp_bulk_acked */
static uint64_t bdone;             /* W7: bulk bytes whose write completed */
static uint64_t bdone0, bdone1;
static uint64_t t_idle0, t_idle1;

static void pp_send(req_t* r) {
  r->got = 0;
  r->t0 = uv_hrtime();
  if (r->wpending)
    r->want = 1; /* the last write's callback has not run yet */
  else
    pp_write(r);
}

static void pp_written(req_t* r) {
  r->wpending = 0;
  if (r->want) {
    r->want = 0;
    pp_write(r);
  }
}

static void pp_start_timed(void) {
  uint64_t i;
  pp_phase = PP_TIMED;
  t_start = uv_hrtime();
  bdone0 = bdone;
  for (i = 0; i < pp_nstreams; i++) {
    req_t* r = pp_streams[i];
    r->todo = opt_count / pp_nstreams + (i < opt_count % pp_nstreams);
    if (r->todo > 0)
      pp_send(r);
    else
      pp_finished++;
  }
}

/* W7: stream A has stopped and the server has read all of it. */
static void pp_bulk_acked(void) {
  req_t* r = pp_streams[0];
  pp_phase = PP_IDLE;
  t_idle0 = uv_hrtime();
  r->todo = opt_count;
  pp_send(r);
}

/* r has read its whole echo. */
static void pp_round_trip(req_t* r) {
  uint64_t now = uv_hrtime();
  if (!r->warm) {
    r->warm = 1;
    if (++pp_warmed == pp_nstreams) pp_start_timed();
    return;
  }
  if (pp_phase == PP_TIMED)
    lat[nlat++] = now - r->t0;
  else if (pp_phase == PP_IDLE)
    idle_lat[nidle++] = now - r->t0;
  else
    die("round trip in phase %d", pp_phase);
  if (--r->todo > 0) {
    pp_send(r);
    return;
  }
  if (pp_phase == PP_TIMED && ++pp_finished < pp_nstreams) return;
  if (pp_phase == PP_TIMED && wkind == WL_HOL) {
    t_end = now;
    bdone1 = bdone;
    pp_phase = PP_DRAIN;
    pp_stop_bulk();
    return;
  }
  if (pp_phase == PP_TIMED)
    t_end = now;
  else
    t_idle1 = now;
  pp_phase = PP_DONE;
  done = 1;
  pp_end();
}

static void pp_alloc(uint64_t nstreams) {
  pp_nstreams = nstreams;
  pp_streams = calloc((size_t)nstreams, sizeof(*pp_streams));
  lat = malloc((size_t)opt_count * sizeof(*lat));
  idle_lat = malloc((size_t)opt_count * sizeof(*idle_lat));
  if (pp_streams == NULL || lat == NULL || idle_lat == NULL) die("malloc");
}

static void print_config(void);

static void print_echo_result(void) {
  double secs = elapsed_secs();
  printf("RESULT impl=%s w=%s transport=%s streams=%" PRIu64 " msg=%" PRIu64
         " secs=%.6f",
         impl_name, wname, transport_names[transport], opt_streams, opt_msg,
         secs);
  print_config();
  printf("\n");
  fflush(stdout);
}

static void print_rpc_result(void) {
  double secs = elapsed_secs();
  uint64_t n = nlat;
  double p50 = pct_us(lat, n, 50), p99 = pct_us(lat, n, 99);
  printf("RESULT impl=%s w=%s transport=%s streams=%" PRIu64 " count=%" PRIu64
         " msg=%" PRIu64
         " secs=%.6f rtt_per_s=%.0f p50_us=%.1f p99_us=%.1f"
         " max_us=%.1f",
         impl_name, wname, transport_names[transport], pp_nstreams, n, opt_msg,
         secs, (double)n / secs, p50, p99, (double)lat[n - 1] / 1e3);
  print_config();
  printf("\n");
  fflush(stdout);
}

static void print_hol_result(void) {
  double secs = elapsed_secs();
  double p50 = pct_us(lat, nlat, 50), p99 = pct_us(lat, nlat, 99);
  double ip50 = pct_us(idle_lat, nidle, 50), ip99 = pct_us(idle_lat, nidle, 99);
  printf("RESULT impl=%s w=%s transport=%s count=%" PRIu64 " msg=%" PRIu64
         " chunk=%" PRIu64
         " secs=%.6f p50_us=%.1f p99_us=%.1f max_us=%.1f"
         " bulk_mibps=%.1f idle_p50_us=%.1f idle_p99_us=%.1f"
         " idle_max_us=%.1f p99_ratio=%.2f",
         impl_name, wname, transport_names[transport], nlat, opt_msg, opt_chunk,
         secs, p50, p99, (double)lat[nlat - 1] / 1e3,
         (double)(bdone1 - bdone0) / secs / 1048576.0, ip50, ip99,
         (double)idle_lat[nidle - 1] / 1e3, ip99 > 0 ? p99 / ip99 : 0);
  print_config();
  printf("\n");
  fflush(stdout);
}

/* The child's stdout, read line by line (W6: the server reports there). */
static uv_pipe_t child_out;
static char child_line[256];
static size_t child_line_len;
static void (*child_line_cb)(const char* line);

static void child_out_alloc(uv_handle_t* h, size_t sz, uv_buf_t* buf) {
  static char b[256];
  (void)h;
  (void)sz;
  *buf = uv_buf_init(b, sizeof(b));
}

static void child_out_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  ssize_t i;
  if (n < 0) {
    uv_close((uv_handle_t*)s, NULL);
    return;
  }
  for (i = 0; i < n; i++) {
    char c = buf->base[i];
    if (c != '\n') {
      if (child_line_len < sizeof(child_line) - 1)
        child_line[child_line_len++] = c;
      continue;
    }
    child_line[child_line_len] = '\0';
    child_line_len = 0;
    child_line_cb(child_line);
  }
}

/* Reads the child's stdout (after its PORT line) with the loop. */
static void watch_child_out(void (*cb)(const char* line)) {
  child_line_cb = cb;
  pipe_open_fd(&child_out, port_fd);
  port_fd = -1;
  check_uv(
      uv_read_start((uv_stream_t*)&child_out, child_out_alloc, child_out_read),
      "read_start");
}

/* ---- echo server (W3, W4, W7) ------------------------------------------ */

static uint64_t nconns; /* server: streams / connections accepted */

static void ye_written(yamux_write_t* req, int status) {
  (void)status; /* UV_ECANCELED when the session closes first: fine */
  ebuf_put(req->data);
}

static void ye_shut(yamux_shutdown_t* req, int status) {
  req_t* r = req->data;
  (void)status;
  if (!yamux_is_closing(&r->stream)) yamux_close(&r->stream, y_closed);
}

static void ye_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  req_t* r = st->data;
  if (n > 0) {
    ebuf_t* e;
    uv_buf_t b;
    if (r->bulk) {
      brecv += (uint64_t)n;
      return;
    }
    e = ebuf_get(buf->base, (size_t)n); /* the lent buffer is ours only now */
    e->req.y.data = e;
    b = uv_buf_init(e->data, (unsigned int)n);
    check_yx(yamux_write(&e->req.y, st, &b, 1, ye_written), "echo write");
    return;
  }
  if (n == 0) return;
  if (n == UV_EOF) {
    if (r->bulk) { /* W7: tell the client we have read all of stream A */
      uv_buf_t b = uv_buf_init(&ackbyte, 1);
      check_yx(yamux_write(&r->wreq, st, &b, 1, NULL), "ack write");
    }
    r->sreq.data = r;
    if (yamux_shutdown(&r->sreq, st, ye_shut) != 0) yamux_close(st, y_closed);
    return;
  }
  if (!yamux_is_closing(st)) yamux_close(st, y_closed);
}

static void ye_conn(yamux_session_t* s, int status) {
  req_t* r = y_accept_req(s);
  (void)status;
  if (r == NULL) return;
  r->bulk = wkind == WL_HOL && nconns == 0; /* W7: A comes first */
  nconns++;
  check_yx(yamux_read_start(&r->stream, NULL, ye_read), "read_start");
}

/* ---- W3 fan-out echo: client ------------------------------------------- */

static void y3_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  req_t* r = st->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done) return;
    die("echo read: %s", yamux_strerror((int)n));
  }
  r->got += (uint64_t)n;
  if (r->got > opt_msg) die("echo too long");
  if (r->got < opt_msg) return;
  yamux_close(st, y_closed);
  if (++completed == opt_streams) {
    y_client_done();
  }
}

static void y3_client_start(void) {
  uint64_t i;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams; i++) {
    req_t* r = req_get();
    r->stream.data = r;
    check_yx(yamux_stream_init(&sess, &r->stream), "stream_init");
    check_yx(yamux_stream_open(NULL, &r->stream, NULL), "open");
    check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, NULL), "write");
    check_yx(yamux_read_start(&r->stream, NULL, y3_read), "read_start");
  }
}

/* ---- ping-pong (W4, W7's stream B): client ----------------------------- */

static void ypp_written(yamux_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("write: %s", yamux_strerror(status));
  }
  pp_written(req->data);
}

static void ypp_write(req_t* r) {
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  r->wpending = 1;
  r->wreq.data = r;
  check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, ypp_written), "write");
}

static void ypp_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  req_t* r = st->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done) return;
    die("read: %s", yamux_strerror((int)n));
  }
  r->got += (uint64_t)n;
  if (r->got > opt_msg) die("echo too long");
  if (r->got == opt_msg) pp_round_trip(r);
}

static req_t* ypp_open(void) {
  req_t* r = req_get();
  r->stream.data = r;
  check_yx(yamux_stream_init(&sess, &r->stream), "stream_init");
  check_yx(yamux_stream_open(NULL, &r->stream, NULL), "open");
  check_yx(yamux_read_start(&r->stream, NULL, ypp_read), "read_start");
  pp_send(r); /* the untimed round trip; rides on the SYN */
  return r;
}

static void ypp_end(void) {
  y_dump_stats();
  yamux_session_close(&sess, NULL);
}

static void y4_client_start(void) {
  uint64_t i;
  pp_write = ypp_write;
  pp_end = ypp_end;
  pp_alloc(opt_streams);
  for (i = 0; i < opt_streams; i++) pp_streams[i] = ypp_open();
}

/* ---- W7 head-of-line: client ------------------------------------------- */

static uv_timer_t hol_timer;
static int bulk_stop;
static yamux_shutdown_t bshut;

static void y7_bulk_written(yamux_write_t* req, int status);

static void y7_pump(void) {
  size_t high = (size_t)(opt_depth * opt_chunk);
  while (!bulk_stop && bnfree > 0 &&
         yamux_stream_get_write_queue_size(&bstream) < high) {
    int slot = bfree[--bnfree];
    uv_buf_t b = uv_buf_init(pattern, (unsigned int)opt_chunk);
    bwrites[slot].data = (void*)(intptr_t)slot;
    check_yx(yamux_write(&bwrites[slot], &bstream, &b, 1, y7_bulk_written),
             "write");
  }
}

static void y7_bulk_written(yamux_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("bulk write: %s", yamux_strerror(status));
  }
  bdone += opt_chunk;
  bfree[bnfree++] = (int)(intptr_t)req->data;
  y7_pump();
}

static void y7_bulk_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)st;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done || pp_phase >= PP_IDLE) return; /* the EOF after the ack */
    die("bulk ack read: %s", yamux_strerror((int)n));
  }
  if (n != 1 || pp_phase != PP_DRAIN) die("unexpected bulk ack");
  pp_bulk_acked();
}

static void y7_stop_bulk(void) {
  bulk_stop = 1; /* the FIN goes after the writes already queued */
  check_yx(yamux_shutdown(&bshut, &bstream, NULL), "shutdown");
}

static void y7_open_b(uv_timer_t* t) {
  uv_close((uv_handle_t*)t, NULL);
  pp_streams[0] = ypp_open();
}

static void y7_client_start(void) {
  unsigned int i;
  pp_write = ypp_write;
  pp_end = ypp_end;
  pp_stop_bulk = y7_stop_bulk;
  pp_alloc(1);
  check_yx(yamux_stream_init(&sess, &bstream), "stream_init");
  check_yx(yamux_stream_open(NULL, &bstream, NULL), "open");
  check_yx(yamux_read_start(&bstream, NULL, y7_bulk_read), "read_start");
  bnfree = 0;
  for (i = 0; i < opt_depth; i++) bfree[bnfree++] = (int)i;
  y7_pump();
  check_uv(uv_timer_init(loop, &hol_timer), "timer_init");
  check_uv(uv_timer_start(&hol_timer, y7_open_b, opt_warmup, 0), "timer_start");
}

/* ---- W6 idle streams --------------------------------------------------- */

static yamux_stream_t* idle_streams; /* -streams handles, touched as used */
static uv_timer_t settle_timer;
static uint64_t rss0, rss1, heap0, heap1;
static uint64_t srv_rss0, srv_rss1, srv_heap0, srv_heap1;
static uint64_t t_open0, t_open1, t_accepted;
static uint64_t t_close0, t_close1, t_closed, t_exit;
static double srv_close_ms = -1;
static uv_timer_t exit_timer;
static int child_killed;

static void y6_noop_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)st;
  (void)n;
  (void)buf;
}

/* C has no GC: settling is only the same 200 ms pause as the Go peers'. */
static void settle(uv_timer_cb cb) {
  check_uv(uv_timer_start(&settle_timer, cb, 200, 0), "timer_start");
}

static void y6_print(void) {
  printf("RESULT impl=%s w=%s transport=%s streams=%" PRIu64
         " mode=%s client_rss_per_stream=%.1f server_rss_per_stream=%.1f"
         " client_heap_per_stream=%.1f server_heap_per_stream=%.1f"
         " open_secs=%.6f accepted_secs=%.6f close_ms=%.3f"
         " close_call_ms=%.3f server_close_ms=%.3f",
         impl_name, wname, transport_names[transport], opt_streams,
         opt_read_mode ? "read" : "hold",
         ((double)rss1 - (double)rss0) / (double)opt_streams,
         ((double)srv_rss1 - (double)srv_rss0) / (double)opt_streams,
         ((double)heap1 - (double)heap0) / (double)opt_streams,
         ((double)srv_heap1 - (double)srv_heap0) / (double)opt_streams,
         (double)(t_open1 - t_open0) / 1e9,
         (double)(t_accepted - t_open0) / 1e9,
         (double)(t_closed - t_close0) / 1e6,
         (double)(t_close1 - t_close0) / 1e6, srv_close_ms);
  if (child_killed)
    printf(" teardown_secs=KILLED>%" PRIu64, opt_exitwait);
  else
    printf(" teardown_secs=%.6f", (double)(t_exit - t_close0) / 1e9);
  print_config();
  printf("\n");
  fflush(stdout);
}

static void y6_closed(yamux_session_t* s) {
  (void)s;
  t_closed = uv_hrtime();
}

static void y6_exit_timeout(uv_timer_t* t) {
  (void)t;
  child_killed = 1;
  uv_process_kill(&child, SIGKILL);
}

static void y6_child_exit(uv_process_t* p, int64_t status, int sig) {
  t_exit = uv_hrtime();
  on_child_exit(p, status, sig);
  uv_close((uv_handle_t*)&exit_timer, NULL);
}

static void y6_client_measured(uv_timer_t* t) {
  (void)t;
  rss1 = rss_bytes();
  heap1 = heap_bytes();
  uv_close((uv_handle_t*)&settle_timer, NULL);
  done = 1;
  /* Teardown: close the session with every stream open. */
  check_uv(uv_timer_init(loop, &exit_timer), "timer_init");
  check_uv(uv_timer_start(&exit_timer, y6_exit_timeout, opt_exitwait * 1000, 0),
           "timer_start");
  child.exit_cb = y6_child_exit;
  t_close0 = uv_hrtime();
  yamux_session_close(&sess, y6_closed);
  t_close1 = uv_hrtime();
}

static void y6_open_all(uv_timer_t* t) {
  uint64_t i;
  (void)t;
  rss0 = rss_bytes();
  heap0 = heap_bytes();
  t_open0 = uv_hrtime();
  for (i = 0; i < opt_streams; i++) {
    yamux_stream_t* st = &idle_streams[i];
    check_yx(yamux_stream_init(&sess, st), "stream_init");
    check_yx(yamux_stream_open(NULL, st, NULL), "open");
    if (opt_read_mode)
      check_yx(yamux_read_start(st, NULL, y6_noop_read), "read_start");
  }
  t_open1 = uv_hrtime();
}

static void y6_child_line(const char* line) {
  double ms;
  if (strncmp(line, "READY ", 6) == 0) {
    if (sscanf(line, "READY rss=%" SCNu64 " heap=%" SCNu64, &srv_rss0,
               &srv_heap0) != 2)
      die("bad line '%s'", line);
    settle(y6_open_all);
  } else if (strcmp(line, "ACCEPTED") == 0) {
    t_accepted = uv_hrtime();
  } else if (strncmp(line, "HELD ", 5) == 0) {
    if (sscanf(line, "HELD rss=%" SCNu64 " heap=%" SCNu64, &srv_rss1,
               &srv_heap1) != 2)
      die("bad line '%s'", line);
    settle(y6_client_measured);
  } else if (sscanf(line, "CLOSED ms=%lf", &ms) == 1) {
    srv_close_ms = ms;
  } else {
    die("unexpected line from the server: '%s'", line);
  }
}

static void y6_client_start(void) {
  idle_streams = calloc((size_t)opt_streams, sizeof(*idle_streams));
  if (idle_streams == NULL) die("calloc");
  check_uv(uv_timer_init(loop, &settle_timer), "timer_init");
  watch_child_out(y6_child_line);
}

/* W6 server. */
static uint64_t t_srv_end;

static void y6_srv_held(uv_timer_t* t) {
  (void)t;
  printf("HELD rss=%" PRIu64 " heap=%" PRIu64 "\n", rss_bytes(), heap_bytes());
  fflush(stdout);
  uv_close((uv_handle_t*)&settle_timer, NULL);
}

static void y6_srv_conn(yamux_session_t* s, int status) {
  yamux_stream_t* st;
  (void)status;
  if (nconns == opt_streams) die("more streams than -streams");
  st = &idle_streams[nconns];
  check_yx(yamux_stream_init(s, st), "stream_init");
  if (yamux_accept(s, st) != 0) return;
  if (opt_read_mode)
    check_yx(yamux_read_start(st, NULL, y6_noop_read), "read_start");
  if (++nconns == opt_streams) {
    printf("ACCEPTED\n");
    fflush(stdout);
    settle(y6_srv_held);
  }
}

static void y6_srv_ready(uv_timer_t* t) {
  (void)t;
  printf("READY rss=%" PRIu64 " heap=%" PRIu64 "\n", rss_bytes(), heap_bytes());
  fflush(stdout);
  check_yx(yamux_session_listen(&sess, y6_srv_conn), "listen");
}

static void y6_srv_closed(yamux_session_t* s) {
  (void)s;
  printf("CLOSED ms=%.3f\n", (double)(uv_hrtime() - t_srv_end) / 1e6);
  fflush(stdout);
}

static void y6_server_end(yamux_session_t* s, int status) {
  if (status != UV_EOF && status != YAMUX_EPEERGOAWAY)
    fprintf(stderr, "yxbench server: session ended: %s\n",
            yamux_strerror(status));
  t_srv_end = uv_hrtime();
  yamux_session_close(s, y6_srv_closed);
}

static void y6_srv_start(void) {
  idle_streams = calloc((size_t)opt_streams, sizeof(*idle_streams));
  if (idle_streams == NULL) die("calloc");
  check_uv(uv_timer_init(loop, &settle_timer), "timer_init");
  settle(y6_srv_ready);
}

/* ---- libyamux transports ----------------------------------------------- */

static uv_connect_t tcp_connect_req;

static void y_client_ready(void) {
  switch (wkind) {
    case WL_BULK:
      yb_client_start();
      break;
    case WL_SPR:
      y5_client_start();
      break;
    case WL_ECHO:
      y3_client_start();
      break;
    case WL_RPC:
      y4_client_start();
      break;
    case WL_IDLE:
      y6_client_start();
      break;
    case WL_HOL:
      y7_client_start();
      break;
  }
}

static void print_result(void) {
  switch (wkind) {
    case WL_BULK:
      print_bulk_result();
      break;
    case WL_SPR:
      print_spr_result();
      break;
    case WL_ECHO:
      print_echo_result();
      break;
    case WL_RPC:
      print_rpc_result();
      break;
    case WL_IDLE:
      y6_print();
      break;
    case WL_HOL:
      print_hol_result();
      break;
  }
}

static void y_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&sess.io[0].tcp, 1), "nodelay");
  check_yx(yamux_session_start_uv(loop, &sess, 1, y_client_end), "start_uv");
  y_client_ready();
}

static int run_yamux_client(int argc, char** argv) {
  check_yx(yamux_session_init(&sess, YAMUX_CLIENT, y_config()), "session_init");
  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    sockaddr_loopback(&addr, spawn_tcp_child(argc, argv));
    check_uv(uv_tcp_init(loop, &sess.io[0].tcp), "tcp_init");
    check_uv(uv_tcp_connect(&tcp_connect_req, &sess.io[0].tcp,
                            (const struct sockaddr*)&addr, y_tcp_connected),
             "connect");
  } else if (transport == TR_PIPE) {
    int tx, rx;
    spawn_pipe_child(argc, argv, &tx, &rx);
    pipe_open_fd(&sess.io[0].pipe, rx);
    pipe_open_fd(&sess.io[1].pipe, tx);
    check_yx(yamux_session_start_uv(loop, &sess, 0, y_client_end), "start_uv");
    y_client_ready();
  } else {
    /* What a user of yamux_session_spawn() gets: socketpairs. */
    char self[4096];
    uv_process_options_t opts;
    char** args = child_options(argc, argv, self, sizeof(self), &opts);
    check_yx(yamux_session_spawn(loop, &sess, &child, &opts, y_client_end),
             "spawn");
    free(args);
    y_client_ready();
  }
  if (wkind == WL_IDLE) {
    uv_run(loop, UV_RUN_DEFAULT);
    if (!done || !child_exited) die("not done");
    if (port_fd >= 0) close(port_fd);
  } else {
    reap_child();
  }
  if (!done) die("not done");
  req_pool_free();
  print_result();
  return 0;
}

static void y_srv_start(void) {
  if (wkind == WL_BULK)
    check_yx(yamux_session_listen(&sess, yb_srv_conn), "listen");
  else if (wkind == WL_SPR)
    check_yx(yamux_session_listen(&sess, ys5_conn), "listen");
  else if (wkind == WL_IDLE)
    y6_srv_start();
  else
    check_yx(yamux_session_listen(&sess, ye_conn), "listen");
}

static void y_srv_tcp_conn(uv_stream_t* server, int status) {
  tcp_accept(server, status, &sess.io[0].tcp);
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  check_yx(yamux_session_start_uv(
               loop, &sess, 1, wkind == WL_IDLE ? y6_server_end : y_server_end),
           "start_uv");
  y_srv_start();
}

/* The end of both servers: run, free, check what the workload received. */
static int server_run(void) {
  uv_run(loop, UV_RUN_DEFAULT);
  req_pool_free();
  ebuf_pool_free();
  if (wkind == WL_BULK && brecv != opt_size)
    die("received %" PRIu64 " of %" PRIu64 " bytes", brecv, opt_size);
  if (wkind == WL_SPR && served != opt_count)
    die("served %" PRIu64 " of %" PRIu64, served, opt_count);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static int run_yamux_server(void) {
  check_yx(yamux_session_init(&sess, YAMUX_SERVER, y_config()), "session_init");
  if (transport == TR_TCP) {
    uv_listen_tcp(y_srv_tcp_conn);
  } else {
    check_yx(yamux_session_start_stdio(loop, &sess, y_server_end),
             "start_stdio");
    y_srv_start();
  }
  return server_run();
}

/* ======================================================================== */
/* raw libuv                                                                */

static uv_tcp_t raw_tcp;
static uv_pipe_t raw_pipe_rx, raw_pipe_tx;
static uv_stream_t* raw_rx;
static uv_stream_t* raw_tx;
static uv_write_t uwrites[MAX_DEPTH];
static unsigned int uinflight;
static uv_write_t uackreq;

static void raw_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(rxbuf, sizeof(rxbuf));
}

static void raw_close_all(void) {
  if (!uv_is_closing((uv_handle_t*)raw_rx))
    uv_close((uv_handle_t*)raw_rx, on_handle_closed);
  if (raw_tx != raw_rx && !uv_is_closing((uv_handle_t*)raw_tx))
    uv_close((uv_handle_t*)raw_tx, on_handle_closed);
}

/* ---- bulk: client ------------------------------------------------------ */

static void rb_write_cb(uv_write_t* req, int status);

static void rb_pump(void) {
  while (bsent < opt_size && uinflight < opt_depth) {
    uint64_t n = opt_size - bsent < opt_chunk ? opt_size - bsent : opt_chunk;
    uv_buf_t b = uv_buf_init(pattern, (unsigned int)n);
    uv_write_t* req = &uwrites[bfree[--bnfree]];
    check_uv(uv_write(req, raw_tx, &b, 1, rb_write_cb), "write");
    uinflight++;
    bsent += n;
  }
}

static void rb_write_cb(uv_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("write: %s", uv_strerror(status));
  }
  uinflight--;
  bfree[bnfree++] = (int)(req - uwrites);
  rb_pump();
}

static void rb_read_ack(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) die("ack read: %s", uv_strerror((int)n));
  if (n != 1 || bsent != opt_size) die("unexpected ack");
  t_end = uv_hrtime();
  done = 1;
  raw_close_all();
}

static void rb_client_start(void) {
  unsigned int i;
  bnfree = 0;
  for (i = 0; i < opt_depth; i++) bfree[bnfree++] = (int)i;
  check_uv(uv_read_start(raw_rx, raw_alloc, rb_read_ack), "read_start");
  t_start = uv_hrtime();
  rb_pump();
}

/* ---- bulk: server ------------------------------------------------------ */

static void rb_srv_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    raw_close_all();
    return;
  }
  brecv += (uint64_t)n;
  if (brecv > opt_size) die("received too much");
  if (brecv == opt_size) {
    uv_buf_t b = uv_buf_init(&ackbyte, 1);
    check_uv(uv_write(&uackreq, raw_tx, &b, 1, NULL), "ack write");
  }
}

/* ---- stream per request: one TCP connection each ----------------------- */

static struct sockaddr_in peer_addr;

static void r_closed(uv_handle_t* h) {
  req_put(h->data);
}

static void r5_written(uv_write_t* req, int status) {
  (void)req;
  (void)status;
}

static void r5_start(void);

static void r5_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  (void)buf;
  if (n > 0) {
    r->got += (uint64_t)n;
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF) die("request read: %s", uv_strerror((int)n));
  if (r->got != opt_resp) die("response of %" PRIu64 " bytes", r->got);
  completed++;
  uv_close((uv_handle_t*)s, r_closed);
  if (started < opt_count) {
    r5_start();
  } else if (completed == opt_count) {
    t_end = uv_hrtime();
    done = 1;
  }
}

/* Connects r->tcp to peer_addr. */
static void r_connect(req_t* r, uv_connect_cb cb) {
  check_uv(uv_tcp_init(loop, &r->tcp), "tcp_init");
  r->tcp.data = r;
  r->creq.data = r;
  check_uv(
      uv_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr*)&peer_addr, cb),
      "connect");
}

/* W3/W5 connected: write the -msg request and read the answer with cb. */
static void r_send_request(uv_connect_t* creq, int status, uv_read_cb cb) {
  req_t* r = creq->data;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  check_uv(uv_write(&r->uwreq, (uv_stream_t*)&r->tcp, &b, 1, r5_written),
           "write");
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, cb), "read_start");
}

static void r5_connected(uv_connect_t* creq, int status) {
  r_send_request(creq, status, r5_read);
}

static void r5_start(void) {
  started++;
  r_connect(req_get(), r5_connected);
}

static void rs5_written(uv_write_t* req, int status) {
  (void)status;
  uv_close((uv_handle_t*)req->handle, r_closed);
}

static void rs5_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    uv_close((uv_handle_t*)s, r_closed);
    return;
  }
  r->got += (uint64_t)n;
  if (r->got > opt_msg) die("request too long");
  if (r->got == opt_msg) {
    uv_buf_t b = uv_buf_init(respbuf, (unsigned int)opt_resp);
    uv_read_stop(s);
    served++;
    check_uv(uv_write(&r->uwreq, s, &b, 1, rs5_written), "write");
  }
}

static uint64_t accepted;

static void rs5_conn(uv_stream_t* server, int status) {
  req_t* r = req_get();
  tcp_accept(server, status, &r->tcp);
  r->tcp.data = r;
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, rs5_read),
           "read_start");
  if (++accepted == opt_count)
    uv_close((uv_handle_t*)&listener, on_handle_closed);
}

/* ---- echo server (W3, W4, W7) ------------------------------------------ */

static uv_pipe_t pp_pipe_rx, pp_pipe_tx; /* W7p: the ping-pong pipe pair */

/* Closes a raw connection (one TCP handle or a pipe pair) and frees r. */
static void r_close(req_t* r) {
  if (r->urx == r->utx) {
    if (!uv_is_closing((uv_handle_t*)r->urx))
      uv_close((uv_handle_t*)r->urx, r_closed);
    return;
  }
  if (!uv_is_closing((uv_handle_t*)r->utx)) {
    uv_close((uv_handle_t*)r->urx, NULL);
    uv_close((uv_handle_t*)r->utx, r_closed);
  }
}

static void re_written(uv_write_t* req, int status) {
  (void)status;
  ebuf_put(req->data);
}

static void re_ack_written(uv_write_t* req, int status) {
  (void)status;
  r_close(req->data);
}

static void re_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  if (n > 0) {
    ebuf_t* e;
    uv_buf_t b;
    if (r->bulk) {
      brecv += (uint64_t)n;
      return;
    }
    e = ebuf_get(buf->base, (size_t)n);
    e->req.u.data = e;
    b = uv_buf_init(e->data, (unsigned int)n);
    check_uv(uv_write(&e->req.u, r->utx, &b, 1, re_written), "echo write");
    return;
  }
  if (n == 0) return;
  if (n == UV_EOF && r->bulk) { /* W7: we have read all of A: say so */
    uv_buf_t b = uv_buf_init(&ackbyte, 1);
    uv_read_stop(s);
    r->uwreq.data = r;
    check_uv(uv_write(&r->uwreq, r->utx, &b, 1, re_ack_written), "ack");
    return;
  }
  r_close(r);
}

static void re_start(req_t* r, uv_stream_t* rx, uv_stream_t* tx) {
  r->urx = rx;
  r->utx = tx;
  rx->data = r;
  tx->data = r;
  r->bulk = wkind == WL_HOL && nconns == 0; /* W7: A comes first */
  nconns++;
  check_uv(uv_read_start(rx, raw_alloc, re_read), "read_start");
}

static void re_conn(uv_stream_t* server, int status) {
  req_t* r;
  uint64_t expect = wkind == WL_HOL ? 2 : opt_streams;
  r = req_get();
  tcp_accept(server, status, &r->tcp);
  re_start(r, (uv_stream_t*)&r->tcp, (uv_stream_t*)&r->tcp);
  if (nconns == expect) uv_close((uv_handle_t*)&listener, on_handle_closed);
}

/* W7p: A on fds 0/1, B on fds 3/4. */
static void re_pipes_start(void) {
  pipe_open_fd(&raw_pipe_rx, 0);
  pipe_open_fd(&raw_pipe_tx, 1);
  pipe_open_fd(&pp_pipe_rx, 3);
  pipe_open_fd(&pp_pipe_tx, 4);
  re_start(req_get(), (uv_stream_t*)&raw_pipe_rx, (uv_stream_t*)&raw_pipe_tx);
  re_start(req_get(), (uv_stream_t*)&pp_pipe_rx, (uv_stream_t*)&pp_pipe_tx);
}

/* ---- W3: one TCP connection per stream --------------------------------- */

static void r3_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) die("echo read: %s", uv_strerror((int)n));
  r->got += (uint64_t)n;
  if (r->got > opt_msg) die("echo too long");
  if (r->got < opt_msg) return;
  uv_close((uv_handle_t*)s, r_closed);
  if (++completed == opt_streams) {
    t_end = uv_hrtime();
    done = 1;
  }
}

static void r3_connected(uv_connect_t* creq, int status) {
  r_send_request(creq, status, r3_read);
}

static void r3_client_start(void) {
  uint64_t i;
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams; i++) r_connect(req_get(), r3_connected);
}

/* ---- ping-pong (W4; W7's connection B) --------------------------------- */

static void rpp_written(uv_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("write: %s", uv_strerror(status));
  }
  pp_written(req->data);
}

static void rpp_write(req_t* r) {
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  r->wpending = 1;
  r->uwreq.data = r;
  check_uv(uv_write(&r->uwreq, r->utx, &b, 1, rpp_written), "write");
}

static void rpp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done) return;
    die("read: %s", uv_strerror((int)n));
  }
  r->got += (uint64_t)n;
  if (r->got > opt_msg) die("echo too long");
  if (r->got == opt_msg) pp_round_trip(r);
}

static void rpp_start(req_t* r, uv_stream_t* rx, uv_stream_t* tx) {
  r->urx = rx;
  r->utx = tx;
  rx->data = r;
  tx->data = r;
  check_uv(uv_read_start(rx, raw_alloc, rpp_read), "read_start");
  pp_send(r); /* the untimed round trip */
}

static void rpp_connected(uv_connect_t* creq, int status) {
  req_t* r = creq->data;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  rpp_start(r, (uv_stream_t*)&r->tcp, (uv_stream_t*)&r->tcp);
}

static req_t* rpp_connect(void) {
  req_t* r = req_get();
  r_connect(r, rpp_connected);
  return r;
}

static void rpp_end(void) {
  uint64_t i;
  for (i = 0; i < pp_nstreams; i++) r_close(pp_streams[i]);
  if (raw_rx != NULL) raw_close_all();
}

static void r4_client_start(void) {
  uint64_t i;
  pp_write = rpp_write;
  pp_end = rpp_end;
  pp_alloc(opt_streams);
  for (i = 0; i < opt_streams; i++) pp_streams[i] = rpp_connect();
}

/* ---- W7: bulk connection A + ping-pong connection B -------------------- */

static uv_timer_t rhol_timer;
static uv_shutdown_t rbshut;

static void r7_written(uv_write_t* req, int status);

static void r7_pump(void) {
  while (!bulk_stop && uinflight < opt_depth) {
    uv_buf_t b = uv_buf_init(pattern, (unsigned int)opt_chunk);
    uv_write_t* req = &uwrites[bfree[--bnfree]];
    check_uv(uv_write(req, raw_tx, &b, 1, r7_written), "write");
    uinflight++;
  }
}

/* A is done: EOF to the server (pipes have no shutdown(2): close). */
static void r7_end_a(void) {
  if (transport == TR_TCP)
    check_uv(uv_shutdown(&rbshut, raw_tx, NULL), "shutdown");
  else
    uv_close((uv_handle_t*)raw_tx, on_handle_closed);
}

static void r7_written(uv_write_t* req, int status) {
  if (status < 0) {
    if (done) return;
    die("bulk write: %s", uv_strerror(status));
  }
  uinflight--;
  bdone += opt_chunk;
  bfree[bnfree++] = (int)(req - uwrites);
  if (bulk_stop && uinflight == 0)
    r7_end_a();
  else
    r7_pump();
}

static void r7_stop_bulk(void) {
  bulk_stop = 1;
  if (uinflight == 0) r7_end_a();
}

static void r7_bulk_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (done || pp_phase >= PP_IDLE) return;
    die("bulk ack read: %s", uv_strerror((int)n));
  }
  if (n != 1 || pp_phase != PP_DRAIN) die("unexpected bulk ack");
  pp_bulk_acked();
}

static void r7_open_b(uv_timer_t* t) {
  uv_close((uv_handle_t*)t, NULL);
  if (transport == TR_TCP) {
    pp_streams[0] = rpp_connect();
    return;
  }
  pipe_open_fd(&pp_pipe_rx, extra_rx);
  pipe_open_fd(&pp_pipe_tx, extra_tx);
  pp_streams[0] = req_get();
  rpp_start(pp_streams[0], (uv_stream_t*)&pp_pipe_rx,
            (uv_stream_t*)&pp_pipe_tx);
}

/* raw_rx/raw_tx are A, connected. */
static void r7_client_start(void) {
  unsigned int i;
  pp_write = rpp_write;
  pp_end = rpp_end;
  pp_stop_bulk = r7_stop_bulk;
  pp_alloc(1);
  bnfree = 0;
  for (i = 0; i < opt_depth; i++) bfree[bnfree++] = (int)i;
  check_uv(uv_read_start(raw_rx, raw_alloc, r7_bulk_read), "read_start");
  r7_pump();
  check_uv(uv_timer_init(loop, &rhol_timer), "timer_init");
  check_uv(uv_timer_start(&rhol_timer, r7_open_b, opt_warmup, 0),
           "timer_start");
}

/* ---- raw libuv: transports --------------------------------------------- */

static void rb_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&raw_tcp, 1), "nodelay");
  if (wkind == WL_HOL)
    r7_client_start();
  else
    rb_client_start();
}

static int run_raw_uv_client(int argc, char** argv) {
  if (wkind == WL_SPR) {
    uint64_t i;
    sockaddr_loopback(&peer_addr, spawn_tcp_child(argc, argv));
    t_start = uv_hrtime();
    for (i = 0; i < opt_streams && started < opt_count; i++) r5_start();
  } else if (wkind == WL_ECHO) {
    sockaddr_loopback(&peer_addr, spawn_tcp_child(argc, argv));
    r3_client_start();
  } else if (wkind == WL_RPC) {
    sockaddr_loopback(&peer_addr, spawn_tcp_child(argc, argv));
    r4_client_start();
  } else if (transport == TR_TCP) {
    struct sockaddr_in addr;
    sockaddr_loopback(&addr, spawn_tcp_child(argc, argv));
    peer_addr = addr;
    check_uv(uv_tcp_init(loop, &raw_tcp), "tcp_init");
    raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
    check_uv(uv_tcp_connect(&tcp_connect_req, &raw_tcp,
                            (const struct sockaddr*)&addr, rb_tcp_connected),
             "connect");
  } else if (transport == TR_PIPE) {
    int tx, rx;
    spawn_pipe_child(argc, argv, &tx, &rx);
    pipe_open_fd(&raw_pipe_rx, rx);
    pipe_open_fd(&raw_pipe_tx, tx);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    if (wkind == WL_HOL)
      r7_client_start();
    else
      rb_client_start();
  } else {
    /* uv_spawn's own UV_CREATE_PIPE: AF_UNIX socketpairs. */
    uv_stdio_container_t stdio[3];
    check_uv(uv_pipe_init(loop, &raw_pipe_rx, 0), "pipe_init");
    check_uv(uv_pipe_init(loop, &raw_pipe_tx, 0), "pipe_init");
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t*)&raw_pipe_tx;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t*)&raw_pipe_rx;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    spawn_child(argc, argv, stdio);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    rb_client_start();
  }
  reap_child();
  if (!done) die("not done");
  req_pool_free();
  print_result();
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static void rb_srv_tcp_conn(uv_stream_t* server, int status) {
  tcp_accept(server, status, &raw_tcp);
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
  check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
}

static int run_raw_uv_server(void) {
  if (wkind == WL_SPR) {
    uv_listen_tcp(rs5_conn);
  } else if (wkind == WL_ECHO || wkind == WL_RPC ||
             (wkind == WL_HOL && transport == TR_TCP)) {
    uv_listen_tcp(re_conn);
  } else if (wkind == WL_HOL) {
    re_pipes_start();
  } else if (transport == TR_TCP) {
    uv_listen_tcp(rb_srv_tcp_conn);
  } else {
    pipe_open_fd(&raw_pipe_rx, 0);
    pipe_open_fd(&raw_pipe_tx, 1);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
  }
  return server_run();
}

/* ======================================================================== */
/* raw blocking read(2)/write(2)                                            */

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

static int run_raw_block_client(int argc, char** argv) {
  int tx, rx;
  char ack;
  ssize_t n;

  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    sockaddr_loopback(&addr, spawn_tcp_child(argc, argv));
    tx = rx = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tx < 0) die("socket: %s", strerror(errno));
    if (connect(tx, (const struct sockaddr*)&addr, sizeof(addr)) != 0)
      die("connect: %s", strerror(errno));
    set_nodelay_fd(tx);
  } else if (transport == TR_PIPE) {
    spawn_pipe_child(argc, argv, &tx, &rx);
  } else {
    die("raw_block has no socketpair variant");
    return 1;
  }
  t_start = uv_hrtime();
  while (bsent < opt_size) {
    uint64_t k = opt_size - bsent < opt_chunk ? opt_size - bsent : opt_chunk;
    write_all(tx, pattern, (size_t)k);
    bsent += k;
  }
  do n = read(rx, &ack, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) die("ack read: %s", n == 0 ? "EOF" : strerror(errno));
  t_end = uv_hrtime();
  close(tx);
  if (rx != tx) close(rx);
  reap_child();
  print_bulk_result();
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static int run_raw_block_server(void) {
  int rx = 0, tx = 1, lfd = -1;
  ssize_t n;

  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket: %s", strerror(errno));
    sockaddr_loopback(&addr, 0);
    if (bind(lfd, (const struct sockaddr*)&addr, sizeof(addr)) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr*)&addr, &len) != 0)
      die("listen: %s", strerror(errno));
    print_port(ntohs(addr.sin_port));
    rx = tx = accept(lfd, NULL, NULL);
    if (rx < 0) die("accept: %s", strerror(errno));
    close(lfd);
    set_nodelay_fd(rx);
  }
  while (brecv < opt_size) {
    n = read(rx, rxbuf, sizeof(rxbuf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read: %s", n == 0 ? "EOF" : strerror(errno));
    brecv += (uint64_t)n;
  }
  if (brecv != opt_size) die("received too much");
  write_all(tx, &ackbyte, 1);
  /* Wait for the client's close. */
  while ((n = read(rx, rxbuf, sizeof(rxbuf))) != 0)
    if (n < 0 && errno != EINTR) break;
  return 0;
}

/* ======================================================================== */

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

int main(int argc, char** argv) {
  uint64_t timeout = opt_timeout;
  int i;

  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strncmp(a, "--", 2) == 0) a++; /* accept --flag too */
    if (strcmp(a, "-role=server") == 0) {
      is_server = 1;
    } else if (strcmp(a, "-role=client") == 0) {
      is_server = 0;
    } else if (strncmp(a, "-impl=", 6) == 0) {
      impl_name = a + 6;
      if (strcmp(impl_name, "libyamux") == 0)
        impl = IMPL_YAMUX;
      else if (strcmp(impl_name, "raw_uv") == 0)
        impl = IMPL_RAW_UV;
      else if (strcmp(impl_name, "raw_block") == 0)
        impl = IMPL_RAW_BLOCK;
      else
        usage();
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
  if (strcmp(wname, "W1") == 0 || strcmp(wname, "W1pin") == 0) {
    wkind = WL_BULK;
    transport = TR_TCP;
  } else if (strcmp(wname, "W2") == 0 || strcmp(wname, "W2pin") == 0) {
    wkind = WL_BULK;
    transport = want_socketpair ? TR_SOCKETPAIR : TR_PIPE;
  } else if (strcmp(wname, "W5") == 0) {
    wkind = WL_SPR;
    transport = TR_TCP;
  } else if (strcmp(wname, "W3") == 0) {
    wkind = WL_ECHO;
    transport = TR_TCP;
  } else if (strcmp(wname, "W4") == 0) {
    wkind = WL_RPC;
    transport = TR_TCP;
  } else if (strcmp(wname, "W6") == 0 || strcmp(wname, "W6hold") == 0 ||
             strcmp(wname, "W6read") == 0) {
    wkind = WL_IDLE; /* W6hold / W6read: W6 with that -mode */
    transport = TR_TCP;
    if (wname[2] != '\0') opt_read_mode = wname[2] == 'r';
  } else if (strcmp(wname, "W7") == 0 || strcmp(wname, "W7p") == 0) {
    wkind = WL_HOL;
    transport = wname[2] == 'p' ? TR_PIPE : TR_TCP;
  } else {
    usage();
  }
  /* Workload defaults (WORKLOADS.md) for what was not given. */
  {
    static const struct {
      wl_kind_t k;
      uint64_t streams, count, msg;
    } defs[] = {{WL_BULK, 1, 1, 1},       {WL_SPR, 32, 100000, 100},
                {WL_ECHO, 8192, 1, 1024}, {WL_RPC, 64, 200000, 64},
                {WL_IDLE, 100000, 1, 1},  {WL_HOL, 1, 20000, 64}};
    size_t k;
    for (k = 0; k < sizeof(defs) / sizeof(defs[0]); k++) {
      if (defs[k].k != wkind) continue;
      if (opt_streams == 0) opt_streams = defs[k].streams;
      if (opt_count == 0) opt_count = defs[k].count;
      if (opt_msg == 0) opt_msg = defs[k].msg;
    }
  }
  if (wkind == WL_HOL) opt_size = UINT64_MAX; /* A writes until told */
  if (opt_depth < 1 || opt_depth > MAX_DEPTH || opt_chunk < 1 ||
      opt_chunk > (1u << 30) || opt_size < 1 || opt_msg < 1 || opt_resp < 1 ||
      opt_count < 1 || opt_streams < 1)
    usage();
  if (wkind != WL_BULK && impl == IMPL_RAW_BLOCK) {
    fprintf(stderr, "yxbench: %s has no raw_block variant\n", wname);
    return 2;
  }
  if (wkind == WL_IDLE && impl != IMPL_YAMUX) {
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

  if (is_server) {
    switch (impl) {
      case IMPL_YAMUX:
        return run_yamux_server();
      case IMPL_RAW_UV:
        return run_raw_uv_server();
      default:
        return run_raw_block_server();
    }
  }
  switch (impl) {
    case IMPL_YAMUX:
      return run_yamux_client(argc, argv);
    case IMPL_RAW_UV:
      return run_raw_uv_client(argc, argv);
    default:
      return run_raw_block_client(argc, argv);
  }
}
