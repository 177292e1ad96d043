/* Flow control end to end: receive windows and the exact credit returned,
 * send windows and the exact bytes they let through, the initial window
 * announced on SYN and ACK, window growth (auto-tuning) from a measured RTT
 * within max_window and window_budget, the Data frame cap, round-robin
 * between streams and control frames ahead of Data. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

#define KIB 1024u

/* A reader that reads exactly up to `stop_at` bytes, then stops reading. */
typedef struct {
  yamux_stream_t h;
  tbuf_t rx;
  size_t stop_at; /* 0: never stop */
  int eof;
  int errors;
} reader_t;

static void rd_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  reader_t* r = h->data;
  size_t n = suggested;

  if (r->stop_at != 0 && n > r->stop_at - r->rx.len) n = r->stop_at - r->rx.len;
  ASSERT_GT(n, 0);
  buf->base = malloc(n);
  ASSERT_NOT_NULL(buf->base);
  buf->len = n;
}

static void rd_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  reader_t* r = h->data;

  if (nread > 0) {
    tbuf_append(&r->rx, buf->base, (size_t)nread);
    if (r->stop_at != 0 && r->rx.len >= r->stop_at)
      ASSERT_OK(yamux_read_stop(h));
  } else if (nread == UV_EOF) {
    r->eof++;
  } else {
    r->errors++;
  }
  free(buf->base);
}

static void reader_accept(reader_t* r, tpeer_t* p) {
  memset(r, 0, sizeof(*r));
  ASSERT_OK(yamux_stream_init(&p->side.session, &r->h));
  r->h.data = r;
  ASSERT_OK(yamux_accept(&p->side.session, &r->h));
}

/* Reads until `total` bytes have been read in all. */
static void reader_read_to(reader_t* r, size_t total) {
  r->stop_at = total;
  ASSERT_OK(yamux_read_start(&r->h, rd_alloc, rd_read));
}

static yamux_stream_stats_t sstats(yamux_stream_t* h) {
  yamux_stream_stats_t st;
  ASSERT_OK(yamux_stream_get_stats(h, &st));
  return st;
}

/* Feeds `n` bytes of Data on `id` in frames of at most `frame` bytes. */
static void peer_send_data(tpeer_t* p, uint32_t id, size_t n, size_t frame) {
  while (n > 0) {
    size_t len = n < frame ? n : frame;
    ASSERT_OK(tpeer_send_frame(p, T_DATA, 0, id, (uint32_t)len, NULL, len));
    n -= len;
  }
}

static void cfg_no_growth(yamux_config_t* c, uint32_t window) {
  yamux_config_init(c);
  c->keepalive_interval_ms = 0;
  c->initial_window = window;
  c->max_window = window;
}

/* Sum of the bodies and count of Data frames on `id` among unread frames;
 * asserts each is at most max_body. Leaves other frames skipped too. */
static size_t drain_data(tpeer_t* p, uint32_t id, uint32_t max_body,
                         int* nframes) {
  const tframe_t* f;
  size_t total = 0;

  while ((f = tpeer_next_frame(p)) != NULL) {
    if (f->type != T_DATA || f->id != id) continue;
    ASSERT_LE(f->length, max_body);
    total += f->length;
    if (nframes != NULL) (*nframes)++;
  }
  return total;
}

