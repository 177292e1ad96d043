/* One test per row of doc/protocol.md's policy table, and of "What every
 * implementation relies on", black-box through the public API and a
 * scripted peer. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

static int conn_count;
static int goaway_count;
static uint32_t goaway_code;

static void on_conn(yamux_session_t* session, int status) {
  (void)session;
  ASSERT_OK(status);
  conn_count++;
}

static void on_goaway(yamux_session_t* session, uint32_t code) {
  (void)session;
  goaway_count++;
  goaway_code = code;
}

/* Starts a session of `role` (cfg NULL: defaults, keepalive off) with the
 * counting listen and goaway callbacks. */
static void peer_start(tpeer_t* p, yamux_role_t role,
                       const yamux_config_t* cfg) {
  conn_count = 0;
  goaway_count = 0;
  goaway_code = 0;
  tpeer_init(p, role, cfg);
  ASSERT_OK(yamux_session_listen(&p->side.session, on_conn));
  yamux_session_on_goaway(&p->side.session, on_goaway);
}

static void peer_finish(tpeer_t* p) {
  tpeer_close(p);
  tpeer_free(p);
}

/* The n-th stream id the peer opens (n >= 1) when our role is `role`. */
#define PID(n) (role == YAMUX_SERVER ? 2u * (n)-1 : 2u * (n))

static void config(yamux_config_t* cfg) {
  yamux_config_init(cfg);
  cfg->keepalive_interval_ms = 0;
}

/* The peer opens `id` with WU|SYN; the app accepts and starts reading. */
static void open_inbound(tpeer_t* p, uint32_t id, tstream_t* t) {
  ASSERT_OK(tpeer_send_frame(p, T_WU, F_SYN, id, 0, NULL, 0));
  tpeer_pump(p);
  ASSERT_OK(tstream_accept(t, &p->side.session));
  ASSERT_EQ(t->handle.id, id);
  ASSERT_OK(tstream_read_start(t));
  tpeer_expect(p, T_WU, F_ACK, id, 0);
}

/* The app opens a stream; the peer ACKs it. */
static void open_outbound(tpeer_t* p, tstream_t* t) {
  tstream_init(t, &p->side.session);
  ASSERT_OK(tstream_open(t));
  ASSERT_OK(tstream_read_start(t));
  tpeer_expect(p, T_WU, F_SYN, TANY, 0);
  ASSERT_NE(t->handle.id, 0);
  ASSERT_OK(tpeer_send_frame(p, T_WU, F_ACK, t->handle.id, 0, NULL, 0));
  tpeer_pump(p);
  ASSERT_EQ(t->connect_count, 1);
  ASSERT_EQ(t->connect_status, 0);
}

static void get_stats(tpeer_t* p, yamux_session_stats_t* st) {
  ASSERT_OK(yamux_session_get_stats(&p->side.session, st));
}

/* The session sent GA(1) (after whatever it had queued) and ended with
 * YAMUX_EPROTO. */
static void expect_protocol_error(tpeer_t* p) {
  yamux_session_stats_t st;
  const tframe_t* f = tpeer_find(p, T_GOAWAY, TANY, TANY, TANY);

  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->flags, 0);
  ASSERT_EQ(f->id, 0);
  ASSERT_EQ(f->length, YAMUX_GOAWAY_PROTOCOL);
  tpeer_expect_none(p);
  ASSERT_EQ(p->side.end_count, 1);
  ASSERT_EQ(p->side.end_status, YAMUX_EPROTO);
  get_stats(p, &st);
  ASSERT_EQ(st.protocol_errors, 1);
  ASSERT_EQ(st.goaway_sent, YAMUX_GOAWAY_PROTOCOL + 1);
}

static void expect_alive(tpeer_t* p) {
  ASSERT_EQ(p->side.end_count, 0);
  ASSERT_OK(tpeer_send_frame(p, T_PING, F_SYN, 0, 0x5151, NULL, 0));
  tpeer_expect(p, T_PING, F_ACK, 0, 0x5151);
}

/* ---- policy table ------------------------------------------------------- */

/* | version != 0, type > 3 | GA(1) | */
TEST(protocol_bad_version_or_type_goaway) {
  static const uint8_t bad[][2] = {
      {1, T_DATA}, {0xff, T_WU}, {0, 4}, {0, 0xff}};
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tpeer_t p;
    tbuf_t b = {0};
    peer_start(&p, i % 2 ? YAMUX_CLIENT : YAMUX_SERVER, NULL);
    tframe_put_header(&b, bad[i][0], bad[i][1], 0, 0, 0);
    ASSERT_EQ(tpeer_feed_raw(&p, b.data, b.len), YAMUX_EPROTO);
    expect_protocol_error(&p);
    tbuf_free(&b);
    peer_finish(&p);
  }
}

/* | Data beyond the receive window | GA(1), checked before anything is
 * buffered | */
