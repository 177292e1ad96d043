/* The public API's contract: bad arguments, errors after Go Away and after
 * the session ended, no callback inside the call that scheduled it, error
 * names, version, config validation, stream ids, and the stats counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

static int cb_calls;
static int cb_status;
static void count_write(yamux_write_t* r, int status) {
  (void)r;
  cb_calls++;
  cb_status = status;
}
static void count_shutdown(yamux_shutdown_t* r, int status) {
  (void)r;
  cb_calls++;
  cb_status = status;
}
static void count_connect(yamux_connect_t* r, int status) {
  (void)r;
  cb_calls++;
  cb_status = status;
}
static void count_ping(yamux_ping_t* r, int status, uint64_t rtt) {
  (void)r;
  (void)rtt;
  cb_calls++;
  cb_status = status;
}
static void count_close(yamux_stream_t* h) {
  (void)h;
  cb_calls++;
}
static void count_session_close(yamux_session_t* s) {
  (void)s;
  cb_calls++;
}
static void count_conn(yamux_session_t* s, int status) {
  (void)s;
  (void)status;
  cb_calls++;
}
static void nop_alloc(yamux_stream_t* h, size_t n, uv_buf_t* b) {
  (void)h;
  (void)n;
  b->base = NULL;
  b->len = 0;
}
static void nop_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  (void)h;
  (void)n;
  (void)b;
}

TEST(api_config_validation) {
  yamux_config_t c;
  yamux_session_t s;
  yamux_allocator_t bad;
  tmem_t m;

  yamux_config_init(&c);
  ASSERT_EQ(c.initial_window, 262144);
  ASSERT_EQ(c.max_window, 64u * 1024 * 1024);
  ASSERT_EQ(c.window_budget, 256ull * 1024 * 1024);
  ASSERT_EQ(c.max_frame_size, 65536);
  ASSERT_EQ(c.accept_backlog, 256);
  ASSERT_EQ(c.max_inbound_streams, 65536);
  ASSERT_EQ(c.max_unacked_opens, 256);
  ASSERT_EQ(c.max_queued_pongs, 64);
  ASSERT_EQ(c.keepalive_interval_ms, 30000);
  ASSERT_EQ(c.keepalive_timeout_ms, 10000);
  ASSERT_EQ(c.open_timeout_ms, 75000);
  ASSERT_EQ(c.linger_timeout_ms, 300000);
  ASSERT_EQ(c.close_timeout_ms, 5000);
  ASSERT_NULL(c.allocator);
  ASSERT(c.log_cb == NULL);
  ASSERT_EQ(c.log_level, YAMUX_LOG_INFO);

  tmem_init(&m);
#define EXPECT_INIT(field, value, want)                          \
  do {                                                           \
    yamux_config_init(&c);                                       \
    c.allocator = tmem_allocator(&m);                            \
    c.field = (value);                                           \
    ASSERT_EQ(yamux_session_init(&s, YAMUX_CLIENT, &c), (want)); \
    if ((want) == 0) yamux_session_close(&s, NULL);              \
  } while (0)
  EXPECT_INIT(initial_window, 262143, UV_EINVAL);
  EXPECT_INIT(initial_window, 0, UV_EINVAL);
  EXPECT_INIT(initial_window, 262144, 0);
  EXPECT_INIT(max_frame_size, 1024 * 1024 + 1, UV_EINVAL);
  EXPECT_INIT(max_frame_size, 1024 * 1024, 0);
  EXPECT_INIT(max_frame_size, 0, UV_EINVAL);
  EXPECT_INIT(max_frame_size, 1, 0);
  EXPECT_INIT(max_window, 262143, 0); /* below initial_window: growth off */
  EXPECT_INIT(max_window, 262144, 0); /* growth off */
  EXPECT_INIT(accept_backlog, 0, UV_EINVAL);
  EXPECT_INIT(max_inbound_streams, 0, UV_EINVAL);
  EXPECT_INIT(max_unacked_opens, 0, UV_EINVAL);
  EXPECT_INIT(max_queued_pongs, 0, UV_EINVAL);
  EXPECT_INIT(keepalive_interval_ms, 0, 0);
  EXPECT_INIT(open_timeout_ms, 0, 0);
