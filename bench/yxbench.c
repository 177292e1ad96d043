/* yxbench: workloads W1, W2 and W5 of shared/bench/WORKLOADS.md for libyamux
 * and for the raw transport without multiplexing.
 *
 * One run measures one (impl, workload) pair and prints exactly one line on
 * stdout:
 *   RESULT impl=<impl> w=<W> transport=<tcp|pipe|socketpair> key=value ...
 * The client (this process) spawns itself as the server (-role=server).
 *
 * Usage: yxbench -impl=libyamux|raw_uv|raw_block -w=W1|W1pin|W2|W2pin|W5
 *        [-size=BYTES] [-chunk=BYTES] [-depth=N] [-streams=N] [-count=N]
 *        [-msg=BYTES] [-resp=BYTES] [-transport=pipe|socketpair]
 *        [-timeout=SECS] [-frame=BYTES] [-window=BYTES]
 *
 *  W1   bulk over one TCP connection: one stream, -size bytes in -chunk
 *       writes, the server acks with 1 byte when it has everything.
 *  W2   the same over the child's stdin/stdout: two pipe(2)s made here and
 *       passed with UV_INHERIT_FD (-transport=socketpair instead uses what
 *       uv_spawn's UV_CREATE_PIPE or yamux_session_spawn() give: AF_UNIX
 *       socketpairs; for information only).
 *  W5   stream per request over TCP: -streams requests in flight until
 *       -count completed; a request writes -msg bytes, the server answers
 *       -resp bytes and closes. raw_uv: one TCP connection per request.
 *  W1pin/W2pin are W1/W2; the driver runs them under `taskset -c 0` (the
 *  child inherits the affinity).
 *
 * libyamux is used as a demanding user would: zero-copy writes with -depth
 * 64 KiB writes in flight (write callbacks and the stream's write queue size
 * as backpressure), reads into one reused buffer consumed inside read_cb,
 * TCP_NODELAY on. Timing uses uv_hrtime() in the client; connection and
 * session set-up and teardown are not timed.
 */
#include <errno.h>
#include <inttypes.h>
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
typedef enum { WL_BULK, WL_SPR } wl_kind_t;
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
static uint64_t opt_streams = 32;
static uint64_t opt_count = 100000;
static uint64_t opt_msg = 100;
static uint64_t opt_resp = 1024;
static unsigned int opt_timeout = 600;
static uint64_t opt_frame; /* libyamux max_frame_size; 0: the default */
static uint64_t opt_window; /* libyamux initial_window; 0: the default */

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

static double elapsed_secs(void) { return (double)(t_end - t_start) / 1e9; }

/* ---- generic helpers --------------------------------------------------- */

static void set_nodelay_fd(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    die("TCP_NODELAY: %s", strerror(errno));
}

static void on_handle_closed(uv_handle_t* h) { (void)h; }

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