TEST(flow_recv_window_exhaustion_and_exact_credit) {
  yamux_config_t cfg;
  tpeer_t p;
  reader_t r;
  yamux_stream_stats_t st;

  cfg_no_growth(&cfg, T_WINDOW);
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  reader_accept(&r, &p);
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);

  /* The peer fills the window exactly; nobody reads: no credit. */
  peer_send_data(&p, 1, T_WINDOW, 65536);
  tpeer_expect_none(&p);
  st = sstats(&r.h);
  ASSERT_EQ(st.recv_window, 0);
  ASSERT_EQ(st.buffered_bytes, T_WINDOW);

  /* Reading one byte short of half the window returns nothing. */
  reader_read_to(&r, T_WINDOW / 2 - 1);
  tpeer_expect_none(&p);
  ASSERT_EQ(r.rx.len, T_WINDOW / 2 - 1);

  /* The byte that reaches half the window: one WU, exactly half. */
  reader_read_to(&r, T_WINDOW / 2);
  tpeer_expect(&p, T_WU, 0, 1, T_WINDOW / 2);
  tpeer_expect_none(&p);
  st = sstats(&r.h);
  ASSERT_EQ(st.recv_window, T_WINDOW / 2);
  ASSERT_EQ(st.buffered_bytes, T_WINDOW / 2);

  /* The peer may now send exactly that much more. */
  peer_send_data(&p, 1, T_WINDOW / 2, 65536);
  ASSERT_EQ(p.last_feed, 0);
  ASSERT_EQ(sstats(&r.h).recv_window, 0);

  /* Read everything: credit for all of it (a whole window) in one WU. */
  reader_read_to(&r, 0);
  r.stop_at = 0;
  tpeer_pump(&p);
  ASSERT_EQ(r.rx.len, T_WINDOW + T_WINDOW / 2);
  tpeer_expect(&p, T_WU, 0, 1, T_WINDOW);
  tpeer_expect_none(&p);
  {
    size_t i;
    for (i = 0; i < r.rx.len; i++)
      if (r.rx.data[i] != tpattern(i % 65536)) ASSERT(!"data corrupted");
  }

  /* One byte past the window is a protocol error. */
  peer_send_data(&p, 1, T_WINDOW, 65536);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 1, 1, "x", 1), YAMUX_EPROTO);
  tpeer_find(&p, T_GOAWAY, 0, 0, YAMUX_GOAWAY_PROTOCOL);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EPROTO);
  ASSERT_GE(r.errors, 1);
  tpeer_close(&p);
  tbuf_free(&r.rx);
  tpeer_free(&p);
}

TEST(flow_credit_only_after_read) {
  yamux_config_t cfg;
  tpeer_t p;
  reader_t r;

  cfg_no_growth(&cfg, T_WINDOW);
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  reader_accept(&r, &p);
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  /* Receipt alone, however long, never returns credit. */
  peer_send_data(&p, 1, 200000, 1000);
  tpeer_advance(&p, 60000);
  tpeer_expect_none(&p);
  /* Reading while data streams in: credit in steps of exactly half. */
  reader_read_to(&r, 0);
  tpeer_pump(&p);
  tpeer_expect(&p, T_WU, 0, 1, 200000);
  tpeer_expect_none(&p);
  peer_send_data(&p, 1, 131071, 4096);
  tpeer_expect_none(&p);
  peer_send_data(&p, 1, 1, 1);
  tpeer_expect(&p, T_WU, 0, 1, 131072);
  tpeer_expect_none(&p);
  tpeer_close(&p);
  tbuf_free(&r.rx);
  tpeer_free(&p);
}

static int wcb_count;
static int wcb_status;
static void on_write(yamux_write_t* req, int status) {
  (void)req;
  wcb_count++;
  wcb_status = status;
}

