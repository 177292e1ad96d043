/* Streams: the public stream API, the per-stream state machine, receive
 * buffering and delivery, and receive-window credit. */
#include "internal.h"

static yamux__sess_t* sess_of_stream(const yamux_stream_t* h) {
  if (h == NULL || h->session == NULL) return NULL;
  return h->session->internal_;
}

/* ---- records ---------------------------------------------------------- */

yamux__strm_t* yamux__strm_new(yamux__sess_t* s, uint32_t id, uint32_t state) {
  yamux__strm_t* st = s->pool;
  if (st != NULL) {
    s->pool = (yamux__strm_t*)st->sess;
    s->pool_count--;
    memset(st, 0, sizeof(*st));
  } else {
    st = yamux__calloc(&s->mem, 1, sizeof(*st));
    if (st == NULL) return NULL;
  }
  st->sess = s;
  st->id = id;
  st->state = state | (YAMUX__PRIO_DEFAULT << YAMUX__S_PRIO_SHIFT);
  st->send_window = YAMUX__DEFAULT_WINDOW;
  st->recv_window = s->cfg.initial_window;
  st->recv_window_max = s->cfg.initial_window;
  yamux__queue_init(&st->writes);
  yamux__queue_init(&st->ctrl_link);
  yamux__queue_init(&st->send_link);
  yamux__queue_init(&st->link);
  if (yamux__map_insert(&s->map, &s->mem, id, st) != 0) {
    yamux__strm_free(s, st);
    return NULL;
  }
  s->n_streams++;
  return st;
}

/* ---- the receive buffer: a circular list held by its last chunk -------- */

static yamux__rxchunk_t* rx_first(const yamux__strm_t* st) {
  return st->rx_tail == NULL ? NULL : st->rx_tail->next;
}

static void rx_append(yamux__strm_t* st, yamux__rxchunk_t* c) {
  if (st->rx_tail == NULL) {
    c->next = c;
  } else {
    c->next = st->rx_tail->next;
    st->rx_tail->next = c;
  }
  st->rx_tail = c;
}

/* Unlinks the first chunk (there must be one). */
static void rx_drop_first(yamux__strm_t* st) {
  yamux__rxchunk_t* c = st->rx_tail->next;
  if (c == st->rx_tail)
    st->rx_tail = NULL;
  else
    st->rx_tail->next = c->next;
}

static void free_rx(yamux__sess_t* s, yamux__strm_t* st) {
  yamux__rxchunk_t* c;
  while ((c = rx_first(st)) != NULL) {
    rx_drop_first(st);
    yamux__free(&s->mem, c);
  }
  st->buffered = 0;
}

void yamux__strm_free(yamux__sess_t* s, yamux__strm_t* st) {
  yamux_stream_t* h = st->handle;
  if (h != NULL) {
    /* Session teardown: the handle is released with the session. */
    h->internal_ = NULL;
    h->flags_ |= YAMUX__H_CLOSED;
  }
  free_rx(s, st);
#ifndef YAMUX_NO_POOL
  if (s->pool_count < YAMUX__POOL_MAX && !(s->flags & YAMUX__SESS_CLOSING)) {
    st->sess = (yamux__sess_t*)s->pool; /* the pool's link */
    s->pool = st;
    s->pool_count++;
    return;
  }
#endif
  yamux__free(&s->mem, st);
}

void yamux__strm_pool_free(yamux__sess_t* s) {
  yamux__strm_t* st;
  while ((st = s->pool) != NULL) {
    s->pool = (yamux__strm_t*)st->sess;
    yamux__free(&s->mem, st);
  }
  s->pool_count = 0;
}

void yamux__strm_timer_remove(yamux__strm_t* st) {
  if (!(st->state & YAMUX__S_ON_TIMER)) return;
  st->state &= ~(YAMUX__S_ON_TIMER | YAMUX__S_LINGER);
  yamux__queue_remove(&st->link);
  st->t.epoch.start = 0; /* the deadline's storage: no rate epoch yet */
  st->t.epoch.bytes = 0;
}

/* Starts the open or linger timer. Inside a drive the session's time is
 * current; an API call between drives leaves the deadline to the next
 * drive, which knows the time. */
void yamux__strm_timer_insert(yamux__strm_t* st, yamux__queue_t* list,
                              uint64_t timeout_ms) {
  yamux__sess_t* s = st->sess;
  st->state |= YAMUX__S_ON_TIMER;
  st->t.deadline =
      s->depth > 0 ? s->now + timeout_ms * 1000000u : YAMUX__UNARMED;
  yamux__queue_insert_tail(list, &st->link);
}

static void deliverq_remove(yamux__strm_t* st) {
  if (!(st->state & YAMUX__S_ON_DELIVERQ)) return;
  st->state &= ~YAMUX__S_ON_DELIVERQ;
  yamux__queue_remove(&st->link);
}

