/* Timers on virtual time: keepalive (interval, timeout, liveness from any
 * frame, off), the open timeout (fails that stream only), the linger
 * timeout, the session close timeout against a transport that never
 * writes, and the ping API's round-trip time. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

static void cfg_keepalive(yamux_config_t* c, uint64_t interval,
                          uint64_t timeout) {
  yamux_config_init(c);
  c->keepalive_interval_ms = interval;
  c->keepalive_timeout_ms = timeout;
}

/* Answers every unread Ping|SYN; returns how many. Other frames are
 * skipped. */
static int answer_pings(tpeer_t* p) {
  const tframe_t* f;
  int n = 0;

  while ((f = tpeer_next_frame(p)) != NULL) {
    if (f->type == T_PING && f->flags == F_SYN) {
      uint32_t opaque = f->length;
      ASSERT_EQ(f->id, 0);
      ASSERT_OK(tpeer_send_frame(p, T_PING, F_ACK, 0, opaque, NULL, 0));
      n++;
    }
  }
  return n;
}

TEST(timers_keepalive_ping_at_interval) {
  yamux_config_t cfg;
  tpeer_t p;
  const tframe_t* f;
  yamux_session_stats_t st;
  int i;

  cfg_keepalive(&cfg, 30000, 10000);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  ASSERT_EQ(yamux_session_expiry(&p.side.session), p.now_ns + 30000 * T_MS);
  tpeer_advance(&p, 29999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  f = tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  {
    uint32_t opaque = f->length;
    tpeer_advance(&p, 5);
    ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, opaque, NULL, 0));
  }
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.rtt_ns, 5 * T_MS);
  ASSERT_EQ(st.pings_sent, 1);
  ASSERT_EQ(st.frames_dropped, 0);
  /* The next one is one interval after the peer was last heard from (its
   * pong), and so on for ten minutes while the peer answers. */
  tpeer_advance(&p, 29999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  ASSERT_EQ(answer_pings(&p), 1);
  for (i = 0; i < 20; i++) {
    tpeer_advance(&p, 30000);
    ASSERT_EQ(answer_pings(&p), 1);
  }
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.pings_sent, 22);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(timers_keepalive_timeout_ends_session) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;

  cfg_keepalive(&cfg, 30000, 10000);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_read_start(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  tpeer_advance(&p, 30000);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  /* Nothing at all comes back. */
  tpeer_advance(&p, 9999);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_advance(&p, 1);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EKEEPALIVE);
  ASSERT_EQ(t.read_errors, 1);
  ASSERT_EQ(t.read_error, YAMUX_EKEEPALIVE);
  ASSERT_EQ(tstream_write(&t, "x", 1), YAMUX_ECLOSED);
  tstream_close(&t);
  tpeer_close(&p);
  ASSERT_EQ(t.close_count, 1);
  tpeer_free(&p);
}

TEST(timers_keepalive_any_frame_counts) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_session_stats_t st;

  cfg_keepalive(&cfg, 30000, 10000);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tpeer_advance(&p, 30000);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  /* No pong, but a frame (a window update for no stream) 9.9 s later. */
  tpeer_advance(&p, 9900);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 99, 0, NULL, 0));
  tpeer_advance(&p, 5000);
  ASSERT_EQ(p.side.end_count, 0);
  /* The peer's own ping counts too. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 5, NULL, 0));
  tpeer_expect(&p, T_PING, F_ACK, 0, 5);
  tpeer_advance(&p, 14000);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.pongs_sent, 1);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(timers_keepalive_after_unanswered_ping_and_silence) {
  /* The peer proved alive without answering the first ping, then went
   * silent: the next interval's ping must still be sent and time out. */
  yamux_config_t cfg;
  tpeer_t p;

  cfg_keepalive(&cfg, 30000, 10000);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tpeer_advance(&p, 30000);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  tpeer_advance(&p, 1000);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 99, 0, NULL, 0));
  /* Heard from at 31 s: the next ping is an interval later. */
  tpeer_advance(&p, 29999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  tpeer_advance(&p, 10000);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EKEEPALIVE);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(timers_keepalive_after_unanswered_rtt_probe) {
  /* The window-tuning RTT probe goes out and the peer dies right then:
   * keepalive must still detect it. */
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;

  cfg_keepalive(&cfg, 30000, 10000);
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_OK(tstream_read_start(&t));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  ASSERT_OK(
      tpeer_send_frame(&p, T_DATA, 0, 1, T_WINDOW / 2, NULL, T_WINDOW / 2));
  /* The credit and the RTT probe, which goes first. */
  tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  tpeer_expect(&p, T_WU, 0, 1, T_WINDOW / 2);
  /* Silence from here on. */
  tpeer_advance(&p, 120000);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, YAMUX_EKEEPALIVE);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

