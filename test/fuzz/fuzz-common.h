/* Shared pieces of the libFuzzer targets: a counting allocator, a check
 * macro that aborts (so libFuzzer records a crash), and a tiny parser that
 * validates everything a session writes. Header-only: each target is one
 * translation unit linked against the engine's objects. */
#ifndef YAMUX_FUZZ_COMMON_H
#define YAMUX_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamux.h"

#define FZ_CHECK(cond)                                                     \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                      \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* ---- counting allocator ------------------------------------------------ */

typedef union {
  size_t size;
  max_align_t align;
} fz_hdr_t;

typedef struct {
  yamux_allocator_t alloc;
  size_t live;
  size_t peak;
  size_t blocks;
  size_t attempts;
  size_t fail_at; /* 1-based attempt to fail; 0 never */
} fz_mem_t;

static void* fz_malloc(size_t n, void* ud) {
  fz_mem_t* m = ud;
  fz_hdr_t* h;
  m->attempts++;
  if (m->fail_at != 0 && m->attempts == m->fail_at) return NULL;
  h = malloc(sizeof(*h) + n);
  if (h == NULL) return NULL;
  h->size = n;
  m->live += n;
  m->blocks++;
  if (m->live > m->peak) m->peak = m->live;
  return h + 1;
}

static void* fz_calloc(size_t k, size_t n, void* ud) {
  void* p;
  if (n != 0 && k > (SIZE_MAX / 2) / n) return NULL;
  p = fz_malloc(k * n, ud);
  if (p != NULL) memset(p, 0, k * n);
  return p;
}

static void fz_free(void* p, void* ud) {
  fz_mem_t* m = ud;
  fz_hdr_t* h;
  if (p == NULL) return;
  h = (fz_hdr_t*)p - 1;
  FZ_CHECK(m->live >= h->size && m->blocks > 0);
  m->live -= h->size;
  m->blocks--;
  free(h);
}

static void* fz_realloc(void* p, size_t n, void* ud) {
  fz_mem_t* m = ud;
  fz_hdr_t* h;
  size_t old;
  if (p == NULL) return fz_malloc(n, ud);
  if (n == 0) {
    fz_free(p, ud);
    return NULL;
  }
  m->attempts++;
  if (m->fail_at != 0 && m->attempts == m->fail_at) return NULL;
  h = (fz_hdr_t*)p - 1;
  old = h->size;
  h = realloc(h, sizeof(*h) + n);
  if (h == NULL) return NULL;
  h->size = n;
  m->live = m->live - old + n;
  if (m->live > m->peak) m->peak = m->live;
  return h + 1;
}

static void fz_mem_init(fz_mem_t* m) {
  memset(m, 0, sizeof(*m));
  m->alloc.user_data = m;
  m->alloc.malloc = fz_malloc;
  m->alloc.calloc = fz_calloc;
  m->alloc.realloc = fz_realloc;
  m->alloc.free = fz_free;
}

/* ---- output validator -------------------------------------------------- */

/* Follows the byte stream a session writes (in any split) and checks every
 * frame header: version 0, a known type, only the four known flags, Data
 * bodies no larger than max_frame_size, stream id 0 exactly for Ping and Go
 * Away. Counts frames by type. */
typedef struct {
  uint8_t hdr[12];
  unsigned int hlen;
  uint32_t body_left;
  uint32_t max_frame;
  uint64_t frames[4];
  uint64_t data_bytes;
  uint64_t goaways;
} fz_out_t;

static void fz_out_header(fz_out_t* o) {
  const uint8_t* h = o->hdr;
  uint8_t type = h[1];
  uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
  uint32_t id =
      (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
  uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
                 (uint32_t)h[10] << 8 | h[11];
  FZ_CHECK(h[0] == 0);
  FZ_CHECK(type <= 3);
  FZ_CHECK((flags & ~0xfu) == 0);
  o->frames[type]++;
  if (type == 0) {
    FZ_CHECK(id != 0);
    FZ_CHECK(len <= o->max_frame);
    o->body_left = len;
    o->data_bytes += len;
  } else if (type == 1) {
    FZ_CHECK(id != 0);
  } else {
    FZ_CHECK(id == 0);
    if (type == 3) o->goaways++;
  }
}

static void fz_out_feed(fz_out_t* o, const uint8_t* p, size_t n) {
  while (n > 0) {
    if (o->body_left > 0) {
      size_t k = n < o->body_left ? n : o->body_left;
      o->body_left -= (uint32_t)k;
      p += k;
      n -= k;
      continue;
    }
    o->hdr[o->hlen++] = *p++;
    n--;
    if (o->hlen == 12) {
      o->hlen = 0;
      fz_out_header(o);
    }
  }
}

/* Takes up to `limit` bytes (0: all) of a session's pending output through
 * the validator and acknowledges them. Returns the bytes taken. */
static size_t fz_take(yamux_session_t* s, fz_out_t* o, size_t limit,
                      unsigned int max_bufs, uint64_t now) {
  const uv_buf_t* bufs;
  unsigned int n, i;
  size_t taken = 0;
  n = yamux_session_send_buffers(s, &bufs, max_bufs, now);
  FZ_CHECK(n <= max_bufs);
  for (i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (limit != 0 && len > limit - taken) len = limit - taken;
    fz_out_feed(o, (const uint8_t*)bufs[i].base, len);
    taken += len;
    if (limit != 0 && taken == limit) break;
  }
  if (n > 0) yamux_session_send_done(s, taken, 0, now);
  return taken;
}

#endif /* YAMUX_FUZZ_COMMON_H */
