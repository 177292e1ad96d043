/* Mailboxes: other threads hand work to a loop's thread (yamux.h, "Other
 * threads"). A mutex-protected singly linked list of mail and a uv_async_t
 * that wakes the loop; the loop thread takes the whole list at once and runs
 * it in posting order. Nothing here touches a session. */
#include <sched.h>

#include "yamux.h"

/* Runs the callbacks of a batch taken from the list. A callback that
 * closes the mailbox cancels the rest of the batch (closed_ is written on
 * this thread only). */
static void deliver(yamux_mailbox_t* mb, yamux_mail_t* m) {
  while (m != NULL) {
    yamux_mail_t* next = m->next_;
    m->next_ = NULL;
    m->cb_(m, mb->closed_ ? UV_ECANCELED : 0);
    m = next;
  }
}

/* Takes everything posted so far, oldest first. */
static yamux_mail_t* take_all(yamux_mailbox_t* mb) {
  yamux_mail_t* m;
  uv_mutex_lock(&mb->lock_);
  m = mb->head_;
  mb->head_ = mb->tail_ = NULL;
  uv_mutex_unlock(&mb->lock_);
  return m;
}

static void on_async(uv_async_t* async) {
  yamux_mailbox_t* mb =
      (yamux_mailbox_t*)((char*)async - offsetof(yamux_mailbox_t, async_));
  deliver(mb, take_all(mb));
}

int yamux_mailbox_init(uv_loop_t* loop, yamux_mailbox_t* mb) {
  int r;
  if (loop == NULL || mb == NULL) return UV_EINVAL;
  mb->head_ = mb->tail_ = NULL;
  mb->closed_ = 0;
  mb->posting_ = 0;
  mb->close_cb_ = NULL;
  r = uv_mutex_init(&mb->lock_);
  if (r < 0) return r;
  r = uv_async_init(loop, &mb->async_, on_async);
  if (r < 0) uv_mutex_destroy(&mb->lock_);
  return r;
}

/* A post may run on another thread while the loop thread closes the
 * mailbox: the lock must outlive every post that could still take it. A
 * post counts itself in posting_ before it looks at closed_; the close
 * sets closed_ first and waits for posting_ to drain before destroying the
 * lock (both sequentially consistent, so at least one of the two sees the
 * other: a post either backs off without the lock or is waited for). */
int yamux_mailbox_post(yamux_mailbox_t* mb, yamux_mail_t* m, yamux_mail_cb cb) {
  int closed;
  if (mb == NULL || m == NULL || cb == NULL) return UV_EINVAL;
  m->cb_ = cb;
  m->next_ = NULL;
  __atomic_add_fetch(&mb->posting_, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&mb->closed_, __ATOMIC_SEQ_CST)) {
    __atomic_sub_fetch(&mb->posting_, 1, __ATOMIC_SEQ_CST);
    return UV_ECANCELED;
  }
  uv_mutex_lock(&mb->lock_);
  closed = mb->closed_;
  if (!closed) {
    if (mb->tail_ != NULL)
      mb->tail_->next_ = m;
    else
      mb->head_ = m;
    mb->tail_ = m;
    /* Under the lock, so that close cannot slip in between and close the
     * handle under us. */
    uv_async_send(&mb->async_);
  }
  uv_mutex_unlock(&mb->lock_);
  /* The last touch of the mailbox: it may be gone after this. */
  __atomic_sub_fetch(&mb->posting_, 1, __ATOMIC_SEQ_CST);
  return closed ? UV_ECANCELED : 0;
}

static void on_closed(uv_handle_t* h) {
  yamux_mailbox_t* mb =
      (yamux_mailbox_t*)((char*)h - offsetof(yamux_mailbox_t, async_));
  /* What was posted before the close still gets its callback: later, not
   * inside yamux_mailbox_close(). */
  deliver(mb, take_all(mb));
  /* Posts that started before closed_ was set may still hold the lock. */
  while (__atomic_load_n(&mb->posting_, __ATOMIC_SEQ_CST) != 0) sched_yield();
  uv_mutex_destroy(&mb->lock_);
  if (mb->close_cb_ != NULL) mb->close_cb_(mb);
}

void yamux_mailbox_close(yamux_mailbox_t* mb, yamux_mailbox_close_cb cb) {
  if (mb == NULL || uv_is_closing((uv_handle_t*)&mb->async_)) return;
  uv_mutex_lock(&mb->lock_);
  __atomic_store_n(&mb->closed_, 1, __ATOMIC_SEQ_CST);
  uv_mutex_unlock(&mb->lock_);
  mb->close_cb_ = cb;
  uv_close((uv_handle_t*)&mb->async_, on_closed);
}
