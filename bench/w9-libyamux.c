/* yxbench: W9 (many sessions, bench/w9.c) on libyamux.
 *
 * Server: one libuv loop per core, each on its own thread with its own
 * listening socket on the same port (SO_REUSEPORT, made by bench/w9.c and
 * opened here with uv_tcp_open()); every connection a loop accepts becomes
 * a yamux server session on that loop (yamux_session_start_uv()), which
 * echoes what its one stream brings (zero-copy reads, the echo copied into
 * a buffer that lives until its write completes). Client: the sessions are
 * spread over one loop per core, session i on loop i % loops. Library
 * defaults except the keepalive interval (-keepalive, 1 s).
 */
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "yamux.h"

#define CONTAINER_OF(ptr, type, member) \
  ((type*)((char*)(ptr)-offsetof(type, member)))

static void check_yx(int rc, const char* what) {
  if (rc < 0) die("%s: %s", what, yamux_strerror(rc));
}

static yamux_config_t cfg; /* read by every loop, written before they start */

/* YXBENCH_HEAP=1: every allocation libyamux makes (the engine's and the
 * driver's, which uses the session's allocator) is counted by size, to
 * show where a session's bytes go (w9y_report(), at the settle point).
 * Each block carries its size in front (16 bytes, not counted). */
#define HEAP_HDR 16
#define HEAP_SIZES 70000    /* counted by exact size below this */
static uint64_t* heap_live; /* live blocks per size; [0]: larger ones */
static uint64_t heap_bytes_live, heap_blocks_live;

static void heap_count(size_t n, int64_t d) {
  __atomic_add_fetch(&heap_live[n < HEAP_SIZES ? n : 0], (uint64_t)d,
                     __ATOMIC_RELAXED);
  __atomic_add_fetch(&heap_bytes_live, (uint64_t)(d * (int64_t)n),
                     __ATOMIC_RELAXED);
  __atomic_add_fetch(&heap_blocks_live, (uint64_t)d, __ATOMIC_RELAXED);
}

static void* heap_malloc(size_t n, void* ud) {
  char* p = malloc(n + HEAP_HDR);
  (void)ud;
  if (p == NULL) return NULL;
  memcpy(p, &n, sizeof(n));
  heap_count(n, 1);
  return p + HEAP_HDR;
}

static void heap_free(void* q, void* ud) {
  char* p = (char*)q - HEAP_HDR;
  size_t n;
  (void)ud;
  if (q == NULL) return;
  memcpy(&n, p, sizeof(n));
  heap_count(n, -1);
  free(p);
}

static void* heap_calloc(size_t k, size_t n, void* ud) {
  void* p = heap_malloc(k * n, ud);
  if (p != NULL) memset(p, 0, k * n);
  return p;
}

static void* heap_realloc(void* q, size_t n, void* ud) {
  void* p = heap_malloc(n, ud);
  if (p != NULL && q != NULL) {
    size_t old;
    memcpy(&old, (char*)q - HEAP_HDR, sizeof(old));
    memcpy(p, q, old < n ? old : n);
    heap_free(q, ud);
  }
  return p;
}

static const yamux_allocator_t heap_allocator = {NULL, heap_malloc, heap_calloc,
                                                 heap_realloc, heap_free};

static void w9y_report(void) {
  struct mallinfo2 mi = mallinfo2();
  size_t n;
  if (heap_live == NULL) return;
  /* All arenas: what the program holds and the free memory inside them
   * (which RSS counts once touched). */
  fprintf(stderr,
          "yxbench %s: malloc arenas %.1f bytes per session, %.1f in use, "
          "%.1f free\n",
          is_server ? "server" : "client",
          (double)mi.arena / (double)opt_sessions,
          (double)mi.uordblks / (double)opt_sessions,
          (double)mi.fordblks / (double)opt_sessions);
  fprintf(stderr,
          "yxbench %s: libyamux holds %.1f bytes in %.2f blocks per session:",
          is_server ? "server" : "client",
          (double)heap_bytes_live / (double)opt_sessions,
          (double)heap_blocks_live / (double)opt_sessions);
  for (n = 1; n < HEAP_SIZES; n++)
    if (heap_live[n] > 0)
      fprintf(stderr, " %zu B x %.2f;", n,
              (double)heap_live[n] / (double)opt_sessions);
  fprintf(stderr, "\n");
}