#undef EXPECT_INIT
  /* initial_window above max_window: accepted, the window does not grow. */
  yamux_config_init(&c);
  c.allocator = tmem_allocator(&m);
  c.initial_window = 1024 * 1024;
  c.max_window = 512 * 1024;
  ASSERT_EQ(yamux_session_init(&s, YAMUX_CLIENT, &c), 0);
  yamux_session_close(&s, NULL); /* never started: released at once */
  /* An allocator with a missing function. */
  bad = *tmem_allocator(&m);
  bad.realloc = NULL;
  yamux_config_init(&c);
  c.allocator = &bad;
  ASSERT_EQ(yamux_session_init(&s, YAMUX_CLIENT, &c), UV_EINVAL);
  /* Bad roles and NULLs. */
  ASSERT_EQ(yamux_session_init(NULL, YAMUX_CLIENT, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_session_init(&s, (yamux_role_t)0, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_session_init(&s, (yamux_role_t)3, NULL), UV_EINVAL);
  /* Rejected configs allocated nothing; accepted ones freed everything. */
  ASSERT_EQ(m.live_bytes, 0);
  /* The config is copied: changing it afterwards changes nothing. */
  yamux_config_init(&c);
  c.allocator = tmem_allocator(&m);
  ASSERT_OK(yamux_session_init(&s, YAMUX_SERVER, &c));
  ASSERT_EQ(s.role, YAMUX_SERVER);
  c.allocator = NULL;
  cb_calls = 0;
  /* Never started: released inside the close call. */
  yamux_session_close(&s, count_session_close);
  ASSERT_EQ(cb_calls, 1);
  ASSERT_EQ(m.live_bytes, 0);
}

TEST(api_bad_arguments) {
  tpeer_t p;
  yamux_stream_t h, h2, fresh;
  yamux_write_t w;
  yamux_shutdown_t sd;
  yamux_connect_t cr;
  yamux_session_stats_t ss;
  yamux_stream_stats_t st;
  uv_buf_t buf = uv_buf_init("x", 1);
  static const yamux_transport_t tr = {NULL, NULL, NULL};

  tpeer_init(&p, YAMUX_SERVER, NULL);
  cb_calls = 0;
  ASSERT_EQ(yamux_stream_init(NULL, &h), UV_EINVAL);
  ASSERT_EQ(yamux_stream_init(&p.side.session, NULL), UV_EINVAL);
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_stream_init(&p.side.session, &fresh));
  /* A handle that was never opened or accepted. */
  ASSERT_EQ(yamux_write(&w, &fresh, &buf, 1, count_write), UV_EINVAL);
  ASSERT_EQ(yamux_shutdown(&sd, &fresh, count_shutdown), UV_EINVAL);
  ASSERT_EQ(yamux_read_start(&fresh, nop_alloc, nop_read), UV_EINVAL);
  ASSERT_EQ(yamux_read_stop(&fresh), UV_EINVAL);
  ASSERT_EQ(yamux_stream_get_stats(&fresh, &st), UV_EINVAL);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&fresh), 0);
  ASSERT_EQ(yamux_stream_reset_code(&fresh), 0);
  ASSERT_EQ(yamux_is_closing(&fresh), 0);
  /* NULLs. */
  ASSERT_EQ(yamux_stream_open(NULL, &h, count_connect), UV_EINVAL);
  ASSERT_EQ(yamux_stream_open(&cr, NULL, count_connect), UV_EINVAL);
  ASSERT_EQ(yamux_accept(NULL, &h), UV_EINVAL);
  ASSERT_EQ(yamux_accept(&p.side.session, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_ping(NULL, &p.side.session, count_ping), UV_EINVAL);
  ASSERT_EQ(yamux_session_get_stats(NULL, &ss), UV_EINVAL);
  ASSERT_EQ(yamux_session_get_stats(&p.side.session, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_session_start_custom(&p.side.session, NULL, NULL, 0),
            UV_EINVAL);
  ASSERT_EQ(yamux_session_start_custom(&p.side.session, &tr, NULL, 0),
            UV_EINVAL); /* already started */
  ASSERT_EQ(yamux_session_listen(NULL, count_conn), UV_EINVAL);
  /* Nothing waits: accept says so. */
  ASSERT_EQ(yamux_accept(&p.side.session, &h), UV_EAGAIN);

  /* A live inbound stream. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 3, 0, NULL, 0));
  ASSERT_OK(yamux_accept(&p.side.session, &h));
  ASSERT_EQ(h.id, 1);
  /* Double accept into a live handle; open on a live handle. */
  ASSERT_EQ(yamux_accept(&p.side.session, &h), UV_EINVAL);
  ASSERT_EQ(yamux_stream_open(&cr, &h, count_connect), UV_EINVAL);
  /* A handle of another session cannot take this one's stream. */
  {
    tpeer_t q;
    tpeer_init(&q, YAMUX_SERVER, NULL);
    ASSERT_OK(yamux_stream_init(&q.side.session, &h2));
    ASSERT_EQ(yamux_accept(&p.side.session, &h2), UV_EINVAL);
    tpeer_close(&q);
    tpeer_free(&q);
  }
  ASSERT_EQ(yamux_write(NULL, &h, &buf, 1, count_write), UV_EINVAL);
  ASSERT_EQ(yamux_write(&w, &h, NULL, 1, count_write), UV_EINVAL);
  {
    uv_buf_t nullbase = uv_buf_init(NULL, 5);
    ASSERT_EQ(yamux_write(&w, &h, &nullbase, 1, count_write), UV_EINVAL);
  }
  /* (A NULL alloc_cb is valid: zero-copy reading.) */
  ASSERT_EQ(yamux_read_start(&h, nop_alloc, NULL), UV_EINVAL);
  ASSERT_OK(yamux_read_start(&h, nop_alloc, nop_read));
  ASSERT_EQ(yamux_read_start(&h, nop_alloc, nop_read), UV_EALREADY);
  ASSERT_EQ(yamux_shutdown(NULL, &h, count_shutdown), UV_EINVAL);
  ASSERT_OK(yamux_shutdown(NULL, &h, NULL)); /* no cb, no req: fine */
  ASSERT_EQ(yamux_shutdown(&sd, &h, count_shutdown), UV_EALREADY);
  ASSERT_EQ(yamux_write(&w, &h, &buf, 1, count_write), UV_EPIPE);
  ASSERT_OK(yamux_session_goaway(&p.side.session, 0));
  ASSERT_EQ(yamux_session_goaway(&p.side.session, 0), UV_EALREADY);
  ASSERT_EQ(yamux_session_goaway(&p.side.session, 2), UV_EALREADY);
  /* None of the failed calls ever runs a callback. */
  tpeer_pump(&p);
  ASSERT_EQ(cb_calls, 0);
  yamux_close(&h, NULL);
  yamux_close(&h, NULL);            /* twice: a no-op */
  yamux_close(&fresh, count_close); /* never live: only the callback */
  ASSERT_EQ(cb_calls, 0);
  tpeer_pump(&p);
  ASSERT_EQ(cb_calls, 1);
  tpeer_close(&p);
  tpeer_free(&p);
  /* Functions that take a session that was never initialized properly. */
  ASSERT(yamux_session_is_closing(NULL));
  ASSERT(yamux_is_closing(NULL));
  yamux_close(NULL, NULL);
  yamux_session_close(NULL, NULL);
}

static int goaway_cbs;
static uint32_t goaway_code_seen;
static void on_goaway(yamux_session_t* s, uint32_t code) {
  (void)s;
  goaway_cbs++;
  goaway_code_seen = code;
}

TEST(api_open_after_goaway_and_after_end) {
  tpeer_t p;
  yamux_stream_t a, b, c;
  yamux_connect_t cr;
  yamux_ping_t ping;
  yamux_session_stats_t ss;
  uv_buf_t buf = uv_buf_init("x", 1);
  yamux_write_t w;

  /* The peer drains: our opens fail at once, existing streams go on. */
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  goaway_cbs = 0;
  yamux_session_on_goaway(&p.side.session, on_goaway);
  ASSERT_OK(yamux_stream_init(&p.side.session, &a));
  ASSERT_OK(yamux_stream_open(NULL, &a, NULL));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_GOAWAY, 0, 0, 0, NULL, 0));
  ASSERT_EQ(goaway_cbs, 1);
  ASSERT_EQ(goaway_code_seen, 0);
  ASSERT_OK(yamux_stream_init(&p.side.session, &b));
  cb_calls = 0;
  ASSERT_EQ(yamux_stream_open(&cr, &b, count_connect), YAMUX_EGOAWAY);
  ASSERT_OK(yamux_write(&w, &a, &buf, 1, count_write));
  tpeer_expect(&p, T_DATA, 0, 1, 1);
  ASSERT_EQ(cb_calls, 1); /* the write only */
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.goaway_received, 1); /* code + 1 */
  ASSERT_EQ(p.side.end_count, 0);
  yamux_close(&a, NULL);
  tpeer_close(&p);
  tpeer_free(&p);

  /* We drain: the same for our own opens. */
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(yamux_session_goaway(&p.side.session, 0));
  ASSERT_OK(yamux_stream_init(&p.side.session, &b));
  ASSERT_EQ(yamux_stream_open(NULL, &b, NULL), YAMUX_EGOAWAY);
  tpeer_expect(&p, T_GOAWAY, 0, 0, 0);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.goaway_sent, 1);
  tpeer_close(&p);
  tpeer_free(&p);

  /* The session ended (EOF): everything says YAMUX_ECLOSED. */
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(yamux_stream_init(&p.side.session, &a));
  ASSERT_OK(yamux_stream_open(NULL, &a, NULL));
  tpeer_pump(&p);
  yamux_session_feed_error(&p.side.session, UV_EOF, p.now_ns);
  ASSERT_EQ(p.side.end_count, 1);
  ASSERT_EQ(p.side.end_status, UV_EOF);
  ASSERT_OK(yamux_stream_init(&p.side.session, &c));
  cb_calls = 0;
  ASSERT_EQ(yamux_stream_open(&cr, &c, count_connect), YAMUX_ECLOSED);
  ASSERT_EQ(yamux_ping(&ping, &p.side.session, count_ping), YAMUX_ECLOSED);
  ASSERT_EQ(yamux_write(&w, &a, &buf, 1, count_write), YAMUX_ECLOSED);
  ASSERT_EQ(yamux_shutdown(NULL, &a, NULL), YAMUX_ECLOSED);
  ASSERT_EQ(yamux_session_goaway(&p.side.session, 0), UV_EINVAL);
  tpeer_pump(&p);
  ASSERT_EQ(cb_calls, 0);
  /* Once closing: UV_EINVAL. */
  yamux_session_close(&p.side.session, NULL);
  ASSERT_EQ(yamux_stream_open(&cr, &c, count_connect), UV_EINVAL);
  ASSERT_EQ(yamux_ping(&ping, &p.side.session, count_ping), UV_EINVAL);
  ASSERT_EQ(yamux_session_listen(&p.side.session, count_conn), UV_EINVAL);
  ASSERT(yamux_session_is_closing(&p.side.session));
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(api_no_callback_inside_the_call) {
  tpeer_t p;
  yamux_stream_t h, never;
  yamux_write_t w, w2;
  yamux_connect_t cr;
  yamux_ping_t ping;
  uv_buf_t empty = uv_buf_init(NULL, 0);

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  cb_calls = 0;
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_stream_open(&cr, &h, count_connect));
  /* A zero-length write completes on the next run, not inside the call. */
  ASSERT_OK(yamux_write(&w, &h, &empty, 1, count_write));
  ASSERT_EQ(cb_calls, 0);
  ASSERT_OK(yamux_write(&w2, &h, NULL, 0, count_write));
  ASSERT_EQ(cb_calls, 0);
  ASSERT(p.side.woken);
  p.side.woken = 0;
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(cb_calls, 2);
  ASSERT_EQ(cb_status, 0);
  /* The connect callback waits for the ACK, which a feed delivers. */
  tpeer_pump(&p);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  ASSERT_EQ(cb_calls, 3);
  /* A ping, a listen with a stream waiting, a close: none inside. */
  ASSERT_OK(yamux_ping(&ping, &p.side.session, count_ping));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0));
  ASSERT_OK(yamux_session_listen(&p.side.session, count_conn));
  ASSERT_EQ(cb_calls, 3);
  ASSERT_OK(yamux_stream_init(&p.side.session, &never));
  yamux_close(&never, count_close);
  yamux_close(&h, count_close);
  ASSERT_EQ(cb_calls, 3);
  tpeer_pump(&p);
  ASSERT_EQ(cb_calls, 6); /* connection, two closes; the ping waits */
  cb_calls = 0;
  /* The session close runs the ping's callback later, not inside. */
  yamux_session_close(&p.side.session, NULL);
  ASSERT_EQ(cb_calls, 0);
  tpeer_close(&p);
  ASSERT_EQ(cb_calls, 1);
  ASSERT_EQ(cb_status, UV_ECANCELED);
  tpeer_free(&p);
}