TEST(flow_send_window_stop_and_resume_exact) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_stream_t h;
  yamux_write_t w;
  uv_buf_t buf;
  char* data;
  size_t total = 300000;
  size_t got;
  int nframes = 0;

  cfg_no_growth(&cfg, T_WINDOW);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  data = malloc(total);
  ASSERT_NOT_NULL(data);
  tpattern_fill(data, total, 0);
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_stream_open(NULL, &h, NULL));
  buf = uv_buf_init(data, (unsigned int)total);
  wcb_count = 0;
  ASSERT_OK(yamux_write(&w, &h, &buf, 1, on_write));

  /* Exactly the implicit window goes out, SYN on the first Data frame. */
  {
    const tframe_t* f = tpeer_expect(&p, T_DATA, F_SYN, 1, TANY);
    got = f->length;
    ASSERT_MEM_EQ(f->body, data, f->length);
  }
  got += drain_data(&p, 1, 65536, &nframes);
  ASSERT_EQ(got, T_WINDOW);
  ASSERT_EQ(sstats(&h).send_window, 0);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&h), total - T_WINDOW);
  ASSERT_EQ(wcb_count, 0);
  tpeer_advance(&p, 1000);
  tpeer_expect_none(&p);

  /* ACK with a small delta: exactly that many bytes. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 10000, NULL, 0));
  {
    const tframe_t* f = tpeer_expect(&p, T_DATA, 0, 1, 10000);
    ASSERT_MEM_EQ(f->body, data + T_WINDOW, 10000);
  }
  tpeer_expect_none(&p);
  ASSERT_EQ(sstats(&h).send_window, 0);
  ASSERT_EQ(wcb_count, 0);

  /* A delta of one byte: one byte. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 1, NULL, 0));
  tpeer_expect(&p, T_DATA, 0, 1, 1);
  tpeer_expect_none(&p);

  /* More credit than data: the rest, and the window keeps the difference. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 100000, NULL, 0));
  got = drain_data(&p, 1, 65536, NULL);
  ASSERT_EQ(got, total - T_WINDOW - 10001);
  ASSERT_EQ(sstats(&h).send_window, 100000 - got);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&h), 0);
  ASSERT_EQ(wcb_count, 1);
  ASSERT_EQ(wcb_status, 0);
  ASSERT_EQ(sstats(&h).bytes_sent, total);
  tpeer_close(&p);
  tpeer_free(&p);
  free(data);
}

TEST(flow_initial_window_announced_on_syn_and_ack) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_stream_t a, b;
  reader_t r;
  const uint32_t win = 1024 * KIB;

  cfg_no_growth(&cfg, win);
  /* Client side: SYN carries the delta (no data written). */
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  ASSERT_OK(yamux_stream_init(&p.side.session, &a));
  ASSERT_OK(yamux_stream_open(NULL, &a, NULL));
  tpeer_expect(&p, T_WU, F_SYN, 1, win - T_WINDOW);
  tpeer_expect_none(&p);
  /* With data written in the same turn, the WU|SYN with the delta still
   * goes first and the Data carries no SYN. */
  ASSERT_OK(yamux_stream_init(&p.side.session, &b));
  ASSERT_OK(yamux_stream_open(NULL, &b, NULL));
  {
    yamux_write_t w;
    uv_buf_t buf = uv_buf_init("hi", 2);
    wcb_count = 0;
    ASSERT_OK(yamux_write(&w, &b, &buf, 1, on_write));
    tpeer_expect(&p, T_WU, F_SYN, 3, win - T_WINDOW);
    tpeer_expect(&p, T_DATA, 0, 3, 2);
    tpeer_expect_none(&p);
    ASSERT_EQ(wcb_count, 1);
  }
  ASSERT_EQ(sstats(&a).recv_window, win);
  /* The peer may use the whole announced window, not one byte more. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  peer_send_data(&p, 1, win, 65536);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(sstats(&a).buffered_bytes, win);
  tpeer_close(&p);
  tpeer_free(&p);

  /* Server side: the ACK carries the delta. */
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  reader_accept(&r, &p);
  tpeer_expect(&p, T_WU, F_ACK, 1, win - T_WINDOW);
  tpeer_expect_none(&p);
  peer_send_data(&p, 1, win, 65536);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 1, 1, "x", 1), YAMUX_EPROTO);
  ASSERT_NOT_NULL(tpeer_find(&p, T_GOAWAY, 0, 0, YAMUX_GOAWAY_PROTOCOL));
  tpeer_close(&p);
  tpeer_free(&p);
}

/* ---- window growth ------------------------------------------------------ */

/* Returns the next unread frame that is a WU on `id` (skipping others) and
 * answers every Ping|SYN seen on the way. */
static const tframe_t* next_wu(tpeer_t* p, uint32_t id, int answer_pings,
                               int* pings) {
  const tframe_t* f;

  while ((f = tpeer_next_frame(p)) != NULL) {
    if (f->type == T_PING && (f->flags & F_SYN)) {
      uint32_t opaque = f->length;
      if (pings != NULL) (*pings)++;
      if (answer_pings) tpeer_send_frame(p, T_PING, F_ACK, 0, opaque, NULL, 0);
      continue;
    }
    if (f->type == T_WU && f->id == id) return f;
  }
  return NULL;
}

TEST(flow_window_growth_needs_rtt) {
  yamux_config_t cfg;
  tpeer_t p;
  reader_t r;
  const tframe_t* f;
  int pings = 0;
  int round;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_window = 4096 * KIB;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  reader_accept(&r, &p);
  reader_read_to(&r, 0);
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  /* The peer never answers the RTT ping: the window never grows, however
   * fast the reader is. */
  for (round = 0; round < 8; round++) {
    peer_send_data(&p, 1, T_WINDOW / 2, 65536);
    f = next_wu(&p, 1, 0, &pings);
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(f->length, T_WINDOW / 2);
    ASSERT_EQ(f->flags, 0);
    ASSERT_EQ(sstats(&r.h).recv_window_max, T_WINDOW);
  }
  ASSERT_EQ(pings, 1); /* one probe, sent with the first credit */
  tpeer_close(&p);
  tbuf_free(&r.rx);
  tpeer_free(&p);
}