/* Spawns the server child with the given stdio (count 3). */
static void spawn_child(int argc, char** argv, uv_stdio_container_t* stdio) {
  char self[4096];
  size_t len = sizeof(self);
  uv_process_options_t opts;
  char** args;

  check_uv(uv_exepath(self, &len), "exepath");
  args = child_argv(argc, argv, self);
  memset(&opts, 0, sizeof(opts));
  opts.file = self;
  opts.args = args;
  opts.exit_cb = on_child_exit;
  opts.stdio = stdio;
  opts.stdio_count = 3;
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
static void spawn_pipe_child(int argc, char** argv, int* our_tx,
                             int* our_rx) {
  uv_stdio_container_t stdio[3];
  uv_file in[2], out[2];

  check_uv(uv_pipe(in, 0, 0), "pipe");
  check_uv(uv_pipe(out, 0, 0), "pipe");
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = in[0];
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  spawn_child(argc, argv, stdio);
  close(in[0]);
  close(out[1]);
  *our_tx = in[1];
  *our_rx = out[0];
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
         " msg=%" PRIu64 " resp=%" PRIu64 " secs=%.6f req_per_s=%.0f\n",
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
  check_uv(uv_listen((uv_stream_t*)&listener, 4096, cb), "listen");
  check_uv(uv_tcp_getsockname(&listener, (struct sockaddr*)&name, &len),
           "getsockname");
  print_port(ntohs(((struct sockaddr_in*)&name)->sin_port));
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

/* Library defaults unless -frame / -window say otherwise (then printed in
 * the RESULT line as config changes). */
static const yamux_config_t* y_config(void) {
  static yamux_config_t cfg;
  yamux_config_init(&cfg);
  if (opt_frame) cfg.max_frame_size = (uint32_t)opt_frame;
  if (opt_window) cfg.initial_window = (uint32_t)opt_window;
  return &cfg;
}

static void print_config(void) {
  if (impl != IMPL_YAMUX) return;
  if (opt_frame) printf(" max_frame_size=%" PRIu64, opt_frame);
  if (opt_window) printf(" initial_window=%" PRIu64, opt_window);
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
  t_end = uv_hrtime();
  done = 1;
  y_dump_stats();
  yamux_session_close(&sess, NULL);
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
  uint64_t got;
  int responded;
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
  r->got = 0;
  r->responded = 0;
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

static void y5_closed(yamux_stream_t* st) { req_put(st->data); }

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
  yamux_close(st, y5_closed);
  if (started < opt_count) {
    y5_start();
  } else if (completed == opt_count) {
    t_end = uv_hrtime();
    done = 1;
    y_dump_stats();
    yamux_session_close(&sess, NULL);
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

static void ys5_conn(yamux_session_t* s, int status) {
  req_t* r = req_get();
  (void)status;
  r->stream.data = r;
  check_yx(yamux_stream_init(s, &r->stream), "stream_init");
  if (yamux_accept(s, &r->stream) != 0) {
    req_put(r);
    return;
  }
  check_yx(yamux_read_start(&r->stream, NULL, ys5_read), "read_start");
}

/* ---- libyamux transports ----------------------------------------------- */

static uv_connect_t tcp_connect_req;

static void y_client_ready(void) {
  if (wkind == WL_BULK)
    yb_client_start();
  else
    y5_client_start();
}

static void y_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&sess.io[0].tcp, 1), "nodelay");
  check_yx(yamux_session_start_uv(loop, &sess, 1, y_client_end), "start_uv");
  y_client_ready();
}

static int run_yamux_client(int argc, char** argv) {
  check_yx(yamux_session_init(&sess, YAMUX_CLIENT, y_config()),
           "session_init");
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
    check_uv(uv_pipe_init(loop, &sess.io[0].pipe, 0), "pipe_init");
    check_uv(uv_pipe_open(&sess.io[0].pipe, rx), "pipe_open");
    check_uv(uv_pipe_init(loop, &sess.io[1].pipe, 0), "pipe_init");
    check_uv(uv_pipe_open(&sess.io[1].pipe, tx), "pipe_open");
    check_yx(yamux_session_start_uv(loop, &sess, 0, y_client_end),
             "start_uv");
    y_client_ready();
  } else {
    /* What a user of yamux_session_spawn() gets: socketpairs. */
    char self[4096];
    size_t len = sizeof(self);
    uv_process_options_t opts;
    char** args;
    check_uv(uv_exepath(self, &len), "exepath");
    args = child_argv(argc, argv, self);
    memset(&opts, 0, sizeof(opts));
    opts.file = self;
    opts.args = args;
    opts.exit_cb = on_child_exit;
    check_yx(yamux_session_spawn(loop, &sess, &child, &opts, y_client_end),
             "spawn");
    free(args);
    y_client_ready();
  }
  reap_child();
  if (!done) die("not done");
  req_pool_free();
  if (wkind == WL_BULK)
    print_bulk_result();
  else
    print_spr_result();
  return 0;
}