TEST(api_error_names) {
  char buf[64];

#define CHECK(name, val, msg)                       \
  ASSERT_EQ(YAMUX_##name, val);                     \
  ASSERT_STR_EQ(yamux_strerror(YAMUX_##name), msg); \
  snprintf(buf, sizeof(buf), "YAMUX_%s", #name);    \
  ASSERT_STR_EQ(yamux_err_name(YAMUX_##name), buf); \
  ASSERT(YAMUX_##name > YAMUX_ERRNO_RESERVED_END);
  YAMUX_ERRNO_MAP(CHECK)
#undef CHECK
  /* libuv's codes come from libuv. */
  ASSERT_STR_EQ(yamux_err_name(UV_ECONNRESET), "ECONNRESET");
  ASSERT_STR_EQ(yamux_err_name(UV_EOF), "EOF");
  ASSERT_STR_EQ(yamux_strerror(UV_EOF), uv_strerror(UV_EOF));
  ASSERT_STR_EQ(yamux_strerror(UV_ECANCELED), uv_strerror(UV_ECANCELED));
  /* Never NULL, even for codes nobody defines, and static (no leak: the
   * sanitizer run checks). */
  ASSERT_NOT_NULL(yamux_strerror(-8999));
  ASSERT_NOT_NULL(yamux_err_name(-8999));
  ASSERT_NOT_NULL(yamux_strerror(-9050));
  ASSERT_NOT_NULL(yamux_err_name(12345));
  ASSERT_PTR_EQ(yamux_strerror(-8999), yamux_strerror(-8998));
  ASSERT_PTR_EQ(yamux_err_name(-8999), yamux_err_name(-8998));
  /* libyamux's codes do not collide with libuv's. */
#define UVXX(name, _)                                      \
  ASSERT((int)UV_##name > (int)YAMUX_ERRNO_RESERVED_END || \
         (int)UV_##name < (int)YAMUX_EPROTO - 1000);
  UV_ERRNO_MAP(UVXX)
#undef UVXX
}

TEST(api_version) {
  char buf[32];

  ASSERT_EQ(yamux_version(), YAMUX_VERSION_HEX);
  ASSERT_STR_EQ(yamux_version_string(), YAMUX_VERSION_STRING);
  ASSERT_EQ(YAMUX_VERSION_HEX, (YAMUX_VERSION_MAJOR << 16) |
                                   (YAMUX_VERSION_MINOR << 8) |
                                   YAMUX_VERSION_PATCH);
  snprintf(buf, sizeof(buf), "%d.%d.%d", YAMUX_VERSION_MAJOR,
           YAMUX_VERSION_MINOR, YAMUX_VERSION_PATCH);
  ASSERT_STR_EQ(buf, YAMUX_VERSION_STRING);
}

TEST(api_stream_ids_by_role) {
  tpeer_t p;
  yamux_stream_t h[5];
  int i;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (i = 0; i < 5; i++) {
    ASSERT_OK(yamux_stream_init(&p.side.session, &h[i]));
    ASSERT_EQ(h[i].id, 0);
    ASSERT_OK(yamux_stream_open(NULL, &h[i], NULL));
    ASSERT_EQ(h[i].id, 1 + 2 * (uint32_t)i);
  }
  for (i = 0; i < 5; i++) tpeer_expect(&p, T_WU, F_SYN, 1 + 2 * i, 0);
  /* Ids are never reused, even after the stream is gone. */
  yamux_close_reset(&h[4], 0, NULL);
  tpeer_pump(&p);
  ASSERT_OK(yamux_stream_init(&p.side.session, &h[4]));
  ASSERT_OK(yamux_stream_open(NULL, &h[4], NULL));
  ASSERT_EQ(h[4].id, 11);
  tpeer_close(&p);
  tpeer_free(&p);

  tpeer_init(&p, YAMUX_SERVER, NULL);
  for (i = 0; i < 5; i++) {
    ASSERT_OK(yamux_stream_init(&p.side.session, &h[i]));
    ASSERT_OK(yamux_stream_open(NULL, &h[i], NULL));
    ASSERT_EQ(h[i].id, 2 + 2 * (uint32_t)i);
  }
  tpeer_close(&p);
  tpeer_free(&p);
  /* Exhaustion (YAMUX_ESTREAMIDS after 2^31 opens) is not tested here:
   * reaching it through the public API takes 2^31 opens. */
}

TEST(api_stats_counters) {
  tpeer_t p;
  tstream_t t, u;
  yamux_session_stats_t ss;
  yamux_stream_stats_t st;
  yamux_ping_t ping;
  size_t wire = 0;
  size_t i;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.bytes_sent + ss.bytes_received + ss.frames_sent, 0);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, 1000));
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &st));
  ASSERT_EQ(st.queued_bytes, 1000);
  ASSERT_EQ(st.send_window, T_WINDOW);
  ASSERT_EQ(st.recv_window, T_WINDOW);
  ASSERT_EQ(st.recv_window_max, T_WINDOW);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.queued_bytes, 1000);
  ASSERT_EQ(ss.streams_opened, 1);
  ASSERT_EQ(ss.streams_open, 1);
  tpeer_pump(&p);
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &st));
  ASSERT_EQ(st.queued_bytes, 0);
  ASSERT_EQ(st.bytes_sent, 1000);
  ASSERT_EQ(st.send_window, T_WINDOW - 1000);
  /* Inbound: data, a ping, a stream opened by the peer, a reset. */
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_ACK, 1, 300, NULL, 300));
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 9, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 4, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, 4, 0, NULL, 0));
  ASSERT_OK(yamux_ping(&ping, &p.side.session, count_ping));
  tpeer_pump(&p);
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &st));
  ASSERT_EQ(st.bytes_received, 300);
  ASSERT_EQ(st.buffered_bytes, 300); /* not reading */
  ASSERT_EQ(st.recv_window, T_WINDOW - 300);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.frames_received, 5);
  ASSERT_EQ(ss.bytes_received, 5 * T_HDR_LEN + 300);
  ASSERT_EQ(ss.data_bytes_received, 300);
  ASSERT_EQ(ss.data_bytes_sent, 1000);
  ASSERT_EQ(ss.buffered_bytes, 300);
  ASSERT_EQ(ss.streams_accepted, 2);
  ASSERT_EQ(ss.streams_pending_accept, 1);
  ASSERT_EQ(ss.streams_open, 2);
  ASSERT_EQ(ss.resets_received, 1);
  ASSERT_EQ(ss.pongs_sent, 1);
  ASSERT_EQ(ss.pings_sent, 1);
  for (i = 0; i < p.out.n; i++)
    wire += T_HDR_LEN + (p.out.v[i].type == T_DATA ? p.out.v[i].length : 0);
  ASSERT_EQ(ss.frames_sent, p.out.n);
  ASSERT_EQ(ss.bytes_sent, wire);
  ASSERT_EQ(ss.rtt_ns, 0);
  ASSERT_EQ(ss.protocol_errors, 0);
  ASSERT_EQ(ss.goaway_sent, 0);
  /* Our reset and a refused stream. */
  ASSERT_OK(tstream_accept(&u, &p.side.session));
  tstream_close_reset(&u, 3);
  ASSERT_OK(yamux_session_goaway(&p.side.session, 2));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 6, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.resets_sent, 2);
  ASSERT_EQ(ss.streams_refused, 1);
  ASSERT_EQ(ss.goaway_sent, 3);
  ASSERT_EQ(ss.streams_open, 1);
  /* Reading empties the buffer. */
  ASSERT_OK(tstream_read_start(&t));
  tpeer_pump(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &ss));
  ASSERT_EQ(ss.buffered_bytes, 0);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

