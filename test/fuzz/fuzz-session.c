/* libFuzzer target: one session (role from the first byte) driven by an
 * interpreted program. The input is a small header (role, config variant,
 * driving mode) then a sequence of operations: feed raw peer bytes, feed a
 * peer frame built from a few bytes, advance virtual time, open / write /
 * shutdown / close / reset / read_start / read_stop / accept a stream,
 * ping, go away, gather output with short writes, transport errors,
 * session close, run.
 *
 * After every step the public API must agree with what the program did:
 * streams_open covers the live handles and the backlog, queued bytes never
 * exceed the bytes of writes still pending, receive windows stay within
 * their maximum, buffered data within the window, memory within a budget
 * computed from the stream count, and every callback respects the API's
 * rules (never inside the API call that scheduled it, requests complete at
 * most once and before their stream's close callback, no read after a
 * final status or after read_stop/close, end_cb at most once and never
 * after yamux_session_close()). At the end the session is closed and must
 * finish: every request completed exactly once, every yamux_close()d handle
 * got its close callback once, and no byte of memory is left. */
#include "fuzz-common.h"

#define NSLOT 8
#define NREQ 48
#define PATTERN_LEN (1u << 19)
#define MAX_BODY (300u * 1024u) /* a little above the default window */
/* A feed in split pieces splits its first SPLIT_SPAN bytes (headers and the
 * start of a body: every partial-header and partial-body state) and hands
 * the rest over at once: a large body dribbled byte by byte costs a feed
 * call per byte and exercises nothing more. */
#define SPLIT_SPAN 32

enum { SLOT_FREE = 0, SLOT_LIVE, SLOT_CLOSING };
enum { R_WRITE = 1, R_SHUTDOWN, R_CONNECT, R_PING };

typedef struct {
  yamux_stream_t h;
  int state;
  unsigned int gen; /* bumped when the slot is reused */
  int close_cbs;
  int reading;
  int read_final;       /* a final (negative) status was delivered */
  size_t alloc_limit;   /* 0: hand out an empty buffer (ENOBUFS) */
  int close_in_read;    /* re-entrant: close the stream from read_cb */
  int write_in_read;    /* re-entrant: write from read_cb */
  uint64_t outstanding; /* bytes of write requests not completed */
  int pending_reqs;
} slot_t;

typedef struct {
  union {
    yamux_write_t w;
    yamux_shutdown_t sh;
    yamux_connect_t c;
    yamux_ping_t p;
  } u;
  int in_use;
  int kind;
  int slot;
  unsigned int gen;
  size_t bytes;
  uv_buf_t bufs[6];
} req_t;

typedef struct {
  yamux_session_t session;
  fz_mem_t mem;
  fz_out_t out;
  yamux_config_t cfg;
  uint64_t now;
  int in_api;
  unsigned long calls; /* calls into the engine that may change its state */
  int woken;
  int autorun;
  int close_on_end;
  int close_requested;
  int transport_closed;
  int end_count;
  int closing; /* yamux_session_close() called */
  int close_count;
  int released; /* close callback fired */
  int listening;
  int accept_in_cb;
  int conn_cbs;
  int goaway_cbs;
  int batch; /* a gather list is outstanding (for send errors) */
  int nreq;  /* requests in use */
  slot_t slots[NSLOT];
  req_t reqs[NREQ]; /* last: only in_use is cleared per run */
} fz_t;

static uint8_t pattern[PATTERN_LEN];
/* Read buffer for every stream: contents are never checked, so it is
 * neither per run nor cleared. */
static char rbuf[65536];
static fz_t* G;

/* ---- input reader -------------------------------------------------------- */

typedef struct {
  const uint8_t* p;
  size_t n;
} rd_t;

