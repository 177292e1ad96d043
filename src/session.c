/* The session engine: lifecycle, the inbound frame parser and dispatcher,
 * Go Away, pings and keepalive, timers as deadlines, and the deferred
 * callback machinery. No I/O: bytes come in through yamux_session_feed(),
 * frames leave through yamux_session_send_buffers() (sched.c), time comes in
 * as an argument. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define NEVER UINT64_MAX
#define MS(x) ((uint64_t)(x)*1000000u)

static yamux__sess_t* sess_of(const yamux_session_t* h) {
  return h == NULL ? NULL : h->internal_;
}

/* ---- logging ---------------------------------------------------------- */

void yamux__sess_log(yamux__sess_t* s, yamux_log_level_t level, const char* fmt,
                     ...) {
  char line[256];
  va_list ap;
  if (s->cfg.log_cb == NULL || level > s->cfg.log_level) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  s->cfg.log_cb(s->cfg.log_data, level, line);
}

/* ---- deferred work ---------------------------------------------------- */

void yamux__sess_wake(yamux__sess_t* s) {
  if ((s->flags & YAMUX__SESS_WOKEN) || !(s->flags & YAMUX__SESS_STARTED) ||
      (s->flags & YAMUX__SESS_TRANSPORT_CLOSED))
    return;
  s->flags |= YAMUX__SESS_WOKEN;
  if (s->transport.wake != NULL) s->transport.wake(s->handle);
}

void yamux__sess_complete_req(yamux__sess_t* s, void* req, int status) {
  struct yamux_write_s* any = req; /* every request starts with the fields */
  if (any->status_ == 0) any->status_ = status;
  yamux__queue_insert_tail(&s->done_reqs, &any->queue_);
  yamux__sess_wake(s);
}

static void run_req(yamux_write_t* any) {
  int status = any->status_;
  switch (any->type_) {
    case YAMUX__REQ_WRITE:
      if (any->bufs_ != any->bufsml_ && any->bufs_ != NULL) {
        yamux__sess_t* s = any->stream->session->internal_;
        yamux__free(&s->mem, any->bufs_);
        any->bufs_ = NULL;
      }
      if (any->cb_ != NULL) any->cb_(any, status);
      break;
    case YAMUX__REQ_SHUTDOWN: {
      yamux_shutdown_t* r = (yamux_shutdown_t*)any;
      if (r->cb_ != NULL) r->cb_(r, status);
      break;
    }
    case YAMUX__REQ_CONNECT: {
      yamux_connect_t* r = (yamux_connect_t*)any;
      if (r->cb_ != NULL) r->cb_(r, status);
      break;
    }
    case YAMUX__REQ_PING: {
      yamux_ping_t* r = (yamux_ping_t*)any;
      uint64_t rtt = status == 0 ? r->sent_at_ : 0;
      if (r->cb_ != NULL) r->cb_(r, status, rtt);
      break;
    }
  }
}

static void free_records(yamux__sess_t* s) {
  yamux__strm_t* st;
  while ((st = s->free_list) != NULL) {
    s->free_list = (yamux__strm_t*)st->link.next;
    yamux__map_remove(&s->map, st->id, st); /* may be gone already */
    /* A body split across feeds may still be arriving for it: the rest is
     * discarded, never written into freed (or recycled) memory. */
    if (s->body_stream == st) s->body_stream = NULL;
    yamux__strm_free(s, st);
  }
}

static void finish_close(yamux__sess_t* s);

/* Tells the application about inbound streams it has not heard of, one
 * connection callback each. Returns whether any callback ran. */
static int announce(yamux__sess_t* s) {
  int ran = 0;
  s->depth++;
  while (s->announce_count > 0 && s->connection_cb != NULL &&
         !(s->flags & YAMUX__SESS_CLOSING) && s->accept_count > 0) {
    s->announce_count--;
    s->connection_cb(s->handle, 0);
    ran = 1;
  }
  s->depth--;
  return ran;
}

/* Runs everything that is due. Callbacks run at depth 1 so that API calls
 * made from them only queue work. */
static void settle(yamux__sess_t* s) {
  int progress;
  s->depth++;
  do {
    progress = 0;
    if ((s->flags & YAMUX__SESS_ENDED) &&
        !(s->flags & YAMUX__SESS_END_REPORTED) &&
        !(s->flags & YAMUX__SESS_CLOSING)) {
      s->flags |= YAMUX__SESS_END_REPORTED;
      progress = 1;
      if (s->end_cb != NULL) s->end_cb(s->handle, s->end_status);
    }
    while (!yamux__queue_empty(&s->done_reqs)) {
      yamux__queue_t* q = yamux__queue_head(&s->done_reqs);
      yamux_write_t* r = yamux__queue_data(q, yamux_write_t, queue_);
      yamux__queue_remove(q);
      run_req(r);
      progress = 1;
    }
    while (!yamux__queue_empty(&s->deliverq)) {
      yamux__queue_t* q = yamux__queue_head(&s->deliverq);
      yamux__strm_t* st = yamux__queue_data(q, yamux__strm_t, link);
      yamux__queue_remove(q);
      st->state &= ~YAMUX__S_ON_DELIVERQ;
      yamux__strm_deliver(st);
      progress = 1;
    }
    if (announce(s)) progress = 1;
    /* Requests that callbacks above cancelled complete first: a close
     * callback may reuse the handle's memory. */
    while (!yamux__queue_empty(&s->closing_handles) &&
           yamux__queue_empty(&s->done_reqs)) {
      yamux__queue_t* q = yamux__queue_head(&s->closing_handles);
      yamux_stream_t* h = yamux__queue_data(q, yamux_stream_t, u_.pending_);
      yamux_close_cb cb = h->close_cb_;
      yamux__queue_remove(q);
      h->flags_ |= YAMUX__H_CLOSED;
      h->internal_ = NULL;
      progress = 1;
      if (cb != NULL) cb(h);
    }
  } while (progress);
  free_records(s);
  s->depth--;

  if ((s->flags & YAMUX__SESS_CLOSING) &&
      !(s->flags & YAMUX__SESS_TRANSPORT_CLOSING) &&
      ((s->flags & YAMUX__SESS_TX_DEAD) || !yamux__sched_want_write(s))) {
    yamux_session_t* h = s->handle;
    s->flags |= YAMUX__SESS_TRANSPORT_CLOSING;
    if (s->transport.close != NULL)
      s->transport.close(h);
    else
      s->flags |= YAMUX__SESS_TRANSPORT_CLOSED;
    /* The transport may have finished closing inside its hook. */
    if (h->internal_ == NULL) return;
  }
  if ((s->flags & YAMUX__SESS_TRANSPORT_CLOSED) && s->depth == 0)
    finish_close(s);
}