/* A transport that takes one gather-list entry at a time still carries
 * every frame: a stream's Data frames need a header and a body entry. */
TEST(api_send_buffers_one_at_a_time) {
  tpeer_t p;
  tstream_t t;
  tbuf_t wire;
  tframes_t frames;
  const uv_buf_t* bufs;
  size_t i, data = 0;
  int rounds = 0, want = 1;

  memset(&wire, 0, sizeof(wire));
  memset(&frames, 0, sizeof(frames));
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, 100000));
  ASSERT_OK(tstream_shutdown(&t));
  while (want) {
    unsigned int n;
    ASSERT_LT(++rounds, 1000);
    want = yamux_session_run(&p.side.session, p.now_ns);
    n = yamux_session_send_buffers(&p.side.session, &bufs, 1, p.now_ns);
    if (n == 0) {
      ASSERT_EQ(want, 0); /* nothing to send means no work reported */
      break;
    }
    ASSERT_EQ(n, 1);
    tbuf_append(&wire, bufs[0].base, bufs[0].len);
    yamux_session_send_done(&p.side.session, bufs[0].len, 0, p.now_ns);
    want = 1;
  }
  ASSERT_EQ(tframes_decode(&frames, wire.data, wire.len), wire.len);
  for (i = 0; i < frames.n; i++)
    if (frames.v[i].type == T_DATA) data += frames.v[i].length;
  ASSERT_EQ(data, 100000);
  ASSERT(frames.v[0].flags & F_SYN);
  ASSERT(frames.v[frames.n - 1].flags & F_FIN);
  ASSERT_EQ(t.writes_done, 1);
  ASSERT_EQ(t.shutdown_count, 1);
  tframes_free(&frames);
  tbuf_free(&wire);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