static unsigned int u8(rd_t* r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static unsigned int u16(rd_t* r) {
  unsigned int a = u8(r);
  return a << 8 | u8(r);
}

static uint32_t u32(rd_t* r) {
  uint32_t a = u16(r);
  return a << 16 | u16(r);
}

/* ---- callbacks ------------------------------------------------------------
 */

static void cb_enter(void) {
  FZ_CHECK(!G->in_api); /* never inside the call that scheduled it */
  FZ_CHECK(!G->released);
}

static req_t* req_get(int kind, int slot) {
  int i;
  for (i = 0; i < NREQ; i++) {
    req_t* r = &G->reqs[i];
    if (r->in_use) continue;
    memset(r, 0, sizeof(*r));
    r->in_use = 1;
    G->nreq++;
    r->kind = kind;
    r->slot = slot;
    if (slot >= 0) r->gen = G->slots[slot].gen;
    r->u.w.data = r;
    return r;
  }
  return NULL;
}

/* The API returned an error: the callback must never come. */
static void req_drop(req_t* r) {
  r->in_use = 0;
  G->nreq--;
}

static void req_done(req_t* r, int kind) {
  cb_enter();
  FZ_CHECK(r->in_use);
  FZ_CHECK(r->kind == kind);
  r->in_use = 0;
  G->nreq--;
  if (r->slot >= 0) {
    slot_t* sl = &G->slots[r->slot];
    /* Requests complete before the handle's close callback. */
    FZ_CHECK(sl->gen == r->gen);
    FZ_CHECK(sl->close_cbs == 0);
    FZ_CHECK(sl->pending_reqs > 0);
    sl->pending_reqs--;
    if (kind == R_WRITE) {
      FZ_CHECK(sl->outstanding >= r->bytes);
      sl->outstanding -= r->bytes;
    }
  }
}

static void on_write(yamux_write_t* w, int status) {
  req_done(w->data, R_WRITE);
  FZ_CHECK(status <= 0);
}

static void on_shutdown(yamux_shutdown_t* s, int status) {
  req_done(s->data, R_SHUTDOWN);
  FZ_CHECK(status <= 0);
}

static void on_connect(yamux_connect_t* c, int status) {
  req_done(c->data, R_CONNECT);
  FZ_CHECK(status <= 0);
}

static void on_ping(yamux_ping_t* p, int status, uint64_t rtt) {
  req_done(p->data, R_PING);
  FZ_CHECK(status <= 0);
  if (status != 0) FZ_CHECK(rtt == 0);
}

static slot_t* slot_of(yamux_stream_t* h) {
  return (slot_t*)((char*)h - offsetof(slot_t, h));
}

static void on_stream_close(yamux_stream_t* h) {
  slot_t* sl = slot_of(h);
  cb_enter();
  FZ_CHECK(sl->state == SLOT_CLOSING);
  FZ_CHECK(sl->close_cbs == 0);
  FZ_CHECK(sl->pending_reqs == 0);
  sl->close_cbs++;
}

static void on_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  slot_t* sl = slot_of(h);
  cb_enter();
  FZ_CHECK(suggested > 0);
  FZ_CHECK(sl->state == SLOT_LIVE && sl->reading && !sl->read_final);
  buf->base = rbuf;
  buf->len = sl->alloc_limit;
  if (buf->len == 0) buf->base = NULL;
}

static void do_write(int slot, size_t len, unsigned int nbufs);

static void on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  slot_t* sl = slot_of(h);
  cb_enter();
  FZ_CHECK(sl->state == SLOT_LIVE && sl->reading && !sl->read_final);
  if (nread > 0) {
    FZ_CHECK(buf->base == rbuf);
    FZ_CHECK((size_t)nread <= sl->alloc_limit);
  } else if (nread == UV_ENOBUFS) {
    FZ_CHECK(sl->alloc_limit == 0);
    return;
  } else {
    FZ_CHECK(nread < 0);
    sl->read_final = 1;
  }
  if (sl->write_in_read && nread > 0) do_write((int)(sl - G->slots), 100, 1);
  if (sl->close_in_read) {
    sl->state = SLOT_CLOSING;
    sl->reading = 0;
    yamux_close(h, on_stream_close);
  }
}

static void on_end(yamux_session_t* s, int status) {
  cb_enter();
  FZ_CHECK(s == &G->session);
  FZ_CHECK(status < 0);
  FZ_CHECK(G->end_count == 0);
  FZ_CHECK(!G->closing);
  G->end_count++;
}