TEST(timers_keepalive_off_sends_nothing) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;

  cfg_keepalive(&cfg, 0, 10000);
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  ASSERT_EQ(yamux_session_expiry(&p.side.session), UINT64_MAX);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  ASSERT_EQ(yamux_session_expiry(&p.side.session), UINT64_MAX);
  tpeer_advance(&p, 10ull * 3600 * 1000);
  tpeer_expect_none(&p);
  ASSERT_EQ(p.side.end_count, 0);
  tstream_close(&t);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(timers_open_timeout_fails_that_stream_only) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t a, b, c;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.open_timeout_ms = 1000;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&a, &p.side.session);
  tstream_init(&b, &p.side.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_read_start(&a));
  ASSERT_OK(tstream_write(&a, "a", 1));
  ASSERT_OK(tstream_open(&b));
  ASSERT_OK(tstream_read_start(&b));
  /* SYNs leave in open order. */
  tpeer_expect(&p, T_DATA, F_SYN, 1, 1);
  tpeer_expect(&p, T_WU, F_SYN, 3, 0);
  tpeer_advance(&p, 500);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 3, 0, NULL, 0));
  ASSERT_EQ(b.connect_status, 0);
  /* A third stream opened later has its own deadline. */
  tstream_init(&c, &p.side.session);
  ASSERT_OK(tstream_open(&c));
  tpeer_expect(&p, T_WU, F_SYN, 5, 0);
  tpeer_advance(&p, 499);
  ASSERT_EQ(a.connect_count, 0);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_WU, F_RST, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, UV_ETIMEDOUT);
  ASSERT_EQ(a.read_errors, 1);
  ASSERT_NE(tstream_write(&a, "x", 1), 0);
  ASSERT_EQ(c.connect_count, 0);
  ASSERT_EQ(p.side.end_count, 0);
  /* The session and the ACKed stream go on. */
  ASSERT_OK(tstream_write(&b, "b", 1));
  tpeer_expect(&p, T_DATA, 0, 3, 1);
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 3, 2, "ok", 2));
  tpeer_pump(&p);
  ASSERT_EQ(b.rx.len, 2);
  /* A late ACK for the timed-out stream changes nothing. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(a.connect_count, 1);
  tpeer_advance(&p, 500);
  tpeer_expect(&p, T_WU, F_RST, 5, 0);
  ASSERT_EQ(c.connect_status, UV_ETIMEDOUT);
  ASSERT_EQ(b.read_errors, 0);
  ASSERT_EQ(p.side.end_count, 0);
  tstream_close(&a);
  tstream_close(&b);
  tstream_close(&c);
  tpeer_close(&p);
  ASSERT_EQ(a.close_count + b.close_count + c.close_count, 3);
  tbuf_free(&b.rx);
  tpeer_free(&p);
}

/* A SYN waiting for room in the ACK backlog is not timed: the open timer
 * starts when the SYN leaves (hashicorp/yamux times it the same way), and
 * the opens ahead of it time out first and make the room. */
TEST(timers_open_timeout_starts_when_syn_leaves) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t a, b, c;

  cfg_keepalive(&cfg, 0, 0);
  cfg.open_timeout_ms = 1000;
  cfg.max_unacked_opens = 1;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&a, &p.side.session);
  tstream_init(&b, &p.side.session);
  tstream_init(&c, &p.side.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_open(&b));
  ASSERT_OK(tstream_read_start(&b));
  ASSERT_OK(tstream_open(&c));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_expect_none(&p);
  /* a is never ACKed: it times out, and b's SYN takes its place. */
  tpeer_advance(&p, 999);
  tpeer_expect_none(&p);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_WU, F_RST, 1, 0);
  tpeer_expect(&p, T_WU, F_SYN, 3, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(a.connect_status, UV_ETIMEDOUT);
  ASSERT_EQ(b.connect_count, 0);
  /* b has a full second from its SYN, not from its open. */
  tpeer_advance(&p, 999);
  ASSERT_EQ(b.connect_count, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 3, 0, NULL, 0));
  ASSERT_EQ(b.connect_count, 1);
  ASSERT_EQ(b.connect_status, 0);
  tpeer_expect(&p, T_WU, F_SYN, 5, 0);
  /* Its reader is not disturbed by the timer it no longer has. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 3, 2, "hi", 2));
  ASSERT_EQ(b.rx.len, 2);
  tpeer_advance(&p, 1000);
  tpeer_expect(&p, T_WU, F_RST, 5, 0);
  ASSERT_EQ(c.connect_status, UV_ETIMEDOUT);
  ASSERT_EQ(b.read_errors, 0);
  ASSERT_EQ(p.side.end_count, 0);
  tstream_close(&a);
  tstream_close(&b);
  tstream_close(&c);
  tpeer_close(&p);
  ASSERT_EQ(a.close_count + b.close_count + c.close_count, 3);
  tbuf_free(&b.rx);
  tpeer_free(&p);
}

/* The ACK of a stream closed before it arrived stops the open timer, not
 * the linger timer; with lingering off, the open timer it stops would
 * otherwise reset the half-closed stream later. */