static void w9y_print_config(void) {
  printf(" keepalive_interval_ms=%" PRIu64, opt_keepalive);
}

/* ---- client ------------------------------------------------------------- */

typedef struct wc_s {
  yamux_session_t sess;
  yamux_stream_t st;
  yamux_write_t w;
  uv_connect_t creq;
  w9_loop_t* l;
  uint64_t got;  /* bytes of this round trip's echo */
  uint64_t t0;   /* when its write started */
  uint64_t* lat; /* busy: where the next latency goes */
  uint64_t todo; /* busy: round trips left */
  int wpending;  /* w is in flight */
  int want;      /* a write waits for it */
} wc_t;

/* What a client loop keeps. */
typedef struct wcl_s {
  uint64_t next;  /* the next session to establish */
  uint64_t n;     /* sessions on this loop */
  uint64_t ready; /* established (first round trip done) */
  uint64_t busy;  /* busy sessions still going */
  int phase;      /* PH_*: what a completed round trip means */
  int stopping;
} wcl_t;

enum { PH_CONNECT, PH_IDLE, PH_BUSY };

static wc_t* recs; /* -sessions of them */
static wcl_t* cloops;

static void wc_write(wc_t* c);

static void wc_written(yamux_write_t* req, int status) {
  wc_t* c = CONTAINER_OF(req, wc_t, w);
  wcl_t* cl = c->l->data;
  c->wpending = 0;
  if (status < 0) {
    if (!cl->stopping) die("write: %s", yamux_strerror(status));
    return;
  }
  if (c->want) {
    c->want = 0;
    wc_write(c);
  }
}

static void wc_write(wc_t* c) {
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  c->wpending = 1;
  check_yx(yamux_write(&c->w, &c->st, &b, 1, wc_written), "write");
}

/* Starts a round trip: -msg bytes out, the same back. */
static void wc_send(wc_t* c) {
  c->got = 0;
  c->t0 = uv_hrtime();
  if (c->wpending)
    c->want = 1; /* the last write's callback has not run yet */
  else
    wc_write(c);
}

static int wc_start_next(w9_loop_t* l);

static void wc_round_trip(wc_t* c) {
  w9_loop_t* l = c->l;
  wcl_t* cl = l->data;
  if (cl->phase == PH_CONNECT) {
    if (++cl->ready == cl->n) {
      cl->phase = PH_IDLE;
      w9_done(l);
    } else {
      wc_start_next(l);
    }
    return;
  }
  if (cl->phase != PH_BUSY || c->todo == 0) die("echo out of turn");
  *c->lat++ = uv_hrtime() - c->t0;
  if (--c->todo > 0) {
    wc_send(c);
  } else if (--cl->busy == 0) {
    cl->phase = PH_IDLE;
    w9_done(l);
  }
}

static void wc_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  wc_t* c = CONTAINER_OF(st, wc_t, st);
  wcl_t* cl = c->l->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (!cl->stopping) die("read: %s", yamux_strerror((int)n));
    return;
  }
  c->got += (uint64_t)n;
  if (c->got > opt_msg) die("echo too long");
  if (c->got == opt_msg) wc_round_trip(c);
}

static void wc_end(yamux_session_t* s, int status) {
  wc_t* c = CONTAINER_OF(s, wc_t, sess);
  wcl_t* cl = c->l->data;
  if (!cl->stopping) die("session ended: %s", yamux_strerror(status));
  yamux_session_close(s, NULL);
}

static void wc_connected(uv_connect_t* req, int status) {
  wc_t* c = CONTAINER_OF(req, wc_t, creq);
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&c->sess.io[0].tcp, 1), "nodelay");
  check_yx(yamux_session_start_uv(&c->l->loop, &c->sess, 1, wc_end),
           "start_uv");
  check_yx(yamux_stream_init(&c->sess, &c->st), "stream_init");
  check_yx(yamux_stream_open(NULL, &c->st, NULL), "open");
  check_yx(yamux_read_start(&c->st, NULL, wc_read), "read_start");
  wc_send(c); /* the first round trip; the data rides on the SYN */
}

