/* End-to-end basics over the in-memory pair: open, 0-RTT data, accept, echo
 * both ways, half-close in both directions, close, no leaks. */
#include <stdlib.h>

#include "helpers.h"
#include "task.h"

static tstream_t* accepted;
static void on_conn(yamux_session_t* s, int status) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(tstream_accept(accepted, s), 0);
  ASSERT_EQ(tstream_read_start(accepted), 0);
}

TEST(basic_open_write_read_close) {
  tpair_t pair;
  tstream_t a, b;
  tpair_init(&pair, NULL, NULL);
  accepted = &b;
  ASSERT_EQ(yamux_session_listen(&pair.s.session, on_conn), 0);
  tstream_init(&a, &pair.c.session);
  ASSERT_EQ(tstream_open(&a), 0);
  ASSERT_EQ(tstream_write(&a, "hello", 5), 0);
  ASSERT_EQ(tstream_read_start(&a), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  ASSERT_EQ(a.writes_done, 1);
  ASSERT_EQ(b.rx.len, 5);
  ASSERT_MEM_EQ(b.rx.data, "hello", 5);
  ASSERT_EQ(tstream_write(&b, NULL, 300000), 0);
  ASSERT_EQ(tstream_shutdown(&b), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.rx.len, 300000);
  ASSERT_EQ(a.eof, 1);
  ASSERT_EQ(b.shutdown_count, 1);
  ASSERT_EQ(tstream_shutdown(&a), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(b.eof, 1);
  tstream_close(&a);
  tstream_close(&b);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.close_count, 1);
  tpair_close(&pair);
}

/* Regression: a stream whose SYN waits for room in the ACK backlog must send
 * nothing (not its FIN) before that SYN. */
TEST(basic_syn_wait_sends_nothing_before_syn) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t a, b;
  const tframe_t* f;
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_unacked_opens = 1;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&a, &p.side.session);
  tstream_init(&b, &p.side.session);
  ASSERT_EQ(tstream_open(&a), 0);
  ASSERT_EQ(tstream_open(&b), 0);
  ASSERT_EQ(tstream_shutdown(&b), 0);
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_expect_none(&p);
  tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0);
  f = tpeer_next_frame(&p);
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->id, 3);
  ASSERT_EQ(f->flags & F_SYN, F_SYN);
  if (!(f->flags & F_FIN)) tpeer_expect(&p, T_WU, F_FIN, 3, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(b.shutdown_count, 1);
  tstream_close_reset(&a, 0);
  tstream_close_reset(&b, 0);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* Regression: SYNs leave in the order the streams were opened, even when
 * the 0-RTT data they ride on would come later in the round-robin. */
TEST(basic_syns_in_open_order) {
  tpeer_t p;
  tstream_t s[6];
  uint32_t last = 0;
  int i, seen = 0;
  const tframe_t* f;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (i = 0; i < 6; i++) {
    tstream_init(&s[i], &p.side.session);
    ASSERT_EQ(tstream_open(&s[i]), 0);
    /* Streams 0, 2, 4 carry more than one batch of data; 1, 3, 5 none. */
    if (i % 2 == 0) ASSERT_EQ(tstream_write(&s[i], NULL, 200000), 0);
  }
  while ((f = tpeer_next_frame(&p)) != NULL) {
    if (f->flags & F_SYN) {
      ASSERT_GT(f->id, last);
      last = f->id;
      seen++;
    } else {
      ASSERT_LE(f->id, last); /* nothing for a stream before its SYN */
    }
  }
  ASSERT_EQ(seen, 6);
  for (i = 0; i < 6; i++) tstream_close_reset(&s[i], 0);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* rust-yamux opens lazily: ids may arrive out of order, but an id the peer
 * skipped can be opened once, and an id never twice. */
TEST(basic_peer_lazy_syn_out_of_order) {
  tpeer_t p;
  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, F_SYN, 3, 2, "hi", 2), 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 2, "yo", 2), 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_RST, 1, 0, NULL, 0), 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0), YAMUX_EPROTO);
  tpeer_find(&p, T_GOAWAY, 0, 0, 1);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* Zero-copy reading (no alloc_cb): the bytes arrive lent, in order, both
 * straight from the transport and from the receive buffer. */
static tbuf_t zc_rx;
static int zc_eof;
static void zc_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* buf) {
  (void)h;
  if (n > 0) tbuf_append(&zc_rx, buf->base, (size_t)n);
  if (n == UV_EOF) zc_eof++;
}

TEST(basic_zero_copy_read) {
  tpeer_t p;
  tstream_t t;
  uint8_t expect[70000];
  memset(&zc_rx, 0, sizeof(zc_rx));
  zc_eof = 0;
  tpattern_fill(expect, sizeof(expect), 0);
  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0), 0);
  ASSERT_EQ(tstream_accept(&t, &p.side.session), 0);
  /* Buffered before reading starts, then delivered from the buffer. */
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 1, 30000, expect, 30000), 0);
  ASSERT_EQ(yamux_read_start(&t.handle, NULL, zc_read), 0);
  tpeer_pump(&p);
  ASSERT_EQ(zc_rx.len, 30000);
  /* Straight from the transport's bytes. */
  ASSERT_EQ(
      tpeer_send_frame(&p, T_DATA, F_FIN, 1, 40000, expect + 30000, 40000), 0);
  tpeer_pump(&p);
  ASSERT_EQ(zc_rx.len, sizeof(expect));
  ASSERT_MEM_EQ(zc_rx.data, expect, sizeof(expect));
  ASSERT_EQ(zc_eof, 1);
  /* Credit went back for what was read: 70000 >= half the window. */
  tpeer_find(&p, T_WU, 0, 1, 70000);
  tstream_close(&t);
  tpeer_close(&p);
  tpeer_free(&p);
  tbuf_free(&zc_rx);
}