static void protocol_data_beyond_window_goaway_role(yamux_role_t role) {
  tpeer_t p;
  tstream_t t;
  tbuf_t b = {0};
  size_t before;

  peer_start(&p, role, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(1), 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&t, &p.side.session)); /* accepted, not reading */
  tpeer_expect(&p, T_WU, F_ACK, PID(1), 0);
  /* The whole window is fine. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, PID(1), T_WINDOW - 10, NULL,
                             T_WINDOW - 10));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, PID(1), 10, NULL, 10));
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);
  /* One byte more: the header alone is enough to fail. */
  before = p.side.mem.live_bytes;
  tframe_put_header(&b, 0, T_DATA, 0, PID(1), 1);
  ASSERT_EQ(tpeer_feed_raw(&p, b.data, b.len), YAMUX_EPROTO);
  ASSERT_LE(p.side.mem.live_bytes, before);
  expect_protocol_error(&p);
  tbuf_free(&b);
  peer_finish(&p);
}

TEST(protocol_data_beyond_window_goaway) {
  protocol_data_beyond_window_goaway_role(YAMUX_SERVER);
  protocol_data_beyond_window_goaway_role(YAMUX_CLIENT);
}

/* Same row, "incl. Data|SYN body". */
TEST(protocol_data_syn_beyond_window_goaway) {
  tpeer_t p;
  tbuf_t b = {0};

  peer_start(&p, YAMUX_SERVER, NULL);
  tframe_put_header(&b, 0, T_DATA, F_SYN, 1, T_WINDOW + 1);
  ASSERT_EQ(tpeer_feed_raw(&p, b.data, b.len), YAMUX_EPROTO);
  /* Nothing of the size of the body was allocated. */
  ASSERT_LT(p.side.mem.peak_bytes, T_WINDOW);
  expect_protocol_error(&p);
  ASSERT_EQ(conn_count, 0);
  tbuf_free(&b);
  peer_finish(&p);

  /* Exactly the window on the SYN is fine. */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 1, T_WINDOW, NULL, T_WINDOW));
  tpeer_pump(&p);
  ASSERT_EQ(conn_count, 1);
  ASSERT_EQ(p.side.end_count, 0);
  peer_finish(&p);
}

/* | window update pushing a send window past 2^32-1 | GA(1) | */
TEST(protocol_window_overflow_goaway) {
  tpeer_t p;
  tstream_t t;
  yamux_stream_stats_t st;

  /* On a plain Window Update. */
  peer_start(&p, YAMUX_SERVER, NULL);
  open_inbound(&p, 1, &t);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 0xffffffffu - T_WINDOW, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &st));
  ASSERT_EQ(st.send_window, 0xffffffffu);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, 0, 1, 1, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  /* On the SYN's delta. */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0xffffffffu, NULL, 0),
            YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  /* On the ACK's delta, for a stream we opened. */
  peer_start(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0xffffffffu, NULL, 0),
            YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
}

/* | SYN with our parity, or on id 0 | GA(1) | */
TEST(protocol_syn_with_our_parity_goaway) {
  tpeer_t p;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  ASSERT_EQ(conn_count, 0);
  peer_finish(&p);

  peer_start(&p, YAMUX_CLIENT, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 1, "x", 1), YAMUX_EPROTO);
  expect_protocol_error(&p);
  ASSERT_EQ(conn_count, 0);
  peer_finish(&p);
}

TEST(protocol_syn_on_id_zero_goaway) {
  tpeer_t p;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 0, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  peer_start(&p, YAMUX_CLIENT, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, F_SYN, 0, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
}

/* | Data or Window Update on stream 0 (no SYN) | GA(1) | */
TEST(protocol_stream_frames_on_id_zero_goaway) {
  static const uint8_t zeros[120];
  tpeer_t p;

  /* A transport of zero bytes (a child writing zeros, a bad serial line)
   * decodes as empty Data frames on stream 0: the first one ends it. */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_feed_raw(&p, zeros, sizeof(zeros)), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  peer_start(&p, YAMUX_CLIENT, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 0, 3, "abc", 3), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, 0, 0, 4096, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  peer_start(&p, YAMUX_CLIENT, NULL);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_RST, 0, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
}

/* | SYN on a live stream id | GA(1) | */
TEST(protocol_syn_on_live_stream_goaway) {
  tpeer_t p;
  tstream_t t;

  /* Waiting in the backlog. */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);

  /* Accepted. */
  peer_start(&p, YAMUX_SERVER, NULL);
  open_inbound(&p, 1, &t);
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 1, "x", 1), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);

  /* A stream we opened (client side: the peer uses our id). */
  peer_start(&p, YAMUX_CLIENT, NULL);
  open_outbound(&p, &t);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, t.handle.id, 0, NULL, 0),
            YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);
}

/* | SYN on an id at or below the highest the peer already used | GA(1) |
 *
 * Refined by the engine (rust-yamux's lazy SYN and hashicorp both send SYNs
 * out of id order): an id the peer skipped may still be opened once; an id
 * that was used before (within the last 4096 ids) is a protocol error. */
