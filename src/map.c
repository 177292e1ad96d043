/* The stream table. O(1) lookups whatever ids the peer picks: the seeded
 * multiplicative hash spreads sequential and adversarial ids alike, and the
 * table stays at most 4/5 full. */
#include "map.h"

#include <uv.h>

static uint32_t slot_of(const yamux__map_t* m, uint32_t id) {
  uint32_t h = (id ^ m->seed) * 0x9E3779B1u;
  h ^= h >> 15;
  return h & (m->cap - 1);
}

void yamux__map_init(yamux__map_t* m, uint32_t seed) {
  memset(m, 0, sizeof(*m));
  m->seed = seed;
}

void yamux__map_free(yamux__map_t* m, const yamux_allocator_t* mem) {
  yamux__free(mem, m->slots);
  yamux__free(mem, m->keys);
  m->slots = NULL;
  m->keys = NULL;
  m->cap = 0;
  m->size = 0;
}

struct yamux__strm* yamux__map_find(const yamux__map_t* m, uint32_t id) {
  uint32_t i;
  if (m->cap == 0) return NULL;
  for (i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
    if (m->slots[i] == NULL) return NULL;
    if (m->keys[i] == id) return m->slots[i];
  }
}

static void put(yamux__map_t* m, uint32_t id, struct yamux__strm* st) {
  uint32_t i = slot_of(m, id);
  while (m->slots[i] != NULL) i = (i + 1) & (m->cap - 1);
  m->slots[i] = st;
  m->keys[i] = id;
  m->size++;
}

static int grow(yamux__map_t* m, const yamux_allocator_t* mem) {
  yamux__map_t old = *m;
  uint32_t ncap = old.cap ? old.cap * 2 : 16;
  uint32_t i;
  if (ncap == 0 || ncap > (1u << 30)) return UV_ENOMEM;
  m->slots = yamux__calloc(mem, ncap, sizeof(*m->slots));
  m->keys = yamux__malloc(mem, (size_t)ncap * sizeof(*m->keys));
  if (m->slots == NULL || m->keys == NULL) {
    yamux__free(mem, m->slots);
    yamux__free(mem, m->keys);
    *m = old;
    return UV_ENOMEM;
  }
  m->cap = ncap;
  m->size = 0;
  for (i = 0; i < old.cap; i++)
    if (old.slots[i] != NULL) put(m, old.keys[i], old.slots[i]);
  yamux__free(mem, old.slots);
  yamux__free(mem, old.keys);
  return 0;
}

int yamux__map_insert(yamux__map_t* m, const yamux_allocator_t* mem,
                      uint32_t id, struct yamux__strm* st) {
  int rc;
  /* At most 4/5 full: keys sit apart from the pointers, so a probe run of
   * linear probing at that load (about 13 slots for a miss) stays within a
   * cache line or two, and the table costs 15-30 bytes per stream. */
  if (((uint64_t)m->size + 1) * 5 > (uint64_t)m->cap * 4) {
    rc = grow(m, mem);
    if (rc != 0) return rc;
  }
  put(m, id, st);
  return 0;
}

void yamux__map_remove(yamux__map_t* m, uint32_t id,
                       const struct yamux__strm* st) {
  uint32_t i, j, home;
  if (m->cap == 0) return;
  for (i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
    if (m->slots[i] == NULL) return;
    if (m->keys[i] == id && m->slots[i] == st) break;
  }
  /* Backward-shift: pull later members of the probe run into the hole so
   * lookups never need tombstones. */
  for (j = (i + 1) & (m->cap - 1); m->slots[j] != NULL;
       j = (j + 1) & (m->cap - 1)) {
    home = slot_of(m, m->keys[j]);
    /* Move j into i if home is not cyclically in (i, j]. */
    if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
      m->slots[i] = m->slots[j];
      m->keys[i] = m->keys[j];
      i = j;
    }
  }
  m->slots[i] = NULL;
  m->size--;
}
