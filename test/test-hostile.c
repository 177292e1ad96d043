/* A hostile peer floods the session while never reading what it sends back:
 * SYNs (backlog and max_inbound limits: RST, counted, bounded memory),
 * pings (bounded pong queue, drops counted), window updates (no memory
 * growth; overflow is a protocol error), and 1-byte Data frames (receive
 * buffers are chunked: memory bounded by the window plus small overhead).
 * Memory is measured with the counting allocator (tmem). */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

#define FLOOD 100000u

/* Feeds frames built by `put` in 64 KiB reads, as a socket would deliver
 * them, without ever taking the session's output. */
typedef void (*put_fn)(tbuf_t* b, uint32_t i, void* arg);

static void flood(tpeer_t* p, uint32_t n, put_fn put, void* arg) {
  tbuf_t b = {0};
  uint32_t i;

  for (i = 0; i < n; i++) {
    put(&b, i, arg);
    if (b.len >= 65536) {
      ASSERT_OK(yamux_session_feed(&p->side.session, b.data, b.len, p->now_ns));
      b.len = 0;
    }
  }
  if (b.len > 0)
    ASSERT_OK(yamux_session_feed(&p->side.session, b.data, b.len, p->now_ns));
  tbuf_free(&b);
}

static yamux_session_stats_t stats(tpeer_t* p) {
  yamux_session_stats_t st;
  ASSERT_OK(yamux_session_get_stats(&p->side.session, &st));
  return st;
}

static void put_syn(tbuf_t* b, uint32_t i, void* arg) {
  (void)arg;
  tframe_put(b, T_WU, F_SYN, 1 + 2 * i, 0, NULL, 0);
}

TEST(hostile_syn_flood_backlog) {
  tpeer_t p;
  yamux_session_stats_t st;
  size_t base;
  size_t rsts = 0;
  const tframe_t* f;
  tstream_t t;

  tpeer_init(&p, YAMUX_SERVER, NULL);
  base = p.side.mem.live_bytes;
  /* Nobody listens or accepts: the backlog fills, the rest is refused. */
  flood(&p, FLOOD, put_syn, NULL);
  st = stats(&p);
  ASSERT_EQ(st.streams_accepted, 256);
  ASSERT_EQ(st.streams_pending_accept, 256);
  ASSERT_EQ(st.streams_refused, FLOOD - 256);
  ASSERT_EQ(st.streams_open, 256);
  ASSERT_EQ(p.side.end_count, 0);
  /* 256 waiting streams of under 512 bytes each (measured: 240), nothing
   * per refused SYN: under 128 KiB. */
  ASSERT_LT(p.side.mem.peak_bytes - base, 128u * 1024);
  /* The RSTs that were kept go out when the peer finally reads; the rest
   * were dropped, not queued without bound. */
  while ((f = tpeer_next_frame(&p)) != NULL) {
    ASSERT_EQ(f->type, T_WU);
    ASSERT_EQ(f->flags, F_RST);
    ASSERT_EQ(f->id % 2, 1);
    rsts++;
  }
  ASSERT_GT(rsts, 0);
  ASSERT_LE(rsts, FLOOD - 256);
  st = stats(&p);
  ASSERT_EQ(st.resets_sent, rsts);
  /* The session still works: accept the oldest waiting stream. */
  ASSERT_OK(tstream_accept(&t, &p.side.session));
  ASSERT_EQ(t.handle.id, 1);
  tpeer_expect(&p, T_WU, F_ACK, 1, 0);
  tstream_close(&t);
  tpeer_close(&p);
  tpeer_free(&p);
}

static tstream_t* accepted;
static int naccepted;
static void accept_all(yamux_session_t* s, int status) {
  ASSERT_OK(status);
  ASSERT_OK(tstream_accept(&accepted[naccepted], s));
  naccepted++;
}

