/* Stream ends: half-close in both orders with data still flowing the other
 * way, FIN right after the last Data frame, shutdown callbacks, release after
 * both FINs, linger after a local close, resets with error codes both ways,
 * writes after shutdown, and refused opens. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

static uint32_t streams_open(tpeer_t* p) {
  yamux_session_stats_t st;
  ASSERT_OK(yamux_session_get_stats(&p->side.session, &st));
  return st.streams_open;
}

static yamux_session_stats_t sess_stats(tpeer_t* p) {
  yamux_session_stats_t st;
  ASSERT_OK(yamux_session_get_stats(&p->side.session, &st));
  return st;
}

/* Concatenated bodies of the unread Data frames on `id`. No Data frame
 * carries FIN (the engine never puts FIN on a frame with a body: hashicorp
 * can lose that body); with `fin`, an empty WU|FIN follows the last one. */
static size_t collect_data(tpeer_t* p, uint32_t id, tbuf_t* out, int fin) {
  const tframe_t* f;
  size_t n = 0;
  int count = 0;
  int fins = 0;

  while ((f = tpeer_next_frame(p)) != NULL) {
    ASSERT_EQ(f->id, id);
    ASSERT_EQ(fins, 0); /* nothing after the FIN */
    if (f->type == T_WU) {
      ASSERT_EQ(f->flags, F_FIN);
      ASSERT_EQ(f->length, 0);
      fins++;
      continue;
    }
    ASSERT_EQ(f->type, T_DATA);
    ASSERT_EQ(f->flags & F_FIN, 0);
    tbuf_append(out, f->body, f->length);
    n += f->length;
    count++;
  }
  ASSERT_GT(count, 0);
  ASSERT_EQ(fins, fin ? 1 : 0);
  return n;
}

TEST(close_we_fin_first_data_flows_back) {
  tpeer_t p;
  tstream_t t;
  tbuf_t wire = {0};
  size_t i;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_read_start(&t));
  ASSERT_OK(tstream_write(&t, "abc", 3));
  ASSERT_OK(tstream_shutdown(&t));
  /* Open and data in one frame, the FIN right behind on an empty WU. */
  {
    const tframe_t* f = tpeer_expect(&p, T_DATA, F_SYN, 1, 3);
    ASSERT_MEM_EQ(f->body, "abc", 3);
  }
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.shutdown_count, 1);
  ASSERT_EQ(t.shutdown_status, 0);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(tstream_write(&t, "x", 1), UV_EPIPE);
  ASSERT_EQ(tstream_shutdown(&t), UV_EALREADY);

  /* The peer keeps sending for a while. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, 0);
  for (i = 0; i < 10; i++) {
    uint8_t body[1000];
    tpattern_fill(body, sizeof(body), i * sizeof(body));
    ASSERT_OK(
        tpeer_send_frame(&p, T_DATA, 0, 1, sizeof(body), body, sizeof(body)));
  }
  tpeer_pump(&p);
  ASSERT_EQ(t.rx.len, 10000);
  for (i = 0; i < t.rx.len; i++) ASSERT_EQ(t.rx.data[i], tpattern(i));
  ASSERT_EQ(t.eof, 0);
  ASSERT_EQ(streams_open(&p), 1);
  /* Its FIN ends the stream; it stays until the handle is closed. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(t.eof, 1);
  ASSERT_EQ(t.read_errors, 0);
  tstream_close(&t);
  ASSERT_EQ(t.close_count, 0); /* never inside the call */
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(streams_open(&p), 0);
  tpeer_expect_none(&p); /* no RST, no second FIN */
  ASSERT_EQ(sess_stats(&p).resets_sent, 0);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tbuf_free(&wire);
  tpeer_free(&p);
}

TEST(close_peer_fin_first_data_flows_back) {
  tpeer_t p;
  tstream_t t;
  tbuf_t wire = {0};
  size_t n, i;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  /* The peer opens, sends and half-closes in one frame. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN | F_FIN, 1, 5, "hello", 5));
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_OK(tstream_read_start(&t));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  ASSERT_EQ(t.rx.len, 5);
  ASSERT_MEM_EQ(t.rx.data, "hello", 5);
  ASSERT_EQ(t.eof, 1);
  /* We still send, more than one frame's worth, then the FIN follows the
   * last Data frame. */
  ASSERT_OK(tstream_write(&t, NULL, 200000));
  ASSERT_OK(tstream_shutdown(&t));
  n = collect_data(&p, 1, &wire, 1);
  ASSERT_EQ(n, 200000);
  for (i = 0; i < n; i++) ASSERT_EQ(wire.data[i], tpattern(i));
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.shutdown_count, 1);
  ASSERT_EQ(t.shutdown_status, 0);
  ASSERT_EQ(streams_open(&p), 1);
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(streams_open(&p), 0);
  tpeer_expect_none(&p);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tbuf_free(&wire);
  tpeer_free(&p);
}

