/* Test helpers; see helpers.h. */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define PUMP_LIMIT 1000000 /* rounds before a pump is declared stuck */
#define MAX_GATHER 1024

/* ---- byte buffer -------------------------------------------------------- */

void tbuf_append(tbuf_t* b, const void* data, size_t n) {
  if (n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    uint8_t* p;
    while (cap < b->len + n) cap *= 2;
    p = realloc(b->data, cap);
    ASSERT_NOT_NULL(p);
    b->data = p;
    b->cap = cap;
  }
  if (data != NULL)
    memcpy(b->data + b->len, data, n);
  else
    memset(b->data + b->len, 0, n);
  b->len += n;
}

void tbuf_consume(tbuf_t* b, size_t n) {
  ASSERT_LE(n, b->len);
  if (n == 0) return; /* b->data may still be NULL */
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

/* Receive buffers of tstream_t are listed here so that a test that forgets
 * tbuf_free(&t.rx) (the tstream_t usually lives on the test's stack) is not
 * reported as leaking test memory by LeakSanitizer or valgrind. */
#define RX_REGISTRY 4096
static void* rx_registry[RX_REGISTRY];

static void rx_forget(const void* p) {
  size_t i;

  if (p == NULL) return;
  for (i = 0; i < RX_REGISTRY; i++) {
    if (rx_registry[i] == p) {
      rx_registry[i] = NULL;
      return;
    }
  }
}

static void rx_remember(void* p) {
  size_t i;

  for (i = 0; i < RX_REGISTRY; i++) {
    if (rx_registry[i] == NULL) {
      rx_registry[i] = p;
      return;
    }
  }
}

void tbuf_free(tbuf_t* b) {
  rx_forget(b->data);
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

/* ---- frame codec -------------------------------------------------------- */

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

uint8_t tpattern(size_t i) {
  /* Period 251 (prime): shifted or reordered slices do not compare equal. */
  return (uint8_t)((i % 251) ^ 0x5a);
}

void tpattern_fill(void* buf, size_t n, size_t start) {
  uint8_t* p = buf;
  size_t i;

  for (i = 0; i < n; i++) p[i] = tpattern(start + i);
}

void tframe_put_header(tbuf_t* b, uint8_t version, uint8_t type, uint16_t flags,
                       uint32_t id, uint32_t length) {
  uint8_t h[T_HDR_LEN];

  h[0] = version;
  h[1] = type;
  h[2] = (uint8_t)(flags >> 8);
  h[3] = (uint8_t)flags;
  put32(h + 4, id);
  put32(h + 8, length);
  tbuf_append(b, h, sizeof(h));
}

void tframe_put(tbuf_t* b, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t length, const void* body, size_t bodylen) {
  tframe_put_header(b, 0, type, flags, id, length);
  if (bodylen == 0) return;
  if (body != NULL) {
    tbuf_append(b, body, bodylen);
  } else {
    size_t at = b->len;
    tbuf_append(b, NULL, bodylen);
    tpattern_fill(b->data + at, bodylen, 0);
  }
}

size_t tframes_decode(tframes_t* out, const uint8_t* data, size_t len) {
  size_t off = 0;

  while (len - off >= T_HDR_LEN) {
    const uint8_t* h = data + off;
    tframe_t f;
    size_t bodylen;

    f.version = h[0];
    f.type = h[1];
    f.flags = (uint16_t)(h[2] << 8 | h[3]);
    f.id = get32(h + 4);
    f.length = get32(h + 8);
    f.body = NULL;
    bodylen = f.type == T_DATA ? f.length : 0;
    if (len - off - T_HDR_LEN < bodylen) break;
    if (bodylen > 0) {
      uint8_t* copy = malloc(bodylen);
      ASSERT_NOT_NULL(copy);
      memcpy(copy, h + T_HDR_LEN, bodylen);
      f.body = copy;
    }
    if (out->n == out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 64;
      tframe_t* v = realloc(out->v, cap * sizeof(*v));
      ASSERT_NOT_NULL(v);
      out->v = v;
      out->cap = cap;
    }
    out->v[out->n++] = f;
    off += T_HDR_LEN + bodylen;
  }
  return off;
}

void tframes_free(tframes_t* f) {
  size_t i;

  for (i = 0; i < f->n; i++) free((void*)f->v[i].body);
  free(f->v);
  f->v = NULL;
  f->n = 0;
  f->cap = 0;
}

const char* tframe_str(const tframe_t* f, char* buf, size_t size) {
  static const char* const types[] = {"Data", "WU", "Ping", "GoAway"};
  char flags[64];
  char type[16];
  size_t n = 0;

  flags[0] = '\0';
  if (f->flags & F_SYN)
    n += (size_t)snprintf(flags + n, sizeof(flags) - n, "|SYN");
  if (f->flags & F_ACK)
    n += (size_t)snprintf(flags + n, sizeof(flags) - n, "|ACK");
  if (f->flags & F_FIN)
    n += (size_t)snprintf(flags + n, sizeof(flags) - n, "|FIN");
  if (f->flags & F_RST)
    n += (size_t)snprintf(flags + n, sizeof(flags) - n, "|RST");
  if (f->flags & ~0xfu)
    snprintf(flags + n, sizeof(flags) - n, "|0x%x",
             (unsigned)(f->flags & ~0xfu));
  if (f->type < 4)
    snprintf(type, sizeof(type), "%s", types[f->type]);
  else
    snprintf(type, sizeof(type), "type%u", (unsigned)f->type);
  if (f->version != 0)
    snprintf(buf, size, "v%u %s%s id=%u len=%u", (unsigned)f->version, type,
             flags, (unsigned)f->id, (unsigned)f->length);
  else
    snprintf(buf, size, "%s%s id=%u len=%u", type, flags, (unsigned)f->id,
             (unsigned)f->length);
  return buf;
}

void tframes_dump(FILE* out, const tframes_t* f, size_t mark) {
  char buf[128];
  size_t i;

  for (i = 0; i < f->n; i++)
    fprintf(out, "  %s [%zu] %s\n", i == mark ? "=>" : "  ", i,
            tframe_str(&f->v[i], buf, sizeof(buf)));
  if (mark >= f->n) fprintf(out, "  => [%zu] (none)\n", f->n);
}

/* ---- counting allocator ------------------------------------------------- */

/* Each block carries its size in a header aligned like malloc's result. */
typedef union {
  size_t size;
  max_align_t align;
} tmem_hdr_t;

static int tmem_should_fail(tmem_t* m) {
  m->attempts++;
  if (m->fail_at != 0 && (m->attempts == m->fail_at ||
                          (m->fail_sticky && m->attempts > m->fail_at))) {
    m->nfailed++;
    return 1;
  }
  return 0;
}

static void tmem_account(tmem_t* m, size_t size) {
  m->nallocs++;
  m->live_blocks++;
  m->live_bytes += size;
  if (m->live_bytes > m->peak_bytes) m->peak_bytes = m->live_bytes;
}

static void* tmem_malloc(size_t size, void* ud) {
  tmem_t* m = ud;
  tmem_hdr_t* h;

  if (tmem_should_fail(m)) return NULL;
  h = malloc(sizeof(*h) + size);
  if (h == NULL) return NULL;
  h->size = size;
  tmem_account(m, size);
  return h + 1;
}

static void* tmem_calloc(size_t nmemb, size_t size, void* ud) {
  void* p;

  if (size != 0 && nmemb > ((size_t)-1 - sizeof(tmem_hdr_t)) / size)
    return NULL;
  p = tmem_malloc(nmemb * size, ud);
  if (p != NULL) memset(p, 0, nmemb * size);
  return p;
}

static void tmem_free(void* ptr, void* ud) {
  tmem_t* m = ud;
  tmem_hdr_t* h;

  if (ptr == NULL) return;
  h = (tmem_hdr_t*)ptr - 1;
  ASSERT_GE(m->live_bytes, h->size);
  ASSERT_GT(m->live_blocks, 0);
  m->live_bytes -= h->size;
  m->live_blocks--;
  free(h);
}

static void* tmem_realloc(void* ptr, size_t size, void* ud) {
  tmem_t* m = ud;
  tmem_hdr_t* h;
  tmem_hdr_t* nh;
  size_t old;

  if (ptr == NULL) return tmem_malloc(size, ud);
  if (size == 0) {
    tmem_free(ptr, ud);
    return NULL;
  }
  if (tmem_should_fail(m)) return NULL;
  h = (tmem_hdr_t*)ptr - 1;
  old = h->size;
  nh = realloc(h, sizeof(*nh) + size);
  if (nh == NULL) return NULL;
  nh->size = size;
  m->live_bytes -= old;
  m->live_blocks--;
  tmem_account(m, size);
  return nh + 1;
}

void tmem_init(tmem_t* m) {
  memset(m, 0, sizeof(*m));
  m->alloc.user_data = m;
  m->alloc.malloc = tmem_malloc;
  m->alloc.calloc = tmem_calloc;
  m->alloc.realloc = tmem_realloc;
  m->alloc.free = tmem_free;
}

const yamux_allocator_t* tmem_allocator(tmem_t* m) {
  return &m->alloc;
}

/* ---- transport side ----------------------------------------------------- */

tside_t* tside_of(yamux_session_t* session) {
  return (tside_t*)((char*)session - offsetof(tside_t, session));
}

static void side_wake(yamux_session_t* session) {
  tside_t* sd = tside_of(session);

  sd->woken = 1;
  sd->wakes++;
}

static void side_transport_close(yamux_session_t* session) {
  tside_t* sd = tside_of(session);

  ASSERT_EQ(sd->transport_close_requested, 0);
  sd->transport_close_requested = 1;
  if (sd->sync_transport_close) {
    sd->transport_closed = 1;
    yamux_session_transport_closed(session);
  }
}

static void side_end_cb(yamux_session_t* session, int status) {
  tside_t* sd = tside_of(session);

  sd->end_count++;
  sd->end_status = status;
}

static void side_close_cb(yamux_session_t* session) {
  tside_t* sd = tside_of(session);

  sd->close_count++;
}

static void side_init(tside_t* sd, yamux_role_t role, const yamux_config_t* cfg,
                      const uint64_t* clock) {
  static const yamux_transport_t transport = {side_wake, side_transport_close,
                                              NULL};
  yamux_config_t c;

  memset(sd, 0, sizeof(*sd));
  tmem_init(&sd->mem);
  sd->clock = clock;
  sd->check_leaks = 1;
  if (cfg != NULL) {
    c = *cfg;
  } else {
    yamux_config_init(&c);
    c.keepalive_interval_ms = 0;
  }
  if (c.allocator == NULL) c.allocator = tmem_allocator(&sd->mem);
  ASSERT_OK(yamux_session_init(&sd->session, role, &c));
  ASSERT_OK(yamux_session_start_custom(&sd->session, &transport, side_end_cb,
                                       *clock));
  sd->started = 1;
}

/* Runs the session if woken and completes a requested transport close.
 * Returns non-zero if anything happened. */
static int side_service(tside_t* sd) {
  int did = 0;

  if (sd->transport_close_requested && !sd->transport_closed) {
    sd->transport_closed = 1;
    yamux_session_transport_closed(&sd->session);
    did = 1;
  }
  if (sd->woken) {
    sd->woken = 0;
    yamux_session_run(&sd->session, *sd->clock);
    did = 1;
  }
  return did;
}

/* Takes up to `limit` bytes (0: all) of the session's pending output into
 * `out` (or drops them if out is NULL) and acknowledges them. Returns the
 * number of bytes taken. */
static size_t side_take(tside_t* sd, tbuf_t* out, size_t limit) {
  const uv_buf_t* bufs;
  unsigned int n;
  unsigned int i;
  size_t taken = 0;

  if (sd->transport_close_requested) return 0;
  n = yamux_session_send_buffers(&sd->session, &bufs, MAX_GATHER, *sd->clock);
  for (i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (limit != 0 && len > limit - taken) len = limit - taken;
    if (out != NULL) tbuf_append(out, bufs[i].base, len);
    taken += len;
    if (limit != 0 && taken == limit) break;
  }
  if (n > 0) yamux_session_send_done(&sd->session, taken, 0, *sd->clock);
  return taken;
}

/* Starts closing the session. Returns 1 if this call started the close (our
 * close callback counts it), 0 if the test had already closed it with its
 * own callback (yamux_session_close() is then a no-op). */
static int side_close_begin(tside_t* sd) {
  int owns = !yamux_session_is_closing(&sd->session);

  yamux_session_close(&sd->session, side_close_cb);
  return owns;
}

/* After a pump: is the close complete? Without our callback, the transport
 * being closed and the session quiet is the best sign there is. */
static int side_close_done(const tside_t* sd, int owns) {
  if (sd->close_count != 0) return 1; /* a test's own cb may count it too */
  return !owns && sd->transport_closed && !sd->woken;
}

/* Nothing moves but the close is not done: only a timer (the close
 * timeout) can finish it. Fires the next expiry. */
static void side_close_tick(tside_t* sd, uint64_t* clock, const char* what) {
  uint64_t e;

  if (sd->woken || (sd->transport_close_requested && !sd->transport_closed))
    return;
  e = yamux_session_expiry(&sd->session);
  if (e == UINT64_MAX)
    task_fail(__FILE__, __LINE__, "%s: the close never completes", what);
  if (e > *clock) *clock = e;
  yamux_session_handle_expiry(&sd->session, *clock);
}

static void side_check_closed(tside_t* sd, int owns, const char* what) {
  if (owns ? sd->close_count != 1 : sd->close_count > 1)
    task_fail(__FILE__, __LINE__, "%s: close callback fired %d times", what,
              sd->close_count);
  if (sd->check_leaks && sd->mem.live_bytes != 0)
    task_fail(__FILE__, __LINE__,
              "%s: %zu bytes in %zu blocks still allocated after close", what,
              sd->mem.live_bytes, sd->mem.live_blocks);
}

/* ---- scripted peer ------------------------------------------------------ */

static tpeer_t* current_peer;

static void peer_fail_hook(void) {
  if (current_peer == NULL) return;
  fprintf(stderr, "frames sent by the session (=> next unread):\n");
  tframes_dump(stderr, &current_peer->out, current_peer->next);
}

void tpeer_init(tpeer_t* p, yamux_role_t role, const yamux_config_t* cfg) {
  memset(p, 0, sizeof(*p));
  p->now_ns = 1000 * T_MS;
  side_init(&p->side, role, cfg, &p->now_ns);
  current_peer = p;
  task_fail_hook = peer_fail_hook;
}

int tpeer_feed_raw(tpeer_t* p, const void* bytes, size_t n) {
  const uint8_t* b = bytes;
  size_t chunk = p->split ? p->split : n;
  size_t off = 0;
  int first = 0;

  if (n == 0) {
    p->last_feed = yamux_session_feed(&p->side.session, b, 0, p->now_ns);
    return p->last_feed;
  }
  while (off < n) {
    size_t len = n - off < chunk ? n - off : chunk;
    int r = yamux_session_feed(&p->side.session, b + off, len, p->now_ns);
    if (r != 0 && first == 0) first = r;
    off += len;
  }
  p->last_feed = first;
  return first;
}

int tpeer_send_frame(tpeer_t* p, uint8_t type, uint16_t flags, uint32_t id,
                     uint32_t length, const void* body, size_t bodylen) {
  tbuf_t b = {0};
  int r;

  tframe_put(&b, type, flags, id, length, body, bodylen);
  r = tpeer_feed_raw(p, b.data, b.len);
  tbuf_free(&b);
  return r;
}

size_t tpeer_pump(tpeer_t* p) {
  size_t before = p->out.n;
  int rounds = 0;

  for (;;) {
    int did = side_service(&p->side);
    size_t took = side_take(&p->side, &p->raw, p->max_write);
    if (took > 0) {
      size_t used = tframes_decode(&p->out, p->raw.data, p->raw.len);
      tbuf_consume(&p->raw, used);
    }
    if (!did && took == 0) break;
    if (++rounds == PUMP_LIMIT) ASSERT(!"tpeer_pump: the session never quiets");
  }
  return p->out.n - before;
}

size_t tpeer_pending(tpeer_t* p) {
  tpeer_pump(p);
  return p->out.n - p->next;
}

const tframe_t* tpeer_next_frame(tpeer_t* p) {
  tpeer_pump(p);
  if (p->next == p->out.n) return NULL;
  return &p->out.v[p->next++];
}

static int frame_matches(const tframe_t* f, long long type, long long flags,
                         long long id, long long length) {
  return (type == TANY || f->type == type) &&
         (flags == TANY || f->flags == flags) && (id == TANY || f->id == id) &&
         (length == TANY || f->length == length);
}

const tframe_t* tpeer_expect_at(tpeer_t* p, long long type, long long flags,
                                long long id, long long length,
                                const char* file, int line) {
  const tframe_t* f = tpeer_next_frame(p);
  tframe_t want;
  char buf[128];

  if (f != NULL && frame_matches(f, type, flags, id, length)) return f;
  want.version = 0;
  want.type = (uint8_t)(type == TANY ? 0 : type);
  want.flags = (uint16_t)(flags == TANY ? 0 : flags);
  want.id = (uint32_t)(id == TANY ? 0 : id);
  want.length = (uint32_t)(length == TANY ? 0 : length);
  fprintf(stderr, "%s:%d: expected frame %s%s\n", file, line,
          tframe_str(&want, buf, sizeof(buf)),
          (type == TANY || flags == TANY || id == TANY || length == TANY)
              ? " (TANY fields shown as 0)"
              : "");
  if (f != NULL) p->next--;
  task_fail(file, line, "got %s",
            f ? tframe_str(f, buf, sizeof(buf)) : "no frame");
}

void tpeer_expect_none_at(tpeer_t* p, const char* file, int line) {
  char buf[128];

  tpeer_pump(p);
  if (p->next != p->out.n)
    task_fail(file, line, "expected no frame, got %s",
              tframe_str(&p->out.v[p->next], buf, sizeof(buf)));
}

const tframe_t* tpeer_find(tpeer_t* p, long long type, long long flags,
                           long long id, long long length) {
  const tframe_t* f;

  while ((f = tpeer_next_frame(p)) != NULL)
    if (frame_matches(f, type, flags, id, length)) return f;
  return NULL;
}

void tpeer_advance(tpeer_t* p, uint64_t ms) {
  uint64_t target = p->now_ns + ms * T_MS;
  int rounds = 0;

  tpeer_pump(p);
  for (;;) {
    uint64_t e = yamux_session_expiry(&p->side.session);
    if (e > target) break;
    if (e > p->now_ns) p->now_ns = e;
    yamux_session_handle_expiry(&p->side.session, p->now_ns);
    tpeer_pump(p);
    if (++rounds == PUMP_LIMIT)
      ASSERT(!"tpeer_advance: the expiry never moves past now");
  }
  p->now_ns = target;
  tpeer_pump(p);
}

void tpeer_close(tpeer_t* p) {
  int owns = side_close_begin(&p->side);
  int rounds = 0;

  for (;;) {
    tpeer_pump(p);
    if (side_close_done(&p->side, owns)) break;
    side_close_tick(&p->side, &p->now_ns, "tpeer_close");
    if (++rounds == PUMP_LIMIT) ASSERT(!"tpeer_close: never completes");
  }
  tpeer_pump(p);
  side_check_closed(&p->side, owns, "tpeer_close");
}

void tpeer_free(tpeer_t* p) {
  tbuf_free(&p->raw);
  tframes_free(&p->out);
  p->next = 0;
  if (current_peer == p) {
    current_peer = NULL;
    task_fail_hook = NULL;
  }
}

/* ---- in-memory pair ----------------------------------------------------- */

void tpair_init(tpair_t* pair, const yamux_config_t* ccfg,
                const yamux_config_t* scfg) {
  memset(pair, 0, sizeof(*pair));
  pair->now_ns = 1000 * T_MS;
  side_init(&pair->c, YAMUX_CLIENT, ccfg, &pair->now_ns);
  side_init(&pair->s, YAMUX_SERVER, scfg, &pair->now_ns);
}

/* Moves up to `budget` bytes (0: unlimited) from `from` to `to`, in short
 * writes of pair->short_write bytes if set. */
static size_t pair_move(tpair_t* pair, tside_t* from, tside_t* to,
                        size_t budget, int* eof_sent, int* did) {
  tbuf_t b = {0};
  size_t moved = 0;

  for (;;) {
    size_t limit = pair->short_write;
    size_t took;

    if (budget != 0) {
      size_t left = budget - moved;
      if (left == 0) break;
      if (limit == 0 || limit > left) limit = left;
    }
    /* A closed receiver behaves like a socket whose peer is gone: the
     * bytes are accepted and lost. */
    took = side_take(from, to->transport_close_requested ? NULL : &b, limit);
    if (took == 0) break;
    moved += took;
    if (b.len > 0) {
      yamux_session_feed(&to->session, b.data, b.len, pair->now_ns);
      b.len = 0;
    }
  }
  tbuf_free(&b);

  /* The sender's transport is gone and everything it wrote was delivered:
   * the receiver reads EOF. */
  if (from->transport_close_requested && !*eof_sent &&
      !to->transport_close_requested) {
    *eof_sent = 1;
    yamux_session_feed_error(&to->session, UV_EOF, pair->now_ns);
    *did = 1;
  }
  return moved;
}

size_t tpair_pump(tpair_t* pair) {
  size_t total = 0;
  size_t c2s = 0;
  size_t s2c = 0;
  int rounds = 0;

  for (;;) {
    size_t moved = 0;
    size_t cap = pair->max_per_pump;
    int did = side_service(&pair->c);

    did |= side_service(&pair->s);
    if (cap == 0 || c2s < cap) {
      size_t m = pair_move(pair, &pair->c, &pair->s, cap ? cap - c2s : 0,
                           &pair->eof_to_s, &did);
      c2s += m;
      moved += m;
    }
    if (cap == 0 || s2c < cap) {
      size_t m = pair_move(pair, &pair->s, &pair->c, cap ? cap - s2c : 0,
                           &pair->eof_to_c, &did);
      s2c += m;
      moved += m;
    }
    total += moved;
    if (!did && moved == 0) break;
    if (cap != 0 && c2s >= cap && s2c >= cap) break;
    if (++rounds == PUMP_LIMIT) ASSERT(!"tpair_pump: the sessions never quiet");
  }
  pair->moved_c2s += c2s;
  pair->moved_s2c += s2c;
  /* One more service round so callbacks due after the last move run. */
  side_service(&pair->c);
  side_service(&pair->s);
  return total;
}

void tpair_pump_all(tpair_t* pair) {
  int rounds = 0;

  while (tpair_pump(pair) != 0 || pair->c.woken || pair->s.woken)
    if (++rounds == PUMP_LIMIT) ASSERT(!"tpair_pump_all: never quiets");
}

static uint64_t pair_expiry(tpair_t* pair) {
  uint64_t a = pair->c.transport_closed
                   ? UINT64_MAX
                   : yamux_session_expiry(&pair->c.session);
  uint64_t b = pair->s.transport_closed
                   ? UINT64_MAX
                   : yamux_session_expiry(&pair->s.session);
  return a < b ? a : b;
}

void tpair_advance(tpair_t* pair, uint64_t ms) {
  uint64_t target = pair->now_ns + ms * T_MS;
  int rounds = 0;

  tpair_pump_all(pair);
  for (;;) {
    uint64_t e = pair_expiry(pair);
    if (e > target) break;
    if (e > pair->now_ns) pair->now_ns = e;
    if (yamux_session_expiry(&pair->c.session) <= pair->now_ns)
      yamux_session_handle_expiry(&pair->c.session, pair->now_ns);
    if (yamux_session_expiry(&pair->s.session) <= pair->now_ns)
      yamux_session_handle_expiry(&pair->s.session, pair->now_ns);
    tpair_pump_all(pair);
    if (++rounds == PUMP_LIMIT)
      ASSERT(!"tpair_advance: the expiry never moves past now");
  }
  pair->now_ns = target;
  tpair_pump_all(pair);
}

void tpair_close(tpair_t* pair) {
  int cowns = side_close_begin(&pair->c);
  int sowns = side_close_begin(&pair->s);
  int rounds = 0;

  for (;;) {
    int cdone;
    int sdone;
    tpair_pump_all(pair);
    cdone = side_close_done(&pair->c, cowns);
    sdone = side_close_done(&pair->s, sowns);
    if (cdone && sdone) break;
    /* Fire the earlier of the two sessions' timers. */
    if (!cdone && (sdone || yamux_session_expiry(&pair->c.session) <=
                                yamux_session_expiry(&pair->s.session)))
      side_close_tick(&pair->c, &pair->now_ns, "tpair_close (client)");
    else
      side_close_tick(&pair->s, &pair->now_ns, "tpair_close (server)");
    if (++rounds == PUMP_LIMIT) ASSERT(!"tpair_close: never completes");
  }
  tpair_pump_all(pair);
  side_check_closed(&pair->c, cowns, "tpair_close (client)");
  side_check_closed(&pair->s, sowns, "tpair_close (server)");
}

/* ---- recording stream --------------------------------------------------- */

typedef struct {
  yamux_write_t req;
  tstream_t* t;
  uint8_t data[];
} twrite_t;

static tstream_t* tstream_of(yamux_stream_t* h) {
  return (tstream_t*)h->data;
}

static void ts_alloc_cb(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  tstream_t* t = tstream_of(h);
  size_t n = suggested;

  if (t->alloc_limit != 0 && n > t->alloc_limit) n = t->alloc_limit;
  if (n == 0) n = 1;
  buf->base = malloc(n);
  ASSERT_NOT_NULL(buf->base);
  buf->len = n;
}

static void ts_read_cb(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  tstream_t* t = tstream_of(h);

  if (nread > 0) {
    uint8_t* old = t->rx.data;
    ASSERT_LE((size_t)nread, buf->len);
    tbuf_append(&t->rx, buf->base, (size_t)nread);
    if (t->rx.data != old) {
      rx_forget(old);
      rx_remember(t->rx.data);
    }
    t->nreads++;
  } else if (nread == UV_EOF) {
    t->eof++;
  } else if (nread == UV_ENOBUFS) {
    t->nobufs++;
  } else if (nread < 0) {
    t->read_error = (int)nread;
    t->read_errors++;
  }
  if (buf != NULL) free(buf->base);
}

static void ts_connect_cb(yamux_connect_t* req, int status) {
  tstream_t* t = req->data;

  t->connect_count++;
  t->connect_status = status;
}

static void ts_write_cb(yamux_write_t* req, int status) {
  twrite_t* w = (twrite_t*)req;

  w->t->writes_done++;
  w->t->last_write_status = status;
  if (status != 0) w->t->write_errors++;
  free(w);
}

static void ts_shutdown_cb(yamux_shutdown_t* req, int status) {
  tstream_t* t = req->data;

  t->shutdown_count++;
  t->shutdown_status = status;
}

static void ts_close_cb(yamux_stream_t* h) {
  tstream_of(h)->close_count++;
}

void tstream_init(tstream_t* t, yamux_session_t* session) {
  memset(t, 0, sizeof(*t));
  ASSERT_OK(yamux_stream_init(session, &t->handle));
  t->handle.data = t;
  t->connect_req.data = t;
  t->shutdown_req.data = t;
  t->connect_status = 1; /* not called yet */
  t->shutdown_status = 1;
}

int tstream_open(tstream_t* t) {
  return yamux_stream_open(&t->connect_req, &t->handle, ts_connect_cb);
}

int tstream_accept(tstream_t* t, yamux_session_t* session) {
  tstream_init(t, session);
  return yamux_accept(session, &t->handle);
}

int tstream_read_start(tstream_t* t) {
  return yamux_read_start(&t->handle, ts_alloc_cb, ts_read_cb);
}

int tstream_write(tstream_t* t, const void* data, size_t n) {
  twrite_t* w = malloc(sizeof(*w) + (n ? n : 1));
  uv_buf_t buf;
  int r;

  ASSERT_NOT_NULL(w);
  w->t = t;
  if (data != NULL)
    memcpy(w->data, data, n);
  else
    tpattern_fill(w->data, n, 0);
  buf = uv_buf_init((char*)w->data, (unsigned int)n);
  r = yamux_write(&w->req, &t->handle, &buf, 1, ts_write_cb);
  if (r != 0) free(w);
  return r;
}

int tstream_shutdown(tstream_t* t) {
  return yamux_shutdown(&t->shutdown_req, &t->handle, ts_shutdown_cb);
}

void tstream_close(tstream_t* t) {
  yamux_close(&t->handle, ts_close_cb);
}

void tstream_close_reset(tstream_t* t, uint32_t code) {
  yamux_close_reset(&t->handle, code, ts_close_cb);
}
