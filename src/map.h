/* Private: stream id -> stream record, open addressing with linear probing
 * and backward-shift deletion. Ids come from the peer, so the hash is seeded
 * per session. */
#ifndef YAMUX_MAP_H
#define YAMUX_MAP_H

#include "common.h"

struct yamux__strm;

typedef struct {
  struct yamux__strm** slots; /* NULL = empty */
  uint32_t* keys;
  uint32_t cap; /* power of two, or 0 */
  uint32_t size;
  uint32_t seed;
} yamux__map_t;

void yamux__map_init(yamux__map_t* m, uint32_t seed);
void yamux__map_free(yamux__map_t* m, const yamux_allocator_t* mem);
struct yamux__strm* yamux__map_find(const yamux__map_t* m, uint32_t id);
/* Returns 0 or UV_ENOMEM. The id must not be present. */
int yamux__map_insert(yamux__map_t* m, const yamux_allocator_t* mem,
                      uint32_t id, struct yamux__strm* st);
/* Removes the entry of `id` that holds `st` (a no-op if there is none). */
void yamux__map_remove(yamux__map_t* m, uint32_t id,
                       const struct yamux__strm* st);

#endif