static int is_terminal(const yamux__strm_t* st) {
  if (st->state & (YAMUX__S_RST_SENT | YAMUX__S_RST_RCVD)) return 1;
  if ((st->state & YAMUX__S_FIN_SENT) && (st->state & YAMUX__S_FIN_RCVD))
    return 1;
  return (st->state & YAMUX__S_FAILED) && !(st->state & YAMUX__S_RST_PENDING);
}

/* An un-ACKed open of ours stopped counting against the ACK backlog. */
static void unacked_done(yamux__strm_t* st) {
  yamux__sess_t* s = st->sess;
  if ((st->state & YAMUX__S_SYN_WAIT)) {
    st->state &= ~YAMUX__S_SYN_WAIT;
    yamux__queue_remove(&st->link);
    return;
  }
  if ((st->state & YAMUX__S_LOCAL) &&
      (st->state & (YAMUX__S_SYN_SENT | YAMUX__S_SYN_PENDING)) &&
      !(st->state & YAMUX__S_ACKED)) {
    st->state |= YAMUX__S_ACKED; /* counted once */
    s->unacked--;
    yamux__strm_release_syn_waiters(s);
  }
}

void yamux__strm_maybe_release(yamux__strm_t* st) {
  yamux__sess_t* s = st->sess;
  if ((st->state & YAMUX__S_RELEASED) || !is_terminal(st)) return;
  if (st->handle != NULL || st->inflight_reqs != 0) return;
  if (!yamux__queue_empty(&st->ctrl_link)) return;
  unacked_done(st);
  if (!(st->state & YAMUX__S_LOCAL)) {
    s->n_inbound--;
    if (!(st->state & YAMUX__S_ACCEPTED) && !yamux__queue_empty(&st->link)) {
      s->accept_count--; /* still in accept_q */
      if (s->announce_count > s->accept_count)
        s->announce_count = s->accept_count;
    }
  }
  yamux__queue_remove(&st->send_link);
  yamux__queue_remove(&st->link);
  st->state &= ~(YAMUX__S_ON_TIMER | YAMUX__S_ON_DELIVERQ | YAMUX__S_LINGER);
  if (st->recv_window_max > s->cfg.initial_window)
    s->grown_bytes -= st->recv_window_max - s->cfg.initial_window;
  free_rx(s, st);
  s->n_streams--;
  st->state |= YAMUX__S_RELEASED;
  st->link.next = (yamux__queue_t*)s->free_list;
  s->free_list = st;
}

void yamux__strm_queue_ctrl(yamux__strm_t* st) {
  /* A stream whose SYN waits for room must send nothing before it: it is
   * queued when its SYN is released. */
  if (st->state & (YAMUX__S_RELEASED | YAMUX__S_SYN_WAIT)) return;
  if (yamux__queue_empty(&st->ctrl_link))
    yamux__queue_insert_tail(&st->sess->ctrlq, &st->ctrl_link);
}

void yamux__strm_queue_send(yamux__strm_t* st) {
  if (st->write_queued == 0 || st->send_window == 0) return;
  if (st->state & (YAMUX__S_SYN_WAIT | YAMUX__S_RELEASED | YAMUX__S_RESET |
                   YAMUX__S_FAILED))
    return;
  if (yamux__queue_empty(&st->send_link))
    yamux__sched_sendq_insert(st->sess, st, 0);
}

void yamux__strm_release_syn_waiters(yamux__sess_t* s) {
  while (!yamux__queue_empty(&s->syn_waitq)) {
    yamux__queue_t* q = yamux__queue_head(&s->syn_waitq);
    yamux__strm_t* st = yamux__queue_data(q, yamux__strm_t, link);
    if (yamux__sess_going_away(s)) {
      /* The peer will not take new streams now. */
      yamux__strm_fail(st, YAMUX_EGOAWAY, 0);
      continue;
    }
    if (s->unacked >= s->cfg.max_unacked_opens) return;
    yamux__queue_remove(q);
    st->state &= ~YAMUX__S_SYN_WAIT;
    st->state |= YAMUX__S_SYN_PENDING;
    s->unacked++;
    /* The open timer runs from the SYN on, as hashicorp/yamux's does: a
     * SYN waiting here is not late, the opens ahead of it are. */
    if (s->cfg.open_timeout_ms)
      yamux__strm_timer_insert(st, &s->open_timers, s->cfg.open_timeout_ms);
    yamux__strm_queue_ctrl(st);
    yamux__strm_queue_send(st);
  }
}

/* ---- requests --------------------------------------------------------- */

static size_t req_remaining(const yamux_write_t* r) {
  size_t n = 0;
  unsigned int i;
  for (i = r->buf_index_; i < r->nbufs_; i++) n += r->bufs_[i].len;
  return n - r->buf_offset_;
}

/* Completes a cancelled request, after the stream's earlier writes: while
 * some of their bytes are still in the gather list (the transport may be
 * writing them), it waits on deferred_reqs (see yamux__strm_release_deferred).
 * A stream's requests complete in the order they were made, as libuv's. */
