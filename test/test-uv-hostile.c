/* Hostile peers over a real transport: a socketpair with our session on one
 * end (the libuv driver) and, on the other end in the same loop, a raw peer
 * that writes frames by hand and parses what the session sends.
 *
 * Each test asserts the documented outcome and a bound on the session's
 * memory, measured with the counting allocator (every allocation the
 * engine and the libuv driver make). The bounds use:
 *   BASE       82 KiB: the session state (busy output batch, refusal ring,
 *              id bitmap, pong ring, a small stream table: 16 KiB) and the
 *              driver (its state and the 64 KiB buffer of a read);
 *   PER_STREAM 1 KiB: one stream record and its table slots;
 * plus whatever received data may be buffered (at most a window per
 * stream). A bound that holds after a flood of N frames shows the memory
 * does not grow with N. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"
#include "test-uv-util.h"

#define BASE (16 * 1024 + 64 * 1024 + 2048)
#define PER_STREAM 1024

typedef struct {
  uv_loop_t loop;
  uvt_session_t us;
  tmem_t mem;
  uv_pipe_t peer;
  int peer_reading;
  int peer_closed;
  int peer_eof;
  tbuf_t in;        /* bytes from the session not yet decoded */
  tframes_t frames; /* every frame the session sent */
  size_t next;      /* cursor into frames */
  uint64_t received;
  size_t writes_pending;
  uv_timer_t timer;
  int (*pred)(void* hx);
  uint64_t deadline;
  int timed_out;
  /* Application side. */
  int conn_cbs;
} hx_t;

typedef struct {
  uv_write_t req;
  char data[];
} pwrite_t;

/* ---- the raw peer ------------------------------------------------------- */

static void peer_alloc(uv_handle_t* h, size_t sz, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(sz);
  ASSERT_NOT_NULL(buf->base);
  buf->len = sz;
}

static void peer_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  hx_t* hx = s->data;
  if (n > 0) {
    size_t used;
    tbuf_append(&hx->in, buf->base, (size_t)n);
    hx->received += (uint64_t)n;
    used = tframes_decode(&hx->frames, hx->in.data, hx->in.len);
    tbuf_consume(&hx->in, used);
  } else if (n < 0) {
    hx->peer_eof = 1;
    uv_read_stop(s);
    hx->peer_reading = 0;
  }
  free(buf->base);
}

static void peer_read_start(hx_t* hx) {
  if (hx->peer_reading || hx->peer_eof) return;
  ASSERT_OK(uv_read_start((uv_stream_t*)&hx->peer, peer_alloc, peer_read));
  hx->peer_reading = 1;
}

static void peer_wrote(uv_write_t* req, int status) {
  hx_t* hx = req->handle->data;
  (void)status; /* EPIPE once the session closed: fine */
  hx->writes_pending--;
  free(req);
}

/* Sends raw bytes (copied). */
static void peer_send(hx_t* hx, const void* data, size_t n) {
  pwrite_t* w = malloc(sizeof(*w) + n);
  uv_buf_t b;
  ASSERT_NOT_NULL(w);
  memcpy(w->data, data, n);
  b = uv_buf_init(w->data, (unsigned int)n);
  ASSERT_OK(uv_write(&w->req, (uv_stream_t*)&hx->peer, &b, 1, peer_wrote));
  hx->writes_pending++;
}

static void peer_frame(hx_t* hx, uint8_t type, uint16_t flags, uint32_t id,
                       uint32_t length, const void* body, size_t bodylen) {
  tbuf_t b = {0};
  tframe_put(&b, type, flags, id, length, body, bodylen);
  peer_send(hx, b.data, b.len);
  tbuf_free(&b);
}

/* Skips to the first unread frame that matches (TANY: any); NULL if none. */
static const tframe_t* peer_find(hx_t* hx, long long type, long long flags,
                                 long long id) {
  while (hx->next < hx->frames.n) {
    const tframe_t* f = &hx->frames.v[hx->next++];
    if ((type == TANY || f->type == type) &&
        (flags == TANY || (f->flags & flags) == flags) &&
        (id == TANY || f->id == id))
      return f;
  }
  return NULL;
}