TEST(flow_window_no_growth_when_reader_is_slow) {
  yamux_config_t cfg;
  tpeer_t p;
  reader_t r;
  const tframe_t* f;
  int round;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_window = 4096 * KIB;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  reader_accept(&r, &p);
  reader_read_to(&r, 0);
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  peer_send_data(&p, 1, T_WINDOW / 2, 65536);
  f = tpeer_find(&p, T_PING, F_SYN, 0, TANY);
  ASSERT_NOT_NULL(f);
  {
    uint32_t opaque = f->length;
    p.now_ns += 10 * T_MS;
    ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque, NULL, 0));
  }
  /* Each half window arrives 100 ms (10 RTTs) after the last credit. */
  for (round = 0; round < 4; round++) {
    p.now_ns += 100 * T_MS;
    peer_send_data(&p, 1, T_WINDOW / 2, 65536);
    f = next_wu(&p, 1, 0, NULL);
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(f->length, T_WINDOW / 2);
  }
  ASSERT_EQ(sstats(&r.h).recv_window_max, T_WINDOW);
  tpeer_close(&p);
  tbuf_free(&r.rx);
  tpeer_free(&p);
}

TEST(flow_data_frames_never_exceed_max_frame_size) {
  static const uint32_t sizes[] = {1000, 65536, 1024 * KIB};
  size_t k;

  for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    yamux_config_t cfg;
    tpeer_t p;
    yamux_stream_t h;
    yamux_write_t w[3];
    uv_buf_t bufs[3];
    char* data;
    size_t total = 3 * 1024 * KIB + 77;
    size_t got;
    int nframes = 0;

    cfg_no_growth(&cfg, T_WINDOW);
    cfg.max_frame_size = sizes[k];
    tpeer_init(&p, YAMUX_CLIENT, &cfg);
    data = malloc(total);
    ASSERT_NOT_NULL(data);
    tpattern_fill(data, total, 0);
    ASSERT_OK(yamux_stream_init(&p.side.session, &h));
    ASSERT_OK(yamux_stream_open(NULL, &h, NULL));
    /* Several requests of odd sizes, several buffers each. */
    bufs[0] = uv_buf_init(data, 100);
    bufs[1] = uv_buf_init(data + 100, 1024 * KIB);
    bufs[2] = uv_buf_init(data + 100 + 1024 * KIB, 5);
    ASSERT_OK(yamux_write(&w[0], &h, bufs, 3, NULL));
    bufs[0] = uv_buf_init(data + 1024 * KIB + 105, 1024 * KIB - 105);
    ASSERT_OK(yamux_write(&w[1], &h, bufs, 1, NULL));
    bufs[0] = uv_buf_init(data + 2048 * KIB, 1024 * KIB + 77);
    ASSERT_OK(yamux_write(&w[2], &h, bufs, 1, NULL));
    /* A huge window from the peer, so the cap is the frame size. */
    tpeer_pump(&p);
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 64u * 1024 * KIB, NULL, 0));
    got = 0;
    {
      const tframe_t* f;
      tbuf_t all = {0};
      while ((f = tpeer_next_frame(&p)) != NULL) {
        if (f->type != T_DATA) continue;
        ASSERT_LE(f->length, sizes[k]);
        ASSERT_LE(f->length, 1024 * KIB);
        tbuf_append(&all, f->body, f->length);
        got += f->length;
        nframes++;
      }
      ASSERT_EQ(got, total);
      ASSERT_MEM_EQ(all.data, data, total);
      tbuf_free(&all);
    }
    ASSERT_GE((size_t)nframes, (total + sizes[k] - 1) / sizes[k]);
    tpeer_close(&p);
    tpeer_free(&p);
    free(data);
  }
}

/* Takes one gather list from the session (without pumping), decodes it into
 * `out` and acknowledges all of it. Returns the number of frames. */
static size_t take_batch(tpeer_t* p, tframes_t* out) {
  const uv_buf_t* bufs;
  unsigned int n, i;
  tbuf_t b = {0};
  size_t before = out->n;

  if (p->side.woken) {
    p->side.woken = 0;
    yamux_session_run(&p->side.session, p->now_ns);
  }
  n = yamux_session_send_buffers(&p->side.session, &bufs, 1024, p->now_ns);
  for (i = 0; i < n; i++) tbuf_append(&b, bufs[i].base, bufs[i].len);
  ASSERT_EQ(tframes_decode(out, b.data, b.len), b.len);
  if (n > 0) yamux_session_send_done(&p->side.session, b.len, 0, p->now_ns);
  tbuf_free(&b);
  return out->n - before;
}