static void complete_in_order(yamux__strm_t* st, yamux_write_t* r, int status) {
  yamux__sess_t* s = st->sess;
  if (st->inflight_reqs == 0) {
    yamux__sess_complete_req(s, r, status);
    return;
  }
  if (r->status_ == 0) r->status_ = status;
  yamux__queue_insert_tail(&s->deferred_reqs, &r->queue_);
}

void yamux__strm_release_deferred(yamux__strm_t* st) {
  yamux__sess_t* s = st->sess;
  yamux__queue_t* q = s->deferred_reqs.next;
  while (q != &s->deferred_reqs) {
    yamux_write_t* r = yamux__queue_data(q, yamux_write_t, queue_);
    q = q->next;
    if (r->stream->internal_ != st) continue;
    yamux__queue_remove(&r->queue_);
    yamux__sess_complete_req(s, r, r->status_);
  }
}

void yamux__strm_cancel_writes(yamux__strm_t* st, int status) {
  while (!yamux__queue_empty(&st->writes)) {
    yamux__queue_t* q = yamux__queue_head(&st->writes);
    yamux_write_t* r = yamux__queue_data(q, yamux_write_t, queue_);
    yamux__queue_remove(q);
    if (r->type_ == YAMUX__REQ_SHUTDOWN) {
      complete_in_order(st, r, status);
      continue;
    }
    st->write_queued -= req_remaining(r);
    if (r->refs_ == 0)
      complete_in_order(st, r, status);
    else if (r->status_ == 0)
      r->status_ = status; /* completes when its bytes leave the batch */
  }
  st->write_queued = 0;
  st->state &= ~(YAMUX__S_SPARSE | YAMUX__S_TURN_KEPT);
  yamux__queue_remove(&st->send_link);
}

static void fail_connect(yamux__strm_t* st, int status) {
  if (st->connect_req == NULL) return;
  yamux__sess_complete_req(st->sess, st->connect_req, status);
  st->connect_req = NULL;
}

static void want_delivery(yamux__strm_t* st) {
  yamux_stream_t* h = st->handle;
  if (h == NULL || !(h->flags_ & YAMUX__H_READING)) return;
  /* A reading handle's stream is in no other list: not in accept_q or
   * syn_waitq, ACKed or failed (no open timer), not closed (no linger). */
  if (!(st->state & YAMUX__S_ON_DELIVERQ) && yamux__queue_empty(&st->link)) {
    st->state |= YAMUX__S_ON_DELIVERQ;
    yamux__queue_insert_tail(&st->sess->deliverq, &st->link);
    yamux__sess_wake(st->sess);
  }
}

/* Like want_delivery, but from the next drive on: the reader had no
 * buffer. New data arriving meanwhile waits for that retry too. */
static void want_delivery_retry(yamux__strm_t* st) {
  if (st->state & YAMUX__S_ON_DELIVERQ) return; /* already due */
  if (!yamux__queue_empty(&st->link)) return;
  st->state |= YAMUX__S_ON_DELIVERQ;
  yamux__queue_insert_tail(&st->sess->deliver_retryq, &st->link);
  yamux__sess_wake(st->sess);
}

/* Ends the stream locally: every request fails with `status`, a reader sees
 * it after the data already buffered, and the peer gets an RST if it knows
 * the stream and send_rst is set. */
void yamux__strm_fail(yamux__strm_t* st, int status, int send_rst) {
  yamux__sess_t* s = st->sess;
  int read_status = status;
  if (st->state & (YAMUX__S_FAILED | YAMUX__S_RELEASED)) return;
  if ((s->flags & YAMUX__SESS_ENDED) && !(s->flags & YAMUX__SESS_CLOSING))
    read_status = yamux__sess_read_error_status(s);
  if (status == UV_ECANCELED && (s->flags & YAMUX__SESS_CLOSING)) {
    /* The application closed the session: it reads nothing more, whether
     * the data is still arriving or already buffered. */
    read_status = UV_ECONNABORTED;
    free_rx(s, st);
  }
  /* Otherwise, if the peer's FIN already arrived, every byte is here: the
   * reader sees a normal end after them whatever ends the stream now. */
  else if (st->state & YAMUX__S_FIN_RCVD)
    read_status = UV_EOF;
  st->state |= YAMUX__S_FAILED;
  /* Every status here is a UV_* or YAMUX_E* code, well inside 16 bits. */
  if (read_status < INT16_MIN) read_status = UV_ECONNABORTED;
  st->fail_status = (int16_t)read_status;
  yamux__strm_cancel_writes(st, status);
  fail_connect(st, status);
  if (send_rst && !(s->flags & YAMUX__SESS_ENDED) &&
      !(s->flags & YAMUX__SESS_CLOSING) &&
      !(st->state &
        (YAMUX__S_RST_SENT | YAMUX__S_RST_RCVD | YAMUX__S_SYN_WAIT)) &&
      ((st->state & YAMUX__S_SYN_SENT) || !(st->state & YAMUX__S_LOCAL))) {
    st->state |= YAMUX__S_RST_PENDING;
    yamux__strm_queue_ctrl(st);
  } else if (!(st->state & YAMUX__S_RST_PENDING)) {
    yamux__queue_remove(&st->ctrl_link);
  }
  unacked_done(st);
  yamux__strm_timer_remove(st);
  if (!(st->state & YAMUX__S_LOCAL) && !(st->state & YAMUX__S_ACCEPTED) &&
      !yamux__queue_empty(&st->link)) {
    /* Still in the accept backlog: nobody will hear of it. */
    yamux__queue_remove(&st->link);
    s->accept_count--;
    if (s->announce_count > s->accept_count)
      s->announce_count = s->accept_count;
    st->state |= YAMUX__S_ACCEPTED; /* no longer counted in the backlog */
  }
  want_delivery(st);
  yamux__strm_maybe_release(st);
}