static size_t count_frames(hx_t* hx, int type, int flags) {
  size_t i, n = 0;
  for (i = 0; i < hx->frames.n; i++)
    if (hx->frames.v[i].type == type &&
        (hx->frames.v[i].flags & flags) == flags)
      n++;
  return n;
}

/* ---- fixture ------------------------------------------------------------ */

static void base_config(yamux_config_t* cfg) {
  yamux_config_init(cfg);
  cfg->keepalive_interval_ms = 0;
}

static void hx_init(hx_t* hx, yamux_role_t role, yamux_config_t* cfg) {
  uv_os_sock_t fds[2];
  memset(hx, 0, sizeof(*hx));
  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&hx->loop));
  tmem_init(&hx->mem);
  cfg->allocator = tmem_allocator(&hx->mem);
  uvt_session_init(&hx->us, role, cfg);
  ASSERT_OK(
      uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  ASSERT_OK(uv_pipe_init(&hx->loop, &hx->us.session.io[0].pipe, 0));
  ASSERT_OK(uv_pipe_open(&hx->us.session.io[0].pipe, fds[0]));
  ASSERT_OK(uv_pipe_init(&hx->loop, &hx->peer, 0));
  ASSERT_OK(uv_pipe_open(&hx->peer, fds[1]));
  hx->peer.data = hx;
  ASSERT_OK(uv_timer_init(&hx->loop, &hx->timer));
  hx->timer.data = hx;
  ASSERT_OK(yamux_session_start_uv(&hx->loop, &hx->us.session, 1, uvt_on_end));
}

static void tick(uv_timer_t* t) {
  hx_t* hx = t->data;
  if (hx->pred != NULL && hx->pred(hx)) {
    uv_stop(&hx->loop);
    return;
  }
  if (uv_now(&hx->loop) >= hx->deadline) {
    hx->timed_out = 1;
    uv_stop(&hx->loop);
  }
}

/* Runs the loop until pred(hx) holds (checked every millisecond) or ms
 * pass. Returns 1 if pred held. */
static int hx_run_until(hx_t* hx, int (*pred)(void*), uint64_t ms) {
  uv_update_time(&hx->loop);
  hx->pred = pred;
  hx->deadline = uv_now(&hx->loop) + ms;
  hx->timed_out = 0;
  if (pred != NULL && pred(hx)) return 1;
  ASSERT_OK(uv_timer_start(&hx->timer, tick, 1, 1));
  uv_run(&hx->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&hx->timer);
  hx->pred = NULL;
  return pred != NULL && !hx->timed_out ? 1 : pred != NULL && pred(hx);
}

static void hx_run_for(hx_t* hx, uint64_t ms) {
  hx_run_until(hx, NULL, ms);
}

static void get_stats(hx_t* hx, yamux_session_stats_t* st) {
  ASSERT_OK(yamux_session_get_stats(&hx->us.session, st));
}

static void on_closed_handle(uv_handle_t* h) {
  (void)h;
}

/* Closes the session (if the test did not) and the peer, runs the loop to
 * the end, checks that the session released every byte. */
static void hx_finish(hx_t* hx) {
  fprintf(stderr, "engine memory: peak %zu bytes, %zu live before close\n",
          hx->mem.peak_bytes, hx->mem.live_bytes);
  if (!yamux_session_is_closing(&hx->us.session) || hx->us.close_count == 0) {
    if (!yamux_session_is_closing(&hx->us.session)) uvt_session_close(&hx->us);
  }
  /* The peer reads until the session's EOF so that the close flushes. */
  peer_read_start(hx);
  while (hx->us.close_count == 0) uv_run(&hx->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t*)&hx->timer, on_closed_handle);
  uv_close((uv_handle_t*)&hx->peer, on_closed_handle);
  uvt_loop_finish(&hx->loop);
  ASSERT_EQ(hx->us.close_count, 1);
  ASSERT_EQ(hx->mem.live_bytes, 0);
  tbuf_free(&hx->in);
  tframes_free(&hx->frames);
}

