/* Regressions for bugs the fuzz targets (test/fuzz/) found, each minimized
 * to the frames that matter. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

/* fuzz-frame, heap-use-after-free in yamux_session_get_stats(): a SYN for
 * an id the peer used more than 4096 ids ago is a new stream (the id window
 * cannot tell it apart), but the old record of that id, released earlier in
 * the same feed and not yet freed, was still in the stream table. Two
 * records then shared one id: lookups found the dead one (the new stream's
 * data was dropped) and freeing the dead one could unlink the live one,
 * leaving a freed record in the table. */
TEST(fuzz_regress_syn_reuses_released_id_same_feed) {
  tpeer_t p;
  tbuf_t b = {0};
  tstream_t t1, t2;
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_CLIENT, NULL); /* the peer opens even ids */
  /* One feed: open 2, reset it (released, never accepted), jump the id
   * window, open 2 again with data. */
  tframe_put(&b, T_WU, F_SYN, 2, 0, NULL, 0);
  tframe_put(&b, T_WU, F_RST, 2, 0, NULL, 0);
  tframe_put(&b, T_WU, F_SYN, 2 + 2 * 4096, 0, NULL, 0);
  tframe_put(&b, T_WU, F_SYN, 2, 0, NULL, 0);
  tframe_put(&b, T_DATA, 0, 2, 5, "hello", 5);
  ASSERT_OK(tpeer_feed_raw(&p, b.data, b.len));
  tbuf_free(&b);
  tpeer_pump(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.streams_open, 2);
  ASSERT_EQ(st.streams_pending_accept, 2);
  ASSERT_EQ(st.buffered_bytes, 5);
  ASSERT_EQ(st.frames_dropped, 0);

  ASSERT_OK(tstream_accept(&t1, &p.side.session));
  ASSERT_EQ(t1.handle.id, 2 + 2 * 4096);
  ASSERT_OK(tstream_accept(&t2, &p.side.session));
  ASSERT_EQ(t2.handle.id, 2);
  ASSERT_OK(tstream_read_start(&t2));
  tpeer_pump(&p);
  ASSERT_EQ(t2.rx.len, 5);
  ASSERT_MEM_EQ(t2.rx.data, "hello", 5);

  /* And the table stays sound through more traffic on both. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, 2, 3, "abc", 3));
  tpeer_pump(&p);
  ASSERT_EQ(t2.rx.len, 8);
  ASSERT_EQ(t2.eof, 1);
  tstream_close(&t1);
  tstream_close(&t2);
  tpeer_pump(&p);
  ASSERT_EQ(t1.close_count, 1);
  ASSERT_EQ(t2.close_count, 1);
  tbuf_free(&t1.rx);
  tbuf_free(&t2.rx);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* The same, released and reopened over many feeds and many ids, so that
 * the table grows and shifts entries around the dead ones. */
TEST(fuzz_regress_syn_reuse_churn) {
  tpeer_t p;
  yamux_session_stats_t st;
  uint32_t round;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (round = 0; round < 64; round++) {
    tbuf_t b = {0};
    uint32_t base = 2 + round * 2 * 8192, k;
    for (k = 0; k < 8; k++) {
      tframe_put(&b, T_WU, F_SYN, base + 2 * k, 0, NULL, 0);
      tframe_put(&b, T_WU, F_RST, base + 2 * k, 0, NULL, 0);
    }
    tframe_put(&b, T_WU, F_SYN, base + 2 * 4096 + 2 * 8, 0, NULL, 0);
    for (k = 0; k < 8; k++) {
      tframe_put(&b, T_WU, F_SYN, base + 2 * k, 0, NULL, 0);
      tframe_put(&b, T_WU, F_RST, base + 2 * k, 0, NULL, 0);
    }
    ASSERT_OK(tpeer_feed_raw(&p, b.data, b.len));
    tbuf_free(&b);
    tpeer_pump(&p);
    ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
    ASSERT_EQ(st.protocol_errors, 0);
  }
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.streams_pending_accept, 64);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* fuzz-session: yamux_session_send_buffers() returned more entries than
 * max_bufs when an earlier call with a larger max_bufs had left entries
 * unsent (a short write), breaking "At most max_bufs entries are
 * returned". */