/* Deadlines set by API calls start at the next drive: between drives the
 * session's idea of the time is stale (it never reads a clock), and a
 * deadline counted from it could expire at once. Unarmed timers sit at the
 * tail of their (otherwise time-ordered) lists. */
static void arm_list(yamux__queue_t* list, uint64_t deadline) {
  yamux__queue_t* q;
  for (q = list->prev; q != list; q = q->prev) {
    yamux__strm_t* st = yamux__queue_data(q, yamux__strm_t, link);
    if (st->t.deadline != YAMUX__UNARMED) break;
    st->t.deadline = deadline;
  }
}

static void drive_begin(yamux__sess_t* s, uint64_t now) {
  s->depth++;
  s->now = now;
  arm_list(&s->open_timers, now + MS(s->cfg.open_timeout_ms));
  arm_list(&s->linger_timers, now + MS(s->cfg.linger_timeout_ms));
  if (s->close_deadline == YAMUX__UNARMED)
    s->close_deadline = now + MS(s->cfg.close_timeout_ms);
  /* Streams whose reader had no buffer last time are tried again. */
  while (!yamux__queue_empty(&s->deliver_retryq)) {
    yamux__queue_t* q = yamux__queue_head(&s->deliver_retryq);
    yamux__queue_remove(q);
    yamux__queue_insert_tail(&s->deliverq, q);
  }
}

void yamux__sess_leave(yamux__sess_t* s) {
  if (--s->depth == 0) settle(s);
}

/* API calls made outside a drive must not run callbacks: they ask the
 * transport for a run() instead. */
void yamux__sess_api_leave(yamux__sess_t* s) {
  if (s->depth == 0 &&
      (yamux__sched_want_write(s) || !yamux__queue_empty(&s->done_reqs) ||
       !yamux__queue_empty(&s->deliverq) ||
       !yamux__queue_empty(&s->closing_handles) || s->free_list != NULL ||
       (s->announce_count && s->connection_cb) ||
       ((s->flags & YAMUX__SESS_ENDED) &&
        !(s->flags & YAMUX__SESS_END_REPORTED)) ||
       (s->flags & YAMUX__SESS_CLOSING)))
    yamux__sess_wake(s);
}

/* ---- session end ------------------------------------------------------ */

/* What a reader sees when the session ends under its stream: our own codes
 * pass through; a transport EOF or error becomes UV_ECONNABORTED, so that it
 * cannot be mistaken for the stream's own FIN (UV_EOF) or RST
 * (UV_ECONNRESET). end_cb has the transport's code. */
int yamux__sess_read_error_status(const yamux__sess_t* s) {
  if (s->end_status <= YAMUX_EPROTO && s->end_status > YAMUX_ERRNO_RESERVED_END)
    return s->end_status;
  return UV_ECONNABORTED;
}

/* What pending requests get when the session ends: the transport's own
 * error (a write that hit EPIPE says so), except that EOF is no error. */
static int request_error_status(const yamux__sess_t* s) {
  return s->end_status == UV_EOF ? UV_ECONNABORTED : s->end_status;
}

static void fail_pings(yamux__sess_t* s, int status) {
  yamux__queue_t* q;
  while (!yamux__queue_empty(&s->pings_todo)) {
    q = yamux__queue_head(&s->pings_todo);
    yamux__queue_remove(q);
    yamux__sess_complete_req(s, yamux__queue_data(q, yamux_write_t, queue_),
                             status);
  }
  while (!yamux__queue_empty(&s->pings_sent)) {
    q = yamux__queue_head(&s->pings_sent);
    yamux__queue_remove(q);
    yamux__sess_complete_req(s, yamux__queue_data(q, yamux_write_t, queue_),
                             status);
  }
}

/* ---- visiting every stream ----------------------------------------------- */

/* The table's records sorted by address, into `v` (room for 2 * n); returns
 * where the sorted run is (v or v + n). An LSD radix sort, 11 bits a pass,
 * over the bits in which the addresses differ: two or three passes. */
static yamux__strm_t** sort_by_address(yamux__strm_t** v, uint32_t n,
                                       uintptr_t lo, uintptr_t hi) {
  enum { DIGIT_BITS = 11, BUCKETS = 1 << DIGIT_BITS };
  uint32_t counts[BUCKETS];
  yamux__strm_t** tmp = v + n;
  unsigned int shift;
  uint32_t i, sum, c;
  for (shift = 0; shift < sizeof(uintptr_t) * 8 && ((hi - lo) >> shift) != 0;
       shift += DIGIT_BITS) {
    yamux__strm_t** swap;
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < n; i++)
      counts[(((uintptr_t)v[i] - lo) >> shift) & (BUCKETS - 1)]++;
    for (i = 0, sum = 0; i < BUCKETS; i++) {
      c = counts[i];
      counts[i] = sum;
      sum += c;
    }
    for (i = 0; i < n; i++)
      tmp[counts[(((uintptr_t)v[i] - lo) >> shift) & (BUCKETS - 1)]++] = v[i];
    swap = v;
    v = tmp;
    tmp = swap;
  }
  return v;
}

/* Calls fn on every record in the table. Session teardown visits every
 * stream four times (fail it, deliver the error, detach the handle, free
 * it): in the table's hash order each visit waits for memory, most of the
 * 60 ms that closing 100,000 streams took. In address order (records were
 * allocated in opening order, next to each other) the same visits cost
 * a tenth of that, and sorting the addresses costs about a millisecond. fn
 * must not add or remove table entries. */