/* ---- inbound events ---------------------------------------------------- */

static int buffer_data(yamux__strm_t* st, const char* data, size_t len) {
  yamux__sess_t* s = st->sess;
  yamux__rxchunk_t* c = st->rx_tail;
  while (len > 0) {
    size_t n;
    if (c == NULL || c->len == c->cap) {
      /* Chunks of at least 4 KiB: a peer sending tiny frames cannot make
       * us allocate per frame. The window bounds the total. */
      uint32_t cap = (uint32_t)YAMUX__MAX(len, (size_t)YAMUX__RX_CHUNK_MIN);
      c = yamux__malloc(&s->mem, sizeof(*c) + cap);
      if (c == NULL) return UV_ENOMEM;
      c->off = 0;
      c->len = 0;
      c->cap = cap;
      rx_append(st, c);
    }
    n = YAMUX__MIN(len, (size_t)(c->cap - c->len));
    memcpy(c->data + c->len, data, n);
    c->len += (uint32_t)n;
    st->buffered += (uint32_t)n;
    data += n;
    len -= n;
  }
  return 0;
}

/* Gets the reader a buffer for up to `len` bytes at `src`: its own, filled
 * by copying, or (reading without an alloc_cb) a window onto `src` itself,
 * lent for the duration of read_cb. Returns the byte count, 0 if the reader
 * has no buffer (read_cb got UV_ENOBUFS), or -1 if the handle went away. */
static ssize_t reader_buf(yamux__strm_t* st, yamux_stream_t* h, const char* src,
                          size_t len, uv_buf_t* buf) {
  size_t n;
  if (h->u_.r_.alloc_cb_ == NULL) {
    *buf = yamux__buf((char*)src, (unsigned int)len);
    return (ssize_t)len;
  }
  *buf = yamux__buf(NULL, 0);
  h->u_.r_.alloc_cb_(h, len, buf);
  /* Closed from alloc_cb: read_cb is gone with the handle. A session
   * closed from there freed the buffered bytes `src` may point into. */
  if (h->internal_ != st || (h->flags_ & YAMUX__H_CLOSING) ||
      (st->sess->flags & YAMUX__SESS_CLOSING))
    return -1;
  if (buf->base == NULL || buf->len == 0) {
    if (h->flags_ & YAMUX__H_READING) h->u_.r_.read_cb_(h, UV_ENOBUFS, buf);
    /* As libuv does, try again on the next turn (not in this one, which
     * would spin) while the handle still reads. */
    if (h->internal_ == st && (h->flags_ & YAMUX__H_READING) &&
        !(h->flags_ & YAMUX__H_CLOSING))
      want_delivery_retry(st);
    return 0;
  }
  n = YAMUX__MIN(buf->len, len);
  memcpy(buf->base, src, n);
  return (ssize_t)n;
}

/* Hands bytes straight to the reader while it reads and nothing older is
 * buffered; returns how many it took. At most one copy: the transport's
 * buffer into the application's (none when the application reads in
 * place). */
static size_t deliver_direct(yamux__strm_t* st, const char* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    yamux_stream_t* h = st->handle;
    uv_buf_t buf;
    ssize_t n;
    if (h == NULL || !(h->flags_ & YAMUX__H_READING) ||
        (st->state & (YAMUX__S_RELEASED | YAMUX__S_FAILED | YAMUX__S_RESET)))
      break;
    n = reader_buf(st, h, data + done, len - done, &buf);
    if (n <= 0) break;
    done += (size_t)n;
    yamux__tune_on_read(st, (uint32_t)n);
    h->u_.r_.read_cb_(h, n, &buf);
  }
  return done;
}

/* The application closed the stream (its handle may wait for write
 * completions before it lets go). */
static int app_closed(const yamux__strm_t* st) {
  return (st->state & YAMUX__S_DETACHED) ||
         (st->handle != NULL && (st->handle->flags_ & YAMUX__H_CLOSING));
}

