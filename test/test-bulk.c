/* Bulk transfer between two engines back to back (tpair): 64 MiB on one
 * stream through short writes and per-pump caps, and 1,000 concurrent
 * streams of random sizes; every byte verified by an FNV-1a-64 hash, no
 * memory left behind. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

#define FNV_INIT 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void* data, size_t n) {
  const uint8_t* p = data;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  return h;
}

/* xorshift64*: deterministic test data and sizes. */
static uint64_t rnd(uint64_t* s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

static void rnd_fill(uint64_t* s, uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v = rnd(s);
    memcpy(p, &v, 8);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t v = rnd(s);
    memcpy(p, &v, n);
  }
}

static char rx_buf[65536];
static void static_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  buf->base = rx_buf;
  buf->len = sizeof(rx_buf);
}

/* ---- 64 MiB on one stream --------------------------------------------- */

typedef struct {
  yamux_write_t req;
  uint8_t data[];
} chunk_t;

static uint64_t rx_hash;
static uint64_t rx_len;
static int rx_eof;
static int writes_ok;

static void on_chunk_written(yamux_write_t* req, int status) {
  ASSERT_OK(status);
  writes_ok++;
  free(req);
}

static void on_bulk_read(yamux_stream_t* h, ssize_t nread,
                         const uv_buf_t* buf) {
  (void)h;
  if (nread > 0) {
    rx_hash = fnv(rx_hash, buf->base, (size_t)nread);
    rx_len += (uint64_t)nread;
  } else if (nread == UV_EOF) {
    rx_eof++;
  } else {
    ASSERT(!"read error");
  }
}

static tstream_t* bulk_server_stream;
static void on_bulk_conn(yamux_session_t* s, int status) {
  ASSERT_OK(status);
  ASSERT_OK(tstream_accept(bulk_server_stream, s));
  ASSERT_OK(yamux_read_start(&bulk_server_stream->handle, static_alloc,
                             on_bulk_read));
}

static void bulk_one_stream(size_t short_write, size_t max_per_pump,
                            size_t chunk_size) {
  const uint64_t total = 64ull * 1024 * 1024;
  tpair_t pair;
  tstream_t a, b;
  uint64_t seed = 0x1234567887654321ull;
  uint64_t tx_hash = FNV_INIT;
  uint64_t sent = 0;
  int nchunks = 0;
  int rounds = 0;
  int shut = 0;
  yamux_stream_stats_t st;

  rx_hash = FNV_INIT;
  rx_len = 0;
  rx_eof = 0;
  writes_ok = 0;
  tpair_init(&pair, NULL, NULL);
  pair.short_write = short_write;
  pair.max_per_pump = max_per_pump;
  bulk_server_stream = &b;
  ASSERT_OK(yamux_session_listen(&pair.s.session, on_bulk_conn));
  tstream_init(&a, &pair.c.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_read_start(&a));
  while (rx_eof == 0) {
    /* Keep about 2 MiB queued: the application's backpressure loop. */
    while (sent < total &&
           yamux_stream_get_write_queue_size(&a.handle) < 2u * 1024 * 1024) {
      size_t n = chunk_size;
      chunk_t* c;
      uv_buf_t buf;
      if (n > total - sent) n = (size_t)(total - sent);
      /* Odd sizes so that frames and short writes cut anywhere. */
      if (nchunks % 3 == 1 && n > 777) n -= 777;
      c = malloc(sizeof(*c) + n);
      ASSERT_NOT_NULL(c);
      rnd_fill(&seed, c->data, n);
      tx_hash = fnv(tx_hash, c->data, n);
      buf = uv_buf_init((char*)c->data, (unsigned int)n);
      ASSERT_OK(yamux_write(&c->req, &a.handle, &buf, 1, on_chunk_written));
      sent += n;
      nchunks++;
    }
    if (sent == total && !shut) {
      ASSERT_OK(tstream_shutdown(&a));
      shut = 1;
    }
    tpair_pump(&pair);
    ASSERT(++rounds < 10000000);
  }
  ASSERT_EQ(rx_len, total);
  ASSERT_EQ(rx_hash, tx_hash);
  ASSERT_EQ(writes_ok, nchunks);
  ASSERT_EQ(a.shutdown_status, 0);
  ASSERT_OK(yamux_stream_get_stats(&a.handle, &st));
  ASSERT_EQ(st.bytes_sent, total);
  ASSERT_EQ(st.queued_bytes, 0);
  ASSERT_OK(yamux_stream_get_stats(&b.handle, &st));
  ASSERT_EQ(st.bytes_received, total);
  ASSERT_EQ(st.buffered_bytes, 0);
  ASSERT_LE(st.recv_window_max, 16u * 1024 * 1024);
  ASSERT_OK(tstream_shutdown(&b));
  tpair_pump_all(&pair);
  ASSERT_EQ(a.eof, 1);
  tstream_close(&a);
  tstream_close(&b);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.close_count, 1);
  /* Neither side holds more than the windows and a batch's worth. */
  ASSERT_LT(pair.c.mem.peak_bytes, 4u * 1024 * 1024);
  ASSERT_LT(pair.s.mem.peak_bytes, 20u * 1024 * 1024);
  tpair_close(&pair);
}