static void ack_after_close(uint64_t linger_ms) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t a;

  cfg_keepalive(&cfg, 0, 0);
  cfg.open_timeout_ms = 1000;
  cfg.linger_timeout_ms = linger_ms;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&a, &p.side.session);
  ASSERT_OK(tstream_open(&a));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tstream_close(&a);
  tpeer_pump(&p);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  ASSERT_EQ(a.close_count, 1);
  tpeer_advance(&p, 500);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  tpeer_advance(&p, 1000);
  tpeer_expect_none(&p); /* no open timeout */
  if (linger_ms) {
    /* The linger timer still runs: 3000 ms after the close, an RST. */
    tpeer_advance(&p, 1499);
    tpeer_expect_none(&p);
    tpeer_advance(&p, 1);
    tpeer_expect(&p, T_WU, F_RST, 1, 0);
  } else {
    tpeer_advance(&p, 600000);
    tpeer_expect_none(&p);
    /* The peer's FIN releases it. */
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0));
  }
  {
    yamux_session_stats_t st;
    ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
    ASSERT_EQ(st.streams_open, 0);
  }
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(timers_ack_after_close_keeps_linger) {
  ack_after_close(3000);
}

TEST(timers_ack_after_close_stops_open_timer) {
  ack_after_close(0);
}

TEST(timers_linger_timeout_resets_and_releases) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;
  yamux_session_stats_t st;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.linger_timeout_ms = 2000;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  tstream_close(&t);
  tpeer_expect(&p, T_WU, F_FIN, 1, 0);
  ASSERT_EQ(t.close_count, 1);
  tpeer_advance(&p, 1999);
  tpeer_expect_none(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.streams_open, 1);
  tpeer_advance(&p, 1);
  tpeer_expect(&p, T_WU, F_RST, 1, 0);
  tpeer_expect_none(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.streams_open, 0);
  ASSERT_EQ(st.resets_sent, 1);
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(t.close_count, 1);
  /* The peer's late FIN is dropped quietly. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_FIN, 1, 0, NULL, 0));
  tpeer_expect_none(&p);
  ASSERT_EQ(yamux_session_expiry(&p.side.session), UINT64_MAX);
  tpeer_close(&p);
  tpeer_free(&p);
}

static int close_cb_count;
static void on_session_close(yamux_session_t* s) {
  (void)s;
  close_cb_count++;
}

TEST(timers_session_close_timeout_peer_never_reads) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;
  const uv_buf_t* bufs;
  unsigned int n;
  uint64_t t0;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.close_timeout_ms = 3000;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, 100000));
  /* The transport takes the gather list and never finishes writing. */
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GT(n, 0);
  t0 = p.now_ns;
  close_cb_count = 0;
  yamux_session_close(&p.side.session, on_session_close);
  ASSERT_EQ(close_cb_count, 0);
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(close_cb_count, 0);
  ASSERT_EQ(t.writes_done, 0); /* its bytes are in the transport's hands */
  ASSERT_EQ(p.side.transport_close_requested, 0);
  ASSERT_EQ(yamux_session_expiry(&p.side.session), t0 + 3000 * T_MS);
  p.now_ns = t0 + 2999 * T_MS;
  yamux_session_handle_expiry(&p.side.session, p.now_ns);
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(p.side.transport_close_requested, 0);
  p.now_ns = t0 + 3000 * T_MS;
  yamux_session_handle_expiry(&p.side.session, p.now_ns);
  if (p.side.woken) yamux_session_run(&p.side.session, p.now_ns);
  /* It gives up: the transport is told to close, and once it has, the
   * write fails and the session is released. */
  ASSERT_EQ(p.side.transport_close_requested, 1);
  ASSERT_EQ(close_cb_count, 0);
  p.side.transport_closed = 1;
  yamux_session_transport_closed(&p.side.session);
  ASSERT_EQ(close_cb_count, 1);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, UV_ECANCELED);
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, UV_ECANCELED);
  ASSERT_EQ(p.side.mem.live_bytes, 0);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_free(&p);
}

TEST(timers_session_close_no_timeout_when_flushed) {
  /* A peer that reads lets the close finish long before the timeout, with
   * the Go Away(0) last on the wire. */
  tpeer_t p;
  tstream_t t;
  uint64_t t0;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_pump(&p);
  t0 = p.now_ns;
  tpeer_close(&p);
  ASSERT_EQ(p.now_ns, t0);
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  tpeer_expect(&p, T_GOAWAY, 0, 0, 0);
  tpeer_expect_none(&p);
  ASSERT_EQ(t.connect_status, UV_ECANCELED);
  tpeer_free(&p);
}