TEST(protocol_syn_id_backwards_goaway) {
  tpeer_t p;
  tstream_t t;
  tstream_t u;

  /* Reusing the id of a stream that is gone. */
  peer_start(&p, YAMUX_SERVER, NULL);
  open_inbound(&p, 5, &t);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 5, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(t.read_error, UV_ECONNRESET);
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 5, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);

  /* A skipped id opened late works once; its second SYN does not. */
  peer_start(&p, YAMUX_SERVER, NULL);
  open_inbound(&p, 5, &t);
  open_inbound(&p, 3, &u);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 3, 0, NULL, 0));
  tpeer_pump(&p);
  tstream_close(&u);
  tpeer_pump(&p);
  ASSERT_EQ(u.close_count, 1);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, F_SYN, 3, 0, NULL, 0), YAMUX_EPROTO);
  expect_protocol_error(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);
  tbuf_free(&u.rx);

  /* A skipped id far below the highest still opens (hashicorp sends SYNs
   * out of id order). */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1001, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(conn_count, 2);
  peer_finish(&p);

  /* Skipping ids forward is fine. */
  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 101, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(conn_count, 2);
  peer_finish(&p);
}

/* | Data or Window Update (no SYN) for an unknown or already-closed stream |
 * drain the body, ignore, count it | */
TEST(protocol_unknown_stream_frames_dropped) {
  tpeer_t p;
  tstream_t t;
  yamux_session_stats_t st;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 9, 100, NULL, 100));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 11, 1000, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, 13, 3, "abc", 3));
  /* A body that looks like a header must not be parsed as one. */
  {
    tbuf_t fake = {0};
    tframe_put(&fake, T_PING, F_SYN, 0, 77, NULL, 0);
    ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 15, (uint32_t)fake.len, fake.data,
                               fake.len));
    tbuf_free(&fake);
  }
  tpeer_expect_none(&p);
  get_stats(&p, &st);
  ASSERT_EQ(st.frames_dropped, 4);
  ASSERT_EQ(conn_count, 0);
  expect_alive(&p);

  /* An already-closed stream. */
  open_inbound(&p, 17, &t);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 17, 0, NULL, 0));
  tpeer_pump(&p);
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 17, 10, NULL, 10));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 17, 10, NULL, 0));
  tpeer_expect_none(&p);
  get_stats(&p, &st);
  ASSERT_EQ(st.frames_dropped, 6);
  expect_alive(&p);
  peer_finish(&p);
}

/* | duplicate FIN, FIN after RST, duplicate ACK | ignore | */
TEST(protocol_duplicate_fin_rst_ack_ignored) {
  tpeer_t p;
  tstream_t a;
  tstream_t b;
  tstream_t c;

  peer_start(&p, YAMUX_CLIENT, NULL);
  /* Duplicate ACK. */
  open_outbound(&p, &a);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, a.handle.id, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_ACK, a.handle.id, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(a.connect_count, 1);

  /* Duplicate FIN. */
  open_outbound(&p, &b);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, b.handle.id, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, b.handle.id, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(b.eof, 1);
  ASSERT_EQ(b.read_errors, 0);

  /* FIN after RST. */
  open_outbound(&p, &c);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, c.handle.id, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, c.handle.id, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(c.read_errors, 1);
  ASSERT_EQ(c.read_error, UV_ECONNRESET);
  ASSERT_EQ(c.eof, 0);

  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&a.rx);
  tbuf_free(&b.rx);
  tbuf_free(&c.rx);
}

/* | Data after the peer's FIN | RST that stream | */
static void protocol_data_after_fin_rst_role(yamux_role_t role) {
  tpeer_t p;
  tstream_t t;
  const tframe_t* f;

  peer_start(&p, role, NULL);
  open_inbound(&p, PID(1), &t);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, PID(1), 2, "ab", 2));
  tpeer_pump(&p);
  ASSERT_EQ(t.eof, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, PID(1), 2, "cd", 2));
  f = tpeer_next_frame(&p);
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->id, PID(1));
  ASSERT(f->flags & F_RST);
  ASSERT(f->type == T_WU || (f->type == T_DATA && f->length == 0));
  tpeer_expect_none(&p);
  /* The data was not delivered; nothing after EOF. */
  ASSERT_EQ(t.rx.len, 2);
  ASSERT_EQ(t.eof, 1);
  ASSERT_EQ(t.read_errors, 0);
  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);
}

TEST(protocol_data_after_fin_rst) {
  protocol_data_after_fin_rst_role(YAMUX_SERVER);
  protocol_data_after_fin_rst_role(YAMUX_CLIENT);
}

/* | Window Update on a half-closed stream | accept | */
TEST(protocol_wu_on_half_closed_accepted) {
  tpeer_t p;
  tstream_t t;
  tstream_t u;
  yamux_stream_stats_t st;
  size_t sent = 0;
  const tframe_t* f;

  peer_start(&p, YAMUX_CLIENT, NULL);
  open_outbound(&p, &t);
  /* Use up the window and queue 100 bytes more. */
  ASSERT_OK(tstream_write(&t, NULL, T_WINDOW + 100));
  while ((f = tpeer_next_frame(&p)) != NULL) {
    ASSERT_EQ(f->type, T_DATA);
    sent += f->length;
  }
  ASSERT_EQ(sent, T_WINDOW);
  /* The peer half-closes, then gives credit: the rest goes out. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, t.handle.id, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(t.eof, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, t.handle.id, 1000, NULL, 0));
  tpeer_expect(&p, T_DATA, 0, t.handle.id, 100);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, 0);

  /* We half-closed; the peer's credit is still welcome. */
  open_outbound(&p, &u);
  ASSERT_OK(tstream_shutdown(&u));
  tpeer_expect(&p, T_WU, F_FIN, u.handle.id, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, u.handle.id, 5000, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_OK(yamux_stream_get_stats(&u.handle, &st));
  ASSERT_EQ(st.send_window, T_WINDOW + 5000);
  ASSERT_EQ(u.shutdown_count, 1);
  ASSERT_EQ(u.shutdown_status, 0);
  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);
  tbuf_free(&u.rx);
}

