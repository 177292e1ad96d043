/* The send scheduler: turns queued control and data into one gather list.
 * Order within a batch: an error Go Away, pongs and pings, refused-stream
 * RSTs, per-stream control (SYN/ACK/RST/credit/FIN), a normal Go Away, then
 * Data round-robin across streams. Data is never copied: entries point into
 * the callers' write buffers. */
#include "internal.h"

static uint8_t* add_hdr(yamux__sess_t* s, uint8_t type, uint16_t flags,
                        uint32_t id, uint32_t length) {
  uint32_t i = s->tail++;
  yamux__frame_encode(s->hdrs[i], type, flags, id, length);
  s->iov[i] = yamux__buf((char*)s->hdrs[i], YAMUX__HDR_LEN);
  s->owner[i] = NULL;
  s->stats.frames_sent++;
  return s->hdrs[i];
}

static void sent_syn_or_ack(yamux__strm_t* st, uint16_t flags) {
  if (flags & YAMUX__FLAG_SYN) {
    st->state &= ~YAMUX__S_SYN_PENDING;
    st->state |= YAMUX__S_SYN_SENT;
  }
  if (flags & YAMUX__FLAG_ACK) st->state &= ~YAMUX__S_ACK_PENDING;
}

static void sent_fin(yamux__strm_t* st) {
  yamux__sess_t* s = st->sess;
  st->state &= ~YAMUX__S_FIN_PENDING;
  st->state |= YAMUX__S_FIN_SENT;
  /* The FIN is in the transport's hands from here. The shutdown request,
   * if any, is all that is left in writes. */
  if (!yamux__queue_empty(&st->writes)) {
    yamux__queue_t* q = yamux__queue_head(&st->writes);
    yamux__queue_remove(q);
    yamux__sess_complete_req(s, yamux__queue_data(q, yamux_shutdown_t, queue_),
                             0);
  }
  yamux__strm_maybe_release(st);
}

static int has_sendable(const yamux__strm_t* st) {
  return st->write_queued > 0 && st->send_window > 0;
}

static int emit_data(yamux__sess_t* s, yamux__strm_t* st, uint32_t limit,
                     uint32_t* budget);

/* A stream whose Data frame the batch cut short (it has more to send; `q`
 * is the queue it was served from). The rest of a request the batch split
 * (a header here, its arguments in the next batch) goes first next time,
 * so the stream keeps its turn, once: cut again, it goes to the back of the
 * round, so that a stream whose frames never fit in a batch (many small
 * buffers) cannot hold the turn for ever. */
static void requeue_cut(yamux__sess_t* s, yamux__strm_t* st,
                        yamux__queue_t* q) {
  if (!(st->state & YAMUX__S_TURN_KEPT)) {
    st->state |= YAMUX__S_TURN_KEPT;
    yamux__queue_insert_head(q, &st->send_link);
  } else {
    st->state &= ~(YAMUX__S_TURN_KEPT | YAMUX__S_SPARSE);
    yamux__queue_insert_tail(&s->sendq[YAMUX__STREAM_PRIO(st)], &st->send_link);
  }
}

