/* The send scheduler: turns queued control and data into one gather list.
 * Order within a batch: an error Go Away, pongs and pings, refused-stream
 * RSTs, per-stream control (SYN/ACK/RST/credit/FIN), a normal Go Away, then
 * Data round-robin across streams. Data is never copied: entries point into
 * the callers' write buffers. */
#include "internal.h"

static uint8_t* add_hdr(yamux__session_t* s, uint8_t type, uint16_t flags,
                        uint32_t id, uint32_t length) {
  uint32_t i = s->tail++;
  yamux__frame_encode(s->hdrs[i], type, flags, id, length);
  s->iov[i] = uv_buf_init((char*)s->hdrs[i], YAMUX__HDR_LEN);
  s->owner[i] = NULL;
  s->stats.frames_sent++;
  return s->hdrs[i];
}

static void sent_syn_or_ack(yamux__stream_t* st, uint16_t flags) {
  if (flags & YAMUX__FLAG_SYN) {
    st->state &= ~YAMUX__S_SYN_PENDING;
    st->state |= YAMUX__S_SYN_SENT;
  }
  if (flags & YAMUX__FLAG_ACK) st->state &= ~YAMUX__S_ACK_PENDING;
}

static void sent_fin(yamux__stream_t* st) {
  yamux__session_t* s = st->sess;
  st->state &= ~YAMUX__S_FIN_PENDING;
  st->state |= YAMUX__S_FIN_SENT;
  /* The FIN is in the transport's hands from here. The shutdown request,
   * if any, is all that is left in writes. */
  if (!yamux__queue_empty(&st->writes)) {
    yamux__queue_t* q = yamux__queue_head(&st->writes);
    yamux__queue_remove(q);
    yamux__complete_req(s, yamux__queue_data(q, yamux_shutdown_t, queue_), 0);
  }
  yamux__stream_maybe_release(st);
}

static int has_sendable(const yamux__stream_t* st) {
  return st->write_queued > 0 && st->send_window > 0;
}

static int emit_data(yamux__session_t* s, yamux__stream_t* st, uint32_t limit,
                     uint32_t* budget);

/* Emits the stream's control frame. Returns 0 if there was no room. */
static int emit_ctrl(yamux__session_t* s, yamux__stream_t* st, uint32_t limit,
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
    yamux__stream_maybe_release(st);
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
      yamux__stream_queue_send(st); /* to the back of the round */
      if (s->tail >= limit) {
        if (st->credit_pending >= yamux__credit_threshold(st) ||
            (st->state & YAMUX__S_FIN_PENDING))
          yamux__stream_queue_ctrl(st);
        return 1;
      }
    } else {
      flags |= (st->state & YAMUX__S_SYN_PENDING) ? YAMUX__FLAG_SYN
                                                  : YAMUX__FLAG_ACK;
      delta += extra;
    }
  }
  delta += yamux__take_credit(st);
  if ((st->state & YAMUX__S_FIN_PENDING) && st->write_queued == 0)
    flags |= YAMUX__FLAG_FIN;
  if (flags == 0 && delta == 0) return 1;
  add_hdr(s, YAMUX__TYPE_WINDOW_UPDATE, flags, st->id, delta);
  sent_syn_or_ack(st, flags);
  if (flags & YAMUX__FLAG_FIN) sent_fin(st);
  return 1;
}

/* One Data frame from the stream; returns 0 if there was no room. */
static int emit_data(yamux__session_t* s, yamux__stream_t* st, uint32_t limit,
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
      s->iov[s->tail] = uv_buf_init(b->base + r->buf_offset_, (unsigned)take);
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
      yamux__stream_queue_ctrl(st);
    }
  }
  return 1;
}