void yamux__strm_on_data(yamux__strm_t* st, const char* data, size_t len) {
  size_t n;
  if (st->state & (YAMUX__S_RESET | YAMUX__S_FAILED)) return;
  if (app_closed(st)) {
    /* Closed locally, waiting for the peer's FIN: discard and credit so
     * that the peer can finish. */
    yamux__tune_on_read(st, (uint32_t)len);
    return;
  }
  n = st->rx_tail == NULL ? deliver_direct(st, data, len) : 0;
  if (n == len ||
      (st->state & (YAMUX__S_RELEASED | YAMUX__S_FAILED | YAMUX__S_RESET)))
    return;
  if (app_closed(st)) {
    yamux__tune_on_read(st, (uint32_t)(len - n));
    return;
  }
  if (buffer_data(st, data + n, len - n) != 0) {
    yamux__sess_log(st->sess, YAMUX_LOG_ERROR, "stream %u: out of memory",
                    st->id);
    yamux__strm_fail(st, UV_ENOMEM, 1);
    return;
  }
  /* The one rule for deliveries: data waits and the handle reads, so a
   * delivery is due (a no-op if one is, or a retry after UV_ENOBUFS). */
  want_delivery(st);
}

void yamux__strm_on_fin(yamux__strm_t* st) {
  if (st->state & (YAMUX__S_FIN_RCVD | YAMUX__S_RESET | YAMUX__S_RELEASED))
    return;
  st->state |= YAMUX__S_FIN_RCVD;
  if (st->state & YAMUX__S_LINGER) yamux__strm_timer_remove(st);
  want_delivery(st);
  yamux__strm_maybe_release(st);
}

void yamux__strm_on_rst(yamux__strm_t* st, uint32_t code) {
  yamux__sess_t* s = st->sess;
  int connect_status;
  if (st->state & (YAMUX__S_RST_RCVD | YAMUX__S_RST_SENT | YAMUX__S_RELEASED))
    return;
  st->state |= YAMUX__S_RST_RCVD;
  st->state &= ~YAMUX__S_RST_PENDING;
  st->rst_code = code;
  s->stats.resets_received++;
  free_rx(s, st);
  connect_status = (st->state & YAMUX__S_LOCAL) && !(st->state & YAMUX__S_ACKED)
                       ? UV_ECONNREFUSED
                       : UV_ECONNRESET;
  fail_connect(st, connect_status);
  yamux__queue_remove(&st->ctrl_link);
  if (!(st->state & YAMUX__S_FAILED)) {
    yamux__strm_fail(st, UV_ECONNRESET, 0);
  } else {
    yamux__strm_maybe_release(st);
  }
}

void yamux__strm_on_ack(yamux__strm_t* st) {
  if (!(st->state & YAMUX__S_LOCAL) || (st->state & YAMUX__S_ACKED) ||
      !(st->state & YAMUX__S_SYN_SENT))
    return; /* duplicate or stray ACK: ignore */
  unacked_done(st);
  /* The open timer, even after a close that left it running (no linger). */
  if (!(st->state & YAMUX__S_LINGER)) yamux__strm_timer_remove(st);
  if (st->connect_req != NULL) {
    yamux__sess_complete_req(st->sess, st->connect_req, 0);
    st->connect_req = NULL;
  }
}

/* Delivers buffered data, then the final status, to a reading handle. */
void yamux__strm_deliver(yamux__strm_t* st) {
  yamux__rxchunk_t* c;
  yamux_stream_t* h;
  uv_buf_t buf;
  ssize_t n;
  int drained;
  for (;;) {
    h = st->handle;
    if (h == NULL || !(h->flags_ & YAMUX__H_READING) ||
        (st->state & YAMUX__S_RELEASED))
      return;
    c = rx_first(st);
    if (c == NULL) break;
    n = reader_buf(st, h, c->data + c->off, c->len - c->off, &buf);
    if (n <= 0) return;
    c->off += (uint32_t)n;
    st->buffered -= (uint32_t)n;
    drained = c->off == c->len;
    if (drained) {
      /* Unlinked now, freed after read_cb: a lent buffer points into it,
       * and a close from read_cb frees only what is still linked. */
      rx_drop_first(st);
    }
    yamux__tune_on_read(st, (uint32_t)n);
    h->u_.r_.read_cb_(h, n, &buf);
    if (drained) yamux__free(&st->sess->mem, c);
  }
  if (st->state & YAMUX__S_EOF_DELIVERED) return;
  if (st->state & YAMUX__S_FAILED) {
    st->state |= YAMUX__S_EOF_DELIVERED;
    buf = yamux__buf(NULL, 0);
    h->u_.r_.read_cb_(h, (ssize_t)st->fail_status, &buf);
  } else if (st->state & YAMUX__S_FIN_RCVD) {
    st->state |= YAMUX__S_EOF_DELIVERED;
    buf = yamux__buf(NULL, 0);
    h->u_.r_.read_cb_(h, UV_EOF, &buf);
  }
}

/* ---- the user's handle goes away ----------------------------------------- */