/* | Ping on a non-zero id | answer it | */
TEST(protocol_ping_nonzero_id_answered) {
  tpeer_t p;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 7, 42, NULL, 0));
  tpeer_expect(&p, T_PING, F_ACK, 0, 42);
  tpeer_expect_none(&p);
  expect_alive(&p);
  peer_finish(&p);
}

static int ping_count;
static int ping_status;
static uint64_t ping_rtt;

static void on_ping(yamux_ping_t* req, int status, uint64_t rtt_ns) {
  (void)req;
  ping_count++;
  ping_status = status;
  ping_rtt = rtt_ns;
}

/* | Ping reply (ACK) that matches no outstanding ping | ignore, count it | */
TEST(protocol_stray_pong_ignored) {
  tpeer_t p;
  yamux_session_stats_t st;
  yamux_ping_t req;
  const tframe_t* f;
  uint32_t opaque;

  peer_start(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, 777, NULL, 0));
  tpeer_expect_none(&p);
  get_stats(&p, &st);
  ASSERT_EQ(st.frames_dropped, 1);

  /* A wrong value does not complete an outstanding ping either. */
  ASSERT_OK(yamux_ping(&req, &p.side.session, on_ping));
  f = tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  opaque = f->length;
  tpeer_advance(&p, 3);
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque + 1, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 0);
  get_stats(&p, &st);
  ASSERT_EQ(st.frames_dropped, 2);
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 1);
  ASSERT_EQ(ping_status, 0);
  ASSERT_EQ(ping_rtt, 3 * T_MS);
  /* The same reply again is stray now. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 1);
  expect_alive(&p);
  peer_finish(&p);
}

/* | more than the bounded number of queued pong replies | drop the excess
 * pongs (bounded, never grows) | */
TEST(protocol_pong_queue_bounded) {
  tpeer_t p;
  yamux_config_t cfg;
  yamux_session_stats_t st;
  tbuf_t b = {0};
  const tframe_t* f;
  size_t peak_small;
  uint32_t i;
  uint32_t pongs = 0;

  config(&cfg);
  cfg.max_queued_pongs = 4;
  peer_start(&p, YAMUX_SERVER, &cfg);
  /* 100 pings arrive before the transport takes anything. */
  for (i = 0; i < 100; i++) tframe_put(&b, T_PING, F_SYN, 0, i, NULL, 0);
  ASSERT_OK(tpeer_feed_raw(&p, b.data, b.len));
  peak_small = p.side.mem.peak_bytes;
  while ((f = tpeer_next_frame(&p)) != NULL) {
    ASSERT_EQ(f->type, T_PING);
    ASSERT_EQ(f->flags, F_ACK);
    ASSERT_EQ(f->length, pongs); /* the first ones are answered, in order */
    pongs++;
  }
  ASSERT_EQ(pongs, 4);
  get_stats(&p, &st);
  ASSERT_EQ(st.pongs_sent, 4);
  ASSERT_EQ(st.pongs_dropped, 96);

  /* 100000 more: memory does not grow with them. */
  b.len = 0;
  for (i = 0; i < 100000; i++) tframe_put(&b, T_PING, F_SYN, 0, i, NULL, 0);
  ASSERT_OK(tpeer_feed_raw(&p, b.data, b.len));
  ASSERT_LE(p.side.mem.peak_bytes, peak_small + 1024);
  ASSERT_EQ(tpeer_pending(&p), 4);
  tbuf_free(&b);
  peer_finish(&p);
}

/* | received Go Away(0) | drain: no new outbound streams (open fails with a
 * clear error), existing streams go on; report the code | */
TEST(protocol_goaway_zero_drains) {
  tpeer_t p;
  tstream_t t;
  tstream_t u;
  yamux_session_stats_t st;

  peer_start(&p, YAMUX_CLIENT, NULL);
  open_outbound(&p, &t);
  ASSERT_OK(tpeer_send_frame(&p, T_GOAWAY, 0, 0, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(goaway_count, 1);
  ASSERT_EQ(goaway_code, 0);
  ASSERT_EQ(p.side.end_count, 0);
  get_stats(&p, &st);
  ASSERT_EQ(st.goaway_received, 1);

  tstream_init(&u, &p.side.session);
  ASSERT_EQ(tstream_open(&u), YAMUX_EGOAWAY);
  tpeer_expect_none(&p);
  ASSERT_EQ(u.connect_count, 0);

  /* The existing stream goes on both ways. */
  ASSERT_OK(tstream_write(&t, "up", 2));
  tpeer_expect(&p, T_DATA, 0, t.handle.id, 2);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, t.handle.id, 4, "down", 4));
  tpeer_pump(&p);
  ASSERT_EQ(t.rx.len, 4);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, 0);
  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&t.rx);
}