/* Emits the stream's control frame. Returns 0 if there was no room. */
static int emit_ctrl(yamux__sess_t* s, yamux__strm_t* st, uint32_t limit,
                     uint32_t* budget) {
  uint16_t flags = 0;
  uint32_t delta = 0;
  uint32_t extra = s->cfg.initial_window - YAMUX__DEFAULT_WINDOW;

  if (s->tail + 2 > limit) return 0;
  yamux__queue_remove(&st->ctrl_link);
  if (st->state & YAMUX__S_RST_PENDING) {
    add_hdr(s, YAMUX__TYPE_WINDOW_UPDATE, YAMUX__FLAG_RST, st->id,
            st->rst_code);
    st->state &= ~YAMUX__S_RST_PENDING;
    st->state |= YAMUX__S_RST_SENT;
    s->stats.resets_sent++;
    yamux__strm_maybe_release(st);
    return 1;
  }
  if (st->state & (YAMUX__S_SYN_PENDING | YAMUX__S_ACK_PENDING)) {
    /* SYN and ACK ride on the first Data frame when one is ready and no
     * window delta needs announcing (0-RTT open). That frame goes out here,
     * in control order, so SYNs leave in the order the streams were opened
     * whatever the round-robin position. */
    if (extra == 0 && has_sendable(st) && *budget > 0) {
      emit_data(s, st, limit, budget);
      yamux__queue_remove(&st->send_link);
      if (s->tail >= limit && has_sendable(st)) {
        requeue_cut(s, st,
                    (st->state & YAMUX__S_SPARSE)
                        ? &s->sparseq[YAMUX__STREAM_PRIO(st)]
                        : &s->sendq[YAMUX__STREAM_PRIO(st)]);
      } else {
        st->state &= ~(YAMUX__S_SPARSE | YAMUX__S_TURN_KEPT);
        yamux__strm_queue_send(st); /* to the back of the round */
      }
      if (s->tail >= limit) {
        if (st->credit_pending >= yamux__tune_credit_threshold(st) ||
            (st->state & YAMUX__S_FIN_PENDING))
          yamux__strm_queue_ctrl(st);
        return 1;
      }
    } else {
      flags |= (st->state & YAMUX__S_SYN_PENDING) ? YAMUX__FLAG_SYN
                                                  : YAMUX__FLAG_ACK;
      delta += extra;
    }
  }
  delta += yamux__tune_take_credit(st);
  if ((st->state & YAMUX__S_FIN_PENDING) && st->write_queued == 0)
    flags |= YAMUX__FLAG_FIN;
  if (flags == 0 && delta == 0) return 1;
  add_hdr(s, YAMUX__TYPE_WINDOW_UPDATE, flags, st->id, delta);
  sent_syn_or_ack(st, flags);
  if (flags & YAMUX__FLAG_FIN) sent_fin(st);
  return 1;
}

/* One Data frame from the stream; returns 0 if there was no room. */
static int emit_data(yamux__sess_t* s, yamux__strm_t* st, uint32_t limit,
                     uint32_t* budget) {
  uint64_t want = YAMUX__MIN(st->write_queued, (uint64_t)st->send_window);
  uint32_t len = 0;
  uint16_t flags = 0;
  uint8_t* hdr;

  want = YAMUX__MIN(want, (uint64_t)s->cfg.max_frame_size);
  want = YAMUX__MIN(want, (uint64_t)*budget);
  if (want == 0 || s->tail + 2 > limit) return 0;
  hdr = add_hdr(s, YAMUX__TYPE_DATA, 0, st->id, 0);
  while (len < want && s->tail < limit) {
    yamux_write_t* r = yamux__queue_data(yamux__queue_head(&st->writes),
                                         yamux_write_t, queue_);
    uv_buf_t* b = &r->bufs_[r->buf_index_];
    size_t avail = b->len - r->buf_offset_;
    size_t take = YAMUX__MIN(avail, (size_t)(want - len));
    if (take > 0) {
      s->iov[s->tail] = yamux__buf(b->base + r->buf_offset_, (unsigned)take);
      s->owner[s->tail] = r;
      if (r->refs_++ == 0) st->inflight_reqs++; /* <= YAMUX__BATCH_IOV */
      s->tail++;
      len += (uint32_t)take;
      r->buf_offset_ += take;
    }
    if (r->buf_offset_ == b->len) {
      r->buf_index_++;
      r->buf_offset_ = 0;
      /* Skip empty buffers so the request ends exactly at its last byte. */
      while (r->buf_index_ < r->nbufs_ && r->bufs_[r->buf_index_].len == 0)
        r->buf_index_++;
      if (r->buf_index_ == r->nbufs_) yamux__queue_remove(&r->queue_);
    }
  }
  st->write_queued -= len;
  st->send_window -= len;
  st->bytes_sent += len;
  s->stats.data_bytes_sent += len;
  *budget -= len;
  if (st->state & (YAMUX__S_SYN_PENDING | YAMUX__S_ACK_PENDING))
    flags |=
        (st->state & YAMUX__S_SYN_PENDING) ? YAMUX__FLAG_SYN : YAMUX__FLAG_ACK;
  yamux__frame_encode(hdr, YAMUX__TYPE_DATA, flags, st->id, len);
  sent_syn_or_ack(st, flags);
  /* FIN goes on an empty Window Update right behind the last Data frame,
   * never on a frame with a body: hashicorp/yamux applies such a FIN before
   * buffering the body, and its reader can then lose that body. */
  if ((st->state & YAMUX__S_FIN_PENDING) && st->write_queued == 0) {
    if (s->tail < limit) {
      add_hdr(s, YAMUX__TYPE_WINDOW_UPDATE, YAMUX__FLAG_FIN, st->id, 0);
      sent_fin(st);
    } else {
      yamux__strm_queue_ctrl(st);
    }
  }
  return 1;
}

