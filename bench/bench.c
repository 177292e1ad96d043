/* yxbench: the workload code every implementation shares (see bench.h). */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char* const transport_names[] = {"tcp", "pipe", "socketpair"};

/* Options (the server child gets the client's, plus -role=server). */
const bench_impl_t* impl = &bench_libyamux;
int is_server;
const char* wname = "W1";
wl_kind_t wkind = WL_BULK;
transport_t transport = TR_TCP;
int wan;
uint64_t opt_size; /* 0 until set: the workload's default */
uint64_t opt_chunk = 65536;
uint64_t opt_depth = 4;
uint64_t opt_streams; /* 0 until set: the workload's default */
uint64_t opt_count;
uint64_t opt_msg;
uint64_t opt_resp = 1024;
uint64_t opt_frame;
uint64_t opt_window;
uint64_t opt_maxinbound;
uint64_t opt_maxwindow;
uint64_t opt_prio;
int opt_read_mode;
uint64_t opt_warmup;
uint64_t opt_exitwait = 30;
const char* opt_proxy;

uv_loop_t* loop;
char rxbuf[RX_SIZE];
char* pattern;
char* reqbuf;
char* respbuf;
char ackbyte = 'A';
uint64_t t_start, t_end;
int done;
uint64_t bsent, brecv, bdone;
uint64_t started, completed, served;
uint64_t nconns;