/* | received Go Away(1/2/other) | report the code; end the session after
 * flushing | */
TEST(protocol_goaway_error_ends_session) {
  static const struct {
    uint32_t code;
    int status;
  } cases[] = {{1, YAMUX_EPEERPROTO},
               {2, YAMUX_EPEERINTERNAL},
               {3, YAMUX_EPEERGOAWAY},
               {0xdeadbeef, YAMUX_EPEERGOAWAY},
               {0xffffffffu, YAMUX_EPEERGOAWAY}};
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tpeer_t p;
    tstream_t t;
    yamux_session_stats_t st;

    peer_start(&p, YAMUX_CLIENT, NULL);
    open_outbound(&p, &t);
    /* feed() returns the status the session ended with. */
    ASSERT_EQ(tpeer_send_frame(&p, T_GOAWAY, 0, 0, cases[i].code, NULL, 0),
              cases[i].status);
    tpeer_pump(&p);
    ASSERT_EQ(goaway_count, 1);
    ASSERT_EQ(goaway_code, cases[i].code);
    ASSERT_EQ(p.side.end_count, 1);
    ASSERT_EQ(p.side.end_status, cases[i].status);
    get_stats(&p, &st);
    /* code + 1 in 64 bits: the largest code does not wrap to "none". */
    ASSERT_EQ(st.goaway_received, (uint64_t)cases[i].code + 1);
    /* The stream learns the session ended. */
    ASSERT_EQ(t.read_errors, 1);
    ASSERT_NE(t.read_error, UV_EOF);
    peer_finish(&p);
    tbuf_free(&t.rx);
  }
}

/* | our graceful close | send Go Away(0) after queued frames, then close the
 * transport | */
TEST(protocol_graceful_close_goaway_last) {
  tpeer_t p;
  tstream_t t;
  const tframe_t* f;
  int saw_pong = 0;

  peer_start(&p, YAMUX_SERVER, NULL);
  open_inbound(&p, 1, &t);
  ASSERT_OK(tstream_write(&t, "bye", 3));
  tpeer_expect(&p, T_DATA, 0, 1, 3);
  /* A pong is queued when the close starts. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 31, NULL, 0));
  tpeer_close(&p);
  ASSERT_EQ(p.side.transport_closed, 1);
  while ((f = tpeer_next_frame(&p)) != NULL) {
    if (f->type == T_GOAWAY) break;
    if (f->type == T_PING) {
      ASSERT_EQ(f->flags, F_ACK);
      ASSERT_EQ(f->length, 31);
      saw_pong = 1;
    }
  }
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->id, 0);
  ASSERT_EQ(f->length, YAMUX_GOAWAY_NORMAL);
  /* The pong not yet gathered may be dropped (yamux.h); never after. */
  (void)saw_pong;
  tpeer_expect_none(&p); /* Go Away is the last frame */
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, 0);
  ASSERT_EQ(t.read_errors, 1);
  ASSERT_EQ(t.read_error, UV_ECONNABORTED);
  tpeer_free(&p);
  tbuf_free(&t.rx);
}

/* | inbound SYN over the accept backlog | RST | */
static void protocol_syn_over_backlog_rst_role(yamux_role_t role) {
  tpeer_t p;
  yamux_config_t cfg;
  yamux_session_stats_t st;
  tstream_t a;
  tstream_t b;
  const tframe_t* f;

  config(&cfg);
  cfg.accept_backlog = 2;
  peer_start(&p, role, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(1), 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(2), 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, PID(3), 2, "hi", 2));
  f = tpeer_next_frame(&p);
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->id, PID(3));
  ASSERT(f->flags & F_RST);
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(conn_count, 2); /* one per stream that waits */
  get_stats(&p, &st);
  ASSERT_EQ(st.streams_refused, 1);
  ASSERT_EQ(st.streams_pending_accept, 2);

  ASSERT_OK(tstream_accept(&a, &p.side.session));
  ASSERT_EQ(a.handle.id, PID(1));
  ASSERT_OK(tstream_accept(&b, &p.side.session));
  ASSERT_EQ(b.handle.id, PID(2));
  tpeer_expect(&p, T_WU, F_ACK, PID(1), 0);
  tpeer_expect(&p, T_WU, F_ACK, PID(2), 0);
  /* Room again. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(4), 0, NULL, 0));
  tpeer_expect_none(&p);
  get_stats(&p, &st);
  ASSERT_EQ(st.streams_pending_accept, 1);
  peer_finish(&p);
}

TEST(protocol_syn_over_backlog_rst) {
  protocol_syn_over_backlog_rst_role(YAMUX_SERVER);
  protocol_syn_over_backlog_rst_role(YAMUX_CLIENT);
}

/* | inbound streams over the configured maximum | RST (not Go Away) | */
static void protocol_inbound_over_max_rst_role(yamux_role_t role) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t a;
  tstream_t b;
  const tframe_t* f;

  config(&cfg);
  cfg.max_inbound_streams = 2;
  peer_start(&p, role, &cfg);
  open_inbound(&p, PID(1), &a);
  open_inbound(&p, PID(2), &b);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(3), 0, NULL, 0));
  f = tpeer_next_frame(&p);
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(f->id, PID(3));
  ASSERT(f->flags & F_RST);
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);

  /* When one is gone, a new one fits. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, PID(1), 0, NULL, 0));
  tstream_close(&a);
  tpeer_pump(&p);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, PID(4), 0, NULL, 0));
  tpeer_expect_none(&p);
  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&a.rx);
  tbuf_free(&b.rx);
}

TEST(protocol_inbound_over_max_rst) {
  protocol_inbound_over_max_rst_role(YAMUX_SERVER);
  protocol_inbound_over_max_rst_role(YAMUX_CLIENT);
}

/* | outbound opens while 256 (configurable) are un-ACKed | queue the SYN;
 * send when the backlog has room | */