static void for_each_stream(yamux__sess_t* s,
                            void (*fn)(yamux__sess_t* s, yamux__strm_t* st,
                                       int arg),
                            int arg) {
  enum { MIN_SORTED = 256 }; /* below this the table order is as good */
  yamux__strm_t **buf = NULL, **v;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  uint32_t i, n = 0;
  if (s->map.size >= MIN_SORTED)
    buf = yamux__malloc(&s->mem, 2 * (size_t)s->map.size * sizeof(*buf));
  if (buf == NULL) { /* small, or no memory for the list: table order */
    for (i = 0; i < s->map.cap; i++)
      if (s->map.slots[i] != NULL) fn(s, s->map.slots[i], arg);
    return;
  }
  for (i = 0; i < s->map.cap; i++) {
    yamux__strm_t* st = s->map.slots[i];
    if (st == NULL) continue;
    buf[n++] = st;
    if ((uintptr_t)st < lo) lo = (uintptr_t)st;
    if ((uintptr_t)st > hi) hi = (uintptr_t)st;
  }
  v = sort_by_address(buf, n, lo, hi);
  for (i = 0; i < n; i++) fn(s, v[i], arg);
  yamux__free(&s->mem, buf);
}

static void fail_one(yamux__sess_t* s, yamux__strm_t* st, int status) {
  (void)s;
  if (!(st->state & YAMUX__S_RELEASED)) yamux__strm_fail(st, status, 0);
}

/* Fails every stream and request: the session can carry nothing more. */
static void fail_all(yamux__sess_t* s, int stream_status) {
  for_each_stream(s, fail_one, stream_status);
  fail_pings(s, stream_status);
  s->pong_count = 0;
  s->refuse_count = 0;
  s->flags &= ~YAMUX__SESS_KEEPALIVE_DUE;
  s->keepalive_deadline = NEVER;
}

static void session_end(yamux__sess_t* s, int status) {
  if (s->flags & YAMUX__SESS_ENDED) return;
  s->flags |= YAMUX__SESS_ENDED;
  s->end_status = status;
  s->flags |= YAMUX__SESS_INPUT_DEAD;
  yamux__sess_log(s, YAMUX_LOG_INFO, "session ended: %s",
                  yamux_strerror(status));
  fail_all(s, request_error_status(s));
  yamux__sess_wake(s);
}

void yamux__sess_protocol_error(yamux__sess_t* s, const char* why) {
  if (s->flags & YAMUX__SESS_ENDED) return;
  yamux__sess_log(s, YAMUX_LOG_ERROR, "protocol error: %s", why);
  s->stats.protocol_errors++;
  if (!(s->goaway_flags & YAMUX__GOAWAY_SENT)) {
    s->goaway_flags |= YAMUX__GOAWAY_QUEUED;
    s->goaway_code = YAMUX_GOAWAY_PROTOCOL;
  }
  session_end(s, YAMUX_EPROTO);
}

/* ---- config and init -------------------------------------------------- */

static void* def_malloc(size_t n, void* ud) {
  (void)ud;
  return malloc(n);
}
static void* def_calloc(size_t k, size_t n, void* ud) {
  (void)ud;
  return calloc(k, n);
}
static void* def_realloc(void* p, size_t n, void* ud) {
  (void)ud;
  return realloc(p, n);
}
static void def_free(void* p, void* ud) {
  (void)ud;
  free(p);
}

const yamux_allocator_t yamux__default_allocator = {
    NULL, def_malloc, def_calloc, def_realloc, def_free};

void yamux_config_init(yamux_config_t* cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof(*cfg));
  cfg->initial_window = YAMUX__DEFAULT_WINDOW;
  cfg->max_window = 64u * 1024 * 1024;
  cfg->window_budget = 256ull * 1024 * 1024;
  cfg->max_frame_size = 65536;
  cfg->accept_backlog = 256;
  cfg->max_inbound_streams = 65536;
  cfg->max_unacked_opens = 256;
  cfg->max_queued_pongs = 64;
  cfg->keepalive_interval_ms = 30000;
  cfg->keepalive_timeout_ms = 10000;
  cfg->open_timeout_ms = 75000;
  cfg->linger_timeout_ms = 300000;
  cfg->close_timeout_ms = 5000;
  cfg->log_level = YAMUX_LOG_INFO;
}

static int check_config(const yamux_config_t* c) {
  if (c->initial_window < YAMUX__DEFAULT_WINDOW) return UV_EINVAL;
  if (c->max_window > 0x7fffffffu) return UV_EINVAL;
  if (c->max_frame_size == 0 || c->max_frame_size > YAMUX__MAX_FRAME_BODY)
    return UV_EINVAL;
  if (c->accept_backlog == 0 || c->max_inbound_streams == 0 ||
      c->max_unacked_opens == 0 || c->max_queued_pongs == 0)
    return UV_EINVAL;
  if (c->max_queued_pongs > 65536) return UV_EINVAL;
  if (c->allocator != NULL &&
      (c->allocator->malloc == NULL || c->allocator->calloc == NULL ||
       c->allocator->realloc == NULL || c->allocator->free == NULL))
    return UV_EINVAL;
  return 0;
}

int yamux_session_init(yamux_session_t* handle, yamux_role_t role,
                       const yamux_config_t* cfg) {
  yamux_config_t def;
  const yamux_allocator_t* mem;
  yamux__sess_t* s;
  int rc, i;

  if (handle == NULL || (role != YAMUX_CLIENT && role != YAMUX_SERVER))
    return UV_EINVAL;
  if (cfg == NULL) {
    yamux_config_init(&def);
    cfg = &def;
  }
  rc = check_config(cfg);
  if (rc != 0) return rc;
  mem = cfg->allocator != NULL ? cfg->allocator : &yamux__default_allocator;

  {
    void* data = handle->data; /* the caller's, as in libuv */
    memset(handle, 0, sizeof(*handle));
    handle->data = data;
  }
  s = yamux__calloc(mem, 1, sizeof(*s));
  if (s == NULL) return UV_ENOMEM;
  s->pongs = s->pongs_small;
  s->pong_cap = YAMUX__MIN((uint32_t)YAMUX__ARRAY_SIZE(s->pongs_small),
                           cfg->max_queued_pongs);
  s->handle = handle;
  s->cfg = *cfg;
  s->mem = *mem;
  s->cfg.allocator = NULL; /* the copy in s->mem is the one used */
  /* A window raised above the growth limit simply does not grow. */
  if (s->cfg.max_window < s->cfg.initial_window)
    s->cfg.max_window = s->cfg.initial_window;
  handle->role = role;
  handle->internal_ = s;
  s->next_id = role == YAMUX_CLIENT ? 1 : 2;
  yamux__sched_init(s);
  /* The seed only needs to differ between sessions and be unknown to the
   * peer in practice; the address of the state is good enough and free. */
  yamux__map_init(&s->map, (uint32_t)((uintptr_t)s >> 4) * 2654435761u);
  yamux__queue_init(&s->ctrlq);
  for (i = 0; i < YAMUX__PRIO_LEVELS; i++) {
    yamux__queue_init(&s->sendq[i]);
    yamux__queue_init(&s->sparseq[i]);
  }
  yamux__queue_init(&s->accept_q);
  yamux__queue_init(&s->syn_waitq);
  yamux__queue_init(&s->deliverq);
  yamux__queue_init(&s->deliver_retryq);
  yamux__queue_init(&s->open_timers);
  yamux__queue_init(&s->linger_timers);
  yamux__queue_init(&s->done_reqs);
  yamux__queue_init(&s->deferred_reqs);
  yamux__queue_init(&s->closing_handles);
  yamux__queue_init(&s->pings_todo);
  yamux__queue_init(&s->pings_sent);
  s->next_keepalive = NEVER;
  s->keepalive_deadline = NEVER;
  s->close_deadline = NEVER;
  s->next_opaque = 1;
  return 0;
}