/* ---- SYN flood ----------------------------------------------------------- */

static int conn_seen;
static void count_conn(yamux_session_t* s, int status) {
  (void)s;
  ASSERT_OK(status);
  conn_seen++;
}

static int refused_all(void* p) {
  hx_t* hx = p;
  yamux_session_stats_t st;
  get_stats(hx, &st);
  /* Each refusal is an RST, or dropped once 1024 RSTs wait unsent. */
  return st.streams_refused + st.streams_accepted >= 5000 &&
         count_frames(hx, T_WU, F_RST) + st.frames_dropped >=
             st.streams_refused;
}

/* 5000 SYNs in one burst, nobody accepting: the backlog (16) fills, every
 * other SYN is refused with an RST, and memory is the backlog's records
 * only: live <= BASE + 16 * PER_STREAM, whatever the flood's size. Then,
 * accepting, live inbound streams stop at max_inbound_streams (32). */
TEST_TIMEOUT(uv_hostile_syn_flood, 20) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_session_stats_t st;
  tbuf_t b = {0};
  yamux_stream_t acc[40];
  uint32_t i;
  int n;

  base_config(&cfg);
  cfg.accept_backlog = 16;
  cfg.max_inbound_streams = 32;
  hx_init(&hx, YAMUX_SERVER, &cfg);
  peer_read_start(&hx);
  for (i = 0; i < 5000; i++) tframe_put(&b, T_WU, F_SYN, 2 * i + 1, 0, NULL, 0);
  peer_send(&hx, b.data, b.len);
  tbuf_free(&b);
  ASSERT(hx_run_until(&hx, refused_all, 5000));
  get_stats(&hx, &st);
  ASSERT_EQ(st.streams_pending_accept, 16);
  ASSERT_EQ(st.streams_accepted, 16);
  ASSERT_EQ(st.streams_refused, 5000 - 16);
  ASSERT_EQ(st.protocol_errors, 0);
  ASSERT_LE(hx.mem.peak_bytes, BASE + 16 * PER_STREAM);

  /* Accept them; the peer opens 100 more: 32 live at most. */
  conn_seen = 0;
  ASSERT_OK(yamux_session_listen(&hx.us.session, count_conn));
  for (n = 0; n < 16; n++) {
    ASSERT_OK(yamux_stream_init(&hx.us.session, &acc[n]));
    ASSERT_OK(yamux_accept(&hx.us.session, &acc[n]));
  }
  for (i = 0; i < 100; i++)
    tframe_put(&b, T_WU, F_SYN, 2 * (5000 + i) + 1, 0, NULL, 0);
  peer_send(&hx, b.data, b.len);
  tbuf_free(&b);
  hx_run_for(&hx, 200);
  for (; n < 40; n++) {
    ASSERT_OK(yamux_stream_init(&hx.us.session, &acc[n]));
    if (yamux_accept(&hx.us.session, &acc[n]) != 0) break;
  }
  get_stats(&hx, &st);
  ASSERT_EQ(n, 32);
  ASSERT_EQ(st.streams_open, 32);
  ASSERT_EQ(st.streams_refused, 5000 - 16 + 100 - 16);
  ASSERT_LE(hx.mem.live_bytes, BASE + 32 * PER_STREAM);
  ASSERT_EQ(hx.us.end_count, 0);
  hx_finish(&hx);
}

/* ---- ping flood, no reads ------------------------------------------------ */

/* 100000 pings (1.2 MB) while the peer reads nothing: once the socket is
 * full, pongs queue up to max_queued_pongs (8) and the rest are dropped.
 * Memory stays at live <= BASE (no per-ping allocation); the session does
 * not end. When the peer reads again, the queued pongs arrive. */