TEST(bulk_64mib_one_stream_short_writes) {
  bulk_one_stream(9973, 300000, 1024 * 1024);
}

TEST(bulk_64mib_one_stream_tiny_pumps) {
  /* Partial send_done of a few bytes at a time inside 64 KiB pumps, and
   * small writes. */
  bulk_one_stream(4093, 65536, 100000);
}

/* ---- 1,000 concurrent streams ------------------------------------------ */

#define NSTREAMS 1000
#define MAX_STREAM_BYTES (256u * 1024)
#define WCHUNK (32u * 1024)

typedef struct {
  yamux_stream_t h;
  int index;
  /* sender (client) side */
  uint64_t seed;
  size_t size;
  size_t sent;
  uint64_t tx_hash;
  yamux_write_t req;
  uint8_t* chunk;
  int shut;
  /* reply from the server: its hash of what it read */
  uint8_t reply[8];
  size_t reply_len;
  int eof;
  int closed;
} cstream_t;

typedef struct {
  yamux_stream_t h;
  uint64_t hash;
  uint64_t len;
  uint64_t reply;
  yamux_write_t req;
  int eof;
  int replied;
  int closed;
} sstream_t;

static cstream_t* cs;
static sstream_t* ss;
static int ss_count;
static int c_done;
static int s_done;
static int c_closed;
static int s_closed;

static void c_write_next(cstream_t* c);

static void c_on_written(yamux_write_t* req, int status) {
  cstream_t* c = req->data;
  ASSERT_OK(status);
  c_write_next(c);
}

static void c_on_shutdown(yamux_shutdown_t* req, int status) {
  ASSERT_OK(status);
  free(req);
}

static void c_write_next(cstream_t* c) {
  size_t n = c->size - c->sent;
  uv_buf_t buf;

  if (n == 0) {
    yamux_shutdown_t* req;
    ASSERT_EQ(c->shut, 0);
    c->shut = 1;
    req = malloc(sizeof(*req));
    ASSERT_NOT_NULL(req);
    ASSERT_OK(yamux_shutdown(req, &c->h, c_on_shutdown));
    return;
  }
  if (n > WCHUNK) n = WCHUNK;
  rnd_fill(&c->seed, c->chunk, n);
  c->tx_hash = fnv(c->tx_hash, c->chunk, n);
  c->sent += n;
  buf = uv_buf_init((char*)c->chunk, (unsigned int)n);
  c->req.data = c;
  ASSERT_OK(yamux_write(&c->req, &c->h, &buf, 1, c_on_written));
}

static void c_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  cstream_t* c = h->data;
  (void)suggested;
  buf->base = (char*)c->reply + c->reply_len;
  buf->len = sizeof(c->reply) - c->reply_len;
  if (buf->len == 0) ASSERT(!"reply longer than 8 bytes");
}

static void c_close_cb(yamux_stream_t* h) {
  cstream_t* c = h->data;
  c->closed++;
  c_closed++;
}

static void c_on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  cstream_t* c = h->data;
  (void)buf;
  if (nread > 0) {
    c->reply_len += (size_t)nread;
    return;
  }
  ASSERT_EQ(nread, UV_EOF);
  c->eof++;
  c_done++;
  ASSERT_EQ(c->reply_len, 8);
  ASSERT_EQ(c->shut, 1);
  free(c->chunk);
  c->chunk = NULL;
  yamux_close(h, c_close_cb);
}

static void s_close_cb(yamux_stream_t* h) {
  sstream_t* s = h->data;
  s->closed++;
  s_closed++;
}

static void s_on_replied(yamux_write_t* req, int status) {
  sstream_t* s = req->data;
  ASSERT_OK(status);
  s->replied++;
  s_done++;
  /* Closing right away also sends our FIN. */
  yamux_close(&s->h, s_close_cb);
}

static void s_on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  sstream_t* s = h->data;
  uv_buf_t b;
  if (nread > 0) {
    s->hash = fnv(s->hash, buf->base, (size_t)nread);
    s->len += (uint64_t)nread;
    return;
  }
  ASSERT_EQ(nread, UV_EOF);
  s->eof++;
  s->reply = s->hash;
  b = uv_buf_init((char*)&s->reply, sizeof(s->reply));
  s->req.data = s;
  ASSERT_OK(yamux_write(&s->req, h, &b, 1, s_on_replied));
}

