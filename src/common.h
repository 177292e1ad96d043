/* Private to libyamux: helpers shared by every source file. */
#ifndef YAMUX_COMMON_H
#define YAMUX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "yamux.h"

#define YAMUX__CONTAINER_OF(ptr, type, member) \
  ((type*)((char*)(ptr)-offsetof(type, member)))
#define YAMUX__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define YAMUX__MIN(a, b) ((a) < (b) ? (a) : (b))
#define YAMUX__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Intrusive circular list, libuv's uv__queue shape. An empty head (or a
 * node that is in no list) points at itself. */
typedef struct yamux__queue yamux__queue_t;

static inline void yamux__queue_init(yamux__queue_t* q) {
  q->next = q;
  q->prev = q;
}

static inline int yamux__queue_empty(const yamux__queue_t* q) {
  return q == q->next;
}

static inline yamux__queue_t* yamux__queue_head(const yamux__queue_t* q) {
  return q->next;
}

static inline void yamux__queue_insert_tail(yamux__queue_t* h,
                                            yamux__queue_t* q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void yamux__queue_insert_head(yamux__queue_t* h,
                                            yamux__queue_t* q) {
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

/* Removes q from its list and leaves it self-linked, so that
 * yamux__queue_empty(q) tells whether a node is in a list. */
static inline void yamux__queue_remove(yamux__queue_t* q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  yamux__queue_init(q);
}

#define yamux__queue_data(ptr, type, field) \
  YAMUX__CONTAINER_OF(ptr, type, field)

/* uv_buf_init() without the call into libuv (it is on every frame's path). */
static inline uv_buf_t yamux__buf(char* base, size_t len) {
  uv_buf_t b;
  b.base = base;
  b.len = len;
  return b;
}

/* Memory: every allocation of a session goes through its allocator. */
static inline void* yamux__malloc(const yamux_allocator_t* m, size_t n) {
  return m->malloc(n, m->user_data);
}
static inline void* yamux__calloc(const yamux_allocator_t* m, size_t k,
                                  size_t n) {
  return m->calloc(k, n, m->user_data);
}
static inline void yamux__free(const yamux_allocator_t* m, void* p) {
  if (p != NULL) m->free(p, m->user_data);
}

extern const yamux_allocator_t yamux__default_allocator;

#endif /* YAMUX_COMMON_H */