/* ---- the batch between writes ------------------------------------------ */

/* Is entry i the header of a frame? Headers point into hdrs[i] (the first
 * entry, partly written, may point into its middle). */
static int is_header(const yamux__sess_t* s, uint32_t i) {
  const uint8_t* b = (const uint8_t*)s->iov[i].base;
  return b >= s->hdrs[i] && b < s->hdrs[i] + YAMUX__HDR_LEN;
}

/* Where the first frame of the batch ends. */
static uint32_t first_frame_end(const yamux__sess_t* s) {
  uint32_t i = s->head + 1;
  while (i < s->tail && !is_header(s, i)) i++;
  return i;
}

/* Moves the unsent entries [head, tail) to the front of the given arrays
 * (the batch's own, or new ones), headers with their bytes. */
static void move_entries(yamux__sess_t* s, uv_buf_t* iov,
                         uint8_t (*hdrs)[YAMUX__HDR_LEN],
                         yamux_write_t** owner) {
  uint32_t i, j;
  for (i = s->head, j = 0; i < s->tail; i++, j++) {
    if (is_header(s, i)) {
      size_t off = (size_t)((uint8_t*)s->iov[i].base - s->hdrs[i]);
      memmove(hdrs[j], s->hdrs[i], YAMUX__HDR_LEN);
      iov[j] = yamux__buf((char*)hdrs[j] + off, s->iov[i].len);
    } else {
      iov[j] = s->iov[i];
    }
    owner[j] = s->owner[i];
  }
  s->iov = iov;
  s->hdrs = hdrs;
  s->owner = owner;
  s->tail -= s->head;
  s->head = 0;
}

/* Moves the unsent entries to the front of the batch. */
static void compact(yamux__sess_t* s) {
  if (s->head != 0) move_entries(s, s->iov, s->hdrs, s->owner);
}

void yamux__sched_init(yamux__sess_t* s) {
  s->iov = s->small_iov;
  s->hdrs = s->small_hdrs;
  s->owner = s->small_owner;
  s->cap = YAMUX__BATCH_SMALL;
  s->head = s->tail = 0;
}

/* The heap batch: the three arrays in one block. */
static void grow(yamux__sess_t* s) {
  const size_t n = YAMUX__BATCH_IOV;
  const size_t iov_size = n * sizeof(uv_buf_t);
  const size_t owner_size = n * sizeof(yamux_write_t*);
  char* block =
      yamux__malloc(&s->mem, iov_size + owner_size + n * YAMUX__HDR_LEN);
  if (block == NULL) return; /* the small batch still works */
  move_entries(s, (uv_buf_t*)block,
               (uint8_t(*)[YAMUX__HDR_LEN])(block + iov_size + owner_size),
               (yamux_write_t**)(block + iov_size));
  s->cap = YAMUX__BATCH_IOV;
}

void yamux__sched_trim(yamux__sess_t* s, int force) {
  void* block = s->iov;
  if (s->cap == YAMUX__BATCH_SMALL || s->head != s->tail) return;
  if (!force && ((s->flags & YAMUX__SESS_LENT) ||
                 s->now - s->batch_busy_at < 1000000000u))
    return;
  yamux__sched_init(s);
  yamux__free(&s->mem, block);
}

static int has_data_queued(const yamux__sess_t* s) {
  int prio;
  for (prio = 0; prio < YAMUX__PRIO_LEVELS; prio++)
    if (!yamux__queue_empty(&s->sendq[prio]) ||
        !yamux__queue_empty(&s->sparseq[prio]))
      return 1;
  return 0;
}

/* Steps a write request back over its last gathered `len` bytes. */
static void rewind_req(yamux__strm_t* st, yamux_write_t* r, size_t len) {
  if (r->buf_index_ == r->nbufs_ || r->buf_offset_ == 0) {
    /* The slice ended a buffer: back to the last non-empty one. */
    unsigned int k = r->buf_index_;
    do k--;
    while (r->bufs_[k].len == 0);
    r->buf_index_ = k;
    r->buf_offset_ = r->bufs_[k].len;
  }
  r->buf_offset_ -= len;
  if (yamux__queue_empty(&r->queue_)) /* it was wholly gathered */
    yamux__queue_insert_head(&st->writes, &r->queue_);
  if (--r->refs_ == 0) st->inflight_reqs--;
}

