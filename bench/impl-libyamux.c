/* yxbench: the workloads on libyamux, one session per run.
 *
 * Used as a demanding user would: zero-copy writes with -depth chunks in
 * flight (write callbacks and the stream's write queue size as
 * backpressure), readers that only count bytes read in place (no alloc_cb),
 * echo servers copy what they echo, TCP_NODELAY on.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "yamux.h"

static yamux_session_t sess;

static void check_yx(int rc, const char* what) {
  if (rc < 0) die("%s: %s", what, yamux_strerror(rc));
}

/* A stream and what the workloads keep for it. */
typedef struct yreq_s {
  yamux_stream_t stream;
  yamux_write_t wreq;
  yamux_shutdown_t sreq;
  bench_conn_t c;
} yreq_t;

#define YREQ(conn) ((yreq_t*)((char*)(conn)-offsetof(yreq_t, c)))

static pool_t req_pool = {sizeof(yreq_t), NULL};

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

/* Everything is measured: end the session. */
static void y_end(void) {
  y_dump_stats();
  yamux_session_close(&sess, NULL);
}

/* The measured part is over: stop the clock and end the session. */
static void y_client_done(void) {
  t_end = uv_hrtime();
  done = 1;
  y_end();
}

/* YXBENCH_LOG=1: the library's debug log (window changes...) on stderr. */
static void y_log(void* data, yamux_log_level_t level, const char* msg) {
  (void)level;
  fprintf(stderr, "[%s %.3f] %s\n", (const char*)data, elapsed_secs(), msg);
}

/* Library defaults unless -frame / -window / -maxinbound / -maxwindow say
 * otherwise (then printed in the RESULT line as config changes). */
static const yamux_config_t* y_config(void) {
  static yamux_config_t cfg;
  yamux_config_init(&cfg);
  if (getenv("YXBENCH_LOG") != NULL) {
    cfg.log_cb = y_log;
    cfg.log_data = (void*)"yamux";
    cfg.log_level = YAMUX_LOG_DEBUG;
  }
  if (opt_frame) cfg.max_frame_size = (uint32_t)opt_frame;
  if (opt_window) cfg.initial_window = (uint32_t)opt_window;
  if (opt_maxinbound) cfg.max_inbound_streams = (uint32_t)opt_maxinbound;
  if (opt_maxwindow) cfg.max_window = (uint32_t)opt_maxwindow;
  return &cfg;
}