TEST(fuzz_regress_send_buffers_max_bufs) {
  tpeer_t p;
  tstream_t t[4];
  const uv_buf_t* bufs;
  unsigned int n, i;
  uint64_t now;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  now = p.now_ns;
  for (i = 0; i < 4; i++) {
    tstream_init(&t[i], &p.side.session);
    ASSERT_OK(tstream_open(&t[i]));
    ASSERT_OK(tstream_write(&t[i], NULL, 100));
  }
  yamux_session_run(&p.side.session, now);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 64, now);
  ASSERT_GE(n, 8); /* four Data frames: header + body each */
  tbuf_append(&p.raw, bufs[0].base, 1);                /* what the peer gets */
  yamux_session_send_done(&p.side.session, 1, 0, now); /* short write */
  for (i = 0; i <= 3; i++) {
    n = yamux_session_send_buffers(&p.side.session, &bufs, i, now);
    ASSERT_LE(n, i);
  }
  /* The rest still goes out intact. */
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1, now);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(bufs[0].len, 11); /* the first header, less the byte written */
  tbuf_append(&p.raw, bufs[0].base, 11);
  yamux_session_send_done(&p.side.session, 11, 0, now);
  tpeer_pump(&p);
  for (i = 0; i < 4; i++) {
    const tframe_t* f = tpeer_find(&p, T_DATA, TANY, t[i].handle.id, 100);
    ASSERT_NOT_NULL(f);
  }
  for (i = 0; i < 4; i++) tstream_close_reset(&t[i], 0);
  tpeer_pump(&p);
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(t[i].writes_done, 1);
    ASSERT_EQ(t[i].close_count, 1);
  }
  tpeer_close(&p);
  tpeer_free(&p);
}

/* Hostile-peer finding (test-uv-hostile's slow loris): keepalive ended the
 * session with YAMUX_EKEEPALIVE while bytes kept arriving, because only a
 * complete frame header reset the liveness deadline. A peer dribbling one
 * large Data frame (its pong queued behind it) is alive: "nothing at all
 * arrives" is what keepalive_timeout_ms detects. */
TEST(hostile_regress_keepalive_counts_every_byte) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t t;
  tbuf_t b = {0};
  size_t i;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 100;
  cfg.keepalive_timeout_ms = 300;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_OK(tstream_read_start(&t));
  /* One 500-byte frame, a byte every 5 ms: 2.5 s without a new header. */
  tframe_put(&b, T_DATA, 0, 1, 500, NULL, 500);
  for (i = 0; i < b.len; i++) {
    tpeer_advance(&p, 5);
    tpeer_feed_raw(&p, b.data + i, 1);
    tpeer_pump(&p);
    ASSERT_EQ(p.side.end_count, 0);
  }
  tbuf_free(&b);
  ASSERT_EQ(t.rx.len, 500);
  /* A peer heard from every 5 ms needs no ping at all. */
  ASSERT_NULL(tpeer_find(&p, T_PING, F_SYN, 0, TANY));
  /* And silence still ends it: a ping an interval after the last byte,
   * then the timeout. */
  tpeer_advance(&p, 1000);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EKEEPALIVE);
  tbuf_free(&t.rx);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* fuzz-session, heap-use-after-free in parse(): a Data frame's body was
 * split across feeds and its stream was reset and released in between;
 * the parser still pointed at the freed record and wrote the rest of the
 * body into it. With the record pool the memory was already another
 * stream's, which then read bytes that were never sent to it. */