static void on_session_close(yamux_session_t* s) {
  cb_enter();
  FZ_CHECK(s == &G->session);
  FZ_CHECK(G->closing && G->close_count == 0);
  G->close_count++;
  G->released = 1;
}

static void accept_one(void);

static void on_conn(yamux_session_t* s, int status) {
  cb_enter();
  FZ_CHECK(s == &G->session && status == 0);
  G->conn_cbs++;
  if (G->accept_in_cb) accept_one();
}

static void on_goaway(yamux_session_t* s, uint32_t code) {
  (void)code;
  cb_enter();
  FZ_CHECK(s == &G->session);
  G->goaway_cbs++;
}

static void on_wake(yamux_session_t* s) {
  FZ_CHECK(s == &G->session);
  G->woken = 1;
}

static void on_tclose(yamux_session_t* s) {
  FZ_CHECK(s == &G->session);
  FZ_CHECK(!G->close_requested);
  G->close_requested = 1;
}

/* ---- operations ---------------------------------------------------------- */

/* Before an API call: callbacks must not run inside it (cb_enter), and the
 * step has called the engine (run() checks the invariants after it). */
static void api_enter(void) {
  G->in_api++;
  G->calls++;
}

static void session_close(void) {
  if (G->closing || G->released) return;
  G->closing = 1;
  api_enter();
  yamux_session_close(&G->session, on_session_close);
  G->in_api--;
}

static void slot_reset(slot_t* sl) {
  unsigned int gen = sl->gen + 1;
  memset(sl, 0, sizeof(*sl));
  sl->gen = gen;
  sl->alloc_limit = 4096;
}

/* A slot is free for reuse once its close callback ran. */
static slot_t* free_slot(int i) {
  slot_t* sl = &G->slots[i % NSLOT];
  if (sl->state == SLOT_CLOSING && sl->close_cbs == 1) sl->state = SLOT_FREE;
  if (sl->state != SLOT_FREE || sl->pending_reqs != 0) return NULL;
  slot_reset(sl);
  return sl;
}

static void accept_one(void) {
  int i, rc;
  for (i = 0; i < NSLOT; i++) {
    slot_t* sl = free_slot(i);
    if (sl == NULL) continue;
    FZ_CHECK(yamux_stream_init(&G->session, &sl->h) == 0);
    api_enter();
    rc = yamux_accept(&G->session, &sl->h);
    G->in_api--;
    FZ_CHECK(rc == 0 || rc == UV_EAGAIN || rc == UV_EINVAL);
    if (rc == 0) sl->state = SLOT_LIVE;
    return;
  }
}

static void do_open(int i, int with_req) {
  slot_t* sl = free_slot(i);
  req_t* r = NULL;
  int rc;
  if (sl == NULL) return;
  FZ_CHECK(yamux_stream_init(&G->session, &sl->h) == 0);
  if (with_req) {
    r = req_get(R_CONNECT, i % NSLOT);
    if (r == NULL) return;
  }
  api_enter();
  rc = yamux_stream_open(r ? &r->u.c : NULL, &sl->h, r ? on_connect : NULL);
  G->in_api--;
  if (rc != 0) {
    FZ_CHECK(rc == UV_EINVAL || rc == YAMUX_EGOAWAY || rc == YAMUX_ECLOSED ||
             rc == UV_ENOMEM);
    if (r) req_drop(r);
    return;
  }
  sl->state = SLOT_LIVE;
  if (r) sl->pending_reqs++;
}