static void y_print_config(void) {
  if (opt_frame) printf(" max_frame_size=%" PRIu64, opt_frame);
  if (opt_window) printf(" initial_window=%" PRIu64, opt_window);
  if (opt_maxinbound) printf(" max_inbound_streams=%" PRIu64, opt_maxinbound);
  if (opt_maxwindow) printf(" max_window=%" PRIu64, opt_maxwindow);
  if (opt_prio) printf(" ping_pong_urgency=0");
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

static void y_closed(yamux_stream_t* st) {
  pool_put(&req_pool, YREQ(st->data));
}

/* Opens a stream into a pooled record; reads with read_cb (in place). */
static yreq_t* y_open(yamux_read_cb read_cb) {
  yreq_t* r = pool_get(&req_pool);
  r->stream.data = &r->c;
  check_yx(yamux_stream_init(&sess, &r->stream), "stream_init");
  check_yx(yamux_stream_open(NULL, &r->stream, NULL), "open");
  check_yx(yamux_read_start(&r->stream, NULL, read_cb), "read_start");
  return r;
}

/* Accepts an inbound stream into a pooled record; NULL if it went away. */
static yreq_t* y_accept(yamux_session_t* s) {
  yreq_t* r = pool_get(&req_pool);
  r->stream.data = &r->c;
  check_yx(yamux_stream_init(s, &r->stream), "stream_init");
  if (yamux_accept(s, &r->stream) != 0) {
    pool_put(&req_pool, r);
    return NULL;
  }
  /* The server's streams only answer (an echo, an ack byte): urgent. */
  if (opt_prio) check_yx(yamux_stream_set_priority(&r->stream, 0), "prio");
  return r;
}

static yamux_write_t ackreq;

static void y_ack(yamux_stream_t* st) {
  uv_buf_t b = uv_buf_init(&ackbyte, 1);
  check_yx(yamux_write(&ackreq, st, &b, 1, NULL), "ack write");
}

/* ---- bulk writers (W1, W2, W8, W7's stream A) --------------------------- */

/* One bulk stream: -depth writes of one chunk in flight until its share of
 * -size is sent (W7: until told to stop). */
typedef struct ybulk_s {
  yamux_stream_t stream;
  yamux_connect_t connect;
  uint64_t sent, size;
  slots_t slots;
  yamux_write_t writes[]; /* -depth */
} ybulk_t;

static ybulk_t** bulks; /* -streams of them */
static uint64_t nopened;
static int bulk_stop;

static void yb_written(yamux_write_t* req, int status);

static void yb_pump(ybulk_t* b) {
  size_t high = (size_t)(opt_depth * opt_chunk);
  while (!bulk_stop && b->sent < b->size && b->slots.nfree > 0 &&
         yamux_stream_get_write_queue_size(&b->stream) < high) {
    yamux_write_t* w = &b->writes[slot_take(&b->slots)];
    uint64_t n = b->size - b->sent < opt_chunk ? b->size - b->sent : opt_chunk;
    uv_buf_t buf = uv_buf_init(pattern, (unsigned int)n);
    w->data = b;
    check_yx(yamux_write(w, &b->stream, &buf, 1, yb_written), "write");
    b->sent += n;
    bsent += n;
  }
}

static void yb_written(yamux_write_t* req, int status) {
  ybulk_t* b = req->data;
  if (status < 0) {
    io_error("write", yamux_strerror(status));
    return;
  }
  bdone += opt_chunk;
  slot_give(&b->slots, (int)(req - b->writes));
  yb_pump(b);
}

static void yb_pump_all(void) {
  uint64_t i;
  for (i = 0; i < opt_streams; i++) yb_pump(bulks[i]);
}

/* Opens the -streams bulk streams, each sharing -size, their replies going
 * to read_cb (into alloc_cb's buffer, or in place). Writing starts at once,
 * or with opened_cb once every stream is ACKed. */
static void yb_start(yamux_alloc_cb alloc_cb, yamux_read_cb read_cb,
                     yamux_connect_cb opened_cb) {
  uint64_t i;
  bulks = calloc((size_t)opt_streams, sizeof(*bulks));
  if (bulks == NULL) die("calloc");
  for (i = 0; i < opt_streams; i++) {
    ybulk_t* b = calloc(1, sizeof(*b) + opt_depth * sizeof(b->writes[0]));
    if (b == NULL) die("calloc");
    b->size = opt_size / opt_streams + (i < opt_size % opt_streams);
    slots_init(&b->slots);
    check_yx(yamux_stream_init(&sess, &b->stream), "stream_init");
    check_yx(yamux_stream_open(opened_cb ? &b->connect : NULL, &b->stream,
                               opened_cb),
             "open");
    check_yx(yamux_read_start(&b->stream, alloc_cb, read_cb), "read_start");
    bulks[i] = b;
  }
  if (opened_cb == NULL) yb_pump_all();
}

/* ---- bulk (W1, W2, W8) -------------------------------------------------- */

static void yb_read_ack(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)st;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    io_error("ack read", yamux_strerror((int)n));
    return;
  }
  if (n != 1 || bsent != opt_size) die("unexpected ack (%zd bytes)", n);
  y_client_done();
}

static void yb_opened(yamux_connect_t* req, int status) {
  (void)req;
  check_yx(status, "open");
  if (++nopened < opt_streams) return;
  t_start = uv_hrtime();
  yb_pump_all();
}

static void yb_client_start(void) {
  yb_start(y_alloc, yb_read_ack, yb_opened);
}

/* The server acks on the stream that brought the last byte. */
static void yb_srv_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n <= 0) return; /* EOF / session end: the session's end_cb closes */
  if (bulk_received((uint64_t)n)) y_ack(st);
}

static void yb_srv_conn(yamux_session_t* s, int status) {
  yreq_t* r;
  (void)status;
  if (nconns++ == opt_streams) die("more than -streams streams");
  if ((r = y_accept(s)) == NULL) die("accept");
  check_yx(yamux_read_start(&r->stream, NULL, yb_srv_read), "read_start");
}

/* ---- stream per request (W5) -------------------------------------------- */

static void y5_start(void);

static void y5_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  bench_conn_t* c = st->data;
  (void)buf;
  if (n > 0) {
    c->got += (uint64_t)n;
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF) die("request read: %s", yamux_strerror((int)n));
  if (c->got != opt_resp) die("response of %" PRIu64 " bytes", c->got);
  completed++;
  yamux_close(st, y_closed);
  if (started < opt_count) {
    y5_start();
  } else if (completed == opt_count) {
    y_client_done();
  }
}

static void y5_start(void) {
  yreq_t* r;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  started++;
  r = y_open(y5_read);
  /* Same turn as the open: the request rides on the SYN. */
  check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, NULL), "write");
}

static void y5_client_start(void) {
  uint64_t i;
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams && started < opt_count; i++) y5_start();
}

static void ys5_closed(yamux_stream_t* st) {
  served++;
  y_closed(st);
}