/* Starts establishing the loop's next session; 0 if none is left. */
static int wc_start_next(w9_loop_t* l) {
  wcl_t* cl = l->data;
  wc_t* c;
  if (cl->next >= opt_sessions) return 0;
  c = &recs[cl->next];
  cl->next = w9_next(cl->next);
  c->l = l;
  check_yx(yamux_session_init(&c->sess, YAMUX_CLIENT, &cfg), "session_init");
  check_uv(uv_tcp_init(&l->loop, &c->sess.io[0].tcp), "tcp_init");
  check_uv(uv_tcp_connect(&c->creq, &c->sess.io[0].tcp,
                          (const struct sockaddr*)&w9_addr, wc_connected),
           "connect");
  return 1;
}

static void w9y_init(unsigned int nloops) {
  unsigned int k;
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = opt_keepalive;
  if (getenv("YXBENCH_HEAP") != NULL) {
    if ((heap_live = calloc(HEAP_SIZES, sizeof(*heap_live))) == NULL)
      die("calloc");
    cfg.allocator = &heap_allocator;
  }
  if (is_server) return;
  recs = calloc((size_t)opt_sessions, sizeof(*recs));
  cloops = calloc(nloops, sizeof(*cloops));
  if (recs == NULL || cloops == NULL) die("calloc");
  for (k = 0; k < nloops; k++) {
    uint64_t i;
    for (i = k; i < opt_sessions; i += nloops) cloops[k].n++;
  }
}

static void w9y_connect(w9_loop_t* l) {
  wcl_t* cl = &cloops[l->index];
  uint64_t k;
  l->data = cl;
  cl->next = w9_first(l);
  cl->phase = PH_CONNECT;
  if (cl->n == 0) {
    w9_done(l);
    return;
  }
  for (k = 0; k < w9_inflight(l) && wc_start_next(l); k++) {
  }
}

static void w9y_busy(w9_loop_t* l) {
  wcl_t* cl = l->data;
  uint64_t i;
  cl->phase = PH_BUSY;
  for (i = w9_first(l); i < opt_sessions; i = w9_next(i)) {
    wc_t* c = &recs[i];
    if ((c->todo = w9_slice(i)) == 0) continue;
    c->lat = w9_lat(i);
    cl->busy++;
    wc_send(c);
  }
  if (cl->busy == 0) {
    cl->phase = PH_IDLE;
    w9_done(l);
  }
}

static void w9y_count_pings(w9_loop_t* l, uint64_t* pings) {
  uint64_t i;
  yamux_session_stats_t st;
  for (i = w9_first(l); i < opt_sessions; i = w9_next(i)) {
    check_yx(yamux_session_get_stats(&recs[i].sess, &st), "get_stats");
    *pings += st.pings_sent;
  }
  w9_done(l);
}

/* ---- server ------------------------------------------------------------- */

typedef struct ws_s {
  yamux_session_t sess;
  yamux_stream_t st;
  int has_stream;
  struct ws_s* prev;
  struct ws_s* next;
  w9_loop_t* l;
} ws_t;

/* What a server loop keeps. */
typedef struct wsl_s {
  uv_tcp_t listener;
  ws_t* live; /* sessions not yet closed */
  uint64_t accepted;
} wsl_t;

/* An echo in flight: the bytes copied out of the session's receive memory,
 * behind the request that writes them. */
typedef struct echo_s {
  yamux_write_t req;
  char data[];
} echo_t;

static void ws_unlink(ws_t* s) {
  wsl_t* sl = s->l->data;
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    sl->live = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
}

static void ws_closed(yamux_session_t* sess) {
  free(CONTAINER_OF(sess, ws_t, sess));
}

static void ws_end(yamux_session_t* sess, int status) {
  ws_t* s = CONTAINER_OF(sess, ws_t, sess);
  if (status != UV_EOF && status != YAMUX_EPEERGOAWAY)
    fprintf(stderr, "yxbench server: session ended: %s\n",
            yamux_strerror(status));
  ws_unlink(s);
  yamux_session_close(sess, ws_closed);
}