static void do_write(int i, size_t len, unsigned int nbufs) {
  slot_t* sl = &G->slots[i % NSLOT];
  req_t* r;
  unsigned int k;
  size_t off = 0;
  int rc;
  if (sl->state != SLOT_LIVE) return;
  r = req_get(R_WRITE, i % NSLOT);
  if (r == NULL) return;
  if (nbufs == 0) nbufs = 1;
  if (nbufs > 6) nbufs = 6;
  if (len > PATTERN_LEN) len = PATTERN_LEN;
  for (k = 0; k < nbufs; k++) {
    size_t part = k + 1 == nbufs ? len - off : len / nbufs;
    r->bufs[k] = uv_buf_init((char*)pattern + off, (unsigned int)part);
    off += part;
  }
  r->bytes = len;
  api_enter();
  rc = yamux_write(&r->u.w, &sl->h, r->bufs, nbufs, on_write);
  G->in_api--;
  if (rc != 0) {
    FZ_CHECK(rc == UV_EPIPE || rc == UV_ECONNRESET || rc == YAMUX_ECLOSED ||
             rc == UV_ENOMEM || rc < 0);
    req_drop(r);
    return;
  }
  sl->pending_reqs++;
  sl->outstanding += len;
}

static void do_shutdown(int i, int with_req) {
  slot_t* sl = &G->slots[i % NSLOT];
  req_t* r = NULL;
  int rc;
  if (sl->state != SLOT_LIVE) return;
  if (with_req) {
    r = req_get(R_SHUTDOWN, i % NSLOT);
    if (r == NULL) return;
  }
  api_enter();
  rc = yamux_shutdown(r ? &r->u.sh : NULL, &sl->h, r ? on_shutdown : NULL);
  G->in_api--;
  if (rc != 0) {
    if (r) req_drop(r);
    return;
  }
  if (r) sl->pending_reqs++;
}

static void do_close(int i, int reset, uint32_t code) {
  slot_t* sl = &G->slots[i % NSLOT];
  if (sl->state != SLOT_LIVE) return;
  sl->state = SLOT_CLOSING;
  sl->reading = 0;
  api_enter();
  if (reset)
    yamux_close_reset(&sl->h, code, on_stream_close);
  else
    yamux_close(&sl->h, on_stream_close);
  G->in_api--;
  FZ_CHECK(yamux_is_closing(&sl->h));
}

static void do_read(int i, unsigned int mode) {
  static const size_t limits[4] = {0, 1, 7, 65536};
  slot_t* sl = &G->slots[i % NSLOT];
  int rc;
  if (sl->state != SLOT_LIVE) return;
  sl->alloc_limit = limits[(mode >> 1) & 3];
  sl->close_in_read = (mode >> 3) == 1;
  sl->write_in_read = (mode >> 4) == 1;
  api_enter();
  if (mode & 1) {
    rc = yamux_read_start(&sl->h, on_alloc, on_read);
    if (rc == 0) sl->reading = 1;
    FZ_CHECK(rc == 0 || rc == UV_EALREADY || rc == UV_EINVAL);
  } else {
    rc = yamux_read_stop(&sl->h);
    if (rc == 0) sl->reading = 0;
  }
  G->in_api--;
}

static void do_ping(void) {
  req_t* r = req_get(R_PING, -1);
  int rc;
  if (r == NULL) return;
  api_enter();
  rc = yamux_ping(&r->u.p, &G->session, on_ping);
  G->in_api--;
  if (rc != 0) req_drop(r);
}

/* Runs the session and finishes a requested transport close. */
static void service(void) {
  if (G->released) return;
  if (G->close_requested && !G->transport_closed) {
    G->transport_closed = 1;
    G->calls++;
    yamux_session_transport_closed(&G->session);
    if (G->released) return;
  }
  if (G->woken) {
    G->woken = 0;
    G->calls++;
    yamux_session_run(&G->session, G->now);
  }
}

static void gather(unsigned int max_bufs, size_t limit) {
  if (G->released || G->close_requested) return;
  G->calls++;
  fz_take(&G->session, &G->out, limit, max_bufs, G->now);
}

/* Advances the clock to t, firing every expiry due on the way in order. */
static void advance_to(uint64_t t) {
  int guard = 0;
  while (!G->released) {
    uint64_t e = yamux_session_expiry(&G->session);
    if (e > t) break;
    if (e > G->now) G->now = e;
    G->calls++;
    yamux_session_handle_expiry(&G->session, G->now);
    if (G->released) return;
    service();
    if (G->released) return;
    /* A timer that fired must move its deadline (or the session must be
     * waiting for its transport to close). */
    if (++guard > 10000) FZ_CHECK(!"expiry does not advance");
    if (yamux_session_expiry(&G->session) <= G->now && !G->woken &&
        !G->close_requested && guard > 100)
      FZ_CHECK(!"expiry stuck in the past");
  }
  if (t > G->now) G->now = t;
}