TEST(protocol_unacked_opens_queue_syn) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t t[3];
  int i;

  config(&cfg);
  cfg.max_unacked_opens = 2;
  peer_start(&p, YAMUX_CLIENT, &cfg);
  for (i = 0; i < 3; i++) {
    tstream_init(&t[i], &p.side.session);
    ASSERT_OK(tstream_open(&t[i]));
  }
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_expect(&p, T_WU, F_SYN, 3, 0);
  tpeer_expect_none(&p);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 3, 0, NULL, 0));
  tpeer_expect(&p, T_WU, F_SYN, 5, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t[1].connect_count, 1);
  ASSERT_EQ(t[0].connect_count + t[2].connect_count, 0);

  /* Default: 256 SYNs go out, the 257th waits. */
  peer_finish(&p);
  {
    static tstream_t many[257];
    uint32_t n = 0;
    const tframe_t* f;
    peer_start(&p, YAMUX_CLIENT, NULL);
    for (i = 0; i < 257; i++) {
      tstream_init(&many[i], &p.side.session);
      ASSERT_OK(tstream_open(&many[i]));
    }
    while ((f = tpeer_next_frame(&p)) != NULL) {
      ASSERT(f->flags & F_SYN);
      n++;
    }
    ASSERT_EQ(n, 256);
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
    tpeer_expect(&p, T_WU, F_SYN, 2 * 256 + 1, 0);
    peer_finish(&p);
  }
}

/* | peer never ACKs an opened stream | after the open timeout, RST and fail
 * THAT stream, not the session | */
TEST(protocol_open_timeout_resets_stream) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t t;
  tstream_t u;

  config(&cfg);
  cfg.open_timeout_ms = 1000;
  peer_start(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_advance(&p, 500);
  /* Another stream opened later is ACKed in time. */
  open_outbound(&p, &u);
  tpeer_advance(&p, 499);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.connect_count, 0);
  tpeer_advance(&p, 1);
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, UV_ETIMEDOUT);
  tpeer_expect(&p, T_WU, F_RST, 1, 0);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 5000);
  tpeer_expect_none(&p);
  ASSERT_EQ(u.connect_count, 1);
  ASSERT_EQ(u.read_errors, 0);
  expect_alive(&p);
  tstream_close(&t);
  tpeer_pump(&p);
  ASSERT_EQ(t.close_count, 1);
  peer_finish(&p);
  tbuf_free(&u.rx);
}

/* | we closed, peer never FINs | after the linger timeout, RST and release |
 */
static void protocol_linger_timeout_resets_role(yamux_role_t role) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t a;
  tstream_t b;
  yamux_session_stats_t st;

  config(&cfg);
  cfg.linger_timeout_ms = 1000;
  peer_start(&p, role, &cfg);
  open_inbound(&p, PID(1), &a);
  open_inbound(&p, PID(2), &b);
  tstream_close(&a);
  tstream_close(&b);
  tpeer_expect(&p, T_WU, F_FIN, PID(1), 0);
  tpeer_expect(&p, T_WU, F_FIN, PID(2), 0);
  tpeer_expect_none(&p);
  /* b's peer finishes in time; its data meanwhile is discarded, credited. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, PID(2), 100, NULL, 100));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, PID(2), 0, NULL, 0));
  tpeer_advance(&p, 999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_WU, F_RST, PID(1), 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.close_count, 1);
  get_stats(&p, &st);
  ASSERT_EQ(st.streams_open, 0);
  expect_alive(&p);
  peer_finish(&p);
  tbuf_free(&a.rx);
  tbuf_free(&b.rx);
}

TEST(protocol_linger_timeout_resets) {
  protocol_linger_timeout_resets_role(YAMUX_SERVER);
  protocol_linger_timeout_resets_role(YAMUX_CLIENT);
}

/* | keepalive: no frame at all from the peer within the timeout after a
 * ping | end the session with a keepalive error; any inbound frame counts as
 * liveness | */
TEST(protocol_keepalive_timeout_ends_session) {
  tpeer_t p;
  yamux_config_t cfg;

  config(&cfg);
  cfg.keepalive_interval_ms = 1000;
  cfg.keepalive_timeout_ms = 500;
  peer_start(&p, YAMUX_CLIENT, &cfg);
  tpeer_advance(&p, 999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  tpeer_advance(&p, 499);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_advance(&p, 1);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EKEEPALIVE);
  peer_finish(&p);
}