TEST(hostile_syn_flood_max_inbound) {
  yamux_config_t cfg;
  tpeer_t p;
  yamux_session_stats_t st;
  size_t base;
  int i;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.accept_backlog = 1000;
  cfg.max_inbound_streams = 100;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  accepted = calloc(200, sizeof(*accepted));
  ASSERT_NOT_NULL(accepted);
  naccepted = 0;
  ASSERT_OK(yamux_session_listen(&p.side.session, accept_all));
  base = p.side.mem.live_bytes;
  /* Everything is accepted at once; live inbound streams stop at 100. */
  flood(&p, FLOOD, put_syn, NULL);
  st = stats(&p);
  ASSERT_EQ(naccepted, 100);
  ASSERT_EQ(st.streams_accepted, 100);
  ASSERT_EQ(st.streams_refused, FLOOD - 100);
  ASSERT_EQ(st.streams_open, 100);
  ASSERT_LT(p.side.mem.peak_bytes - base, 512u * 1024);
  /* Closing some makes room for exactly that many new ones. */
  for (i = 0; i < 10; i++) tstream_close_reset(&accepted[i], 0);
  tpeer_pump(&p);
  ASSERT_EQ(stats(&p).streams_open, 90);
  for (i = 0; i < 20; i++)
    ASSERT_OK(
        tpeer_send_frame(&p, T_WU, F_SYN, 1 + 2 * (FLOOD + i), 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(naccepted, 110);
  ASSERT_EQ(stats(&p).streams_open, 100);
  ASSERT_EQ(stats(&p).streams_refused, FLOOD - 100 + 10);
  ASSERT_EQ(p.side.end_count, 0);
  tpeer_close(&p);
  tpeer_free(&p);
  free(accepted);
}

static void put_ping(tbuf_t* b, uint32_t i, void* arg) {
  (void)arg;
  tframe_put(b, T_PING, F_SYN, 0, i, NULL, 0);
}

TEST(hostile_ping_flood) {
  tpeer_t p;
  yamux_session_stats_t st;
  size_t base;
  const tframe_t* f;
  uint32_t pongs = 0;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  base = p.side.mem.live_bytes;
  flood(&p, FLOOD, put_ping, NULL);
  /* The pong queue is bounded: beyond a few inline ones, one ring of
   * max_queued_pongs (64) once, and not one byte more for the flood. */
  ASSERT_EQ(p.side.mem.peak_bytes, base + 64 * sizeof(uint32_t));
  ASSERT_EQ(p.side.mem.live_bytes, base + 64 * sizeof(uint32_t));
  st = stats(&p);
  ASSERT_EQ(st.pongs_dropped, FLOOD - 64);
  ASSERT_EQ(p.side.end_count, 0);
  /* The 64 queued answer the first 64 pings, in order. */
  while ((f = tpeer_next_frame(&p)) != NULL) {
    ASSERT_EQ(f->type, T_PING);
    ASSERT_EQ(f->flags, F_ACK);
    ASSERT_EQ(f->id, 0);
    ASSERT_EQ(f->length, pongs);
    pongs++;
  }
  ASSERT_EQ(pongs, 64);
  ASSERT_EQ(stats(&p).pongs_sent, 64);
  /* A peer that reads gets every answer again. */
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 12345, NULL, 0));
  tpeer_expect(&p, T_PING, F_ACK, 0, 12345);
  tpeer_close(&p);
  tpeer_free(&p);
}

static void put_wu(tbuf_t* b, uint32_t i, void* arg) {
  (void)arg;
  /* Credit on our stream, and updates for streams that do not exist. */
  if (i % 2 == 0)
    tframe_put(b, T_WU, 0, 1, 1, NULL, 0);
  else
    tframe_put(b, T_WU, 0, 1001 + 2 * i, 0x10000, NULL, 0);
}