int yamux_session_listen(yamux_session_t* handle, yamux_connection_cb cb) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || (s->flags & YAMUX__SESS_CLOSING)) return UV_EINVAL;
  s->connection_cb = cb;
  yamux__sess_api_leave(s);
  return 0;
}

void yamux_session_on_goaway(yamux_session_t* handle, yamux_goaway_cb cb) {
  yamux__sess_t* s = sess_of(handle);
  if (s != NULL) s->goaway_cb = cb;
}

int yamux_session_goaway(yamux_session_t* handle, uint32_t code) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || (s->flags & YAMUX__SESS_CLOSING) ||
      !(s->flags & YAMUX__SESS_STARTED) || (s->flags & YAMUX__SESS_ENDED))
    return UV_EINVAL;
  if (s->goaway_flags & (YAMUX__GOAWAY_QUEUED | YAMUX__GOAWAY_SENT))
    return UV_EALREADY;
  s->goaway_flags |= YAMUX__GOAWAY_QUEUED;
  s->goaway_code = code;
  /* Refuse what the peer opens from now on; ours fail in open. */
  yamux__sess_api_leave(s);
  return 0;
}

int yamux_ping(yamux_ping_t* req, yamux_session_t* handle, yamux_ping_cb cb) {
  yamux__sess_t* s = sess_of(handle);
  if (req == NULL || s == NULL || (s->flags & YAMUX__SESS_CLOSING))
    return UV_EINVAL;
  if ((s->flags & YAMUX__SESS_ENDED) || !(s->flags & YAMUX__SESS_STARTED))
    return YAMUX_ECLOSED;
  YAMUX__REQ_INIT(req, YAMUX__REQ_PING, cb);
  req->opaque_ = 0;
  req->sent_at_ = 0;
  req->session = handle;
  yamux__queue_insert_tail(&s->pings_todo, &req->queue_);
  yamux__sess_api_leave(s);
  return 0;
}

const yamux_allocator_t* yamux_session_get_allocator(
    const yamux_session_t* handle) {
  const yamux__sess_t* s = sess_of(handle);
  return s == NULL ? NULL : &s->mem;
}

void* yamux_session_get_transport_data(const yamux_session_t* handle) {
  const yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED) ||
      (s->flags & YAMUX__SESS_TRANSPORT_CLOSED))
    return NULL;
  return s->transport.data;
}

int yamux_session_is_closing(const yamux_session_t* handle) {
  const yamux__sess_t* s = sess_of(handle);
  return s == NULL || (s->flags & YAMUX__SESS_CLOSING);
}

int yamux_session_get_stats(const yamux_session_t* handle,
                            yamux_session_stats_t* out) {
  const yamux__sess_t* s = sess_of(handle);
  uint32_t i;
  if (s == NULL || out == NULL) return UV_EINVAL;
  *out = s->stats;
  out->streams_open = s->n_streams;
  out->streams_pending_accept = s->accept_count;
  out->rtt_ns = s->rtt_ns;
  out->queued_bytes = 0;
  out->buffered_bytes = 0;
  for (i = 0; i < s->map.cap; i++) {
    const yamux__strm_t* st = s->map.slots[i];
    if (st == NULL) continue;
    out->queued_bytes += st->write_queued;
    out->buffered_bytes += st->buffered;
  }
  /* ... and what the gather list holds, not yet written. */
  for (i = s->head; i < s->tail; i++)
    if (s->owner[i] != NULL) out->queued_bytes += s->iov[i].len;
  return 0;
}

/* ---- close ------------------------------------------------------------ */

static void free_one(yamux__sess_t* s, yamux__strm_t* st, int unused) {
  (void)unused;
  yamux__strm_free(s, st);
}

static void free_session(yamux__sess_t* s) {
  yamux_session_t* h = s->handle;
  yamux_session_close_cb cb = s->close_cb;
  yamux_allocator_t mem = s->mem;

  free_records(s);
  for_each_stream(s, free_one, 0);
  yamux__strm_pool_free(s);
  yamux__map_free(&s->map, &mem);
  s->head = s->tail = 0;
  yamux__sched_trim(s, 1);
  yamux__free(&mem, s->refuse_ring);
  if (s->pongs != s->pongs_small) yamux__free(&mem, s->pongs);
  yamux__free(&mem, s);
  h->internal_ = NULL;
  if (cb != NULL) cb(h);
}

static void detach_one(yamux__sess_t* s, yamux__strm_t* st, int unused) {
  (void)s, (void)unused;
  if (st->handle != NULL) yamux__strm_handle_closed(st);
}

static void finish_close(yamux__sess_t* s) {
  if (s->depth != 0) return;
  s->depth++;
  /* Anything still in the gather list never reached the peer. */
  yamux__sched_fail_batch(s, UV_ECANCELED);
  for_each_stream(s, detach_one, 0);
  s->depth--;
  /* Deliver what that queued, then release everything. */
  s->flags &=
      ~YAMUX__SESS_TRANSPORT_CLOSED; /* keep settle from recursing into us */
  settle(s);
  s->flags |= YAMUX__SESS_TRANSPORT_CLOSED;
  free_session(s);
}