void die(const char* fmt, ...) {
  va_list ap;
  fprintf(stderr, "yxbench %s (%s %s): ", is_server ? "server" : "client",
          impl->name, wname);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void check_uv(int rc, const char* what) {
  if (rc < 0) die("%s: %s", what, uv_strerror(rc));
}

void io_error(const char* what, const char* err) {
  if (!done) die("%s: %s", what, err);
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

double elapsed_secs(void) {
  return (double)(t_end - t_start) / 1e9;
}

/* ---- the server child --------------------------------------------------- */

uv_process_t child;
int child_exited;
int64_t child_status = -1;
int port_fd = -1;
int extra_tx = -1, extra_rx = -1;

void on_child_exit(uv_process_t* p, int64_t status, int sig) {
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
  return wkind == WL_HOL && impl == &bench_raw_uv && transport == TR_PIPE;
}

char** child_options(int argc, char** argv, char* self, size_t size,
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

void spawn_child(int argc, char** argv, uv_stdio_container_t* stdio) {
  char self[4096];
  uv_process_options_t opts;
  char** args = child_options(argc, argv, self, sizeof(self), &opts);

  opts.stdio = stdio;
  opts.stdio_count = raw_hol_pipes() ? 5 : 3;
  check_uv(uv_spawn(loop, &child, &opts), "spawn");
  free(args);
}

void read_child_line(char* line, size_t size) {
  size_t got = 0;
  while (got < size - 1) {
    ssize_t n = read(port_fd, line + got, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("the child's stdout ended (it did not print its line)");
    if (line[got] == '\n') break;
    got++;
  }
  line[got] = '\0';
}

/* -proxy=HOST:PORT/NAME: points toxiproxy's proxy NAME (made, with its
 * toxics, by the driver) at the server's port through the API at
 * HOST:PORT, and returns the address the proxy listens on. */
static void proxy_route(int port, struct sockaddr_in* addr) {
  char host[64], name[64], listen_host[64], req[512], body[64], resp[8192];
  int api_port, listen_port, fd;
  size_t len = 0;
  ssize_t n;
  const char* at;
  struct sockaddr_in api;

  if (sscanf(opt_proxy, "%63[^:]:%d/%63s", host, &api_port, name) != 3)
    die("bad -proxy '%s' (want HOST:PORT/NAME)", opt_proxy);
  check_uv(uv_ip4_addr(host, api_port, &api), "proxy API address");
  snprintf(body, sizeof(body), "{\"upstream\":\"127.0.0.1:%d\"}", port);
  snprintf(req, sizeof(req),
           "POST /proxies/%s HTTP/1.1\r\nHost: %s:%d\r\n"
           "Content-Type: application/json\r\nContent-Length: %zu\r\n"
           "Connection: close\r\n\r\n%s",
           name, host, api_port, strlen(body), body);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  if (connect(fd, (const struct sockaddr*)&api, sizeof(api)) != 0)
    die("toxiproxy API %s:%d: %s", host, api_port, strerror(errno));
  write_all(fd, req, strlen(req));
  while (len < sizeof(resp) - 1 &&
         (n = read(fd, resp + len, sizeof(resp) - 1 - len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("toxiproxy API: %s", strerror(errno));
    len += (size_t)n;
  }
  close(fd);
  resp[len] = '\0';
  if (strncmp(resp, "HTTP/1.1 200", 12) != 0)
    die("toxiproxy API: POST /proxies/%s: %.*s", name,
        (int)strcspn(resp, "\r\n"), resp);
  at = strstr(resp, "\"listen\":\"");
  if (at == NULL ||
      sscanf(at + 10, "%63[^:\"]:%d", listen_host, &listen_port) != 2)
    die("toxiproxy API: no listen address in '%s'", resp);
  check_uv(uv_ip4_addr(listen_host, listen_port, addr), "proxy address");
}

/* The child's stdin is /dev/null, its stdout a pipe on which it prints
 * "PORT n". */
void spawn_tcp_child(int argc, char** argv, struct sockaddr_in* addr) {
  uv_stdio_container_t stdio[3];
  uv_file fds[2];
  char line[64];
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
  read_child_line(line, sizeof(line));
  if (sscanf(line, "PORT %d", &port) != 1) die("bad port line '%s'", line);
  if (opt_proxy != NULL)
    proxy_route(port, addr);
  else
    sockaddr_loopback(addr, port);
}

/* O_CLOEXEC on our ends, so that the child does not hold them. */
void spawn_pipe_child(int argc, char** argv, int* our_tx, int* our_rx) {
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

static void rx_read_report(void);

void reap_child(void) {
  uv_run(loop, UV_RUN_DEFAULT);
  if (!child_exited) die("child did not exit");
  if (child_status != 0) die("child exited with status %" PRId64, child_status);
  if (wan && wkind == WL_BULK) rx_read_report();
  if (port_fd >= 0) close(port_fd);
}

int server_run(void) {
  uv_run(loop, UV_RUN_DEFAULT);
  ebuf_pool_free();
  if (wkind == WL_BULK && brecv != opt_size)
    die("received %" PRIu64 " of %" PRIu64 " bytes", brecv, opt_size);
  if (wkind == WL_SPR && served != opt_count)
    die("served %" PRIu64 " of %" PRIu64, served, opt_count);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

/* The child's stdout, read line by line. */
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

void watch_child_out(void (*cb)(const char* line)) {
  child_line_cb = cb;
  pipe_open_fd(&child_out, port_fd);
  port_fd = -1;
  check_uv(
      uv_read_start((uv_stream_t*)&child_out, child_out_alloc, child_out_read),
      "read_start");
}

/* ---- transports --------------------------------------------------------- */

uv_tcp_t listener;

void set_nodelay_fd(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    die("TCP_NODELAY: %s", strerror(errno));
}

void on_handle_closed(uv_handle_t* h) {
  (void)h;
}

void sockaddr_loopback(struct sockaddr_in* addr, int port) {
  check_uv(uv_ip4_addr("127.0.0.1", port, addr), "ip4_addr");
}

void print_port(int port) {
  printf("PORT %d\n", port);
  fflush(stdout);
}

void uv_listen_tcp(uv_connection_cb cb) {
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

void pipe_open_fd(uv_pipe_t* p, int fd) {
  check_uv(uv_pipe_init(loop, p, 0), "pipe_init");
  check_uv(uv_pipe_open(p, fd), "pipe_open");
}

void tcp_accept(uv_stream_t* server, int status, uv_tcp_t* t) {
  check_uv(status, "connection");
  check_uv(uv_tcp_init(loop, t), "tcp_init");
  check_uv(uv_accept(server, (uv_stream_t*)t), "accept");
  check_uv(uv_tcp_nodelay(t, 1), "nodelay");
}

void raw_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(rxbuf, sizeof(rxbuf));
}

/* ---- pools -------------------------------------------------------------- */

void* pool_get(pool_t* p) {
  void* r = p->free;
  if (r != NULL)
    memcpy(&p->free, r, sizeof(void*));
  else if ((r = malloc(p->size)) == NULL)
    die("malloc");
  memset(r, 0, p->size);
  return r;
}

void pool_put(pool_t* p, void* rec) {
  memcpy(rec, &p->free, sizeof(void*));
  p->free = rec;
}

void pool_free(pool_t* p) {
  while (p->free != NULL) {
    void* r = p->free;
    memcpy(&p->free, r, sizeof(void*));
    free(r);
  }
}

#define EBUF_POOLED 4096
/* The header and the request, each rounded to keep what follows aligned. */
#define ALIGNED(n) \
  (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))
size_t ebuf_req_size;
static ebuf_t* ebuf_pool;

ebuf_t* ebuf_get(const void* p, size_t n) {
  ebuf_t* e;
  if (n <= EBUF_POOLED && ebuf_pool != NULL) {
    e = ebuf_pool;
    ebuf_pool = e->next;
  } else {
    size_t cap = n <= EBUF_POOLED ? EBUF_POOLED : n;
    size_t front = ALIGNED(sizeof(*e)) + ALIGNED(ebuf_req_size);
    e = malloc(front + cap);
    if (e == NULL) die("malloc");
    e->cap = cap;
    e->data = (char*)e + front;
  }
  memcpy(e->data, p, n);
  return e;
}

void* ebuf_req(ebuf_t* e) {
  return (char*)e + ALIGNED(sizeof(*e));
}

void ebuf_put(ebuf_t* e) {
  if (e->cap != EBUF_POOLED) {
    free(e);
    return;
  }
  e->next = ebuf_pool;
  ebuf_pool = e;
}

void ebuf_pool_free(void) {
  while (ebuf_pool != NULL) {
    ebuf_t* e = ebuf_pool;
    ebuf_pool = e->next;
    free(e);
  }
}

void slots_init(slots_t* s) {
  unsigned int i;
  s->nfree = 0;
  for (i = 0; i < opt_depth; i++) s->free[s->nfree++] = (int)i;
}

int slot_take(slots_t* s) {
  return s->free[--s->nfree];
}

void slot_give(slots_t* s, int i) {
  s->free[s->nfree++] = i;
}

int bench_next_is_bulk(void) {
  return nconns++ == 0 && wkind == WL_HOL; /* counts every accept */
}

/* ---- ping-pong ---------------------------------------------------------- */

/* Round-trip latencies in ns: the timed phase (W4, W7 under bulk) and W7's
 * idle phase. */
static uint64_t* lat;
static uint64_t nlat;
static uint64_t* idle_lat;
static uint64_t nidle;

void (*pp_write)(bench_conn_t* c);
void (*pp_end)(void);
void (*pp_stop_bulk)(void);
bench_conn_t** pp_streams;
uint64_t pp_nstreams;
int pp_phase = PP_WARM;
static uint64_t pp_warmed, pp_finished;
/* A multiplexer that queues seconds of bulk ahead of W8lat's round trips
 * would otherwise take many minutes (bench/README.md). */
#define W8LAT_MAX_LOADED_NS 60000000000ull
static uint64_t bdone0, bdone1;

void pp_send(bench_conn_t* c) {
  c->got = 0;
  c->t0 = uv_hrtime();
  if (c->wpending)
    c->want = 1; /* the last write's callback has not run yet */
  else
    pp_write(c);
}

void pp_written(bench_conn_t* c) {
  c->wpending = 0;
  if (c->want) {
    c->want = 0;
    pp_write(c);
  }
}

static void pp_start_timed(void) {
  uint64_t i;
  pp_phase = PP_TIMED;
  t_start = uv_hrtime();
  bdone0 = bdone;
  for (i = 0; i < pp_nstreams; i++) {
    bench_conn_t* c = pp_streams[i];
    c->todo = opt_count / pp_nstreams + (i < opt_count % pp_nstreams);
    if (c->todo > 0)
      pp_send(c);
    else
      pp_finished++;
  }
}

void pp_bulk_acked(void) {
  bench_conn_t* c = pp_streams[0];
  pp_phase = PP_IDLE;
  c->todo = opt_count;
  pp_send(c);
}

static void pp_round_trip(bench_conn_t* c) {
  uint64_t now = uv_hrtime();
  if (!c->warm) {
    c->warm = 1;
    if (++pp_warmed == pp_nstreams) pp_start_timed();
    return;
  }
  if (pp_phase == PP_TIMED) {
    lat[nlat++] = now - c->t0;
    /* W8lat: the loaded phase ends after W8LAT_MAX_LOADED_NS even with
     * fewer than -count round trips (count= says how many were done). */
    if (wan && now - t_start > W8LAT_MAX_LOADED_NS) c->todo = 1;
  } else if (pp_phase == PP_IDLE)
    idle_lat[nidle++] = now - c->t0;
  else
    die("round trip in phase %d", pp_phase);
  if (--c->todo > 0) {
    pp_send(c);
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
  if (pp_phase == PP_TIMED) t_end = now;
  pp_phase = PP_DONE;
  done = 1;
  pp_end();
}

void pp_read(bench_conn_t* c, size_t n) {
  c->got += n;
  if (c->got > opt_msg) die("echo too long");
  if (c->got == opt_msg) pp_round_trip(c);
}

int echo_read(bench_conn_t* c, size_t n) {
  c->got += n;
  if (c->got > opt_msg) die("echo too long");
  return c->got == opt_msg;
}

void pp_alloc(uint64_t nstreams) {
  pp_nstreams = nstreams;
  pp_streams = calloc((size_t)nstreams, sizeof(*pp_streams));
  lat = malloc((size_t)opt_count * sizeof(*lat));
  idle_lat = malloc((size_t)opt_count * sizeof(*idle_lat));
  if (pp_streams == NULL || lat == NULL || idle_lat == NULL) die("malloc");
}

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

/* ---- W8: the server's receive timeline ---------------------------------- */

/* The server counts what arrives in 100 ms buckets from the first byte and
 * samples its RSS at the start of each; the client reads the report. Both
 * processes read the same clock (CLOCK_MONOTONIC: uv_hrtime()), so the
 * client can relate the timeline to its first write. */
#define RX_BUCKET_NS 100000000ull
#define RX_MAX_BUCKETS 6000 /* 10 minutes */
static uint64_t rx_t0, rx_thalf, rx_tlast, rx_rss0, rx_rss_peak;
static uint64_t rx_buckets[RX_MAX_BUCKETS];
static size_t rx_nbuckets;
double probe_rtt_ms = -1;

static void rx_sample_rss(void) {
  uint64_t r = rss_bytes();
  if (r > rx_rss_peak) rx_rss_peak = r;
}

void rx_init(void) {
  rx_rss0 = rx_rss_peak = rss_bytes();
}

static void rx_timeline(uint64_t n) {
  uint64_t now = uv_hrtime();
  size_t k;
  if (rx_t0 == 0) rx_t0 = now;
  k = (size_t)((now - rx_t0) / RX_BUCKET_NS);
  if (k >= RX_MAX_BUCKETS) k = RX_MAX_BUCKETS - 1;
  if (k >= rx_nbuckets) {
    rx_nbuckets = k + 1;
    rx_sample_rss();
  }
  rx_buckets[k] += n;
  if (rx_thalf == 0 && 2 * brecv >= opt_size) rx_thalf = now;
  rx_tlast = now;
}

/* One line on stdout (the client reads it after the child exits). */
static void rx_report(void) {
  size_t k;
  rx_sample_rss();
  printf("RECV t0=%" PRIu64 " half=%" PRIu64 " last=%" PRIu64 " rss0=%" PRIu64
         " rss_peak=%" PRIu64 " buckets=",
         rx_t0, rx_thalf, rx_tlast, rx_rss0, rx_rss_peak);
  for (k = 0; k < rx_nbuckets; k++)
    printf("%s%" PRIu64, k ? "," : "", rx_buckets[k]);
  printf("\n");
  fflush(stdout);
}

int bulk_received(uint64_t n) {
  brecv += n;
  if (brecv > opt_size) die("received too much");
  if (wan) rx_timeline(n);
  if (brecv < opt_size) return 0;
  if (wan) rx_report();
  return 1;
}

/* Client: the rest of the child's stdout holds the RECV line. */
static void rx_read_report(void) {
  static char buf[RX_MAX_BUCKETS * 24 + 256];
  size_t len = 0;
  ssize_t n;
  char* p;
  while (len < sizeof(buf) - 1 &&
         (n = read(port_fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("reading the child's report: %s", strerror(errno));
    len += (size_t)n;
  }
  buf[len] = '\0';
  p = strstr(buf, "RECV ");
  if (p == NULL ||
      sscanf(p,
             "RECV t0=%" SCNu64 " half=%" SCNu64 " last=%" SCNu64
             " rss0=%" SCNu64 " rss_peak=%" SCNu64,
             &rx_t0, &rx_thalf, &rx_tlast, &rx_rss0, &rx_rss_peak) != 5 ||
      (p = strstr(p, "buckets=")) == NULL)
    die("no receive report from the server");
  p += 8;
  while (rx_nbuckets < RX_MAX_BUCKETS && *p >= '0' && *p <= '9') {
    rx_buckets[rx_nbuckets++] = strtoull(p, &p, 10);
    if (*p == ',') p++;
  }
}

/* steady_mibps: the last half of the bytes, as the server received them.
 * ramp_secs: from the first write to the start of the first 0.5 s window
 * (5 buckets) whose rate reaches 80 % of steady_mibps (the whole transfer
 * when it is shorter than one window; its end if no window gets there). */
static void rx_print_keys(void) {
  double steady = 0, ramp, dur = (double)(rx_tlast - rx_t0) / 1e9;
  size_t k;
  if (rx_tlast > rx_thalf)
    steady = (double)(opt_size - opt_size / 2) /
             ((double)(rx_tlast - rx_thalf) / 1e9) / 1048576.0;
  ramp = ((double)rx_tlast - (double)t_start) / 1e9;
  if (dur < 0.5) {
    if (dur > 0 && (double)opt_size / dur / 1048576.0 >= 0.8 * steady)
      ramp = ((double)rx_t0 - (double)t_start) / 1e9;
  } else {
    for (k = 0; (double)(k + 5) * 0.1 <= dur && k + 5 <= rx_nbuckets; k++) {
      uint64_t bytes = rx_buckets[k] + rx_buckets[k + 1] + rx_buckets[k + 2] +
                       rx_buckets[k + 3] + rx_buckets[k + 4];
      if ((double)bytes / 0.5 / 1048576.0 >= 0.8 * steady) {
        ramp =
            ((double)rx_t0 + (double)k * RX_BUCKET_NS - (double)t_start) / 1e9;
        break;
      }
    }
  }
  printf(" steady_mibps=%.1f ramp_secs=%.3f rx_rss_mib=%.1f", steady, ramp,
         ((double)rx_rss_peak - (double)rx_rss0) / 1048576.0);
  if (probe_rtt_ms >= 0) printf(" rtt_ms=%.1f", probe_rtt_ms);
}

/* ---- W6 ----------------------------------------------------------------- */

uint64_t rss_bytes(void) {
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
uint64_t heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* ---- RESULT line -------------------------------------------------------- */

void result_begin(void) {
  printf("RESULT impl=%s w=%s transport=%s", impl->name, wname,
         transport_names[transport]);
}

void result_end(void) {
  if (impl->print_config != NULL) impl->print_config();
  printf("\n");
  fflush(stdout);
}

static void print_bulk_result(void) {
  double secs = elapsed_secs();
  result_begin();
  printf(" size=%" PRIu64 " chunk=%" PRIu64 " depth=%" PRIu64, opt_size,
         opt_chunk, impl == &bench_raw_block ? 1 : opt_depth);
  if (wan) printf(" streams=%" PRIu64, opt_streams);
  printf(" secs=%.6f mibps=%.1f", secs, (double)opt_size / secs / 1048576.0);
  if (wan) rx_print_keys();
}

static void print_spr_result(void) {
  double secs = elapsed_secs();
  result_begin();
  printf(" count=%" PRIu64 " streams=%" PRIu64 " msg=%" PRIu64 " resp=%" PRIu64
         " secs=%.6f req_per_s=%.0f",
         opt_count, opt_streams, opt_msg, opt_resp, secs,
         (double)opt_count / secs);
}

static void print_echo_result(void) {
  result_begin();
  printf(" streams=%" PRIu64 " msg=%" PRIu64 " secs=%.6f", opt_streams, opt_msg,
         elapsed_secs());
}

static void print_rpc_result(void) {
  double secs = elapsed_secs();
  uint64_t n = nlat;
  double p50 = pct_us(lat, n, 50), p99 = pct_us(lat, n, 99);
  result_begin();
  printf(" streams=%" PRIu64 " count=%" PRIu64 " msg=%" PRIu64
         " secs=%.6f rtt_per_s=%.0f p50_us=%.1f p99_us=%.1f"
         " max_us=%.1f",
         pp_nstreams, n, opt_msg, secs, (double)n / secs, p50, p99,
         (double)lat[n - 1] / 1e3);
}

/* W7 in microseconds; W8lat, whose round trips cross the emulated link,
 * in milliseconds. */
static void print_hol_result(void) {
  double secs = elapsed_secs();
  double p50 = pct_us(lat, nlat, 50), p99 = pct_us(lat, nlat, 99);
  double ip50 = pct_us(idle_lat, nidle, 50), ip99 = pct_us(idle_lat, nidle, 99);
  double max = (double)lat[nlat - 1] / 1e3;
  double imax = (double)idle_lat[nidle - 1] / 1e3;
  const char* u = wan ? "ms" : "us";
  double d = wan ? 1e3 : 1;
  int prec = wan ? 2 : 1;
  result_begin();
  printf(" count=%" PRIu64 " msg=%" PRIu64 " chunk=%" PRIu64
         " secs=%.6f p50_%s=%.*f p99_%s=%.*f max_%s=%.*f bulk_mibps=%.1f"
         " idle_p50_%s=%.*f idle_p99_%s=%.*f idle_max_%s=%.*f"
         " p99_ratio=%.2f",
         nlat, opt_msg, opt_chunk, secs, u, prec, p50 / d, u, prec, p99 / d, u,
         prec, max / d, (double)(bdone1 - bdone0) / secs / 1048576.0, u, prec,
         ip50 / d, u, prec, ip99 / d, u, prec, imax / d,
         ip99 > 0 ? p99 / ip99 : 0);
}

void print_result(void) {
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
    case WL_HOL:
      print_hol_result();
      break;
    case WL_IDLE:
    case WL_MANY:
      die("W6 and W9 print their own results");
  }
  result_end();
}