TEST(hostile_window_update_flood) {
  tpeer_t p;
  tstream_t t;
  yamux_session_stats_t st;
  yamux_stream_stats_t ts;
  size_t base;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  tpeer_expect(&p, T_WU, F_SYN, 1, 0);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  base = p.side.mem.live_bytes;
  flood(&p, FLOOD, put_wu, NULL);
  ASSERT_EQ(p.side.mem.peak_bytes, base);
  ASSERT_EQ(p.side.mem.live_bytes, base);
  tpeer_expect_none(&p); /* nothing to say back */
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &ts));
  ASSERT_EQ(ts.send_window, T_WINDOW + FLOOD / 2);
  st = stats(&p);
  ASSERT_EQ(st.frames_dropped, FLOOD / 2);
  ASSERT_EQ(p.side.end_count, 0);
  /* Up to exactly 2^32-1 is fine; one more is a protocol error. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1,
                             0xffffffffu - (T_WINDOW + FLOOD / 2), NULL, 0));
  ASSERT_OK(yamux_stream_get_stats(&t.handle, &ts));
  ASSERT_EQ(ts.send_window, 0xffffffffu);
  ASSERT_EQ(tpeer_send_frame(&p, T_WU, 0, 1, 1, NULL, 0), YAMUX_EPROTO);
  tpeer_expect(&p, T_GOAWAY, 0, 0, YAMUX_GOAWAY_PROTOCOL);
  ASSERT_EQ(p.side.end_status, YAMUX_EPROTO);
  tstream_close(&t);
  tpeer_close(&p);
  tpeer_free(&p);
}

static void put_one_byte(tbuf_t* b, uint32_t i, void* arg) {
  uint32_t id = *(uint32_t*)arg;
  uint8_t byte = tpattern(i);
  tframe_put(b, T_DATA, 0, id, 1, &byte, 1);
}

TEST(hostile_one_byte_data_frames) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t t[4];
  size_t base, peak_growth;
  uint32_t id;
  int i;
  size_t k;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_window = cfg.initial_window;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  for (i = 0; i < 4; i++) {
    id = 1 + 2 * (uint32_t)i;
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, id, 0, NULL, 0));
    ASSERT_OK(tstream_accept(&t[i], &p.side.session));
    tpeer_expect(&p, T_WU, F_ACK, id, 0);
  }
  base = p.side.mem.live_bytes;
  /* A whole window of 1-byte frames on each of 4 unread streams. */
  for (i = 0; i < 4; i++) {
    id = 1 + 2 * (uint32_t)i;
    flood(&p, T_WINDOW, put_one_byte, &id);
  }
  ASSERT_EQ(p.side.end_count, 0);
  ASSERT_EQ(stats(&p).buffered_bytes, 4 * T_WINDOW);
  /* Chunked buffers: the data plus under 1/32 overhead (measured: 0.6 %),
   * not 262144 allocations of header + 1 byte per stream. */
  peak_growth = p.side.mem.peak_bytes - base;
  ASSERT_GE(peak_growth, 4 * T_WINDOW);
  ASSERT_LT(peak_growth, 4 * T_WINDOW + 4 * T_WINDOW / 32);
  /* One byte past the window is refused before anything is buffered. */
  id = 1;
  ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 1, 1, "x", 1), YAMUX_EPROTO);
  ASSERT_LT(p.side.mem.peak_bytes - base, 4 * T_WINDOW + 4 * T_WINDOW / 32);
  /* Reading it all gives the memory back and the bytes are intact. */
  for (i = 0; i < 4; i++) ASSERT_OK(tstream_read_start(&t[i]));
  tpeer_pump(&p);
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(t[i].rx.len, T_WINDOW);
    for (k = 0; k < T_WINDOW; k++) ASSERT_EQ(t[i].rx.data[k], tpattern(k));
  }
  ASSERT_EQ(p.side.mem.live_bytes, base);
  ASSERT_EQ(stats(&p).buffered_bytes, 0);
  for (i = 0; i < 4; i++) tbuf_free(&t[i].rx);
  tpeer_close(&p);
  tpeer_free(&p);
}

TEST(hostile_stream_memory_at_rest) {
  /* Idle streams cost a small fixed record each (target < 512 bytes,
   * map slot included). */
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t* t;
  size_t base, per;
  uint32_t i;
  const uint32_t n = 1000;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.accept_backlog = n;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  t = calloc(n, sizeof(*t));
  ASSERT_NOT_NULL(t);
  base = p.side.mem.live_bytes;
  for (i = 0; i < n; i++) {
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1 + 2 * i, 0, NULL, 0));
    ASSERT_OK(tstream_accept(&t[i], &p.side.session));
  }
  tpeer_pump(&p);
  per = (p.side.mem.live_bytes - base) / n;
  ASSERT_LT(per, 512);
  tpeer_close(&p);
  tpeer_free(&p);
  free(t);
}