static void feed(const uint8_t* p, size_t n, unsigned int split) {
  size_t done = 0;
  while (n > 0 && !G->released) {
    size_t k = split && done < SPLIT_SPAN ? (split < n ? split : n) : n;
    int rc;
    G->calls++;
    rc = yamux_session_feed(&G->session, p, k, G->now);
    FZ_CHECK(rc <= 0);
    if (rc != 0 && !G->released && !G->closing) FZ_CHECK(G->end_count <= 1);
    p += k;
    n -= k;
    done += k;
    if (G->autorun) service();
  }
}

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A frame from a few bytes: type/flags/length mode, a stream id (small raw
 * ids, or the id of one of our streams), the length. Data frames get a
 * pattern body of min(length, MAX_BODY) bytes. */
static void peer_frame(rd_t* r, unsigned int split) {
  static uint8_t body[MAX_BODY];
  unsigned int b = u8(r), sel = u8(r);
  uint8_t hdr[12];
  uint8_t type = (uint8_t)(b & 3);
  uint16_t flags = (uint16_t)(b >> 4);
  uint32_t id, len;
  switch ((b >> 2) & 3) {
    case 0:
      len = u8(r);
      break;
    case 1:
      len = u16(r) << 3;
      break;
    case 2:
      len = u32(r);
      break;
    default:
      len = 0;
      break;
  }
  if (sel & 0x80) {
    slot_t* sl = &G->slots[sel & 7];
    id = sl->h.id;
  } else if (sel & 0x40) {
    id = (sel & 0x3f) + 2; /* near ids of both parities */
  } else {
    id = sel;
  }
  if (type >= 2 && !(sel & 0x20)) id = 0;
  hdr[0] = 0;
  hdr[1] = type;
  hdr[2] = (uint8_t)(flags >> 8);
  hdr[3] = (uint8_t)flags;
  put32(hdr + 4, id);
  put32(hdr + 8, len);
  feed(hdr, sizeof(hdr), split);
  if (type == 0 && len > 0) {
    size_t n = len < MAX_BODY ? len : MAX_BODY;
    if (body[1] == 0) memcpy(body, pattern, sizeof(body));
    feed(body, n, split);
  }
}

/* ---- invariants ---------------------------------------------------------- */

static void check(void) {
  yamux_session_stats_t ss;
  uint64_t outstanding = 0;
  uint32_t live_handles = 0;
  size_t budget;
  int i;
  if (G->released) return;
  FZ_CHECK(yamux_session_get_stats(&G->session, &ss) == 0);
  for (i = 0; i < NSLOT; i++) {
    slot_t* sl = &G->slots[i];
    yamux_stream_stats_t st;
    outstanding += sl->outstanding;
    if (sl->state != SLOT_LIVE) continue;
    if (yamux_stream_get_stats(&sl->h, &st) != 0) continue;
    live_handles++;
    FZ_CHECK(st.recv_window <= st.recv_window_max);
    FZ_CHECK(st.recv_window_max <= G->cfg.max_window);
    FZ_CHECK(st.recv_window_max >= G->cfg.initial_window);
    FZ_CHECK(st.buffered_bytes <= st.recv_window_max);
    FZ_CHECK(st.queued_bytes <= sl->outstanding);
    FZ_CHECK(yamux_stream_get_write_queue_size(&sl->h) == st.queued_bytes);
    FZ_CHECK(st.bytes_sent + st.queued_bytes <=
             sl->outstanding + st.bytes_sent);
  }
  FZ_CHECK(ss.streams_open >= live_handles + ss.streams_pending_accept);
  FZ_CHECK(ss.streams_pending_accept <= G->cfg.accept_backlog);
  FZ_CHECK(ss.queued_bytes <= outstanding);
  FZ_CHECK(ss.buffered_bytes <= (uint64_t)ss.streams_open * G->cfg.max_window);
  FZ_CHECK(ss.protocol_errors <= 1);
  FZ_CHECK(G->end_count <= 1);
  /* Memory: the session's fixed state, and per stream record its window
   * twice (a partly read chunk plus a full window behind it) plus slack,
   * and the copied buffer arrays of pending writes. */
  budget = 256 * 1024 +
           (size_t)ss.streams_open * (2 * (size_t)G->cfg.max_window + 16384) +
           (size_t)G->nreq * 256;
  FZ_CHECK(G->mem.live <= budget);
}