/* Servers close a stream once their FIN is queued (W5: counted). */
static void y_shut(yamux_shutdown_t* req, int status) {
  yreq_t* r = req->data;
  (void)status;
  if (!yamux_is_closing(&r->stream))
    yamux_close(&r->stream, wkind == WL_SPR ? ys5_closed : y_closed);
}

static void ys5_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  yreq_t* r = YREQ(st->data);
  (void)buf;
  if (n > 0) {
    r->c.got += (uint64_t)n;
    if (r->c.got > opt_msg) die("request too long");
    if (r->c.got == opt_msg && !r->c.responded) {
      uv_buf_t b = uv_buf_init(respbuf, (unsigned int)opt_resp);
      r->c.responded = 1;
      r->sreq.data = r;
      check_yx(yamux_write(&r->wreq, st, &b, 1, NULL), "write");
      check_yx(yamux_shutdown(&r->sreq, st, y_shut), "shutdown");
    }
    return;
  }
  if (n == 0 || n == UV_EOF) return; /* we close once our FIN is queued */
  if (!yamux_is_closing(st)) yamux_close(st, ys5_closed);
}

static void ys5_conn(yamux_session_t* s, int status) {
  yreq_t* r = y_accept(s);
  (void)status;
  if (r == NULL) return;
  check_yx(yamux_read_start(&r->stream, NULL, ys5_read), "read_start");
}

/* ---- echo server (W3, W4, W7) ------------------------------------------- */

static void ye_written(yamux_write_t* req, int status) {
  (void)status; /* UV_ECANCELED when the session closes first: fine */
  ebuf_put(req->data);
}

static void ye_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  yreq_t* r = YREQ(st->data);
  if (n > 0) {
    ebuf_t* e;
    yamux_write_t* w;
    uv_buf_t b;
    if (r->c.bulk) {
      brecv += (uint64_t)n;
      return;
    }
    e = ebuf_get(buf->base, (size_t)n); /* the lent buffer is ours only now */
    w = ebuf_req(e);
    w->data = e;
    b = uv_buf_init(e->data, (unsigned int)n);
    check_yx(yamux_write(w, st, &b, 1, ye_written), "echo write");
    return;
  }
  if (n == 0) return;
  if (n == UV_EOF) {
    if (r->c.bulk) y_ack(st); /* W7: tell the client we have read all of A */
    r->sreq.data = r;
    if (yamux_shutdown(&r->sreq, st, y_shut) != 0) yamux_close(st, y_closed);
    return;
  }
  if (!yamux_is_closing(st)) yamux_close(st, y_closed);
}

static void ye_conn(yamux_session_t* s, int status) {
  yreq_t* r = y_accept(s);
  (void)status;
  if (r == NULL) return;
  r->c.bulk = bench_next_is_bulk();
  check_yx(yamux_read_start(&r->stream, NULL, ye_read), "read_start");
}

/* ---- W3 fan-out echo: client -------------------------------------------- */

static void y3_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    io_error("echo read", yamux_strerror((int)n));
    return;
  }
  if (!echo_read(st->data, (size_t)n)) return;
  yamux_close(st, y_closed);
  if (++completed == opt_streams) y_client_done();
}

static void y3_client_start(void) {
  uint64_t i;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams; i++) {
    yreq_t* r = y_open(y3_read);
    check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, NULL), "write");
  }
}

/* ---- ping-pong (W4, W7's stream B): client ------------------------------ */

static void ypp_written(yamux_write_t* req, int status) {
  if (status < 0) {
    io_error("write", yamux_strerror(status));
    return;
  }
  pp_written(req->data);
}

static void ypp_write(bench_conn_t* c) {
  yreq_t* r = YREQ(c);
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  c->wpending = 1;
  r->wreq.data = c;
  check_yx(yamux_write(&r->wreq, &r->stream, &b, 1, ypp_written), "write");
}

static void ypp_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    io_error("read", yamux_strerror((int)n));
    return;
  }
  pp_read(st->data, (size_t)n);
}

static bench_conn_t* ypp_open(void) {
  yreq_t* r = y_open(ypp_read);
  if (opt_prio) check_yx(yamux_stream_set_priority(&r->stream, 0), "prio");
  pp_send(&r->c); /* the untimed round trip; rides on the SYN */
  return &r->c;
}

static void y4_client_start(void) {
  uint64_t i;
  pp_write = ypp_write;
  pp_end = y_end;
  pp_alloc(opt_streams);
  for (i = 0; i < opt_streams; i++) pp_streams[i] = ypp_open();
}

/* ---- W7 head-of-line: client -------------------------------------------- */

static uv_timer_t hol_timer;
static yamux_shutdown_t bshut;

static void y7_bulk_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  (void)st;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (pp_phase < PP_IDLE) io_error("bulk ack read", yamux_strerror((int)n));
    return; /* from PP_IDLE on: the EOF after the ack */
  }
  if (n != 1 || pp_phase != PP_DRAIN) die("unexpected bulk ack");
  pp_bulk_acked();
}