TEST(close_fin_alone_is_wu_fin) {
  tpeer_t p;
  tstream_t t;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tstream_write(&t, "abc", 3));
  tpeer_expect(&p, T_DATA, 0, 1, 3);
  ASSERT_OK(tstream_shutdown(&t));
  ASSERT_EQ(t.shutdown_count, 0);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.shutdown_count, 1);
  ASSERT_EQ(t.shutdown_status, 0);
  /* A shutdown with writes held back by the window waits for them. */
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(close_shutdown_waits_for_window) {
  tpeer_t p;
  tstream_t t;
  tbuf_t wire = {0};

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW + 1000));
  ASSERT_OK(tstream_shutdown(&t));
  ASSERT_EQ(collect_data(&p, 1, &wire, 0), T_WINDOW);
  ASSERT_EQ(t.shutdown_count, 0);
  ASSERT_EQ(t.writes_done, 0);
  /* The FIN goes only with the last byte. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 999, NULL, 0));
  tpeer_expect(&p, T_DATA, 0, 1, 999);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.shutdown_count, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 5000, NULL, 0));
  tpeer_expect(&p, T_DATA, 0, 1, 1);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.write_errors, 0);
  ASSERT_EQ(t.shutdown_count, 1);
  ASSERT_EQ(t.shutdown_status, 0);
  tstream_close(&t);
  tpeer_close(&p);
  ASSERT_EQ(t.close_count, 1);
  tbuf_free(&wire);
  tpeer_free(&p);
}

/* A shutdown queued behind writes the window holds back, then a close: the
 * close cancels the writes, and the FIN the shutdown promised goes at once
 * (it used to wait for writes that no longer existed: the peer saw an RST
 * after the linger time instead). */
TEST(close_after_shutdown_behind_writes_sends_fin) {
  tpeer_t p;
  tstream_t t;
  tbuf_t wire = {0};
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW + 1000));
  ASSERT_OK(tstream_shutdown(&t));
  ASSERT_EQ(collect_data(&p, 1, &wire, 0), T_WINDOW);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  tpeer_expect_none(&p);
  tstream_close(&t);
  tpeer_pump(&p);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, UV_ECANCELED);
  ASSERT_EQ(t.shutdown_count, 1);
  ASSERT_EQ(t.shutdown_status, UV_ECANCELED);
  ASSERT_EQ(t.close_count, 1);
  /* The peer's FIN ends it: released, no RST ever. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0));
  tpeer_advance(&p, 600000);
  tpeer_expect_none(&p);
  st = sess_stats(&p);
  ASSERT_EQ(st.streams_open, 0);
  ASSERT_EQ(st.resets_sent, 0);
  tpeer_close(&p);
  tbuf_free(&wire);
  tpeer_free(&p);
}

/* A session closed from a reader's alloc_cb while bytes are buffered: the
 * close frees them, and the delivery that called alloc_cb copies nothing
 * from them (ASan would see it) and calls no read_cb with them. */
static int sess_alloc_reads;
static int sess_alloc_errors;
static char sess_alloc_buf[64];

static void sess_closed_cb(yamux_session_t* s) {
  (void)s;
}

static void alloc_closes_session(yamux_stream_t* h, size_t n, uv_buf_t* b) {
  (void)n;
  *b = uv_buf_init(sess_alloc_buf, sizeof(sess_alloc_buf));
  yamux_session_close(h->session, sess_closed_cb);
}

static void sess_alloc_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  (void)h, (void)b;
  if (n > 0) sess_alloc_reads++;
  if (n < 0) sess_alloc_errors++;
}