static void ws_echoed(yamux_write_t* req, int status) {
  (void)status; /* UV_ECANCELED when the session closes first: fine */
  free(CONTAINER_OF(req, echo_t, req));
}

static void ws_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  if (n > 0) {
    echo_t* e = malloc(sizeof(*e) + (size_t)n);
    uv_buf_t b;
    if (e == NULL) die("malloc");
    memcpy(e->data, buf->base, (size_t)n); /* the lent buffer is ours now */
    b = uv_buf_init(e->data, (unsigned int)n);
    check_yx(yamux_write(&e->req, st, &b, 1, ws_echoed), "echo write");
    return;
  }
  /* EOF or the stream's end: the session's end (or close) releases it. */
  if (n < 0 && !yamux_is_closing(st)) yamux_close(st, NULL);
}

static void ws_stream(yamux_session_t* sess, int status) {
  ws_t* s = CONTAINER_OF(sess, ws_t, sess);
  (void)status;
  if (s->has_stream) die("more than one stream on a session");
  check_yx(yamux_stream_init(sess, &s->st), "stream_init");
  if (yamux_accept(sess, &s->st) != 0) return; /* reset before we took it */
  s->has_stream = 1;
  check_yx(yamux_read_start(&s->st, NULL, ws_read), "read_start");
}

static void ws_conn(uv_stream_t* server, int status) {
  wsl_t* sl = CONTAINER_OF(server, wsl_t, listener);
  w9_loop_t* l = server->data;
  ws_t* s;
  check_uv(status, "connection");
  if ((s = calloc(1, sizeof(*s))) == NULL) die("calloc");
  s->l = l;
  check_yx(yamux_session_init(&s->sess, YAMUX_SERVER, &cfg), "session_init");
  check_uv(uv_tcp_init(&l->loop, &s->sess.io[0].tcp), "tcp_init");
  check_uv(uv_accept(server, &s->sess.io[0].stream), "accept");
  check_uv(uv_tcp_nodelay(&s->sess.io[0].tcp, 1), "nodelay");
  check_yx(yamux_session_start_uv(&l->loop, &s->sess, 1, ws_end), "start_uv");
  check_yx(yamux_session_listen(&s->sess, ws_stream), "listen");
  s->next = sl->live;
  if (sl->live != NULL) sl->live->prev = s;
  sl->live = s;
  sl->accepted++;
}

static void w9y_serve(w9_loop_t* l, int fd) {
  wsl_t* sl = calloc(1, sizeof(*sl));
  if (sl == NULL) die("calloc");
  l->data = sl;
  check_uv(uv_tcp_init(&l->loop, &sl->listener), "tcp_init");
  check_uv(uv_tcp_open(&sl->listener, fd), "tcp_open");
  sl->listener.data = l;
  check_uv(uv_listen((uv_stream_t*)&sl->listener, 65535, ws_conn), "listen");
}

/* ---- both --------------------------------------------------------------- */

static void listener_closed(uv_handle_t* h) {
  free(CONTAINER_OF(h, wsl_t, listener));
}

static void w9y_stop(w9_loop_t* l) {
  if (is_server) {
    wsl_t* sl = l->data;
    if (getenv("YXBENCH_STATS") != NULL)
      fprintf(stderr, "yxbench server: loop %u accepted %" PRIu64 " sessions\n",
              l->index, sl->accepted);
    while (sl->live != NULL) {
      ws_t* s = sl->live;
      ws_unlink(s);
      yamux_session_close(&s->sess, ws_closed);
    }
    uv_close((uv_handle_t*)&sl->listener, listener_closed);
  } else {
    wcl_t* cl = l->data;
    uint64_t i;
    cl->stopping = 1;
    for (i = w9_first(l); i < opt_sessions; i = w9_next(i))
      yamux_session_close(&recs[i].sess, NULL);
  }
}

const w9_impl_t w9_libyamux = {.impl = &bench_libyamux,
                               .init = w9y_init,
                               .serve = w9y_serve,
                               .connect = w9y_connect,
                               .busy = w9y_busy,
                               .count_pings = w9y_count_pings,
                               .stop = w9y_stop,
                               .report = w9y_report,
                               .print_config = w9y_print_config};