static void y_srv_start(void) {
  if (wkind == WL_BULK)
    check_yx(yamux_session_listen(&sess, yb_srv_conn), "listen");
  else
    check_yx(yamux_session_listen(&sess, ys5_conn), "listen");
}

static void y_srv_tcp_conn(uv_stream_t* server, int status) {
  check_uv(status, "connection");
  check_uv(uv_tcp_init(loop, &sess.io[0].tcp), "tcp_init");
  check_uv(uv_accept(server, &sess.io[0].stream), "accept");
  check_uv(uv_tcp_nodelay(&sess.io[0].tcp, 1), "nodelay");
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  check_yx(yamux_session_start_uv(loop, &sess, 1, y_server_end), "start_uv");
  y_srv_start();
}

static int run_yamux_server(void) {
  check_yx(yamux_session_init(&sess, YAMUX_SERVER, y_config()),
           "session_init");
  if (transport == TR_TCP) {
    uv_listen_tcp(y_srv_tcp_conn);
  } else {
    check_yx(yamux_session_start_stdio(loop, &sess, y_server_end),
             "start_stdio");
    y_srv_start();
  }
  uv_run(loop, UV_RUN_DEFAULT);
  req_pool_free();
  if (wkind == WL_BULK && brecv != opt_size)
    die("received %" PRIu64 " of %" PRIu64 " bytes", brecv, opt_size);
  if (wkind == WL_SPR && served != opt_count)
    die("served %" PRIu64 " of %" PRIu64, served, opt_count);
  return uv_loop_close(loop) == 0 ? 0 : 1;
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

static void r5_closed(uv_handle_t* h) { req_put(h->data); }

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
  uv_close((uv_handle_t*)s, r5_closed);
  if (started < opt_count) {
    r5_start();
  } else if (completed == opt_count) {
    t_end = uv_hrtime();
    done = 1;
  }
}

static void r5_connected(uv_connect_t* creq, int status) {
  req_t* r = creq->data;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  check_uv(uv_write(&r->uwreq, (uv_stream_t*)&r->tcp, &b, 1, r5_written),
           "write");
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, r5_read),
           "read_start");
}

static void r5_start(void) {
  req_t* r = req_get();
  started++;
  check_uv(uv_tcp_init(loop, &r->tcp), "tcp_init");
  r->tcp.data = r;
  r->creq.data = r;
  check_uv(uv_tcp_connect(&r->creq, &r->tcp,
                          (const struct sockaddr*)&peer_addr, r5_connected),
           "connect");
}

static void rs5_written(uv_write_t* req, int status) {
  (void)status;
  uv_close((uv_handle_t*)req->handle, r5_closed);
}

static void rs5_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  req_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    uv_close((uv_handle_t*)s, r5_closed);
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
  req_t* r;
  check_uv(status, "connection");
  r = req_get();
  check_uv(uv_tcp_init(loop, &r->tcp), "tcp_init");
  r->tcp.data = r;
  check_uv(uv_accept(server, (uv_stream_t*)&r->tcp), "accept");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, rs5_read),
           "read_start");
  if (++accepted == opt_count)
    uv_close((uv_handle_t*)&listener, on_handle_closed);
}

/* ---- raw libuv: transports --------------------------------------------- */

static void rb_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&raw_tcp, 1), "nodelay");
  rb_client_start();
}