TEST(protocol_keepalive_any_frame_is_liveness) {
  tpeer_t p;
  yamux_config_t cfg;
  const tframe_t* f = NULL;
  uint32_t opaque;
  int i;

  config(&cfg);
  cfg.keepalive_interval_ms = 1000;
  cfg.keepalive_timeout_ms = 500;
  peer_start(&p, YAMUX_CLIENT, &cfg);
  tpeer_advance(&p, 1000);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  tpeer_advance(&p, 400);
  /* Not the pong: a frame for an unknown stream still proves the peer is
   * alive. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 99, 1, NULL, 0));
  tpeer_advance(&p, 300);
  ASSERT_EQ(p.side.end_count, 0);
  /* The next round is answered properly, at once. */
  for (i = 0; i < 300; i++) {
    tpeer_advance(&p, 10);
    f = tpeer_find(&p, T_PING, F_SYN, 0, TANY);
    if (f != NULL) break;
  }
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(p.side.end_count, 0);
  opaque = f->length;
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque, NULL, 0));
  tpeer_advance(&p, 600);
  ASSERT_EQ(p.side.end_count, 0);
  peer_finish(&p);
}

/* | stream reset with an error code | send it when the application gives
 * one; expose the received code | */
static void protocol_reset_code_sent_and_exposed_role(yamux_role_t role) {
  tpeer_t p;
  tstream_t a;
  tstream_t b;
  yamux_session_stats_t st;

  peer_start(&p, role, NULL);
  open_inbound(&p, PID(1), &a);
  open_inbound(&p, PID(2), &b);
  tstream_close_reset(&a, 42);
  tpeer_expect(&p, T_WU, F_RST, PID(1), 42);
  tpeer_pump(&p);
  ASSERT_EQ(a.close_count, 1);

  ASSERT_EQ(yamux_stream_reset_code(&b.handle), 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, PID(2), 7, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(b.read_error, UV_ECONNRESET);
  ASSERT_EQ(yamux_stream_reset_code(&b.handle), 7);
  tpeer_expect_none(&p);
  get_stats(&p, &st);
  ASSERT_EQ(st.resets_sent, 1);
  ASSERT_EQ(st.resets_received, 1);
  peer_finish(&p);
  tbuf_free(&a.rx);
  tbuf_free(&b.rx);
}

TEST(protocol_reset_code_sent_and_exposed) {
  protocol_reset_code_sent_and_exposed_role(YAMUX_SERVER);
  protocol_reset_code_sent_and_exposed_role(YAMUX_CLIENT);
}

/* ---- rules every peer relies on ----------------------------------------- */

/* A window update that rides on SYN or ACK is a delta added to 256 KiB. */
TEST(protocol_rule_window_delta_on_syn_ack) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t t;
  tstream_t in;
  yamux_stream_stats_t st;
  const uint32_t win = 1024 * 1024;
  uint32_t i;

  config(&cfg);
  cfg.initial_window = win;
  peer_start(&p, YAMUX_CLIENT, &cfg);
  /* Our open announces the delta. */
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, win - T_WINDOW);
  /* Our accept announces it too; the peer's SYN delta adds to our credit. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 1000, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&in, &p.side.session));
  tpeer_expect(&p, T_WU, F_ACK, 2, win - T_WINDOW);
  ASSERT_OK(yamux_stream_get_stats(&in.handle, &st));
  ASSERT_EQ(st.send_window, T_WINDOW + 1000);
  ASSERT_EQ(st.recv_window, win);
  /* The peer may really send the whole window (not reading: it waits). */
  for (i = 0; i < 16; i++)
    ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 2, win / 16, NULL, win / 16));
  tpeer_pump(&p);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_OK(yamux_stream_get_stats(&in.handle, &st));
  ASSERT_EQ(st.buffered_bytes, win);
  ASSERT_EQ(st.recv_window, 0);
  /* The peer's ACK with a delta: our credit is 256 KiB + delta. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 4096, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &st));
  ASSERT_EQ(st.send_window, T_WINDOW + 4096);
  peer_finish(&p);
}

/* Flags mean the same on Data and Window Update, both with length 0. */
TEST(protocol_rule_flags_on_data_and_wu_len0) {
  tpeer_t p;
  tstream_t in;
  tstream_t a;
  tstream_t b;

  peer_start(&p, YAMUX_CLIENT, NULL);
  /* Open with Data|SYN, no body. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 2, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(conn_count, 1);
  ASSERT_OK(tstream_accept(&in, &p.side.session));
  ASSERT_OK(tstream_read_start(&in));
  tpeer_expect(&p, T_WU, F_ACK, 2, 0);
  /* FIN on an empty Data frame. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, 2, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(in.eof, 1);
  ASSERT_EQ(in.rx.len, 0);

  /* ACK on an empty Data frame. */
  tstream_init(&a, &p.side.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_read_start(&a));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_ACK, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  /* RST on an empty Data frame. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_RST, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(a.read_error, UV_ECONNRESET);

  /* A refusal (RST before ACK) on an empty Data frame. */
  tstream_init(&b, &p.side.session);
  ASSERT_OK(tstream_open(&b));
  tpeer_expect(&p, T_WU, F_SYN, 3, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_RST, 3, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(b.connect_count, 1);
  ASSERT_EQ(b.connect_status, UV_ECONNREFUSED);
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);
  peer_finish(&p);
  tbuf_free(&in.rx);
  tbuf_free(&a.rx);
}