void yamux__strm_handle_closed(yamux__strm_t* st) {
  yamux_stream_t* h = st->handle;
  yamux__sess_t* s = st->sess;
  if (h == NULL) return;
  if (!(h->flags_ & YAMUX__H_CLOSING)) {
    /* Session teardown releases handles the user never closed. */
    h->flags_ |= YAMUX__H_CLOSED;
    h->internal_ = NULL;
    st->handle = NULL;
    st->state |= YAMUX__S_DETACHED;
    return;
  }
  if (st->inflight_reqs != 0) return; /* after their completions */
  st->handle = NULL;
  st->state |= YAMUX__S_DETACHED;
  deliverq_remove(st);
  yamux__queue_insert_tail(&s->closing_handles, &h->u_.pending_);
  yamux__sess_wake(s);
  yamux__strm_maybe_release(st);
}

/* ---- public API -------------------------------------------------------- */

int yamux_stream_init(yamux_session_t* session, yamux_stream_t* h) {
  if (session == NULL || h == NULL || session->internal_ == NULL)
    return UV_EINVAL;
  {
    void* data = h->data; /* the caller's, as in libuv */
    memset(h, 0, sizeof(*h));
    h->data = data;
  }
  h->session = session;
  return 0;
}

static void bind_handle(yamux__strm_t* st, yamux_stream_t* h) {
  st->handle = h;
  h->internal_ = st;
  h->id = st->id;
  h->flags_ |= YAMUX__H_LIVE;
}

int yamux_stream_open(yamux_connect_t* req, yamux_stream_t* h,
                      yamux_connect_cb cb) {
  yamux__sess_t* s = sess_of_stream(h);
  yamux__strm_t* st;
  uint32_t id;
  if (s == NULL || (cb != NULL && req == NULL) ||
      (h->flags_ & (YAMUX__H_LIVE | YAMUX__H_CLOSING | YAMUX__H_CLOSED)) ||
      (s->flags & YAMUX__SESS_CLOSING))
    return UV_EINVAL;
  if (s->flags & YAMUX__SESS_ENDED) return YAMUX_ECLOSED;
  if (yamux__sess_going_away(s)) return YAMUX_EGOAWAY;
  if (s->next_id == 0) return YAMUX_ESTREAMIDS;
  id = s->next_id;
  st = yamux__strm_new(s, id, YAMUX__S_LOCAL);
  if (st == NULL) return UV_ENOMEM;
  /* Ids run out after 2^31 opens; 0 marks that. */
  s->next_id = id > UINT32_MAX - 2 ? 0 : id + 2;
  bind_handle(st, h);
  if (req != NULL) {
    YAMUX__REQ_INIT(req, YAMUX__REQ_CONNECT, cb);
    req->stream = h;
    st->connect_req = req;
  }
  if (s->unacked < s->cfg.max_unacked_opens) {
    st->state |= YAMUX__S_SYN_PENDING;
    s->unacked++;
    if (s->cfg.open_timeout_ms)
      yamux__strm_timer_insert(st, &s->open_timers, s->cfg.open_timeout_ms);
    yamux__strm_queue_ctrl(st);
  } else {
    st->state |= YAMUX__S_SYN_WAIT; /* timed once its SYN is released */
    yamux__queue_insert_tail(&s->syn_waitq, &st->link);
  }
  s->stats.streams_opened++;
  yamux__sess_api_leave(s);
  return 0;
}

int yamux_accept(yamux_session_t* session, yamux_stream_t* h) {
  yamux__sess_t* s = session == NULL ? NULL : session->internal_;
  yamux__strm_t* st;
  yamux__queue_t* q;
  if (s == NULL || h == NULL || h->session != session ||
      (s->flags & YAMUX__SESS_CLOSING) ||
      (h->flags_ & (YAMUX__H_LIVE | YAMUX__H_CLOSING | YAMUX__H_CLOSED)))
    return UV_EINVAL;
  if (yamux__queue_empty(&s->accept_q)) return UV_EAGAIN;
  q = yamux__queue_head(&s->accept_q);
  st = yamux__queue_data(q, yamux__strm_t, link);
  yamux__queue_remove(q);
  s->accept_count--;
  if (s->announce_count > s->accept_count) s->announce_count = s->accept_count;
  st->state |= YAMUX__S_ACCEPTED;
  bind_handle(st, h);
  if (!(st->state & YAMUX__S_FAILED)) {
    st->state |= YAMUX__S_ACK_PENDING;
    yamux__strm_queue_ctrl(st);
  }
  yamux__sess_api_leave(s);
  return 0;
}

static yamux__strm_t* live(const yamux_stream_t* h) {
  if (h == NULL || !(h->flags_ & YAMUX__H_LIVE) ||
      (h->flags_ & (YAMUX__H_CLOSING | YAMUX__H_CLOSED)))
    return NULL;
  return h->internal_;
}