void yamux_session_close(yamux_session_t* handle, yamux_session_close_cb cb) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || (s->flags & YAMUX__SESS_CLOSING)) return;
  s->flags |= YAMUX__SESS_CLOSING;
  s->close_cb = cb;
  s->flags |= YAMUX__SESS_INPUT_DEAD;
  fail_all(s, UV_ECANCELED);
  if (!(s->flags & YAMUX__SESS_STARTED)) {
    /* No transport will ever deliver callbacks later: streams opened and
     * written before the start complete here, then everything is freed. */
    s->flags |= YAMUX__SESS_TRANSPORT_CLOSING;
    s->flags |= YAMUX__SESS_TRANSPORT_CLOSED;
    finish_close(s);
    return;
  }
  if (!(s->goaway_flags & (YAMUX__GOAWAY_QUEUED | YAMUX__GOAWAY_SENT)) &&
      !(s->flags & YAMUX__SESS_TX_DEAD)) {
    s->goaway_flags |= YAMUX__GOAWAY_QUEUED;
    s->goaway_code = YAMUX_GOAWAY_NORMAL;
  }
  /* Between drives the session's time is stale: the next drive arms it. */
  if (!s->cfg.close_timeout_ms)
    s->close_deadline = NEVER;
  else if (s->depth > 0)
    s->close_deadline = s->now + MS(s->cfg.close_timeout_ms);
  else
    s->close_deadline = YAMUX__UNARMED;
  s->flags &=
      ~YAMUX__SESS_WOKEN; /* always ask for the run that finishes the close */
  yamux__sess_wake(s);
}

/* ---- driving ---------------------------------------------------------- */

int yamux_session_start_custom(yamux_session_t* handle,
                               const yamux_transport_t* transport,
                               yamux_session_end_cb end_cb, uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || transport == NULL || (s->flags & YAMUX__SESS_STARTED) ||
      (s->flags & YAMUX__SESS_CLOSING))
    return UV_EINVAL;
  s->transport = *transport;
  s->end_cb = end_cb;
  s->flags |= YAMUX__SESS_STARTED;
  s->now = now;
  if (s->cfg.keepalive_interval_ms)
    s->next_keepalive = now + MS(s->cfg.keepalive_interval_ms);
  /* Streams opened before the start have frames waiting. */
  yamux__sess_api_leave(s);
  return 0;
}

/* Pongs wait in a ring: a few inline (keepalive replies), up to
 * max_queued_pongs on the heap when a peer pings faster than we write. */
static void queue_pong(yamux__sess_t* s, uint32_t opaque) {
  if (s->pong_count >= s->pong_cap) {
    uint32_t* ring = NULL;
    uint32_t i;
    if (s->pongs == s->pongs_small && s->pong_cap < s->cfg.max_queued_pongs)
      ring = yamux__malloc(&s->mem, s->cfg.max_queued_pongs * sizeof(*ring));
    if (ring == NULL) {
      s->stats.pongs_dropped++;
      return;
    }
    for (i = 0; i < s->pong_count; i++)
      ring[i] = s->pongs[(s->pong_head + i) % s->pong_cap];
    s->pongs = ring;
    s->pong_head = 0;
    s->pong_cap = s->cfg.max_queued_pongs;
  }
  s->pongs[(s->pong_head + s->pong_count) % s->pong_cap] = opaque;
  s->pong_count++;
}

/* The smoothed RTT is what stats report; window tuning uses the minimum,
 * which queueing behind bulk data cannot inflate (a pong measured behind
 * megabytes in the kernel would otherwise grow windows, which queue more,
 * which inflates the next sample). */
static void rtt_sample(yamux__sess_t* s, uint64_t rtt) {
  if (rtt == 0) rtt = 1;
  s->rtt_sampled_at = s->now;
  s->rtt_ns = s->rtt_ns ? (s->rtt_ns + rtt) / 2 : rtt;
  if (s->rtt_min_ns == 0 || rtt < s->rtt_min_ns) s->rtt_min_ns = rtt;
}

static void on_pong(yamux__sess_t* s, uint32_t opaque) {
  yamux__queue_t* q;
  uint64_t rtt;
  if ((s->flags & YAMUX__SESS_KEEPALIVE_INFLIGHT) &&
      opaque == s->keepalive_opaque) {
    s->flags &= ~YAMUX__SESS_KEEPALIVE_INFLIGHT;
    rtt = s->now - s->keepalive_sent_at;
    rtt_sample(s, rtt);
    return;
  }
  for (q = s->pings_sent.next; q != &s->pings_sent; q = q->next) {
    yamux_ping_t* p = yamux__queue_data(q, yamux_ping_t, queue_);
    if (p->opaque_ != opaque) continue;
    rtt = s->now - p->sent_at_;
    p->sent_at_ = rtt; /* run_req reports it */
    rtt_sample(s, rtt);
    yamux__queue_remove(q);
    yamux__sess_complete_req(s, p, 0);
    return;
  }
  s->stats.frames_dropped++;
}

static void on_goaway(yamux__sess_t* s, uint32_t code) {
  s->goaway_flags |= YAMUX__GOAWAY_RECV;
  s->goaway_rx_code = code;
  s->stats.goaway_received = (uint64_t)code + 1;
  yamux__sess_log(s, YAMUX_LOG_INFO, "peer sent Go Away(%u)", code);
  if (s->goaway_cb != NULL) s->goaway_cb(s->handle, code);
  if (code == YAMUX_GOAWAY_NORMAL) {
    /* Drain: opens that never reached the wire cannot be accepted now. */
    yamux__strm_release_syn_waiters(s);
    return;
  }
  session_end(s, code == YAMUX_GOAWAY_PROTOCOL   ? YAMUX_EPEERPROTO
                 : code == YAMUX_GOAWAY_INTERNAL ? YAMUX_EPEERINTERNAL
                                                 : YAMUX_EPEERGOAWAY);
}

static int our_parity(const yamux__sess_t* s, uint32_t id) {
  return (id & 1) == (s->handle->role == YAMUX_CLIENT ? 1u : 0u);
}