unsigned int yamux__gather(yamux__session_t* s, unsigned int max_bufs) {
  uint32_t limit, budget;
  if (s->head == s->tail) s->head = s->tail = 0;
  limit = YAMUX__BATCH_IOV;
  if (max_bufs < limit - s->head) limit = s->head + max_bufs;
  /* Entries left from a call with a larger max_bufs: never more than asked. */
  if (s->tail >= limit) return YAMUX__MIN(s->tail - s->head, max_bufs);

  if (s->goaway_pending && s->goaway_code != YAMUX_GOAWAY_NORMAL) {
    add_hdr(s, YAMUX__TYPE_GO_AWAY, 0, 0, s->goaway_code);
    s->goaway_pending = 0;
    s->goaway_sent = 1;
    s->stats.goaway_sent = (uint64_t)s->goaway_code + 1;
  }
  while (s->pong_count > 0 && s->tail < limit) {
    add_hdr(s, YAMUX__TYPE_PING, YAMUX__FLAG_ACK, 0, s->pongs[s->pong_head]);
    s->pong_head = (s->pong_head + 1) % s->cfg.max_queued_pongs;
    s->pong_count--;
    s->stats.pongs_sent++;
  }
  if (s->keepalive_todo && s->tail < limit) {
    s->keepalive_todo = 0;
    s->keepalive_inflight = 1;
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
  budget = YAMUX__MAX(YAMUX__BATCH_DATA_BYTES, s->cfg.max_frame_size);
  while (!yamux__queue_empty(&s->ctrlq)) {
    yamux__stream_t* st = yamux__queue_data(yamux__queue_head(&s->ctrlq),
                                            yamux__stream_t, ctrl_link);
    if (!emit_ctrl(s, st, limit, &budget)) break;
  }
  if (s->goaway_pending && s->tail < limit) {
    add_hdr(s, YAMUX__TYPE_GO_AWAY, 0, 0, s->goaway_code);
    s->goaway_pending = 0;
    s->goaway_sent = 1;
    s->stats.goaway_sent = (uint64_t)s->goaway_code + 1;
  }
  while (!yamux__queue_empty(&s->sendq) && budget > 0) {
    yamux__queue_t* q = yamux__queue_head(&s->sendq);
    yamux__stream_t* st = yamux__queue_data(q, yamux__stream_t, send_link);
    yamux__queue_remove(q);
    if (!has_sendable(st)) continue;
    if (!emit_data(s, st, limit, &budget)) {
      yamux__queue_insert_head(&s->sendq, q);
      break;
    }
    /* Round-robin: a stream with more goes to the back. */
    if (has_sendable(st)) yamux__queue_insert_tail(&s->sendq, q);
  }
  return s->tail - s->head;
}

/* A gather-list entry left the session: its write request may be done. */
static void finish_slot(yamux__session_t* s, uint32_t i, int status) {
  yamux_write_t* r = s->owner[i];
  yamux__stream_t* st;
  s->owner[i] = NULL;
  if (r == NULL) return;
  if (status < 0 && r->status_ == 0) r->status_ = status;
  if (--r->refs_ != 0) return;
  st = r->stream->internal_;
  st->inflight_reqs--;
  if (yamux__queue_empty(&r->queue_)) yamux__complete_req(s, r, 0);
  if (st->inflight_reqs == 0) {
    if (st->handle != NULL && (st->handle->flags_ & YAMUX__H_CLOSING))
      yamux__stream_handle_closed(st);
    else
      yamux__stream_maybe_release(st);
  }
}

void yamux__consume(yamux__session_t* s, size_t nbytes) {
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

void yamux__fail_batch(yamux__session_t* s, int status) {
  while (s->head < s->tail) finish_slot(s, s->head++, status);
  s->head = s->tail = 0;
}

int yamux__want_write(const yamux__session_t* s) {
  return s->head < s->tail || s->pong_count > 0 || s->refuse_count > 0 ||
         s->goaway_pending || s->keepalive_todo ||
         !yamux__queue_empty(&s->pings_todo) ||
         !yamux__queue_empty(&s->ctrlq) || !yamux__queue_empty(&s->sendq);
}