TEST_TIMEOUT(uv_hostile_ping_flood_no_reads, 20) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_session_stats_t st;
  tbuf_t b = {0};
  uint32_t i;
  size_t before;

  base_config(&cfg);
  cfg.max_queued_pongs = 8;
  hx_init(&hx, YAMUX_CLIENT, &cfg);
  for (i = 0; i < 100000; i++) tframe_put(&b, T_PING, F_SYN, 0, i, NULL, 0);
  peer_send(&hx, b.data, b.len);
  tbuf_free(&b);
  hx_run_for(&hx, 1500);
  get_stats(&hx, &st);
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_EQ(st.pongs_sent + st.pongs_dropped, 100000);
  ASSERT_GT(st.pongs_dropped, 0);
  ASSERT_LE(hx.mem.peak_bytes, BASE);
  /* The peer reads again: everything sent is well-formed pongs. */
  before = st.pongs_sent;
  peer_read_start(&hx);
  hx_run_for(&hx, 200);
  get_stats(&hx, &st);
  ASSERT_EQ(count_frames(&hx, T_PING, F_ACK), st.pongs_sent);
  ASSERT_GE(st.pongs_sent, before);
  ASSERT_EQ(count_frames(&hx, T_PING, 0), hx.frames.n);
  hx_finish(&hx);
}

/* ---- window update flood and overflow ----------------------------------- */

static int saw_goaway(void* p) {
  hx_t* hx = p;
  return count_frames(hx, T_GOAWAY, 0) > 0 && hx->us.end_count > 0;
}

/* 100000 window updates of 1 byte on an open stream: the send window grows
 * by exactly that, memory stays at live <= BASE + PER_STREAM. Then one
 * update that would take the window past 2^32-1: protocol error, Go
 * Away(1), end_cb(YAMUX_EPROTO). */
TEST_TIMEOUT(uv_hostile_window_update_flood_overflow, 20) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s;
  yamux_stream_stats_t ss;
  const tframe_t* f;
  tbuf_t b = {0};
  uint32_t i, id;

  base_config(&cfg);
  hx_init(&hx, YAMUX_CLIENT, &cfg);
  peer_read_start(&hx);
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
  ASSERT_OK(yamux_stream_open(NULL, &s, NULL));
  hx_run_for(&hx, 50);
  f = peer_find(&hx, T_WU, F_SYN, TANY);
  ASSERT_NOT_NULL(f);
  id = f->id;
  tframe_put(&b, T_WU, F_ACK, id, 0, NULL, 0);
  for (i = 0; i < 100000; i++) tframe_put(&b, T_WU, 0, id, 1, NULL, 0);
  peer_send(&hx, b.data, b.len);
  tbuf_free(&b);
  hx_run_for(&hx, 500);
  ASSERT_OK(yamux_stream_get_stats(&s, &ss));
  ASSERT_EQ(ss.send_window, T_WINDOW + 100000);
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_LE(hx.mem.peak_bytes, BASE + PER_STREAM);

  peer_frame(&hx, T_WU, 0, id, UINT32_MAX - ss.send_window + 1, NULL, 0);
  ASSERT(hx_run_until(&hx, saw_goaway, 2000));
  ASSERT_EQ(hx.us.end_status, YAMUX_EPROTO);
  f = peer_find(&hx, T_GOAWAY, 0, 0);
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->length, YAMUX_GOAWAY_PROTOCOL);
  hx_finish(&hx);
}

/* ---- a peer that never reads, 1 GiB to send ------------------------------ */

#define GIB_WRITES 1024
#define GIB_CHUNK (1024 * 1024)

static int gib_done;
static int gib_errors;
static void gib_write_cb(yamux_write_t* req, int status) {
  (void)req;
  gib_done++;
  if (status != 0) gib_errors++;
}