static void refuse(yamux__sess_t* s, uint32_t id) {
  s->stats.streams_refused++;
  if (s->refuse_ring == NULL) {
    s->refuse_ring =
        yamux__malloc(&s->mem, YAMUX__REFUSE_RING * sizeof(uint32_t));
    if (s->refuse_ring == NULL) {
      s->stats.frames_dropped++; /* no memory: the peer learns nothing */
      return;
    }
  }
  if (s->refuse_count >= YAMUX__REFUSE_RING) {
    /* The peer floods SYNs faster than it reads our RSTs: drop. */
    s->stats.frames_dropped++;
    return;
  }
  s->refuse_ring[(s->refuse_head + s->refuse_count) % YAMUX__REFUSE_RING] = id;
  s->refuse_count++;
}

/* An id may be opened once. SYNs may arrive out of id order (see
 * ids_used), so the last YAMUX__ID_WINDOW ids are tracked in a bitmap; an id
 * older than that cannot be told apart and is taken as new (a live one is
 * still caught by the stream table). Records the id. Returns 0 on reuse. */
static int fresh_peer_id(yamux__sess_t* s, uint32_t id) {
  uint32_t idx = id >> 1, top = s->last_peer_id >> 1;
  uint64_t* used = s->ids_used;
#define BIT(i) (used[((i) % YAMUX__ID_WINDOW) / 64] & (1ull << ((i) % 64)))
#define SET(i) (used[((i) % YAMUX__ID_WINDOW) / 64] |= 1ull << ((i) % 64))
#define CLR(i) (used[((i) % YAMUX__ID_WINDOW) / 64] &= ~(1ull << ((i) % 64)))
  if (s->last_peer_id == 0 || idx > top) {
    uint32_t i;
    if (s->last_peer_id == 0 || idx - top >= YAMUX__ID_WINDOW)
      memset(s->ids_used, 0, sizeof(s->ids_used));
    else
      for (i = top + 1; i < idx; i++) CLR(i);
    SET(idx);
    s->last_peer_id = id;
    return 1;
  }
  if (top - idx >= YAMUX__ID_WINDOW) return 1;
  if (BIT(idx)) return 0;
  SET(idx);
  return 1;
#undef BIT
#undef SET
#undef CLR
}

/* A SYN: validate, then create the inbound stream or refuse it. Returns the
 * new stream, or NULL if the frame's body must be discarded. */
static yamux__strm_t* on_syn(yamux__sess_t* s, const yamux__frame_hdr_t* h) {
  uint32_t id = h->stream_id;
  yamux__strm_t* st;
  if (id == 0 || our_parity(s, id)) {
    yamux__sess_protocol_error(s, "SYN with our parity or on id 0");
    return NULL;
  }
  st = yamux__map_find(&s->map, id);
  if (st != NULL && !(st->state & YAMUX__S_RELEASED)) {
    yamux__sess_protocol_error(s, "SYN on a live stream id");
    return NULL;
  }
  /* A released record (freed at the end of this drive) may still hold the
   * id: unlink it now, so that the id never maps to two records. */
  if (st != NULL) yamux__map_remove(&s->map, id, st);
  if (!fresh_peer_id(s, id)) {
    yamux__sess_protocol_error(s, "SYN on a stream id that was used before");
    return NULL;
  }
  if (h->type == YAMUX__TYPE_DATA && h->length > s->cfg.initial_window &&
      h->length > YAMUX__DEFAULT_WINDOW) {
    yamux__sess_protocol_error(s, "Data|SYN beyond the receive window");
    return NULL;
  }
  if (s->accept_count >= s->cfg.accept_backlog && s->announce_count > 0 &&
      s->connection_cb != NULL && !(s->flags & YAMUX__SESS_CLOSING)) {
    /* The backlog filled within this read: let the application accept what
     * it was not told about yet before refusing anything (a peer may send
     * far more SYNs in one write than the backlog holds). We are inside a
     * drive call, so callbacks may run here. */
    announce(s);
    if (s->flags & YAMUX__SESS_INPUT_DEAD) return NULL;
  }
  if ((s->goaway_flags & (YAMUX__GOAWAY_QUEUED | YAMUX__GOAWAY_SENT)) ||
      (s->flags & YAMUX__SESS_CLOSING) ||
      s->accept_count >= s->cfg.accept_backlog ||
      s->n_inbound >= s->cfg.max_inbound_streams) {
    yamux__sess_log(s, YAMUX_LOG_DEBUG, "refusing stream %u", id);
    refuse(s, id);
    return NULL;
  }
  st = yamux__strm_new(s, id, 0);
  if (st == NULL) {
    refuse(s, id);
    return NULL;
  }
  s->n_inbound++;
  s->stats.streams_accepted++;
  yamux__queue_insert_tail(&s->accept_q, &st->link);
  s->accept_count++;
  s->announce_count++;
  return st;
}

static void on_stream_frame(yamux__sess_t* s, const yamux__frame_hdr_t* h) {
  yamux__strm_t* st;

  if (h->flags & YAMUX__FLAG_SYN) {
    st = on_syn(s, h);
    /* The sticky error state: a protocol error ended the session. */
    if (s->flags & YAMUX__SESS_INPUT_DEAD) return;
  } else {
    st = yamux__map_find(&s->map, h->stream_id);
    if (st != NULL && (st->state & YAMUX__S_RELEASED)) st = NULL;
  }
  if (st == NULL) {
    /* Unknown, closed or refused: drain the body and count it. */
    if (!(h->flags & YAMUX__FLAG_SYN)) s->stats.frames_dropped++;
    if (h->type == YAMUX__TYPE_DATA) {
      s->body_stream = NULL;
      s->body_left = h->length;
    }
    return;
  }

  /* Any frame but RST on a stream we opened means the peer took it: an
   * implicit ACK. hashicorp/yamux never ACKs a stream whose FIN arrived
   * before its application accepted it, yet it echoes and answers FIN. */
  if ((h->flags & YAMUX__FLAG_ACK) || !(h->flags & YAMUX__FLAG_RST))
    yamux__strm_on_ack(st);

  if (h->type == YAMUX__TYPE_WINDOW_UPDATE) {
    if (h->flags & YAMUX__FLAG_RST) {
      yamux__strm_on_rst(st, h->length);
      return;
    }
    if (h->length != 0) {
      if ((uint64_t)st->send_window + h->length > UINT32_MAX) {
        yamux__sess_protocol_error(s,
                                   "window update overflows the send window");
        return;
      }
      st->send_window += h->length;
      yamux__strm_queue_send(st);
    }
    if (h->flags & YAMUX__FLAG_FIN) yamux__strm_on_fin(st);
    return;
  }

  /* Data. */
  if (h->flags & YAMUX__FLAG_RST) {
    yamux__strm_on_rst(st, 0);
    s->body_stream = NULL;
    s->body_left = h->length;
    return;
  }
  if (h->length > 0) {
    if (h->length > st->recv_window) {
      yamux__sess_protocol_error(s, "Data beyond the receive window");
      return;
    }
    st->recv_window -= h->length;
    s->stats.data_bytes_received += h->length;
    st->bytes_received += h->length;
    s->body_left = h->length;
    if (st->state & YAMUX__S_FIN_RCVD) {
      /* The peer said it would send no more: that stream is broken. */
      yamux__sess_log(s, YAMUX_LOG_WARN, "stream %u: Data after FIN", st->id);
      s->body_stream = NULL;
      yamux__strm_fail(st, UV_ECONNRESET, 1);
      return;
    }
    s->body_stream = st;
    return; /* FIN, if any, is applied after the body */
  }
  if (h->flags & YAMUX__FLAG_FIN) yamux__strm_on_fin(st);
}