/* Takes back the Data frames at the end of the batch that the transport has
 * not started (nor been given), so that the next gather puts control frames
 * and other streams' data ahead of them: what waits behind our own backlog
 * is then at most the frame being written. Only plain Data frames of
 * healthy streams go back; a frame with SYN, ACK, FIN or RST, a control
 * frame, or anything of a failed stream stays, and so does all before it. */
static void ungather(yamux__sess_t* s) {
  uint32_t keep = first_frame_end(s);
  while (s->tail > keep) {
    uint32_t h = s->tail - 1, j;
    yamux__frame_hdr_t f;
    yamux__strm_t* st;
    while (h > keep && !is_header(s, h)) h--;
    if (!is_header(s, h) || h + 1 == s->tail) return;
    yamux__frame_decode(s->hdrs[h], &f);
    if (f.type != YAMUX__TYPE_DATA || f.flags != 0) return;
    st = yamux__map_find(&s->map, f.stream_id);
    /* Only streams the application still holds: once it closed the handle
     * (its requests are being cancelled, its close callback waits for the
     * gather list to let go) nothing of the stream moves back. */
    if (st == NULL || st->handle == NULL ||
        (st->handle->flags_ & YAMUX__H_CLOSING) ||
        (st->state & (YAMUX__S_RELEASED | YAMUX__S_FAILED | YAMUX__S_RESET)))
      return;
    for (j = h + 1; j < s->tail; j++)
      if (s->owner[j] == NULL || s->owner[j]->status_ != 0) return;
    for (j = s->tail; j-- > h + 1;) {
      rewind_req(st, s->owner[j], s->iov[j].len);
      s->owner[j] = NULL;
    }
    st->write_queued += f.length;
    st->send_window += f.length;
    st->bytes_sent -= f.length;
    s->stats.data_bytes_sent -= f.length;
    s->stats.frames_sent--;
    s->tail = h;
    /* Its turn had come: back to the front of its round. */
    yamux__queue_remove(&st->send_link);
    yamux__sched_sendq_insert(s, st, 1);
  }
}

/* How many entries to hand the transport: all, or while its writes come
 * back short, whole frames up to one Data frame's worth, so that it never
 * holds (and cannot be stuck writing) more of our backlog than that. */
unsigned int yamux__sched_lend(yamux__sess_t* s, unsigned int max_bufs) {
  uint32_t end = s->tail;
  if (s->flags & YAMUX__SESS_BACKED_UP) {
    size_t bytes = 0;
    for (end = s->head; end < s->tail; end++) {
      if (end > s->head && is_header(s, end) && bytes >= s->cfg.max_frame_size)
        break;
      bytes += s->iov[end].len;
    }
  }
  return YAMUX__MIN(end - s->head, max_bufs);
}

/* ---- gathering ----------------------------------------------------------- */

static void emit_goaway(yamux__sess_t* s, uint32_t limit) {
  if (!(s->goaway_flags & YAMUX__GOAWAY_QUEUED) || s->tail >= limit) return;
  add_hdr(s, YAMUX__TYPE_GO_AWAY, 0, 0, s->goaway_code);
  s->goaway_flags &= ~YAMUX__GOAWAY_QUEUED;
  s->goaway_flags |= YAMUX__GOAWAY_SENT;
  s->stats.goaway_sent = (uint64_t)s->goaway_code + 1;
}

/* Puts a stream with data to send into its priority's round: sparse
 * streams (S_SPARSE) first, in arrival order, then with `front` at the
 * head of the rest (its turn had come), else at the tail. fq_codel serves
 * new flows ahead of old ones the same way, so that a request beside a
 * bulk transfer waits for at most the frame being written. */
void yamux__sched_sendq_insert(yamux__sess_t* s, yamux__strm_t* st, int front) {
  unsigned int prio = YAMUX__STREAM_PRIO(st);
  if (st->state & YAMUX__S_SPARSE)
    yamux__queue_insert_tail(&s->sparseq[prio], &st->send_link);
  else if (front)
    yamux__queue_insert_head(&s->sendq[prio], &st->send_link);
  else
    yamux__queue_insert_tail(&s->sendq[prio], &st->send_link);
}

/* Data frames from the streams of one priority: first the sparse ones,
 * once each, then the rest round-robin. Sparse streams take at most half
 * of the entries free on entry while the round has streams waiting (their
 * frames end there): new small writes arriving without pause (an RPC
 * client) must not starve it. A stream whose frame the batch cut short
 * keeps its place once (requeue_cut()). Returns 0 when the batch is full. */