/* The app queues 1 GiB (1024 writes of the same 1 MiB buffer: the engine
 * does not copy) on a stream the peer ACKed with a 16 MiB credit, and the
 * peer never reads. The socket fills, the rest stays queued: the engine's
 * memory stays at live <= BASE + PER_STREAM (write requests and their data
 * are the caller's; nothing is copied or buffered per write), queued_bytes
 * accounts for every unsent byte, and the bytes handed to the transport
 * never exceed the credit. Closing fails the unsent writes with
 * UV_ECANCELED, each callback once, within the close timeout. */
TEST_TIMEOUT(uv_hostile_never_reads_1gib, 20) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s;
  yamux_session_stats_t st;
  yamux_stream_stats_t ss;
  static yamux_write_t w[GIB_WRITES];
  char* chunk;
  const tframe_t* f;
  uv_buf_t buf;
  int i;

  base_config(&cfg);
  cfg.close_timeout_ms = 200;
  hx_init(&hx, YAMUX_CLIENT, &cfg);
  peer_read_start(&hx);
  chunk = calloc(1, GIB_CHUNK);
  ASSERT_NOT_NULL(chunk);
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
  ASSERT_OK(yamux_stream_open(NULL, &s, NULL));
  hx_run_for(&hx, 20);
  f = peer_find(&hx, T_WU, F_SYN, TANY);
  ASSERT_NOT_NULL(f);
  /* ACK with 16 MiB more credit, then stop reading for good. */
  peer_frame(&hx, T_WU, F_ACK, f->id, 16u << 20, NULL, 0);
  uv_read_stop((uv_stream_t*)&hx.peer);
  hx.peer_reading = 0;
  gib_done = gib_errors = 0;
  buf = uv_buf_init(chunk, GIB_CHUNK);
  for (i = 0; i < GIB_WRITES; i++)
    ASSERT_OK(yamux_write(&w[i], &s, &buf, 1, gib_write_cb));
  hx_run_for(&hx, 500);
  get_stats(&hx, &st);
  ASSERT_OK(yamux_stream_get_stats(&s, &ss));
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_LE(ss.bytes_sent, T_WINDOW + (16u << 20));
  ASSERT_EQ(ss.bytes_sent + ss.queued_bytes, (uint64_t)GIB_WRITES * GIB_CHUNK);
  ASSERT_EQ(st.queued_bytes, ss.queued_bytes);
  ASSERT_GT(st.queued_bytes, (uint64_t)1000 * GIB_CHUNK);
  ASSERT_LE(hx.mem.peak_bytes, BASE + PER_STREAM);
  ASSERT_LT(gib_done, GIB_WRITES);

  /* Close without reading: the close timeout ends it. */
  uvt_session_close(&hx.us);
  while (hx.us.close_count == 0) uv_run(&hx.loop, UV_RUN_ONCE);
  ASSERT_EQ(gib_done, GIB_WRITES);
  ASSERT_GT(gib_errors, 1000);
  hx_finish(&hx);
  free(chunk);
}

/* ---- a peer that never ACKs ---------------------------------------------- */

static int connect_status;
static int connect_calls;
static void on_connect(yamux_connect_t* req, int status) {
  (void)req;
  connect_calls++;
  connect_status = status;
}

static int connected(void* p) {
  (void)p;
  return connect_calls > 0;
}

/* open_timeout_ms 100: the open fails with UV_ETIMEDOUT after 100 ms (not
 * before), the peer gets an RST for the stream, the session goes on, and
 * the record is released: live <= BASE once the stream is closed. */