/* Streams may be opened and written before the session starts; closing it
 * without ever starting completes every request once (UV_ECANCELED), runs
 * the stream close callbacks, and frees everything, including the copy of
 * a write's buffer array (more than four buffers). */
TEST(api_close_never_started_completes_everything) {
  yamux_session_t s;
  yamux_stream_t a, b;
  yamux_connect_t ca;
  yamux_write_t w;
  yamux_shutdown_t sh;
  uv_buf_t bufs[6];
  char bytes[6][10];
  tmem_t mem;
  yamux_config_t cfg;
  int i;

  tmem_init(&mem);
  yamux_config_init(&cfg);
  cfg.allocator = tmem_allocator(&mem);
  ASSERT_OK(yamux_session_init(&s, YAMUX_CLIENT, &cfg));
  ASSERT_OK(yamux_stream_init(&s, &a));
  ASSERT_OK(yamux_stream_init(&s, &b));
  ASSERT_OK(yamux_stream_open(&ca, &a, count_connect));
  ASSERT_OK(yamux_stream_open(NULL, &b, NULL));
  for (i = 0; i < 6; i++) bufs[i] = uv_buf_init(bytes[i], sizeof(bytes[i]));
  memset(bytes, 'x', sizeof(bytes));
  ASSERT_OK(yamux_write(&w, &a, bufs, 6, count_write));
  ASSERT_OK(yamux_shutdown(&sh, &a, count_shutdown));
  cb_calls = 0;
  yamux_close(&b, count_close);
  ASSERT_EQ(cb_calls, 0);
  yamux_session_close(&s, count_session_close);
  /* connect, write, shutdown, b's close, the session's close */
  ASSERT_EQ(cb_calls, 5);
  ASSERT_EQ(cb_status, UV_ECANCELED);
  ASSERT_EQ(mem.live_bytes, 0);
  ASSERT_EQ(mem.live_blocks, 0);
}