static int gather_data(yamux__sess_t* s, unsigned int prio, uint32_t limit,
                       uint32_t* budget) {
  yamux__queue_t* round = &s->sendq[prio];
  yamux__queue_t* q = &s->sparseq[prio];
  uint32_t sparse_limit = s->tail + (limit - s->tail + 1) / 2;
  for (;;) {
    yamux__queue_t* l;
    yamux__strm_t* st;
    uint32_t lim;
    if (q != round && (yamux__queue_empty(q) ||
                       (s->tail >= sparse_limit && !yamux__queue_empty(round))))
      q = round;
    if (yamux__queue_empty(q)) return 1;
    if (*budget == 0) return 1;
    l = yamux__queue_head(q);
    st = yamux__queue_data(l, yamux__strm_t, send_link);
    yamux__queue_remove(l);
    if (!has_sendable(st)) {
      st->state &= ~(YAMUX__S_SPARSE | YAMUX__S_TURN_KEPT);
      continue;
    }
    lim = (q != round && !yamux__queue_empty(round)) ? sparse_limit : limit;
    if (!emit_data(s, st, lim, budget)) {
      yamux__queue_insert_head(q, l);
      if (lim == limit) return 0;
      q = round; /* the sparse half is used up */
      continue;
    }
    if (s->tail >= lim && has_sendable(st)) {
      if (lim == limit) {
        requeue_cut(s, st, q);
        return 0;
      }
      /* Cut at the sparse half: first again next time, the round now. */
      yamux__queue_insert_head(q, l);
      q = round;
      continue;
    }
    /* Served: an ordinary turn from now on. */
    st->state &= ~(YAMUX__S_SPARSE | YAMUX__S_TURN_KEPT);
    /* Round-robin: a stream with more goes to the back of the round. */
    if (has_sendable(st)) yamux__queue_insert_tail(round, l);
  }
}

/* Appends, in order, what the batch can take up to `limit`: an error Go
 * Away, pongs, pings, refusals, the streams' control frames, a normal Go
 * Away, then Data (at most *budget bytes) by priority. */
static void fill(yamux__sess_t* s, uint32_t limit, uint32_t* budget) {
  int prio;
  /* An error Go Away first, a normal one after the streams' frames. */
  if (s->goaway_code != YAMUX_GOAWAY_NORMAL) emit_goaway(s, limit);
  while (s->pong_count > 0 && s->tail < limit) {
    add_hdr(s, YAMUX__TYPE_PING, YAMUX__FLAG_ACK, 0, s->pongs[s->pong_head]);
    s->pong_head = (s->pong_head + 1) % s->pong_cap;
    s->pong_count--;
    s->stats.pongs_sent++;
  }
  if ((s->flags & YAMUX__SESS_KEEPALIVE_DUE) && s->tail < limit) {
    s->flags &= ~YAMUX__SESS_KEEPALIVE_DUE;
    s->flags |= YAMUX__SESS_KEEPALIVE_INFLIGHT;
    s->keepalive_opaque = s->next_opaque++;
    s->keepalive_sent_at = s->now;
    add_hdr(s, YAMUX__TYPE_PING, YAMUX__FLAG_SYN, 0, s->keepalive_opaque);
    s->stats.pings_sent++;
  }
  while (!yamux__queue_empty(&s->pings_todo) && s->tail < limit) {
    yamux__queue_t* q = yamux__queue_head(&s->pings_todo);
    yamux_ping_t* p = yamux__queue_data(q, yamux_ping_t, queue_);
    yamux__queue_remove(q);
    p->opaque_ = s->next_opaque++;
    p->sent_at_ = s->now;
    yamux__queue_insert_tail(&s->pings_sent, q);
    add_hdr(s, YAMUX__TYPE_PING, YAMUX__FLAG_SYN, 0, p->opaque_);
    s->stats.pings_sent++;
  }
  while (s->refuse_count > 0 && s->tail < limit) {
    add_hdr(s, YAMUX__TYPE_WINDOW_UPDATE, YAMUX__FLAG_RST,
            s->refuse_ring[s->refuse_head], 0);
    s->refuse_head = (s->refuse_head + 1) % YAMUX__REFUSE_RING;
    s->refuse_count--;
    s->stats.resets_sent++;
  }
  while (!yamux__queue_empty(&s->ctrlq)) {
    yamux__strm_t* st = yamux__queue_data(yamux__queue_head(&s->ctrlq),
                                          yamux__strm_t, ctrl_link);
    if (!emit_ctrl(s, st, limit, budget)) break;
  }
  /* A normal Go Away goes after every stream's control frame (a SYN must
   * not follow it), so not while some wait for room. */
  if (yamux__queue_empty(&s->ctrlq)) emit_goaway(s, limit);
  /* Data, most urgent priority first. */
  for (prio = 0; prio<YAMUX__PRIO_LEVELS&& * budget> 0; prio++)
    if (!gather_data(s, (unsigned int)prio, limit, budget)) break;
}