TEST_TIMEOUT(uv_hostile_never_acks, 10) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s;
  yamux_connect_t req;
  yamux_session_stats_t st;
  uint64_t t0, took;

  base_config(&cfg);
  cfg.open_timeout_ms = 100;
  hx_init(&hx, YAMUX_CLIENT, &cfg);
  peer_read_start(&hx);
  connect_calls = 0;
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
  uv_update_time(&hx.loop);
  t0 = uv_now(&hx.loop);
  ASSERT_OK(yamux_stream_open(&req, &s, on_connect));
  ASSERT(hx_run_until(&hx, connected, 3000));
  took = uv_now(&hx.loop) - t0;
  ASSERT_EQ(connect_calls, 1);
  ASSERT_EQ(connect_status, UV_ETIMEDOUT);
  ASSERT_GE(took, 100);
  hx_run_for(&hx, 20);
  ASSERT_NOT_NULL(peer_find(&hx, T_WU, F_SYN, s.id));
  ASSERT_NOT_NULL(peer_find(&hx, T_WU, F_RST, s.id));
  yamux_close(&s, NULL);
  hx_run_for(&hx, 20);
  get_stats(&hx, &st);
  ASSERT_EQ(st.streams_open, 0);
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_LE(hx.mem.live_bytes, BASE);
  hx_finish(&hx);
}

/* ---- a peer that never FINs after our close ------------------------------ */

static int closed_cbs;
static void on_stream_closed(yamux_stream_t* s) {
  (void)s;
  closed_cbs++;
}

static int no_streams(void* p) {
  hx_t* hx = p;
  yamux_session_stats_t st;
  get_stats(hx, &st);
  return st.streams_open == 0;
}

static int got_pong(void* p) {
  return count_frames(p, T_PING, F_ACK) > 0;
}

/* linger_timeout_ms 100: we close an inbound stream (FIN goes out), the
 * peer never answers with its FIN; after 100 ms the stream is reset (RST
 * to the peer) and its record released: streams_open 0, live <= BASE. */
TEST_TIMEOUT(uv_hostile_never_fins, 10) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s;
  yamux_session_stats_t st;
  uint64_t t0, took;

  base_config(&cfg);
  cfg.linger_timeout_ms = 100;
  hx_init(&hx, YAMUX_SERVER, &cfg);
  peer_read_start(&hx);
  peer_frame(&hx, T_WU, F_SYN, 1, 0, NULL, 0);
  hx_run_for(&hx, 20);
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
  ASSERT_OK(yamux_accept(&hx.us.session, &s));
  closed_cbs = 0;
  /* The engine dates an API call's deadline from its last drive (see
   * yamux_session_feed's `now`): drive it now with a ping, so that the
   * linger starts within a millisecond of the close. */
  peer_frame(&hx, T_PING, F_SYN, 0, 77, NULL, 0);
  ASSERT(hx_run_until(&hx, got_pong, 1000));
  uv_update_time(&hx.loop);
  t0 = uv_now(&hx.loop);
  yamux_close(&s, on_stream_closed);
  hx_run_for(&hx, 30);
  ASSERT_NOT_NULL(peer_find(&hx, T_WU, F_FIN, 1));
  get_stats(&hx, &st);
  ASSERT_EQ(st.streams_open, 1); /* lingering */
  ASSERT(hx_run_until(&hx, no_streams, 3000));
  took = uv_now(&hx.loop) - t0;
  ASSERT_GE(took, 100 - 5);
  hx_run_for(&hx, 10);
  ASSERT_NOT_NULL(peer_find(&hx, T_WU, F_RST, 1));
  ASSERT_EQ(closed_cbs, 1);
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_LE(hx.mem.live_bytes, BASE);
  hx_finish(&hx);
}

/* ---- slow loris ------------------------------------------------------------
 */

typedef struct {
  hx_t* hx;
  uv_timer_t t;
  tbuf_t bytes;
  size_t off;
  int pong_pending; /* answer pings between frames */
} loris_t;

static tbuf_t slow_rx;
static int slow_eof;
static void slow_alloc(yamux_stream_t* s, size_t sz, uv_buf_t* b) {
  static char buf[4096];
  (void)s;
  (void)sz;
  *b = uv_buf_init(buf, sizeof(buf));
}
static void slow_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* b) {
  (void)s;
  if (n > 0) tbuf_append(&slow_rx, b->base, (size_t)n);
  if (n == UV_EOF) slow_eof++;
}