TEST(fuzz_regress_body_for_stream_released_mid_frame) {
  tpeer_t p;
  tstream_t t1, t2;
  tbuf_t b = {0};
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&t1, &p.side.session));
  ASSERT_OK(tstream_read_start(&t1));
  tpeer_pump(&p);
  /* Half of a 100-byte body. */
  tframe_put(&b, T_DATA, 0, 1, 100, NULL, 100);
  ASSERT_OK(tpeer_feed_raw(&p, b.data, T_HDR_LEN + 50));
  tpeer_pump(&p);
  ASSERT_EQ(t1.rx.len, 50);
  /* The app resets it: the RST goes out and the record is released. */
  tstream_close_reset(&t1, 0);
  tpeer_pump(&p);
  ASSERT_NOT_NULL(tpeer_find(&p, T_WU, F_RST, 1, TANY));
  ASSERT_EQ(t1.close_count, 1);
  /* A new stream (it may get the released record's memory). */
  tstream_init(&t2, &p.side.session);
  ASSERT_OK(tstream_open(&t2));
  ASSERT_OK(tstream_read_start(&t2));
  tpeer_pump(&p);
  /* The rest of stream 1's body, then a frame for the new stream. */
  ASSERT_OK(tpeer_feed_raw(&p, b.data + T_HDR_LEN + 50, 50));
  tbuf_free(&b);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_ACK, t2.handle.id, 5, "hello", 5));
  tpeer_pump(&p);
  ASSERT_EQ(t2.rx.len, 5);
  ASSERT_MEM_EQ(t2.rx.data, "hello", 5);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.buffered_bytes, 0);
  ASSERT_EQ(st.protocol_errors, 0);
  tstream_close(&t2);
  tpeer_pump(&p);
  tbuf_free(&t1.rx);
  tbuf_free(&t2.rx);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* fuzz-session: a stream closed from its read_cb while a shutdown (or
 * write) was pending got its close callback before the cancelled request's
 * callback, within the same run: the request then completed on a handle
 * whose memory the close callback may already have reused. Requests must
 * complete before their handle's close callback (as in libuv). */
static int order_seq;
static int order_shutdown_at;
static int order_write_at;
static int order_close_at;
static int order_shutdown_status;

static void order_shutdown_cb(yamux_shutdown_t* req, int status) {
  (void)req;
  order_shutdown_at = ++order_seq;
  order_shutdown_status = status;
}

static void order_write_cb(yamux_write_t* req, int status) {
  (void)req;
  ASSERT_EQ(status, UV_ECANCELED);
  order_write_at = ++order_seq;
}

static void order_close_cb(yamux_stream_t* h) {
  (void)h;
  order_close_at = ++order_seq;
}

static void order_alloc(yamux_stream_t* h, size_t n, uv_buf_t* buf) {
  static char mem[64];
  (void)h;
  (void)n;
  *buf = uv_buf_init(mem, sizeof(mem));
}

static void order_read_close(yamux_stream_t* h, ssize_t n,
                             const uv_buf_t* buf) {
  (void)buf;
  if (n > 0) yamux_close(h, order_close_cb);
}

TEST(fuzz_regress_requests_complete_before_close_cb) {
  tpeer_t p;
  yamux_stream_t h;
  yamux_shutdown_t sreq;
  yamux_write_t wreq;
  uv_buf_t b = uv_buf_init((char*)"data", 4);

  order_seq = order_shutdown_at = order_write_at = order_close_at = 0;
  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 5, "hello", 5));
  tpeer_pump(&p);
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_accept(&p.side.session, &h));
  tpeer_pump(&p); /* the ACK; "hello" waits buffered */
  /* In one turn: a write and a shutdown are queued, reading starts, and
   * the read callback closes the stream. */
  ASSERT_OK(yamux_write(&wreq, &h, &b, 1, order_write_cb));
  ASSERT_OK(yamux_shutdown(&sreq, &h, order_shutdown_cb));
  ASSERT_OK(yamux_read_start(&h, order_alloc, order_read_close));
  tpeer_pump(&p);
  ASSERT_NE(order_close_at, 0);
  ASSERT_NE(order_write_at, 0);
  ASSERT_NE(order_shutdown_at, 0);
  ASSERT_EQ(order_shutdown_status, UV_ECANCELED);
  ASSERT_LT(order_write_at, order_close_at);
  ASSERT_LT(order_shutdown_at, order_close_at);
  tpeer_close(&p);
  tpeer_free(&p);
}