/* Something is still to be gathered (the batch filled up before it). */
static int more_to_gather(const yamux__sess_t* s, uint32_t budget) {
  return s->pong_count > 0 || s->refuse_count > 0 ||
         (s->goaway_flags & YAMUX__GOAWAY_QUEUED) ||
         (s->flags & YAMUX__SESS_KEEPALIVE_DUE) ||
         !yamux__queue_empty(&s->pings_todo) ||
         !yamux__queue_empty(&s->ctrlq) || (budget > 0 && has_data_queued(s));
}

unsigned int yamux__sched_gather(yamux__sess_t* s, unsigned int max_bufs) {
  uint32_t limit;
  uint32_t budget = YAMUX__MAX(YAMUX__BATCH_DATA_BYTES, s->cfg.max_frame_size);
  if (!(s->flags & YAMUX__SESS_LENT)) {
    /* Nothing is in the transport's hands: the unsent rest may move. */
    compact(s);
    ungather(s);
  }
  if (s->head == s->tail) s->head = s->tail = 0;
  if (has_data_queued(s)) s->batch_busy_at = s->now;
  limit = s->cap;
  if (max_bufs < limit - s->head) limit = s->head + max_bufs;
  /* Entries left from a call with a larger max_bufs: never more than asked. */
  if (s->tail >= limit) return YAMUX__MIN(s->tail - s->head, max_bufs);
  fill(s, limit, &budget);
  /* The small batch filled up with more to send (a bulk transfer, many
   * streams): grow it, while nothing in it is lent, and go on. */
  if (s->cap == YAMUX__BATCH_SMALL && s->tail >= s->cap &&
      max_bufs > s->cap - s->head && !(s->flags & YAMUX__SESS_LENT) &&
      more_to_gather(s, budget)) {
    grow(s);
    limit = s->cap;
    if (max_bufs < limit - s->head) limit = s->head + max_bufs;
    fill(s, limit, &budget);
  }
  return s->tail - s->head;
}

/* A gather-list entry left the session: its write request may be done. */
static void finish_slot(yamux__sess_t* s, uint32_t i, int status) {
  yamux_write_t* r = s->owner[i];
  yamux__strm_t* st;
  s->owner[i] = NULL;
  if (r == NULL) return;
  if (status < 0 && r->status_ == 0) r->status_ = status;
  if (--r->refs_ != 0) return;
  st = r->stream->internal_;
  st->inflight_reqs--;
  if (yamux__queue_empty(&r->queue_)) yamux__sess_complete_req(s, r, 0);
  if (st->inflight_reqs == 0) {
    if (!yamux__queue_empty(&s->deferred_reqs))
      yamux__strm_release_deferred(st); /* cancelled after this one */
    if (st->handle != NULL && (st->handle->flags_ & YAMUX__H_CLOSING))
      yamux__strm_handle_closed(st);
    else
      yamux__strm_maybe_release(st);
  }
}

void yamux__sched_consume(yamux__sess_t* s, size_t nbytes) {
  s->stats.bytes_sent += nbytes;
  while (nbytes > 0 && s->head < s->tail) {
    uv_buf_t* b = &s->iov[s->head];
    if (nbytes < b->len) {
      b->base += nbytes;
      b->len -= nbytes;
      return;
    }
    nbytes -= b->len;
    finish_slot(s, s->head, 0);
    s->head++;
  }
  if (s->head == s->tail) s->head = s->tail = 0;
}

void yamux__sched_fail_batch(yamux__sess_t* s, int status) {
  while (s->head < s->tail) finish_slot(s, s->head++, status);
  s->head = s->tail = 0;
}

int yamux__sched_want_write(const yamux__sess_t* s) {
  if (s->head < s->tail || s->pong_count > 0 || s->refuse_count > 0 ||
      (s->goaway_flags & YAMUX__GOAWAY_QUEUED) ||
      (s->flags & YAMUX__SESS_KEEPALIVE_DUE) ||
      !yamux__queue_empty(&s->pings_todo) || !yamux__queue_empty(&s->ctrlq))
    return 1;
  return has_data_queued(s);
}
