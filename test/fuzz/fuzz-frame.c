/* libFuzzer target: the frame header codec, then the whole input fed to a
 * session of each role as raw transport bytes, in splits chosen by the
 * input itself.
 *
 * Checks: decode(encode(h)) round-trips; validate() accepts exactly version
 * 0 with a known type; a session never crashes, writes only well-formed
 * frames, keeps its memory bounded, reports the end status it returned from
 * feed(), and releases every byte on close. */
#include "frame.h"
#include "fuzz-common.h"

typedef struct {
  yamux_session_t session;
  fz_mem_t mem;
  fz_out_t out;
  int woken;
  int close_requested;
  int transport_closed;
  int end_count;
  int end_status;
  int close_count;
  int conn_count;
  int read_final;
  yamux_stream_t streams[8];
  int nstreams;
  char rbuf[4096];
} fside_t;

static fside_t* side_of(yamux_session_t* s) {
  return (fside_t*)((char*)s - offsetof(fside_t, session));
}

static void on_wake(yamux_session_t* s) {
  side_of(s)->woken = 1;
}
static void on_tclose(yamux_session_t* s) {
  fside_t* f = side_of(s);
  FZ_CHECK(!f->close_requested);
  f->close_requested = 1;
}
static void on_end(yamux_session_t* s, int status) {
  fside_t* f = side_of(s);
  FZ_CHECK(status < 0);
  f->end_count++;
  f->end_status = status;
}
static void on_close(yamux_session_t* s) {
  side_of(s)->close_count++;
}
static void on_conn(yamux_session_t* s, int status) {
  FZ_CHECK(status == 0);
  side_of(s)->conn_count++;
}

static void on_alloc(yamux_stream_t* st, size_t sz, uv_buf_t* buf) {
  fside_t* f = st->data;
  (void)sz;
  buf->base = f->rbuf;
  buf->len = sizeof(f->rbuf);
}

static void on_read(yamux_stream_t* st, ssize_t nread, const uv_buf_t* buf) {
  (void)buf;
  if (nread < 0) {
    FZ_CHECK(nread != UV_ENOBUFS);
    side_of(st->session)->read_final++;
  }
}

static void service(fside_t* f, uint64_t now) {
  int i;
  for (i = 0; i < 64; i++) {
    int did = 0;
    if (f->close_requested && !f->transport_closed) {
      f->transport_closed = 1;
      yamux_session_transport_closed(&f->session);
      return; /* released, or will be */
    }
    if (f->woken) {
      f->woken = 0;
      yamux_session_run(&f->session, now);
      did = 1;
    }
    if (f->close_requested) continue;
    /* Accept what waits, and read it. */
    while (f->nstreams < 8) {
      yamux_stream_t* st = &f->streams[f->nstreams];
      FZ_CHECK(yamux_stream_init(&f->session, st) == 0);
      st->data = f;
      if (yamux_accept(&f->session, st) != 0) break;
      f->nstreams++;
      FZ_CHECK(yamux_read_start(st, on_alloc, on_read) == 0);
      did = 1;
    }
    if (fz_take(&f->session, &f->out, 0, 1024, now) > 0) did = 1;
    if (!did) return;
  }
}

static void check_memory(fside_t* f) {
  yamux_session_stats_t st;
  FZ_CHECK(yamux_session_get_stats(&f->session, &st) == 0);
  /* The session state plus, per stream record, its receive window twice
   * (a partly read chunk and the window's worth behind it) and slack. */
  FZ_CHECK(f->mem.live <=
           (size_t)256 * 1024 + (size_t)st.streams_open * (2 * 262144 + 16384));
}

static void run_session(yamux_role_t role, const uint8_t* data, size_t size) {
  static const yamux_transport_t tr = {on_wake, on_tclose, NULL};
  fside_t* f = calloc(1, sizeof(*f));
  yamux_config_t cfg;
  uint64_t now = 1000000000ull;
  uint32_t rng = 0x9e3779b9u;
  size_t off = 0;
  int rc = 0;
  size_t i;

  FZ_CHECK(f != NULL);
  for (i = 0; i < size && i < 16; i++) rng = rng * 31 + data[i];
  fz_mem_init(&f->mem);
  yamux_config_init(&cfg);
  cfg.allocator = &f->mem.alloc;
  cfg.keepalive_interval_ms = 0;
  cfg.accept_backlog = 4;
  cfg.max_inbound_streams = 6;
  cfg.max_queued_pongs = 4;
  f->out.max_frame = cfg.max_frame_size;
  FZ_CHECK(yamux_session_init(&f->session, role, &cfg) == 0);
  FZ_CHECK(yamux_session_start_custom(&f->session, &tr, on_end, now) == 0);
  FZ_CHECK(yamux_session_listen(&f->session, on_conn) == 0);

  while (off < size) {
    size_t n;
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    n = 1 + rng % 37;
    if (rng & 0x10000) n = size - off; /* sometimes the rest at once */
    if (n > size - off) n = size - off;
    rc = yamux_session_feed(&f->session, data + off, n, now);
    off += n;
    now += 1000;
    FZ_CHECK(rc <= 0);
    if (rc != 0) {
      FZ_CHECK(f->end_count == 1 && f->end_status == rc);
    }
    service(f, now);
    check_memory(f);
  }
  FZ_CHECK(f->end_count <= 1);
  /* A truncated frame at the end, then EOF, half the time. */
  if (rng & 1) {
    yamux_session_feed_error(&f->session, UV_EOF, now);
    service(f, now);
    FZ_CHECK(f->end_count == 1);
  }
  yamux_session_close(&f->session, on_close);
  for (i = 0; i < 1000 && f->close_count == 0; i++) {
    service(f, now);
    if (f->close_count) break;
    if (!f->woken && !f->close_requested) {
      /* Nothing moves: the close timeout ends it. */
      uint64_t t = yamux_session_expiry(&f->session);
      if (t != UINT64_MAX) {
        if (t > now) now = t;
        yamux_session_handle_expiry(&f->session, now);
      }
    }
  }
  FZ_CHECK(f->close_count == 1);
  FZ_CHECK(f->end_count <= 1);
  FZ_CHECK(f->read_final <= f->nstreams);
  FZ_CHECK(f->mem.live == 0 && f->mem.blocks == 0);
  free(f);
}

static void check_codec(const uint8_t* data, size_t size) {
  yamux__frame_hdr_t h, h2;
  uint8_t enc[YAMUX__HDR_LEN];
  int rc;
  if (size < YAMUX__HDR_LEN) return;
  yamux__frame_decode(data, &h);
  rc = yamux__frame_validate(&h);
  FZ_CHECK((rc == 0) == (h.version == 0 && h.type <= 3));
  FZ_CHECK(rc == 0 || rc == YAMUX_EPROTO);
  if (h.version == 0) {
    yamux__frame_encode(enc, h.type, h.flags, h.stream_id, h.length);
    FZ_CHECK(memcmp(enc, data, YAMUX__HDR_LEN) == 0);
    yamux__frame_decode(enc, &h2);
    FZ_CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_codec(data, size);
  run_session(YAMUX_SERVER, data, size);
  run_session(YAMUX_CLIENT, data, size);
  return 0;
}