static void loris_tick(uv_timer_t* t) {
  loris_t* l = t->data;
  if (l->off < l->bytes.len) {
    peer_send(l->hx, l->bytes.data + l->off, 1);
    l->off++;
  } else {
    uv_timer_stop(t);
  }
}

static int loris_done(void* p) {
  (void)p;
  return slow_eof > 0;
}

/* The peer opens a stream and sends ~550 bytes of frames (headers split
 * too) one byte every 2 ms, with keepalive at 100 ms and a 300 ms timeout.
 * The data arrives intact and the session never times out: every byte
 * proves the peer alive, so no ping is even needed. Memory: live <= BASE +
 * PER_STREAM + 4096 (one receive chunk). */
TEST_TIMEOUT(uv_hostile_slow_loris, 15) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s;
  loris_t l;
  uint8_t body[500];

  base_config(&cfg);
  cfg.keepalive_interval_ms = 100;
  cfg.keepalive_timeout_ms = 300;
  hx_init(&hx, YAMUX_SERVER, &cfg);
  peer_read_start(&hx);
  memset(&l, 0, sizeof(l));
  l.hx = &hx;
  tpattern_fill(body, sizeof(body), 0);
  /* A SYN with 100 bytes, then one 400-byte frame: 0.8 s without a new
   * header, longer than the keepalive timeout. */
  tframe_put(&l.bytes, T_DATA, F_SYN, 1, 100, body, 100);
  tframe_put(&l.bytes, T_DATA, 0, 1, 400, body + 100, 400);
  tframe_put(&l.bytes, T_WU, F_FIN, 1, 0, NULL, 0);
  ASSERT_OK(uv_timer_init(&hx.loop, &l.t));
  l.t.data = &l;
  ASSERT_OK(uv_timer_start(&l.t, loris_tick, 2, 2));
  /* Accept as soon as the SYN is in. */
  tbuf_free(&slow_rx);
  slow_eof = 0;
  while (hx.us.end_count == 0) {
    ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
    if (yamux_accept(&hx.us.session, &s) == 0) break;
    hx_run_for(&hx, 5);
  }
  ASSERT_OK(yamux_read_start(&s, slow_alloc, slow_read));
  ASSERT(hx_run_until(&hx, loris_done, 10000));
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_EQ(slow_rx.len, 500);
  ASSERT_MEM_EQ(slow_rx.data, body, 500);
  ASSERT_EQ(count_frames(&hx, T_PING, F_SYN), 0);
  ASSERT_LE(hx.mem.peak_bytes, BASE + PER_STREAM + 4096);
  uv_close((uv_handle_t*)&l.t, NULL);
  tbuf_free(&l.bytes);
  tbuf_free(&slow_rx);
  hx_finish(&hx);
}

/* ---- truncated frame at EOF ---------------------------------------------- */

static uv_shutdown_t peer_shut;

static int ended(void* p) {
  return ((hx_t*)p)->us.end_count > 0;
}

static int trunc_status;
static size_t trunc_bytes;
static void trunc_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* b) {
  (void)s;
  (void)b;
  if (n > 0)
    trunc_bytes += (size_t)n;
  else if (n != UV_ENOBUFS)
    trunc_status = (int)n;
}

/* A Data frame announcing 100 bytes, 50 sent, then EOF (and, second case,
 * half a header then EOF): the session ends with UV_EOF, the reader got the
 * 50 bytes then UV_ECONNABORTED (no FIN came), and close frees all. */