static void on_header(yamux__sess_t* s, const yamux__frame_hdr_t* h) {
  s->stats.frames_received++;
  /* Any frame at all proves the peer alive. */
  s->keepalive_deadline = NEVER;
  if (yamux__frame_validate(h) != 0) {
    yamux__sess_protocol_error(s, h->version != YAMUX__PROTO_VERSION
                                      ? "unsupported protocol version"
                                      : "unknown frame type");
    return;
  }
  s->cur = *h;
  s->body_stream = NULL;
  switch (h->type) {
    case YAMUX__TYPE_DATA:
    case YAMUX__TYPE_WINDOW_UPDATE:
      /* Stream 0 is the session's: no peer sends stream frames on it, and
       * a transport of zero bytes decodes as endless empty Data on it. */
      if (h->stream_id == 0) {
        yamux__sess_protocol_error(s, "Data or Window Update on stream 0");
        return;
      }
      on_stream_frame(s, h);
      break;
    case YAMUX__TYPE_PING:
      /* Answered whatever the stream id (hashicorp and go-yamux do). */
      if (h->flags & YAMUX__FLAG_SYN)
        queue_pong(s, h->length);
      else if (h->flags & YAMUX__FLAG_ACK)
        on_pong(s, h->length);
      break;
    case YAMUX__TYPE_GO_AWAY:
      on_goaway(s, h->length);
      break;
  }
}

static void finish_body(yamux__sess_t* s) {
  yamux__strm_t* st = s->body_stream;
  s->body_stream = NULL;
  if (st != NULL && (s->cur.flags & YAMUX__FLAG_FIN) &&
      !(st->state & YAMUX__S_RELEASED))
    yamux__strm_on_fin(st);
}

static void parse(yamux__sess_t* s, const uint8_t* p, size_t len) {
  yamux__frame_hdr_t h;
  while (len > 0 && !(s->flags & YAMUX__SESS_INPUT_DEAD)) {
    if (s->body_left > 0) {
      size_t n = YAMUX__MIN(len, (size_t)s->body_left);
      if (s->body_stream != NULL &&
          !(s->body_stream->state & YAMUX__S_RELEASED))
        yamux__strm_on_data(s->body_stream, (const char*)p, n);
      p += n;
      len -= n;
      s->body_left -= (uint32_t)n;
      if (s->body_left == 0) finish_body(s);
      continue;
    }
    if (s->hdr_len == 0 && len >= YAMUX__HDR_LEN) {
      yamux__frame_decode(p, &h);
      p += YAMUX__HDR_LEN;
      len -= YAMUX__HDR_LEN;
    } else {
      size_t n = YAMUX__MIN(len, (size_t)(YAMUX__HDR_LEN - s->hdr_len));
      memcpy(s->hdr_buf + s->hdr_len, p, n);
      s->hdr_len += (uint32_t)n;
      p += n;
      len -= n;
      if (s->hdr_len < YAMUX__HDR_LEN) break;
      s->hdr_len = 0;
      yamux__frame_decode(s->hdr_buf, &h);
    }
    on_header(s, &h);
    if (!(s->flags & YAMUX__SESS_INPUT_DEAD) && s->body_left == 0 &&
        h.type == YAMUX__TYPE_DATA)
      finish_body(s);
  }
}

int yamux_session_feed(yamux_session_t* handle, const void* data, size_t len,
                       uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED) ||
      (data == NULL && len > 0))
    return UV_EINVAL;
  drive_begin(s, now);
  s->stats.bytes_received += len;
  /* Any byte proves the peer alive, not only a whole header: a peer
   * dribbling a large frame has its pong queued behind it. And a peer that
   * was heard from needs no ping for another interval (as go-yamux does):
   * of two idle sessions pinging each other, only one side ends up pinging,
   * and a busy session pings not at all. */
  if (len > 0) {
    s->keepalive_deadline = NEVER;
    if (s->cfg.keepalive_interval_ms)
      s->next_keepalive = now + MS(s->cfg.keepalive_interval_ms);
  }
  if (!(s->flags & YAMUX__SESS_CLOSING)) parse(s, data, len);
  yamux__sess_leave(s);
  /* The session may be gone if the user closed it from a callback and the
   * transport finished closing synchronously. */
  s = sess_of(handle);
  return s != NULL && (s->flags & YAMUX__SESS_ENDED) ? s->end_status : 0;
}

void yamux_session_feed_error(yamux_session_t* handle, int status,
                              uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED)) return;
  drive_begin(s, now);
  if (status != UV_EOF) s->flags |= YAMUX__SESS_TX_DEAD;
  if (status == UV_EOF && (s->hdr_len != 0 || s->body_left != 0)) {
    /* A frame cut short by EOF: the peer died mid-write. */
    yamux__sess_log(s, YAMUX_LOG_WARN, "transport EOF inside a frame");
  }
  session_end(s, status < 0 ? status : UV_EOF);
  yamux__sess_leave(s);
}