int yamux_read_start(yamux_stream_t* h, yamux_alloc_cb alloc_cb,
                     yamux_read_cb read_cb) {
  yamux__strm_t* st = live(h);
  if (st == NULL || read_cb == NULL) return UV_EINVAL;
  if (h->flags_ & YAMUX__H_READING) return UV_EALREADY;
  h->u_.r_.alloc_cb_ = alloc_cb;
  h->u_.r_.read_cb_ = read_cb;
  h->flags_ |= YAMUX__H_READING;
  if (st->rx_tail != NULL ||
      (st->state & (YAMUX__S_FIN_RCVD | YAMUX__S_FAILED)))
    want_delivery(st);
  yamux__sess_api_leave(st->sess);
  return 0;
}

int yamux_read_stop(yamux_stream_t* h) {
  if (live(h) == NULL) return UV_EINVAL;
  h->flags_ &= ~YAMUX__H_READING;
  return 0;
}

/* The status a request on a stream that can no longer send gets. */
static int send_error(const yamux__strm_t* st) {
  if (st->sess->flags & YAMUX__SESS_ENDED) return YAMUX_ECLOSED;
  if (st->state &
      (YAMUX__S_RST_RCVD | YAMUX__S_RST_SENT | YAMUX__S_RST_PENDING))
    return UV_ECONNRESET;
  if (st->state & YAMUX__S_FAILED) return (int)st->fail_status;
  return 0;
}

int yamux_write(yamux_write_t* req, yamux_stream_t* h, const uv_buf_t bufs[],
                unsigned int nbufs, yamux_write_cb cb) {
  yamux__strm_t* st = live(h);
  yamux__sess_t* s;
  size_t total = 0;
  unsigned int i;
  int rc;
  if (st == NULL || req == NULL || (bufs == NULL && nbufs > 0))
    return UV_EINVAL;
  s = st->sess;
  if (s->flags & YAMUX__SESS_CLOSING) return YAMUX_ECLOSED;
  rc = send_error(st);
  if (rc != 0) return rc;
  if ((h->flags_ & YAMUX__H_SHUT) ||
      (st->state & (YAMUX__S_FIN_PENDING | YAMUX__S_FIN_SENT)))
    return UV_EPIPE;
  for (i = 0; i < nbufs; i++) {
    if (bufs[i].base == NULL && bufs[i].len > 0) return UV_EINVAL;
    total += bufs[i].len;
  }
  YAMUX__REQ_INIT(req, YAMUX__REQ_WRITE, cb);
  req->refs_ = 0;
  req->buf_index_ = 0;
  req->buf_offset_ = 0;
  req->stream = h;
  if (nbufs <= YAMUX__ARRAY_SIZE(req->bufsml_)) {
    req->bufs_ = req->bufsml_;
  } else {
    req->bufs_ = yamux__malloc(&s->mem, nbufs * sizeof(uv_buf_t));
    if (req->bufs_ == NULL) return UV_ENOMEM;
  }
  if (nbufs > 0) memcpy(req->bufs_, bufs, nbufs * sizeof(uv_buf_t));
  req->nbufs_ = nbufs;
  if (total == 0) {
    yamux__sess_complete_req(s, req, 0);
  } else {
    /* A small write on an idle stream (a request, a reply) goes ahead of
     * the streams with a backlog, once. */
    if (st->write_queued == 0 && total <= s->cfg.max_frame_size &&
        yamux__queue_empty(&st->send_link))
      st->state |= YAMUX__S_SPARSE;
    yamux__queue_insert_tail(&st->writes, &req->queue_);
    st->write_queued += total;
    yamux__strm_queue_send(st);
  }
  yamux__sess_api_leave(s);
  return 0;
}

int yamux_stream_set_priority(yamux_stream_t* h, int urgency) {
  yamux__strm_t* st = live(h);
  if (st == NULL || urgency < 0 || urgency >= YAMUX__PRIO_LEVELS)
    return UV_EINVAL;
  st->state = (st->state & ~YAMUX__S_PRIO_MASK) |
              ((uint32_t)urgency << YAMUX__S_PRIO_SHIFT);
  if (!yamux__queue_empty(&st->send_link)) { /* to its new round */
    yamux__queue_remove(&st->send_link);
    yamux__strm_queue_send(st);
  }
  return 0;
}

size_t yamux_stream_get_write_queue_size(const yamux_stream_t* h) {
  const yamux__strm_t* st =
      h == NULL || (h->flags_ & YAMUX__H_CLOSED) ? NULL : h->internal_;
  const yamux__sess_t* s;
  uint64_t n;
  uint32_t i;
  if (st == NULL) return 0;
  /* Bytes in the gather list are not written yet either: the transport
   * may hold them for a while. The list is short; no per-stream count. */
  s = st->sess;
  n = st->write_queued;
  if (st->inflight_reqs == 0) return (size_t)n; /* none in the batch */
  for (i = s->head; i < s->tail; i++)
    if (s->owner[i] != NULL && s->owner[i]->stream == h) n += s->iov[i].len;
  return (size_t)n;
}