/* Data may follow the SYN at once, without waiting for the ACK. */
TEST(protocol_rule_0rtt_data_on_syn) {
  tpeer_t p;
  tstream_t t;
  tstream_t in;
  const tframe_t* f;

  peer_start(&p, YAMUX_CLIENT, NULL);
  /* Written in the same turn: the SYN rides on the Data frame. */
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, "hello", 5));
  f = tpeer_expect(&p, T_DATA, F_SYN, 1, 5);
  ASSERT_MEM_EQ(f->body, "hello", 5);
  tpeer_expect_none(&p);
  /* Written after the SYN went out, before any ACK: sent at once. */
  ASSERT_OK(tstream_write(&t, "again", 5));
  tpeer_expect(&p, T_DATA, 0, 1, 5);
  ASSERT_EQ(t.connect_count, 0);
  ASSERT_EQ(t.writes_done, 2);

  /* Inbound: data right behind the SYN, before our accept, is kept. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 2, 3, "abc", 3));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 2, 3, "def", 3));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&in, &p.side.session));
  ASSERT_OK(tstream_read_start(&in));
  tpeer_pump(&p);
  ASSERT_EQ(in.rx.len, 6);
  ASSERT_MEM_EQ(in.rx.data, "abcdef", 6);
  peer_finish(&p);
  tbuf_free(&in.rx);
}

/* ACK no later than the moment the application accepts the stream; never
 * held until the application first writes. */
TEST(protocol_rule_ack_no_later_than_accept) {
  tpeer_t p;
  tstream_t in;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(conn_count, 1);
  /* Accepted, not reading, not writing: the ACK still goes out. */
  ASSERT_OK(tstream_accept(&in, &p.side.session));
  ASSERT_NOT_NULL(tpeer_find(&p, T_WU, F_ACK, 1, 0));
  tpeer_expect_none(&p);
  peer_finish(&p);
}

/* rust-yamux style: lazy SYN on a Data frame with a body, and the ACK
 * delayed until the peer's first outbound frame (Data|ACK with a body). */
TEST(protocol_rule_lazy_syn_data_body) {
  tpeer_t p;
  tstream_t in;
  tstream_t t;

  peer_start(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 7, "request", 7));
  tpeer_pump(&p);
  ASSERT_OK(tstream_accept(&in, &p.side.session));
  ASSERT_OK(tstream_read_start(&in));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  ASSERT_EQ(in.rx.len, 7);
  ASSERT_MEM_EQ(in.rx.data, "request", 7);

  /* Our open; the peer answers only with data, ACK riding on it. */
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_read_start(&t));
  ASSERT_OK(tstream_write(&t, "q", 1));
  tpeer_expect(&p, T_DATA, F_SYN, 2, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_ACK, 2, 4, "resp", 4));
  tpeer_pump(&p);
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, 0);
  ASSERT_EQ(t.rx.len, 4);
  ASSERT_MEM_EQ(t.rx.data, "resp", 4);
  ASSERT_EQ(p.side.end_count, 0);
  peer_finish(&p);
  tbuf_free(&in.rx);
  tbuf_free(&t.rx);
}

/* Never send a Data frame with a body over 1 MiB, whatever the config: a
 * larger max_frame_size is refused (UV_EINVAL) or capped. */
TEST(protocol_rule_frame_cap_1mib) {
  static const uint32_t sizes[] = {0, 1024 * 1024, 1024 * 1024 + 1,
                                   4 * 1024 * 1024};
  size_t k;

  for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    tpeer_t p;
    yamux_config_t cfg;
    tstream_t in;
    const tframe_t* f;
    uint64_t total = 0;
    uint32_t max = 0;
    const size_t len = 3 * 1024 * 1024 + 17;

    config(&cfg);
    if (sizes[k] != 0) cfg.max_frame_size = sizes[k];
    if (sizes[k] > 1024 * 1024) {
      yamux_session_t probe;
      int r = yamux_session_init(&probe, YAMUX_SERVER, &cfg);
      if (r != 0) {
        ASSERT_EQ(r, UV_EINVAL);
        continue;
      }
      yamux_session_close(&probe, NULL); /* never started: released now */
    }
    peer_start(&p, YAMUX_SERVER, &cfg);
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 8 * 1024 * 1024, NULL, 0));
    tpeer_pump(&p);
    ASSERT_OK(tstream_accept(&in, &p.side.session));
    ASSERT_OK(tstream_write(&in, NULL, len));
    while ((f = tpeer_next_frame(&p)) != NULL) {
      if (f->type != T_DATA) continue;
      ASSERT_LE(f->length, 1024 * 1024);
      if (f->length > max) max = f->length;
      total += f->length;
    }
    ASSERT_EQ(total, len);
    if (sizes[k] == 0) ASSERT_LE(max, 65536); /* the documented default */
    ASSERT_EQ(in.writes_done, 1);
    peer_finish(&p);
  }
}