/* yamux_session_close() keeps a Go Away the application already queued. */
TEST(api_close_keeps_pending_goaway_code) {
  tpeer_t p;
  const tframe_t* f;
  int goaways = 0;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(yamux_session_goaway(&p.side.session, YAMUX_GOAWAY_INTERNAL));
  yamux_session_close(&p.side.session, NULL);
  tpeer_close(&p);
  while ((f = tpeer_next_frame(&p)) != NULL) {
    if (f->type != T_GOAWAY) continue;
    ASSERT_EQ(f->length, YAMUX_GOAWAY_INTERNAL);
    goaways++;
  }
  ASSERT_EQ(goaways, 1);
  tpeer_free(&p);
}

/* A closing handle answers UV_EINVAL everywhere, as libuv's do. */
TEST(api_closing_handle_is_einval) {
  tpeer_t p;
  yamux_stream_t h;
  yamux_write_t w;
  yamux_shutdown_t sh;
  yamux_stream_stats_t st;
  uv_buf_t b = uv_buf_init("x", 1);

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  ASSERT_OK(yamux_stream_init(&p.side.session, &h));
  ASSERT_OK(yamux_stream_open(NULL, &h, NULL));
  ASSERT_OK(yamux_stream_get_stats(&h, &st));
  yamux_close(&h, NULL);
  ASSERT_EQ(yamux_write(&w, &h, &b, 1, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_shutdown(&sh, &h, NULL), UV_EINVAL);
  ASSERT_EQ(yamux_read_start(&h, nop_alloc, nop_read), UV_EINVAL);
  ASSERT_EQ(yamux_read_stop(&h), UV_EINVAL);
  ASSERT_EQ(yamux_stream_get_stats(&h, &st), UV_EINVAL);
  tpeer_close(&p);
  tpeer_free(&p);
}

/* The write queue size counts every byte not yet written by the transport,
 * including those in a gather list it holds. */
TEST(api_write_queue_size_until_written) {
  tpeer_t p;
  tstream_t t;
  const uv_buf_t* bufs;
  unsigned int n;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_write(&t, NULL, 100000));
  ASSERT_EQ(yamux_stream_get_write_queue_size(&t.handle), 100000);
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GT(n, 1);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&t.handle), 100000);
  /* The first frame's header and 1,000 of its bytes are written. */
  yamux_session_send_done(&p.side.session, 12 + 1000, 0, p.now_ns);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&t.handle), 99000);
  tpeer_pump(&p);
  ASSERT_EQ(yamux_stream_get_write_queue_size(&t.handle), 0);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}