unsigned int yamux_session_send_buffers(yamux_session_t* handle,
                                        const uv_buf_t** bufs,
                                        unsigned int max_bufs, uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  unsigned int n, i;
  if (s == NULL || bufs == NULL || !(s->flags & YAMUX__SESS_STARTED) ||
      max_bufs == 0)
    return 0;
  drive_begin(s, now);
  /* A stream frame takes two entries (header and body): the batch is built
   * with room for both and handed out max_bufs entries at a time. */
  n = 0;
  if (!(s->flags & YAMUX__SESS_TX_DEAD)) {
    yamux__sched_gather(s, YAMUX__MAX(max_bufs, 2u));
    n = yamux__sched_lend(s, max_bufs);
    s->lent_bytes = 0;
    for (i = 0; i < n; i++) s->lent_bytes += s->iov[s->head + i].len;
    YAMUX__SET_FLAG(s->flags, YAMUX__SESS_LENT, n > 0);
  }
  *bufs = &s->iov[s->head];
  yamux__sess_leave(s);
  return sess_of(handle) == NULL ? 0 : n;
}

void yamux_session_send_done(yamux_session_t* handle, size_t nbytes, int status,
                             uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED)) return;
  drive_begin(s, now);
  if (status < 0) {
    s->flags |= YAMUX__SESS_TX_DEAD;
    s->flags &= ~YAMUX__SESS_LENT;
    yamux__sched_fail_batch(s, status);
    session_end(s, status);
  } else {
    /* A short write: the transport is backed up (see yamux__sched_lend). */
    YAMUX__SET_FLAG(s->flags, YAMUX__SESS_BACKED_UP,
                    (s->flags & YAMUX__SESS_LENT) && nbytes < s->lent_bytes);
    s->flags &= ~YAMUX__SESS_LENT;
    yamux__sched_consume(s, nbytes);
    yamux__sched_trim(s, 0);
  }
  yamux__sess_leave(s);
}

uint64_t yamux_session_expiry(const yamux_session_t* handle) {
  const yamux__sess_t* s = sess_of(handle);
  uint64_t t = NEVER;
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED) ||
      (s->flags & YAMUX__SESS_TRANSPORT_CLOSING))
    return NEVER;
  if (s->flags & YAMUX__SESS_CLOSING) return s->close_deadline;
  if (!(s->flags & YAMUX__SESS_ENDED)) {
    if (s->cfg.keepalive_interval_ms) t = s->next_keepalive;
    t = YAMUX__MIN(t, s->keepalive_deadline);
  }
  if (!yamux__queue_empty(&s->open_timers)) {
    const yamux__strm_t* st = yamux__queue_data(
        yamux__queue_head(&s->open_timers), yamux__strm_t, link);
    t = YAMUX__MIN(t, st->t.deadline);
  }
  if (!yamux__queue_empty(&s->linger_timers)) {
    const yamux__strm_t* st = yamux__queue_data(
        yamux__queue_head(&s->linger_timers), yamux__strm_t, link);
    t = YAMUX__MIN(t, st->t.deadline);
  }
  return t;
}

void yamux_session_handle_expiry(yamux_session_t* handle, uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_STARTED)) return;
  drive_begin(s, now);
  if (s->flags & YAMUX__SESS_CLOSING) {
    if (now >= s->close_deadline) {
      /* The peer is not reading: give up flushing. The gather list stays
       * the transport's until it has closed (finish_close fails it then):
       * an asynchronous writer may still be reading those buffers. */
      s->flags |= YAMUX__SESS_TX_DEAD;
    }
    yamux__sess_leave(s);
    return;
  }
  yamux__sched_trim(s, 0); /* an idle session gives its batch back */
  if (!(s->flags & YAMUX__SESS_ENDED) && s->keepalive_deadline <= now) {
    yamux__sess_log(s, YAMUX_LOG_WARN, "keepalive timeout");
    session_end(s, YAMUX_EKEEPALIVE);
  }
  if (!(s->flags & YAMUX__SESS_ENDED) && s->cfg.keepalive_interval_ms &&
      s->next_keepalive <= now) {
    /* A ping every interval, even if an older one is unanswered: frames
     * other than its pong may have proven the peer alive meanwhile, and
     * only a fresh ping can catch the peer going silent after that. A
     * deadline already running (nothing at all heard since the last ping)
     * is kept. */
    s->next_keepalive = now + MS(s->cfg.keepalive_interval_ms);
    s->flags |= YAMUX__SESS_KEEPALIVE_DUE;
    if (s->cfg.keepalive_timeout_ms && s->keepalive_deadline == NEVER)
      s->keepalive_deadline = now + MS(s->cfg.keepalive_timeout_ms);
  }
  while (!yamux__queue_empty(&s->open_timers)) {
    yamux__strm_t* st = yamux__queue_data(yamux__queue_head(&s->open_timers),
                                          yamux__strm_t, link);
    if (st->t.deadline > now) break;
    yamux__strm_timer_remove(st);
    yamux__sess_log(s, YAMUX_LOG_WARN, "stream %u: open timed out", st->id);
    yamux__strm_fail(st, UV_ETIMEDOUT, 1);
  }
  while (!yamux__queue_empty(&s->linger_timers)) {
    yamux__strm_t* st = yamux__queue_data(yamux__queue_head(&s->linger_timers),
                                          yamux__strm_t, link);
    if (st->t.deadline > now) break;
    yamux__strm_timer_remove(st);
    yamux__sess_log(s, YAMUX_LOG_DEBUG, "stream %u: linger timeout", st->id);
    yamux__strm_fail(st, UV_ETIMEDOUT, 1);
  }
  yamux__sess_leave(s);
}

int yamux_session_run(yamux_session_t* handle, uint64_t now) {
  yamux__sess_t* s = sess_of(handle);
  int want;
  if (s == NULL) return 0;
  s->flags &= ~YAMUX__SESS_WOKEN;
  if (!(s->flags & YAMUX__SESS_STARTED)) return 0;
  drive_begin(s, now);
  yamux__sess_leave(s);
  s = sess_of(handle);
  if (s == NULL) return 0;
  want = !(s->flags & YAMUX__SESS_TX_DEAD) && yamux__sched_want_write(s);
  return want;
}

void yamux_session_transport_closed(yamux_session_t* handle) {
  yamux__sess_t* s = sess_of(handle);
  if (s == NULL || !(s->flags & YAMUX__SESS_TRANSPORT_CLOSING) ||
      (s->flags & YAMUX__SESS_TRANSPORT_CLOSED))
    return;
  s->flags |= YAMUX__SESS_TRANSPORT_CLOSED;
  if (s->depth == 0) finish_close(s);
}