TEST_TIMEOUT(uv_hostile_truncated_frame_eof, 10) {
  int round;
  for (round = 0; round < 2; round++) {
    hx_t hx;
    yamux_config_t cfg;
    yamux_stream_t s;
    tbuf_t b = {0};

    base_config(&cfg);
    hx_init(&hx, YAMUX_SERVER, &cfg);
    peer_read_start(&hx);
    peer_frame(&hx, T_WU, F_SYN, 1, 0, NULL, 0);
    hx_run_for(&hx, 20);
    ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
    ASSERT_OK(yamux_accept(&hx.us.session, &s));
    trunc_status = 0;
    trunc_bytes = 0;
    ASSERT_OK(yamux_read_start(&s, slow_alloc, trunc_read));
    if (round == 0) {
      tframe_put(&b, T_DATA, 0, 1, 100, NULL, 50);
    } else {
      tframe_put(&b, T_DATA, 0, 1, 10, NULL, 10);
      tframe_put_header(&b, 0, T_DATA, 0, 1, 10);
      b.len -= 6; /* half a header */
    }
    peer_send(&hx, b.data, b.len);
    tbuf_free(&b);
    ASSERT_OK(uv_shutdown(&peer_shut, (uv_stream_t*)&hx.peer, NULL));
    ASSERT(hx_run_until(&hx, ended, 3000));
    ASSERT_EQ(hx.us.end_status, UV_EOF);
    hx_run_for(&hx, 10);
    ASSERT_EQ(trunc_bytes, round == 0 ? 50 : 10);
    ASSERT_EQ(trunc_status, UV_ECONNABORTED);
    ASSERT_LE(hx.mem.peak_bytes, BASE + PER_STREAM + 4096);
    hx_finish(&hx);
  }
}

/* ---- frames for closed and unknown streams ------------------------------- */

/* Data, window updates, FIN and RST for ids that were never opened or were
 * reset and released: dropped and counted, no protocol error, nothing
 * allocated (live <= BASE + PER_STREAM), and the session still carries a
 * new stream. */
TEST_TIMEOUT(uv_hostile_frames_for_closed_streams, 10) {
  hx_t hx;
  yamux_config_t cfg;
  yamux_stream_t s, s2;
  yamux_session_stats_t st;
  tbuf_t b = {0};
  uint32_t i;

  base_config(&cfg);
  hx_init(&hx, YAMUX_SERVER, &cfg);
  peer_read_start(&hx);
  /* Stream 1: opened, accepted, then reset by us. */
  peer_frame(&hx, T_WU, F_SYN, 1, 0, NULL, 0);
  hx_run_for(&hx, 20);
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s));
  ASSERT_OK(yamux_accept(&hx.us.session, &s));
  yamux_close_reset(&s, 0, NULL);
  hx_run_for(&hx, 20);
  ASSERT_NOT_NULL(peer_find(&hx, T_WU, F_RST, 1));
  for (i = 0; i < 1000; i++) {
    uint32_t id = i % 2 ? 1 : 1001 + 2 * i; /* closed, or never opened */
    tframe_put(&b, T_DATA, 0, id, 100, NULL, 100);
    tframe_put(&b, T_WU, 0, id, 1000, NULL, 0);
    tframe_put(&b, T_WU, F_FIN, id, 0, NULL, 0);
    tframe_put(&b, T_DATA, F_RST, id, 0, NULL, 0);
  }
  peer_send(&hx, b.data, b.len);
  tbuf_free(&b);
  hx_run_for(&hx, 300);
  get_stats(&hx, &st);
  ASSERT_EQ(st.protocol_errors, 0);
  ASSERT_EQ(st.frames_dropped, 4000);
  ASSERT_EQ(st.streams_open, 0);
  ASSERT_EQ(hx.us.end_count, 0);
  ASSERT_LE(hx.mem.peak_bytes, BASE + PER_STREAM);
  /* Still works: the peer opens 3 and sends data. */
  peer_frame(&hx, T_DATA, F_SYN, 3, 5, "hello", 5);
  hx_run_for(&hx, 20);
  ASSERT_OK(yamux_stream_init(&hx.us.session, &s2));
  ASSERT_OK(yamux_accept(&hx.us.session, &s2));
  trunc_bytes = 0;
  ASSERT_OK(yamux_read_start(&s2, slow_alloc, trunc_read));
  hx_run_for(&hx, 20);
  ASSERT_EQ(trunc_bytes, 5);
  hx_finish(&hx);
}