static int run_raw_uv_client(int argc, char** argv) {
  if (wkind == WL_SPR) {
    uint64_t i;
    sockaddr_loopback(&peer_addr, spawn_tcp_child(argc, argv));
    t_start = uv_hrtime();
    for (i = 0; i < opt_streams && started < opt_count; i++) r5_start();
  } else if (transport == TR_TCP) {
    struct sockaddr_in addr;
    sockaddr_loopback(&addr, spawn_tcp_child(argc, argv));
    check_uv(uv_tcp_init(loop, &raw_tcp), "tcp_init");
    raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
    check_uv(uv_tcp_connect(&tcp_connect_req, &raw_tcp,
                            (const struct sockaddr*)&addr, rb_tcp_connected),
             "connect");
  } else if (transport == TR_PIPE) {
    int tx, rx;
    spawn_pipe_child(argc, argv, &tx, &rx);
    check_uv(uv_pipe_init(loop, &raw_pipe_rx, 0), "pipe_init");
    check_uv(uv_pipe_open(&raw_pipe_rx, rx), "pipe_open");
    check_uv(uv_pipe_init(loop, &raw_pipe_tx, 0), "pipe_init");
    check_uv(uv_pipe_open(&raw_pipe_tx, tx), "pipe_open");
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
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
  if (wkind == WL_BULK)
    print_bulk_result();
  else
    print_spr_result();
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static void rb_srv_tcp_conn(uv_stream_t* server, int status) {
  check_uv(status, "connection");
  check_uv(uv_tcp_init(loop, &raw_tcp), "tcp_init");
  check_uv(uv_accept(server, (uv_stream_t*)&raw_tcp), "accept");
  check_uv(uv_tcp_nodelay(&raw_tcp, 1), "nodelay");
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
  check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
}

static int run_raw_uv_server(void) {
  if (wkind == WL_SPR) {
    uv_listen_tcp(rs5_conn);
  } else if (transport == TR_TCP) {
    uv_listen_tcp(rb_srv_tcp_conn);
  } else {
    check_uv(uv_pipe_init(loop, &raw_pipe_rx, 0), "pipe_init");
    check_uv(uv_pipe_open(&raw_pipe_rx, 0), "pipe_open");
    check_uv(uv_pipe_init(loop, &raw_pipe_tx, 0), "pipe_init");
    check_uv(uv_pipe_open(&raw_pipe_tx, 1), "pipe_open");
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
  }
  uv_run(loop, UV_RUN_DEFAULT);
  req_pool_free();
  if (wkind == WL_BULK && brecv != opt_size)
    die("received %" PRIu64 " of %" PRIu64 " bytes", brecv, opt_size);
  if (wkind == WL_SPR && served != opt_count)
    die("served %" PRIu64 " of %" PRIu64, served, opt_count);
  return uv_loop_close(loop) == 0 ? 0 : 1;
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
  do
    n = read(rx, &ack, 1);
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
          "-w=W1|W1pin|W2|W2pin|W5 [-size=N] [-chunk=N] [-depth=N]\n"
          "               [-streams=N] [-count=N] [-msg=N] [-resp=N] "
          "[-transport=pipe|socketpair] [-timeout=SECS]\n"
          "               [-frame=BYTES] [-window=BYTES] (libyamux "
          "max_frame_size, initial_window)\n");
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
    } else if (parse_u64(a, "-size", &opt_size) ||
               parse_u64(a, "-chunk", &opt_chunk) ||
               parse_u64(a, "-depth", &opt_depth) ||
               parse_u64(a, "-streams", &opt_streams) ||
               parse_u64(a, "-count", &opt_count) ||
               parse_u64(a, "-msg", &opt_msg) ||
               parse_u64(a, "-resp", &opt_resp) ||
               parse_u64(a, "-timeout", &timeout) ||
               parse_u64(a, "-frame", &opt_frame) ||
               parse_u64(a, "-window", &opt_window)) {
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
  } else {
    usage();
  }
  if (opt_depth < 1 || opt_depth > MAX_DEPTH || opt_chunk < 1 ||
      opt_chunk > (1u << 30) || opt_size < 1 || opt_msg < 1 ||
      opt_resp < 1 || opt_count < 1 || opt_streams < 1)
    usage();
  if (wkind == WL_SPR && impl == IMPL_RAW_BLOCK) {
    fprintf(stderr, "yxbench: W5 has no raw_block variant\n");
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