/* ---- the program ----------------------------------------------------------
 */

static void configure(yamux_config_t* c, unsigned int v) {
  yamux_config_init(c);
  c->keepalive_interval_ms = 0;
  c->open_timeout_ms = 2000;
  c->linger_timeout_ms = 3000;
  c->close_timeout_ms = 1000;
  c->max_window = c->initial_window;
  switch (v % 4) {
    case 0: /* small limits: backlog, unacked opens, pongs */
      c->accept_backlog = 2;
      c->max_inbound_streams = 4;
      c->max_unacked_opens = 2;
      c->max_queued_pongs = 2;
      c->max_frame_size = 1000;
      break;
    case 1: /* keepalive on, window growth */
      c->keepalive_interval_ms = 1000;
      c->keepalive_timeout_ms = 500;
      c->max_window = 1024 * 1024;
      c->window_budget = 1024 * 1024;
      break;
    case 2: /* a larger initial window: WU deltas on SYN and ACK */
      c->initial_window = 512 * 1024;
      c->max_window = 512 * 1024;
      c->max_frame_size = 16384;
      break;
    default: /* defaults, timers off */
      c->open_timeout_ms = 0;
      c->linger_timeout_ms = 0;
      c->close_timeout_ms = 0;
      break;
  }
}

static void run(const uint8_t* data, size_t size) {
  static const yamux_transport_t tr = {on_wake, on_tclose, NULL};
  rd_t r = {data, size};
  unsigned int b0 = u8(&r), b1 = u8(&r);
  unsigned int split = 0;
  int steps = 0;
  int i;

  /* On the heap, so that ASan sees any use after the run; a request is
   * cleared when taken, so only its in_use flag needs clearing here. */
  G = malloc(sizeof(*G));
  FZ_CHECK(G != NULL);
  memset(G, 0, offsetof(fz_t, reqs));
  for (i = 0; i < NREQ; i++) G->reqs[i].in_use = 0;
  if (pattern[0] == 0 && pattern[1] == 0)
    for (i = 0; i < (int)PATTERN_LEN; i++) pattern[i] = (uint8_t)(i * 7 + 1);
  for (i = 0; i < NSLOT; i++) slot_reset(&G->slots[i]);
  fz_mem_init(&G->mem);
  configure(&G->cfg, b1);
  G->cfg.allocator = &G->mem.alloc;
  G->out.max_frame = G->cfg.max_frame_size;
  G->autorun = (b1 >> 2) & 1;
  G->close_on_end = (b1 >> 3) & 1;
  G->accept_in_cb = (b1 >> 4) & 1;
  G->now = 1000000000ull;
  FZ_CHECK(yamux_session_init(&G->session,
                              (b0 & 1) ? YAMUX_CLIENT : YAMUX_SERVER,
                              &G->cfg) == 0);
  FZ_CHECK(yamux_session_start_custom(&G->session, &tr, on_end, G->now) == 0);
  if (!((b0 >> 1) & 1)) {
    FZ_CHECK(yamux_session_listen(&G->session, on_conn) == 0);
    G->listening = 1;
  }
  yamux_session_on_goaway(&G->session, on_goaway);

  while (r.n > 0 && !G->released && steps++ < 4096) {
    unsigned long calls = G->calls;
    unsigned int op = u8(&r) % 18;
    unsigned int a = u8(&r);
    switch (op) {
      case 0: { /* raw bytes */
        size_t n = (size_t)a + 1;
        if (n > r.n) n = r.n;
        feed(r.p, n, split);
        r.p += n;
        r.n -= n;
        break;
      }
      case 1:
        /* Split sizes for the next feeds: 0 = whole, else 1..31 (over
         * the first SPLIT_SPAN bytes of each feed). */
        split = a & 31;
        /* fall through */
      case 2:
        peer_frame(&r, split);
        break;
      case 3: {
        static const uint64_t ms[8] = {0, 1, 10, 100, 499, 1001, 2500, 60000};
        advance_to(G->now + (ms[a & 7] + (a >> 3)) * 1000000ull);
        break;
      }
      case 4:
        do_open((int)a, !(a & 0x80));
        break;
      case 5: {
        unsigned int len = u16(&r);
        if (a & 0x80) len <<= 3; /* up to 512 KiB */
        do_write((int)a, len, (a >> 3) & 7);
        break;
      }
      case 6:
        do_shutdown((int)a, !(a & 0x80));
        break;
      case 7:
        do_close((int)a, (a >> 3) & 1, (a >> 4) & 1 ? 42 : 0);
        break;
      case 8:
        do_read((int)a, a >> 3);
        break;
      case 9:
        accept_one();
        break;
      case 10:
        do_ping();
        break;
      case 11:
        if (!G->closing) {
          api_enter();
          (void)yamux_session_goaway(&G->session, a & 3);
          G->in_api--;
        }
        break;
      case 12:
      case 13: /* gather output: up to max_bufs entries, short writes */
        gather(1 + (a & 15) * 17, (a >> 4) ? (size_t)(a >> 4) * 97 : 0);
        break;
      case 14: /* transport errors */
        if (G->released || G->close_requested) break;
        G->calls++;
        if ((a & 3) == 0) {
          yamux_session_feed_error(&G->session, UV_EOF, G->now);
        } else if ((a & 3) == 1) {
          yamux_session_feed_error(&G->session, UV_ECONNRESET, G->now);
        } else {
          const uv_buf_t* bufs;
          if (yamux_session_send_buffers(&G->session, &bufs, 64, G->now) > 0)
            yamux_session_send_done(&G->session, 0, UV_EPIPE, G->now);
        }
        break;
      case 15:
        if (a < 64) session_close();
        break;
      case 16:
        if (G->closing) break;
        api_enter();
        FZ_CHECK(yamux_session_listen(&G->session, (a & 1) ? on_conn : NULL) ==
                 0);
        G->in_api--;
        G->accept_in_cb = (a >> 1) & 1;
        break;
      default:
        break;
    }
    if (G->autorun || op == 17) service();
    if (G->close_on_end && G->end_count && !G->closing) session_close();
    /* The engine changes only inside calls into it: after a step that made
     * none (an operation on a free slot, nothing to run), everything check()
     * reads is as the last check saw it. */
    if (G->calls != calls) check();
  }

  /* The end: close, and everything must be released. */
  session_close();
  for (i = 0; i < 100000 && !G->released; i++) {
    service();
    if (G->released) break;
    gather(1024, 0);
    service();
    if (G->released) break;
    if (!G->woken && !G->close_requested) {
      uint64_t e = yamux_session_expiry(&G->session);
      if (e != UINT64_MAX) advance_to(e > G->now ? e : G->now);
    }
  }
  FZ_CHECK(G->released);
  FZ_CHECK(G->close_count == 1);
  for (i = 0; i < NREQ; i++) FZ_CHECK(!G->reqs[i].in_use);
  FZ_CHECK(G->nreq == 0);
  for (i = 0; i < NSLOT; i++) {
    slot_t* sl = &G->slots[i];
    FZ_CHECK(sl->pending_reqs == 0 && sl->outstanding == 0);
    if (sl->state == SLOT_CLOSING) FZ_CHECK(sl->close_cbs == 1);
  }
  FZ_CHECK(G->mem.live == 0 && G->mem.blocks == 0);
  free(G);
  G = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(data, size);
  return 0;
}