TEST(close_session_from_alloc_cb_with_buffered_data) {
  tpeer_t p;
  yamux_stream_t h;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_accept(&p.side.session, &h));
  /* Buffered: nobody reads yet. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 5000, NULL, 5000));
  tpeer_pump(&p);
  ASSERT_OK(yamux_read_start(&h, alloc_closes_session, sess_alloc_read));
  tpeer_close(&p);
  ASSERT_EQ(sess_alloc_reads, 0);
  ASSERT_LE(sess_alloc_errors, 1);
  tpeer_free(&p);
}

TEST(close_before_peer_fin_lingers_then_releases) {
  tpeer_t p;
  tstream_t t;
  yamux_session_stats_t st;
  yamux_config_t cfg;

  /* No window growth: no RTT probe ping in the way. */
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_window = cfg.initial_window;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_OK(tstream_read_start(&t));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  /* Some data arrives unread (not reading any more), then we close. */
  ASSERT_OK(yamux_read_stop(&t.handle));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 100000, NULL, 100000));
  tstream_close(&t);
  /* FIN goes out; the discarded unread bytes are not yet half a window. */
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(t.rx.len, 0);
  ASSERT_EQ(streams_open(&p), 1); /* lingering */
  /* Data arriving meanwhile is discarded and credited. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 31072, NULL, 31072));
  tpeer_expect(&p, T_WU, 0, 1, 131072);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.rx.len, 0);
  /* The peer's FIN releases it, without an RST. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, 1, 10, NULL, 10));
  tpeer_pump(&p);
  ASSERT_EQ(streams_open(&p), 0);
  tpeer_expect_none(&p);
  st = sess_stats(&p);
  ASSERT_EQ(st.resets_sent, 0);
  ASSERT_EQ(st.buffered_bytes, 0);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(t.close_count, 1);
  /* Later frames for it are dropped quietly. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 5, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(sess_stats(&p).frames_dropped, st.frames_dropped + 1);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(close_reset_with_code_local) {
  tpeer_t p;
  tstream_t t;
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  /* A write held back by the window is cancelled by the reset. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 0, NULL, 0));
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW));
  tpeer_pump(&p);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_OK(tstream_write(&t, NULL, 10));
  tpeer_pump(&p);
  p.next = p.out.n;
  tstream_close_reset(&t, 42);
  ASSERT_EQ(t.close_count, 0);
  /* The code is the peer's only: we sent this one. */
  ASSERT_EQ(yamux_stream_reset_code(&t.handle), 0);
  ASSERT_EQ(t.writes_done, 1);
  tpeer_expect(&p, T_WU, F_RST, 1, 42);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.writes_done, 2);
  ASSERT_EQ(t.last_write_status, UV_ECANCELED);
  ASSERT_EQ(t.close_count, 1);
  st = sess_stats(&p);
  ASSERT_EQ(st.resets_sent, 1);
  ASSERT_EQ(st.streams_open, 0);
  /* Data the peer had in flight is dropped, not an error. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 10, NULL, 10));
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* A handle closed from its own alloc_cb: read_cb never runs for it again
 * (its storage now holds the deferred-close link), the close callback runs
 * once, and the stream ends normally once the peer's FIN arrives. */
static int alloc_close_reads;
static int alloc_close_closes;
static char alloc_close_buf[64];

static void alloc_close_cb(yamux_stream_t* h) {
  (void)h;
  alloc_close_closes++;
}

static void alloc_then_close(yamux_stream_t* h, size_t n, uv_buf_t* b) {
  (void)n;
  *b = uv_buf_init(alloc_close_buf, sizeof(alloc_close_buf));
  yamux_close(h, alloc_close_cb);
}

static void alloc_close_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  (void)h, (void)n, (void)b;
  alloc_close_reads++;
}