static int batch_has_data(const tframes_t* f, size_t from, uint32_t id) {
  size_t i;
  for (i = from; i < f->n; i++)
    if (f->v[i].type == T_DATA && f->v[i].id == id) return 1;
  return 0;
}

TEST(flow_round_robin_small_stream_not_starved) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_stream_t a, b, c;
  yamux_write_t wa, wb, wc;
  uv_buf_t buf;
  char* big;
  tframes_t fr = {0};
  size_t mark;
  size_t i;
  const size_t bulk = 4096 * KIB;

  cfg_no_growth(&cfg, T_WINDOW);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  big = malloc(bulk);
  ASSERT_NOT_NULL(big);
  tpattern_fill(big, bulk, 0);
  ASSERT_OK(yamux_stream_init(&p.side.session, &a));
  ASSERT_OK(yamux_stream_init(&p.side.session, &b));
  ASSERT_OK(yamux_stream_open(NULL, &a, NULL));
  ASSERT_OK(yamux_stream_open(NULL, &b, NULL));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_expect(&p, T_WU, F_SYN, 3, 0);
  /* Both bulk streams get huge windows and more data than a batch. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 64u * 1024 * KIB, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 3, 64u * 1024 * KIB, NULL, 0));
  buf = uv_buf_init(big, (unsigned int)bulk);
  ASSERT_OK(yamux_write(&wa, &a, &buf, 1, NULL));
  ASSERT_OK(yamux_write(&wb, &b, &buf, 1, NULL));
  /* A first batch is already in flight when the small stream shows up. */
  take_batch(&p, &fr);
  ASSERT(batch_has_data(&fr, 0, 1));
  ASSERT(batch_has_data(&fr, 0, 3));
  ASSERT_OK(yamux_stream_init(&p.side.session, &c));
  ASSERT_OK(yamux_stream_open(NULL, &c, NULL));
  buf = uv_buf_init("small", 5);
  ASSERT_OK(yamux_write(&wc, &c, &buf, 1, NULL));
  mark = fr.n;
  ASSERT_GT(take_batch(&p, &fr), 0);
  /* The small stream's frame (with its SYN) is in the very next batch. */
  for (i = mark; i < fr.n; i++)
    if (fr.v[i].type == T_DATA && fr.v[i].id == 5) break;
  if (i == fr.n) {
    tframes_dump(stderr, &fr, mark);
    ASSERT(!"small stream starved");
  }
  ASSERT_EQ(fr.v[i].flags, F_SYN);
  ASSERT_EQ(fr.v[i].length, 5);
  /* Both bulk streams share each batch: interleaved, not one after the
   * other. */
  ASSERT(batch_has_data(&fr, mark, 1));
  ASSERT(batch_has_data(&fr, mark, 3));
  tframes_free(&fr);
  tpeer_close(&p);
  tpeer_free(&p);
  free(big);
}

static int ping_cb_count;
static void on_ping(yamux_ping_t* req, int status, uint64_t rtt) {
  (void)req;
  (void)status;
  (void)rtt;
  ping_cb_count++;
}