/* A stream at rest (accepted, reading, no data waiting) costs at most 256
 * bytes including the caller's handle: measured, not assumed. The counting
 * allocator sees every byte the session allocates; its per-allocation
 * overhead is not included (glibc adds 8 B to the record's 168). */
static void noop_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  (void)h, (void)n, (void)b;
}

TEST(basic_stream_memory_at_rest) {
  enum { N = 10000 };
  tpeer_t p;
  yamux_stream_t* h = calloc(N, sizeof(*h));
  size_t before, per;
  uint32_t i;
  ASSERT_NOT_NULL(h);
  tpeer_init(&p, YAMUX_SERVER, NULL);
  before = p.side.mem.live_bytes;
  for (i = 0; i < N; i++) {
    ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 2 * i + 1, 0, NULL, 0), 0);
    ASSERT_EQ(yamux_stream_init(&p.side.session, &h[i]), 0);
    ASSERT_EQ(yamux_accept(&p.side.session, &h[i]), 0);
    ASSERT_EQ(yamux_read_start(&h[i], NULL, noop_read), 0);
  }
  tpeer_pump(&p);
  per = (p.side.mem.live_bytes - before) / N + sizeof(yamux_stream_t);
  fprintf(stderr,
          "per-stream memory at rest: %zu bytes (engine %zu + handle %zu)\n",
          per, per - sizeof(yamux_stream_t), sizeof(yamux_stream_t));
  ASSERT_LE(per + 8, 256);
  tpeer_close(&p);
  tpeer_free(&p);
  free(h);
}

/* hashicorp/yamux never ACKs a stream whose FIN reached it before its
 * application accepted the stream, but answers on it: any frame but RST
 * counts as the ACK. */
TEST(basic_implicit_ack) {
  tpeer_t p;
  tstream_t a;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&a, &p.side.session);
  ASSERT_EQ(tstream_open(&a), 0);
  ASSERT_EQ(tstream_write(&a, "ping", 4), 0);
  ASSERT_EQ(tstream_shutdown(&a), 0);
  ASSERT_EQ(tstream_read_start(&a), 0);
  tpeer_expect(&p, T_DATA, F_SYN, 1, 4);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 1, 4, "pong", 4), 0);
  tpeer_pump(&p);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0), 0);
  tpeer_pump(&p);
  ASSERT_EQ(a.eof, 1);
  ASSERT_MEM_EQ(a.rx.data, "pong", 4);
  tstream_close(&a);
  tpeer_pump(&p);
  ASSERT_EQ(a.close_count, 1);
  tpeer_close(&p);
  tpeer_free(&p);
  tbuf_free(&a.rx);
}

/* 1,000 SYNs in one read, an application that accepts from its connection
 * callback: nothing is refused, although the backlog holds 256 (the
 * callbacks run as the backlog fills, not only after the read). */
static yamux_stream_t burst_h[1000];
static int burst_n;
static void burst_accept(yamux_session_t* s, int status) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(yamux_stream_init(s, &burst_h[burst_n]), 0);
  ASSERT_EQ(yamux_accept(s, &burst_h[burst_n]), 0);
  burst_n++;
}

TEST(basic_syn_burst_beyond_backlog_accepted) {
  tpeer_t p;
  tbuf_t b;
  yamux_session_stats_t st;
  uint32_t i;
  memset(&b, 0, sizeof(b));
  burst_n = 0;
  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(yamux_session_listen(&p.side.session, burst_accept), 0);
  for (i = 0; i < 1000; i++) tframe_put(&b, T_WU, F_SYN, 2 * i + 1, 0, NULL, 0);
  ASSERT_EQ(tpeer_feed_raw(&p, b.data, b.len), 0);
  tpeer_pump(&p);
  ASSERT_EQ(burst_n, 1000);
  ASSERT_EQ(yamux_session_get_stats(&p.side.session, &st), 0);
  ASSERT_EQ(st.streams_refused, 0);
  ASSERT_NULL(tpeer_find(&p, T_WU, F_RST, TANY, TANY));
  tpeer_close(&p);
  tpeer_free(&p);
  tbuf_free(&b);
}

/* A stream reset before its SYN left puts nothing on the wire: the peer
 * never heard of it (no stray RST for an unknown id). */
TEST(basic_reset_before_syn_sends_nothing) {
  tpeer_t p;
  tstream_t a;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&a, &p.side.session);
  ASSERT_EQ(tstream_open(&a), 0);
  ASSERT_EQ(tstream_write(&a, "x", 1), 0);
  tstream_close_reset(&a, 7);
  tpeer_expect_none(&p);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(a.writes_done, 1);
  ASSERT_EQ(a.last_write_status, UV_ECANCELED);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* Deadlines set by an API call count from the next drive, not from the
 * last time the session heard the clock (it may have idled for long). */
TEST(basic_open_timeout_counts_from_next_drive) {
  tpeer_t p;
  tstream_t a;
  yamux_config_t cfg;
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.open_timeout_ms = 100;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  p.now_ns += 300 * T_MS; /* idle: nothing drove the session */
  tstream_init(&a, &p.side.session);
  ASSERT_EQ(tstream_open(&a), 0);
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_advance(&p, 50);
  ASSERT_EQ(a.connect_count, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0), 0);
  tpeer_pump(&p);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  tstream_close_reset(&a, 0);
  tpeer_close(&p);
  tpeer_free(&p);
}