static void y7_stop_bulk(void) {
  bulk_stop = 1; /* the FIN goes after the writes already queued */
  check_yx(yamux_shutdown(&bshut, &bulks[0]->stream, NULL), "shutdown");
}

static void y7_open_b(uv_timer_t* t) {
  uv_close((uv_handle_t*)t, NULL);
  pp_streams[0] = ypp_open();
}

static void y7_client_start(void) {
  pp_write = ypp_write;
  pp_end = y_end;
  pp_stop_bulk = y7_stop_bulk;
  pp_alloc(1);
  yb_start(NULL, y7_bulk_read, NULL);
  check_uv(uv_timer_init(loop, &hol_timer), "timer_init");
  check_uv(uv_timer_start(&hol_timer, y7_open_b, opt_warmup, 0), "timer_start");
}

/* ---- W6 idle streams ---------------------------------------------------- */

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
  result_begin();
  printf(" streams=%" PRIu64
         " mode=%s client_rss_per_stream=%.1f server_rss_per_stream=%.1f"
         " client_heap_per_stream=%.1f server_heap_per_stream=%.1f"
         " open_secs=%.6f accepted_secs=%.6f close_ms=%.3f"
         " close_call_ms=%.3f server_close_ms=%.3f",
         opt_streams, opt_read_mode ? "read" : "hold",
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
  result_end();
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

/* Starts reading on st in -mode=read. */
static void y6_maybe_read(yamux_stream_t* st) {
  if (opt_read_mode)
    check_yx(yamux_read_start(st, NULL, y6_noop_read), "read_start");
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
    y6_maybe_read(st);
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

/* Both sides: the handles, and the timer that settles. */
static void y6_init(void) {
  idle_streams = calloc((size_t)opt_streams, sizeof(*idle_streams));
  if (idle_streams == NULL) die("calloc");
  check_uv(uv_timer_init(loop, &settle_timer), "timer_init");
}

static void y6_client_start(void) {
  y6_init();
  watch_child_out(y6_child_line);
}

/* W6 server. */
static uint64_t t_srv_end;

static void y6_report(const char* what) {
  printf("%s rss=%" PRIu64 " heap=%" PRIu64 "\n", what, rss_bytes(),
         heap_bytes());
  fflush(stdout);
}

static void y6_srv_held(uv_timer_t* t) {
  (void)t;
  y6_report("HELD");
  uv_close((uv_handle_t*)&settle_timer, NULL);
}

static void y6_srv_conn(yamux_session_t* s, int status) {
  yamux_stream_t* st;
  (void)status;
  if (nconns == opt_streams) die("more streams than -streams");
  st = &idle_streams[nconns];
  check_yx(yamux_stream_init(s, st), "stream_init");
  if (yamux_accept(s, st) != 0) return;
  y6_maybe_read(st);
  if (++nconns == opt_streams) {
    printf("ACCEPTED\n");
    fflush(stdout);
    settle(y6_srv_held);
  }
}

static void y6_srv_ready(uv_timer_t* t) {
  (void)t;
  y6_report("READY");
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
  y6_init();
  settle(y6_srv_ready);
}

/* ---- transports --------------------------------------------------------- */

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
    case WL_MANY:
      die("W9 runs in bench/w9.c");
  }
}

static void y_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&sess.io[0].tcp, 1), "nodelay");
  check_yx(yamux_session_start_uv(loop, &sess, 1, y_client_end), "start_uv");
  y_client_ready();
}

static int y_client(int argc, char** argv) {
  check_yx(yamux_session_init(&sess, YAMUX_CLIENT, y_config()), "session_init");
  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    spawn_tcp_child(argc, argv, &addr);
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
    /* The child may have been killed (teardown_secs=KILLED>...). */
    uv_run(loop, UV_RUN_DEFAULT);
    if (!done || !child_exited) die("not done");
  } else {
    reap_child();
  }
  if (!done) die("not done");
  pool_free(&req_pool);
  if (wkind == WL_IDLE)
    y6_print();
  else
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

static int y_server(void) {
  int rc;
  ebuf_req_size = sizeof(yamux_write_t);
  check_yx(yamux_session_init(&sess, YAMUX_SERVER, y_config()), "session_init");
  if (transport == TR_TCP) {
    uv_listen_tcp(y_srv_tcp_conn);
  } else {
    check_yx(yamux_session_start_stdio(loop, &sess, y_server_end),
             "start_stdio");
    y_srv_start();
  }
  rc = server_run();
  pool_free(&req_pool);
  return rc;
}

const bench_impl_t bench_libyamux = {"libyamux", y_client, y_server,
                                     y_print_config};