static void s_on_conn(yamux_session_t* session, int status) {
  sstream_t* s;
  ASSERT_OK(status);
  ASSERT_LT(ss_count, NSTREAMS);
  s = &ss[ss_count++];
  memset(s, 0, sizeof(*s));
  ASSERT_OK(yamux_stream_init(session, &s->h));
  s->h.data = s;
  s->hash = FNV_INIT;
  ASSERT_OK(yamux_accept(session, &s->h));
  ASSERT_OK(yamux_read_start(&s->h, static_alloc, s_on_read));
}

TEST(bulk_1000_concurrent_streams_random_sizes) {
  tpair_t pair;
  uint64_t seed = 42;
  uint64_t total = 0;
  int i;
  int rounds = 0;
  yamux_session_stats_t cst, sst;

  cs = calloc(NSTREAMS, sizeof(*cs));
  ss = calloc(NSTREAMS, sizeof(*ss));
  ASSERT_NOT_NULL(cs);
  ASSERT_NOT_NULL(ss);
  ss_count = c_done = s_done = c_closed = s_closed = 0;
  tpair_init(&pair, NULL, NULL);
  pair.short_write = 65521;
  pair.max_per_pump = 1024 * 1024;
  ASSERT_OK(yamux_session_listen(&pair.s.session, s_on_conn));
  for (i = 0; i < NSTREAMS; i++) {
    cstream_t* c = &cs[i];
    c->index = i;
    /* Sizes from 0 to 256 KiB; every tenth is tiny. */
    c->size = (size_t)(rnd(&seed) % (MAX_STREAM_BYTES + 1));
    if (i % 10 == 0) c->size %= 100;
    c->seed = rnd(&seed) | 1;
    c->tx_hash = FNV_INIT;
    c->chunk = malloc(WCHUNK);
    ASSERT_NOT_NULL(c->chunk);
    total += c->size;
    ASSERT_OK(yamux_stream_init(&pair.c.session, &c->h));
    c->h.data = c;
    ASSERT_OK(yamux_stream_open(NULL, &c->h, NULL));
    ASSERT_OK(yamux_read_start(&c->h, c_alloc, c_on_read));
    c_write_next(c);
  }
  while (c_closed < NSTREAMS || s_closed < NSTREAMS) {
    if (tpair_pump(&pair) == 0 && !pair.c.woken && !pair.s.woken) break;
    ASSERT(++rounds < 1000000);
  }
  ASSERT_EQ(ss_count, NSTREAMS);
  ASSERT_EQ(c_done, NSTREAMS);
  ASSERT_EQ(s_done, NSTREAMS);
  ASSERT_EQ(c_closed, NSTREAMS);
  ASSERT_EQ(s_closed, NSTREAMS);
  /* Each server stream read exactly what its client stream sent (the
   * server's streams were accepted in open order, ids 1, 3, 5...). */
  for (i = 0; i < NSTREAMS; i++) {
    uint64_t reply;
    ASSERT_EQ(ss[i].h.id, cs[i].h.id);
    ASSERT_EQ(ss[i].len, cs[i].size);
    ASSERT_EQ(ss[i].hash, cs[i].tx_hash);
    memcpy(&reply, cs[i].reply, 8);
    ASSERT_EQ(reply, cs[i].tx_hash);
    ASSERT_EQ(cs[i].eof, 1);
    ASSERT_EQ(ss[i].eof, 1);
    ASSERT_EQ(cs[i].closed, 1);
    ASSERT_EQ(ss[i].closed, 1);
  }
  ASSERT_OK(yamux_session_get_stats(&pair.c.session, &cst));
  ASSERT_OK(yamux_session_get_stats(&pair.s.session, &sst));
  ASSERT_EQ(cst.streams_open, 0);
  ASSERT_EQ(sst.streams_open, 0);
  ASSERT_EQ(cst.streams_opened, NSTREAMS);
  ASSERT_EQ(sst.streams_accepted, NSTREAMS);
  ASSERT_EQ(cst.data_bytes_sent, total);
  ASSERT_EQ(sst.data_bytes_received, total);
  ASSERT_EQ(cst.resets_sent + cst.resets_received, 0);
  ASSERT_EQ(sst.resets_sent + sst.resets_received, 0);
  ASSERT_EQ(cst.protocol_errors + sst.protocol_errors, 0);
  tpair_close(&pair);
  free(cs);
  free(ss);
}