static int ping_count;
static int ping_status;
static uint64_t ping_rtt;
static void on_ping(yamux_ping_t* req, int status, uint64_t rtt) {
  (void)req;
  ping_count++;
  ping_status = status;
  ping_rtt = rtt;
}

TEST(timers_ping_rtt_is_virtual_time_elapsed) {
  tpeer_t p;
  yamux_ping_t a, b;
  const tframe_t* f;
  uint32_t oa, ob;
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ping_count = 0;
  ASSERT_OK(yamux_ping(&a, &p.side.session, on_ping));
  f = tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  oa = f->length;
  tpeer_advance(&p, 7);
  ASSERT_OK(yamux_ping(&b, &p.side.session, on_ping));
  f = tpeer_expect(&p, T_PING, F_SYN, 0, TANY);
  ob = f->length;
  ASSERT_NE(oa, ob);
  tpeer_advance(&p, 30);
  /* Answered out of order: each gets its own RTT. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, ob, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 1);
  ASSERT_EQ(ping_status, 0);
  ASSERT_EQ(ping_rtt, 30 * T_MS);
  p.now_ns += 1;
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, oa, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 2);
  ASSERT_EQ(ping_rtt, 37 * T_MS + 1);
  /* A duplicate pong matches nothing: counted, ignored. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_ACK, 0, oa, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(ping_count, 2);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.frames_dropped, 1);
  ASSERT_EQ(st.pings_sent, 2);
  ASSERT_NE(st.rtt_ns, 0);
  tpeer_expect_none(&p);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* The close timeout must not take back a gather list the transport still
 * holds: the write callbacks (after which the application frees the memory
 * the list points into) wait until the transport says it has closed. */
TEST(timers_close_timeout_keeps_lent_buffers) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;
  const uv_buf_t* bufs;
  unsigned int n, i;
  uint64_t t0, sum = 0;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.close_timeout_ms = 1000;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, 50000));
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GT(n, 1);
  t0 = p.now_ns;
  yamux_session_close(&p.side.session, on_session_close);
  close_cb_count = 0;
  yamux_session_run(&p.side.session, p.now_ns);
  p.now_ns = t0 + 1000 * T_MS;
  yamux_session_handle_expiry(&p.side.session, p.now_ns);
  if (p.side.woken) yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(p.side.transport_close_requested, 1);
  /* An asynchronous transport is still writing: every byte must be there
   * (ASan reports a read of freed memory here if the callbacks ran). */
  ASSERT_EQ(t.writes_done, 0);
  for (i = 0; i < n; i++) {
    size_t k;
    for (k = 0; k < bufs[i].len; k++) sum += (uint8_t)bufs[i].base[k];
  }
  ASSERT_GT(sum, 0);
  p.side.transport_closed = 1;
  yamux_session_transport_closed(&p.side.session);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, UV_ECANCELED);
  ASSERT_EQ(close_cb_count, 1);
  ASSERT_EQ(p.side.mem.live_bytes, 0);
  tpeer_free(&p);
}

/* The close deadline counts from the next drive, not from the last one: a
 * session idle for longer than close_timeout_ms, closed between drives (from
 * a timer or a signal), still flushes what the transport was given and its
 * Go Away. */
TEST(timers_close_deadline_from_next_drive) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t;
  const uv_buf_t* bufs;
  size_t data = 0;
  const tframe_t* f;
  int goaway = 0;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.close_timeout_ms = 1000;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_pump(&p);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  tpeer_pump(&p);
  /* 200,000 bytes go to the transport, which writes the first 12 + 8,180. */
  ASSERT_OK(tstream_write(&t, NULL, 200000));
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_GT(yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns),
            1);
  tbuf_append(&p.raw, bufs[0].base, bufs[0].len);
  tbuf_append(&p.raw, bufs[1].base, 8180);
  yamux_session_send_done(&p.side.session, 12 + 8180, 0, p.now_ns);
  /* Ten idle seconds: no drive, so the session's idea of the time is old. */
  p.now_ns += 10000 * T_MS;
  close_cb_count = 0;
  yamux_session_close(&p.side.session, on_session_close);
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(yamux_session_expiry(&p.side.session), p.now_ns + 1000 * T_MS);
  yamux_session_handle_expiry(&p.side.session, p.now_ns);
  tpeer_pump(&p);
  ASSERT_EQ(close_cb_count, 1);
  while ((f = tpeer_next_frame(&p)) != NULL) {
    if (f->type == T_DATA) data += f->length;
    if (f->type == T_GOAWAY) goaway++;
  }
  ASSERT_EQ(data, 200000);
  ASSERT_EQ(goaway, 1);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.last_write_status, 0);
  ASSERT_EQ(p.side.mem.live_bytes, 0);
  tpeer_free(&p);
}