TEST(close_from_alloc_cb) {
  tpeer_t p;
  yamux_stream_t h;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_accept(&p.side.session, &h));
  ASSERT_OK(yamux_read_start(&h, alloc_then_close, alloc_close_read));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 5, "hello", 5));
  tpeer_pump(&p);
  ASSERT_EQ(alloc_close_reads, 0);
  ASSERT_EQ(alloc_close_closes, 1);
  ASSERT_NOT_NULL(tpeer_find(&p, T_WU, TANY, 1, TANY));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 5, "again", 5));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(alloc_close_reads, 0);
  ASSERT_EQ(alloc_close_closes, 1);
  ASSERT_EQ(streams_open(&p), 0);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(close_reset_with_code_remote) {
  tpeer_t p;
  tstream_t t, u;
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 3, 0, NULL, 0));
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_OK(tstream_accept(&u, &p.side.session));
  ASSERT_OK(tstream_read_start(&t));
  ASSERT_OK(tstream_read_start(&u));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  tpeer_expect(&p, T_WU, F_ACK, 3, 0);
  /* A write waiting for credit when the RST comes. */
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW + 5));
  tpeer_pump(&p);
  p.next = p.out.n;
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 7, "pending", 7));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 1, 1234567, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(t.rx.len, 7);
  ASSERT_EQ(t.read_errors, 1);
  ASSERT_EQ(t.read_error, UV_ECONNRESET);
  ASSERT_EQ(t.eof, 0);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, UV_ECONNRESET);
  ASSERT_EQ(yamux_stream_reset_code(&t.handle), 1234567);
  ASSERT_EQ(tstream_write(&t, "x", 1), UV_ECONNRESET);
  ASSERT_EQ(tstream_shutdown(&t), UV_ECONNRESET);
  tpeer_expect_none(&p); /* no RST back */
  /* A Data|RST with no code: reset code 0. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_RST, 3, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(u.read_error, UV_ECONNRESET);
  ASSERT_EQ(yamux_stream_reset_code(&u.handle), 0);
  st = sess_stats(&p);
  ASSERT_EQ(st.resets_received, 2);
  ASSERT_EQ(st.resets_sent, 0);
  tstream_close(&t);
  tstream_close(&u);
  tpeer_pump(&p);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(u.close_count, 1);
  ASSERT_EQ(streams_open(&p), 0);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tbuf_free(&u.rx);
  tpeer_free(&p);
}

TEST(close_reset_code_over_pair) {
  tpair_t pair;
  tstream_t a, b;

  tpair_init(&pair, NULL, NULL);
  tstream_init(&a, &pair.c.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_write(&a, "x", 1));
  tpair_pump_all(&pair);
  ASSERT_OK(tstream_accept(&b, &pair.s.session));
  ASSERT_OK(tstream_read_start(&b));
  tpair_pump_all(&pair);
  ASSERT_EQ(b.rx.len, 1);
  ASSERT_EQ(a.connect_status, 0);
  tstream_close_reset(&a, 0xdeadbeef);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.read_error, UV_ECONNRESET);
  ASSERT_EQ(yamux_stream_reset_code(&b.handle), 0xdeadbeef);
  tstream_close(&b);
  tpair_pump_all(&pair);
  ASSERT_EQ(b.close_count, 1);
  tpair_close(&pair);
  tbuf_free(&b.rx);
}

TEST(close_open_refused) {
  tpeer_t p;
  tstream_t t;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_read_start(&t));
  ASSERT_OK(tstream_write(&t, "hi", 2));
  tpeer_expect(&p, T_DATA, F_SYN, 1, 2);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW)); /* waits for credit */
  tpeer_pump(&p);
  p.next = p.out.n;
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, UV_ECONNREFUSED);
  ASSERT_EQ(t.writes_done, 2);
  ASSERT_EQ(t.last_write_status, UV_ECONNRESET);
  ASSERT_EQ(t.read_errors, 1);
  ASSERT_EQ(t.read_error, UV_ECONNRESET);
  tpeer_expect_none(&p);
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(streams_open(&p), 0);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(close_half_close_both_orders_over_pair) {
  tpair_t pair;
  tstream_t a[2], b[2];
  int order;

  tpair_init(&pair, NULL, NULL);
  for (order = 0; order < 2; order++) {
    tstream_t* first;
    tstream_t* second;
    yamux_session_stats_t cs, ss;
    tstream_init(&a[order], &pair.c.session);
    ASSERT_OK(tstream_open(&a[order]));
    ASSERT_OK(tstream_read_start(&a[order]));
    ASSERT_OK(tstream_write(&a[order], NULL, 1000));
    tpair_pump_all(&pair);
    ASSERT_OK(tstream_accept(&b[order], &pair.s.session));
    ASSERT_OK(tstream_read_start(&b[order]));
    tpair_pump_all(&pair);
    first = order == 0 ? &a[order] : &b[order];
    second = order == 0 ? &b[order] : &a[order];
    /* First side half-closes; the other keeps sending 1 MiB. */
    ASSERT_OK(tstream_shutdown(first));
    tpair_pump_all(&pair);
    ASSERT_EQ(second->eof, 1);
    ASSERT_EQ(first->shutdown_count, 1);
    ASSERT_OK(tstream_write(second, NULL, 1024 * 1024));
    tpair_pump_all(&pair);
    ASSERT_EQ(first->rx.len, order == 0 ? 1024 * 1024 : 1000 + 1024 * 1024);
    ASSERT_EQ(first->eof, 0);
    ASSERT_OK(tstream_shutdown(second));
    tpair_pump_all(&pair);
    ASSERT_EQ(first->eof, 1);
    ASSERT_EQ(second->shutdown_count, 1);
    ASSERT_OK(yamux_session_get_stats(&pair.c.session, &cs));
    ASSERT_OK(yamux_session_get_stats(&pair.s.session, &ss));
    ASSERT_EQ(cs.streams_open, 1);
    ASSERT_EQ(ss.streams_open, 1);
    tstream_close(&a[order]);
    tstream_close(&b[order]);
    tpair_pump_all(&pair);
    ASSERT_EQ(a[order].close_count, 1);
    ASSERT_EQ(b[order].close_count, 1);
    ASSERT_OK(yamux_session_get_stats(&pair.c.session, &cs));
    ASSERT_OK(yamux_session_get_stats(&pair.s.session, &ss));
    ASSERT_EQ(cs.streams_open, 0);
    ASSERT_EQ(ss.streams_open, 0);
    ASSERT_EQ(cs.resets_sent + ss.resets_sent, 0);
  }
  tpair_close(&pair);
  for (order = 0; order < 2; order++) {
    tbuf_free(&a[order].rx);
    tbuf_free(&b[order].rx);
  }
}