int yamux_shutdown(yamux_shutdown_t* req, yamux_stream_t* h,
                   yamux_shutdown_cb cb) {
  yamux__strm_t* st = live(h);
  int rc;
  if (st == NULL || (cb != NULL && req == NULL)) return UV_EINVAL;
  if (h->flags_ & YAMUX__H_SHUT) return UV_EALREADY;
  if (st->sess->flags & YAMUX__SESS_CLOSING) return YAMUX_ECLOSED;
  rc = send_error(st);
  if (rc != 0) return rc;
  h->flags_ |= YAMUX__H_SHUT;
  if (req != NULL) {
    YAMUX__REQ_INIT(req, YAMUX__REQ_SHUTDOWN, cb);
    req->stream = h;
    /* Behind the queued writes: completed when the FIN leaves. */
    yamux__queue_insert_tail(&st->writes, &req->queue_);
  }
  st->state |= YAMUX__S_FIN_PENDING;
  if (st->write_queued == 0) yamux__strm_queue_ctrl(st);
  yamux__sess_api_leave(st->sess);
  return 0;
}

static void close_common(yamux_stream_t* h, int reset, uint32_t code,
                         yamux_close_cb cb) {
  yamux__sess_t* s;
  yamux__strm_t* st;
  if (h == NULL || (h->flags_ & (YAMUX__H_CLOSING | YAMUX__H_CLOSED))) return;
  s = sess_of_stream(h);
  h->flags_ |= YAMUX__H_CLOSING;
  h->flags_ &= ~YAMUX__H_READING;
  h->close_cb_ = cb;
  if (s == NULL) return; /* the session is gone: nothing left to release */
  st = h->internal_;
  if (st == NULL) {
    /* Never opened nor accepted: only the callback is owed. */
    yamux__queue_insert_tail(&s->closing_handles, &h->u_.pending_);
    yamux__sess_api_leave(s);
    return;
  }
  yamux__strm_cancel_writes(st, UV_ECANCELED);
  fail_connect(st, UV_ECANCELED);
  /* Unread data is dropped; give its credit back so the peer can finish. */
  if (st->buffered) {
    uint32_t n = st->buffered;
    free_rx(s, st);
    yamux__tune_on_read(st, n);
  }
  if (st->state & YAMUX__S_SYN_WAIT) {
    /* The peer never heard of it. */
    yamux__strm_fail(st, UV_ECANCELED, 0);
  } else if (!is_terminal(st) && !(st->state & YAMUX__S_RESET)) {
    if (reset) {
      st->rst_code = code;
      yamux__strm_fail(st, UV_ECANCELED, 1);
    } else {
      /* Also when a shutdown queued the FIN behind writes just cancelled:
       * it goes now. */
      if (!(st->state & YAMUX__S_FIN_SENT)) {
        st->state |= YAMUX__S_FIN_PENDING;
        yamux__strm_queue_ctrl(st);
      }
      if (!(st->state & YAMUX__S_FIN_RCVD) && s->cfg.linger_timeout_ms) {
        yamux__strm_timer_remove(st);
        deliverq_remove(st); /* no reader any more */
        yamux__strm_timer_insert(st, &s->linger_timers,
                                 s->cfg.linger_timeout_ms);
        st->state |= YAMUX__S_LINGER;
      }
    }
  }
  yamux__strm_handle_closed(st);
  yamux__sess_api_leave(s);
}

void yamux_close(yamux_stream_t* h, yamux_close_cb cb) {
  close_common(h, 0, 0, cb);
}

void yamux_close_reset(yamux_stream_t* h, uint32_t code, yamux_close_cb cb) {
  close_common(h, 1, code, cb);
}

int yamux_is_closing(const yamux_stream_t* h) {
  return h == NULL || (h->flags_ & (YAMUX__H_CLOSING | YAMUX__H_CLOSED)) != 0;
}

uint32_t yamux_stream_reset_code(const yamux_stream_t* h) {
  const yamux__strm_t* st =
      h == NULL || (h->flags_ & YAMUX__H_CLOSED) ? NULL : h->internal_;
  return st == NULL || !(st->state & YAMUX__S_RST_RCVD) ? 0 : st->rst_code;
}

int yamux_stream_get_stats(const yamux_stream_t* h, yamux_stream_stats_t* out) {
  const yamux__strm_t* st = live(h);
  if (st == NULL || out == NULL) return UV_EINVAL;
  memset(out, 0, sizeof(*out));
  /* What the transport holds unwritten counts as queued, not sent. */
  out->queued_bytes = yamux_stream_get_write_queue_size(h);
  out->bytes_sent = st->bytes_sent - (out->queued_bytes - st->write_queued);
  out->bytes_received = st->bytes_received;
  out->send_window = st->send_window;
  out->recv_window = st->recv_window;
  out->recv_window_max = st->recv_window_max;
  out->buffered_bytes = st->buffered;
  return 0;
}