TEST(flow_control_frames_precede_data_in_batch) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_stream_t a, d;
  yamux_write_t wa;
  yamux_ping_t ping;
  uv_buf_t buf;
  char* big;
  tframes_t fr = {0};
  reader_t r;
  size_t i;
  int data_seen = 0;
  int pong = 0, ping_syn = 0, syn = 0, credit = 0, rst = 0;
  const size_t bulk = 2048 * KIB;

  cfg_no_growth(&cfg, T_WINDOW);
  cfg.accept_backlog = 1;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  big = malloc(bulk);
  ASSERT_NOT_NULL(big);
  tpattern_fill(big, bulk, 0);
  ASSERT_OK(yamux_stream_init(&p.side.session, &a));
  ASSERT_OK(yamux_stream_open(NULL, &a, NULL));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 64u * 1024 * KIB, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0));
  memset(&r, 0, sizeof(r));
  ASSERT_OK(yamux_stream_init(&p.side.session, &r.h));
  r.h.data = &r;
  ASSERT_OK(yamux_accept(&p.side.session, &r.h));
  reader_read_to(&r, 0);
  tpeer_expect(&p, T_WU, F_ACK, 2, 0);
  buf = uv_buf_init(big, (unsigned int)bulk);
  ASSERT_OK(yamux_write(&wa, &a, &buf, 1, NULL));
  take_batch(&p, &fr);
  ASSERT(batch_has_data(&fr, 0, 1));
  tframes_free(&fr);

  /* Queue every kind of control frame behind the bulk data: a pong, a
   * ping, a SYN, a credit, a refused SYN's RST. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 77, NULL, 0));
  ASSERT_OK(yamux_ping(&ping, &p.side.session, on_ping));
  ASSERT_OK(yamux_stream_init(&p.side.session, &d));
  ASSERT_OK(yamux_stream_open(NULL, &d, NULL));
  ASSERT_OK(
      tpeer_send_frame(&p, T_DATA, 0, 2, T_WINDOW / 2, NULL, T_WINDOW / 2));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 4, 0, NULL, 0)); /* waits */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 6, 0, NULL, 0)); /* refused */
  take_batch(&p, &fr);
  for (i = 0; i < fr.n; i++) {
    const tframe_t* f = &fr.v[i];
    if (f->type == T_DATA) {
      data_seen = 1;
      continue;
    }
    if (data_seen) {
      tframes_dump(stderr, &fr, i);
      ASSERT(!"control frame after Data in one batch");
    }
    if (f->type == T_PING && f->flags == F_ACK && f->length == 77) pong++;
    if (f->type == T_PING && f->flags == F_SYN) ping_syn++;
    if (f->type == T_WU && f->flags == F_SYN && f->id == 3) syn++;
    if (f->type == T_WU && f->flags == 0 && f->id == 2 &&
        f->length == T_WINDOW / 2)
      credit++;
    if (f->type == T_WU && f->flags == F_RST && f->id == 6) rst++;
  }
  if (!data_seen || pong != 1 || ping_syn != 1 || syn != 1 || credit != 1 ||
      rst != 1) {
    tframes_dump(stderr, &fr, fr.n);
    ASSERT(!"batch lacks a control frame or Data");
  }
  tframes_free(&fr);
  tpeer_close(&p);
  tbuf_free(&r.rx);
  tpeer_free(&p);
  free(big);
}

/* A reader whose alloc_cb has no buffer gets UV_ENOBUFS; as with libuv the
 * delivery is retried on the next turn, so the data (and what arrives
 * later) reaches it once it has buffers again, and credit goes back. */
static int nobufs_left;
static int nobufs_seen;

static void nobufs_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  if (nobufs_left > 0) {
    nobufs_left--;
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  rd_alloc(h, suggested, buf);
}

static void nobufs_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  if (nread == UV_ENOBUFS) {
    nobufs_seen++;
    return;
  }
  rd_read(h, nread, buf);
}

TEST(flow_enobufs_retried_next_turn) {
  yamux_config_t cfg;
  tpeer_t p;
  reader_t r;
  uint32_t credit = 0;
  const tframe_t* f;
  int turns;

  cfg_no_growth(&cfg, T_WINDOW);
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  reader_accept(&r, &p);
  nobufs_left = 1;
  nobufs_seen = 0;
  ASSERT_OK(yamux_read_start(&r.h, nobufs_alloc, nobufs_read));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  peer_send_data(&p, 1, 1000, 1000);
  ASSERT_EQ(nobufs_seen, 1);
  /* More data arrives after the failed attempt; the next turns deliver it
   * all (the pump runs the session whenever it asks to run). */
  peer_send_data(&p, 1, 200000, 16384);
  for (turns = 0; turns < 4 && r.rx.len < 201000; turns++) tpeer_pump(&p);
  ASSERT_EQ(r.rx.len, 201000);
  ASSERT_EQ(nobufs_seen, 1);
  while ((f = tpeer_next_frame(&p)) != NULL)
    if (f->type == T_WU && f->id == 1) credit += f->length;
  ASSERT_GE(credit, T_WINDOW / 2);
  ASSERT_EQ(sstats(&r.h).buffered_bytes, 0);
  yamux_close(&r.h, NULL);
  tbuf_free(&r.rx);
  tpeer_close(&p);
  tpeer_free(&p);
}
