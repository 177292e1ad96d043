/* Mailboxes, the one way other threads hand work to a loop: posts from
 * several threads arrive once each, in each thread's order; a worker thread
 * drives a stream of a session it does not own; a closed mailbox cancels
 * what was posted. `make tsan` runs these under ThreadSanitizer (and the
 * multi-loop example: test/integration/test-examples.c). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "task.h"
#include "test-uv-util.h"

/* ---- mailboxes --------------------------------------------------------- */

#define POSTERS 4
#define POSTS 2000

typedef struct {
  yamux_mail_t mail;
  int thread;
  int seq;
} msg_t;

typedef struct {
  yamux_mailbox_t mb;
  uv_thread_t threads[POSTERS];
  msg_t msgs[POSTERS][POSTS];
  int next_seq[POSTERS]; /* loop thread only */
  int delivered;
  int cancelled;
  int out_of_order;
  uv_thread_t loop_thread;
} box_t;

static box_t box;

static void on_mail(yamux_mail_t* mail, int status) {
  msg_t* m = (msg_t*)mail;
  ASSERT_EQ(uv_thread_equal(&box.loop_thread, &(uv_thread_t){uv_thread_self()}),
            1);
  if (status == UV_ECANCELED) {
    box.cancelled++;
    return;
  }
  ASSERT_EQ(status, 0);
  if (m->seq != box.next_seq[m->thread]) box.out_of_order++;
  box.next_seq[m->thread] = m->seq + 1;
  box.delivered++;
  if (box.delivered == POSTERS * POSTS) yamux_mailbox_close(&box.mb, NULL);
}

static void poster(void* arg) {
  int t = (int)(intptr_t)arg, i;
  for (i = 0; i < POSTS; i++) {
    box.msgs[t][i].thread = t;
    box.msgs[t][i].seq = i;
    ASSERT_OK(yamux_mailbox_post(&box.mb, &box.msgs[t][i].mail, on_mail));
  }
}

TEST(mailbox_posts_from_threads_in_order) {
  uv_loop_t loop;
  int t;

  memset(&box, 0, sizeof(box));
  ASSERT_OK(uv_loop_init(&loop));
  box.loop_thread = uv_thread_self();
  ASSERT_OK(yamux_mailbox_init(&loop, &box.mb));
  for (t = 0; t < POSTERS; t++)
    ASSERT_OK(uv_thread_create(&box.threads[t], poster, (void*)(intptr_t)t));
  uvt_loop_finish(&loop); /* ends when the last mail closed the mailbox */
  for (t = 0; t < POSTERS; t++) ASSERT_OK(uv_thread_join(&box.threads[t]));
  ASSERT_EQ(box.delivered, POSTERS * POSTS);
  ASSERT_EQ(box.out_of_order, 0);
  ASSERT_EQ(box.cancelled, 0);
}

static int closed_count;
static void on_box_closed(yamux_mailbox_t* mb) {
  (void)mb;
  closed_count++;
}

/* Mail posted before the close is cancelled (its callback runs with
 * UV_ECANCELED, after the close call returned); posting afterwards fails. */
TEST(mailbox_close_cancels_pending) {
  uv_loop_t loop;
  msg_t m[3];

  memset(&box, 0, sizeof(box));
  closed_count = 0;
  box.loop_thread = uv_thread_self();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(yamux_mailbox_init(&loop, &box.mb));
  ASSERT_OK(yamux_mailbox_post(&box.mb, &m[0].mail, on_mail));
  ASSERT_OK(yamux_mailbox_post(&box.mb, &m[1].mail, on_mail));
  yamux_mailbox_close(&box.mb, on_box_closed);
  ASSERT_EQ(box.cancelled, 0); /* not inside the close call */
  ASSERT_EQ(yamux_mailbox_post(&box.mb, &m[2].mail, on_mail), UV_ECANCELED);
  ASSERT_EQ(yamux_mailbox_post(NULL, &m[2].mail, on_mail), UV_EINVAL);
  ASSERT_EQ(yamux_mailbox_post(&box.mb, NULL, on_mail), UV_EINVAL);
  uvt_loop_finish(&loop);
  ASSERT_EQ(box.cancelled, 2);
  ASSERT_EQ(box.delivered, 0);
  ASSERT_EQ(closed_count, 1);
  ASSERT_EQ(yamux_mailbox_init(NULL, &box.mb), UV_EINVAL);
}

/* The RPC-framework case: a worker thread produces data for a stream of a
 * session that lives on the loop thread. It never calls the session; each
 * piece goes by mail, and the mail's callback writes it. The peer session
 * (an echo, same loop) sends it back, and every byte is checked. */
#define PIECES 500
#define PIECE 1000

typedef struct {
  yamux_mail_t mail;
  yamux_write_t req;
  char bytes[PIECE];
} piece_t;

typedef struct {
  uvt_session_t client, server;
  yamux_mailbox_t mb;
  yamux_stream_t stream;
  piece_t pieces[PIECES];
  int written;
  tbuf_t echo;
  int eof;
  yamux_shutdown_t shut;
} rpc_t;

static rpc_t rpc;

static void rpc_write_done(yamux_write_t* req, int status) {
  (void)req;
  ASSERT_EQ(status, 0);
  if (++rpc.written == PIECES) {
    ASSERT_OK(yamux_shutdown(&rpc.shut, &rpc.stream, NULL));
    yamux_mailbox_close(&rpc.mb, NULL);
  }
}

static void rpc_on_mail(yamux_mail_t* mail, int status) {
  piece_t* p = (piece_t*)mail;
  uv_buf_t b = uv_buf_init(p->bytes, PIECE);
  ASSERT_EQ(status, 0);
  ASSERT_OK(yamux_write(&p->req, &rpc.stream, &b, 1, rpc_write_done));
}

static void rpc_producer(void* arg) {
  int i;
  (void)arg;
  for (i = 0; i < PIECES; i++) {
    tpattern_fill(rpc.pieces[i].bytes, PIECE, (size_t)i * PIECE);
    ASSERT_OK(yamux_mailbox_post(&rpc.mb, &rpc.pieces[i].mail, rpc_on_mail));
  }
}

static void rpc_alloc(yamux_stream_t* h, size_t n, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(n);
  buf->len = n;
}

static void rpc_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) tbuf_append(&rpc.echo, buf->base, (size_t)nread);
  if (buf != NULL) free(buf->base);
  if (nread == UV_EOF) {
    rpc.eof = 1;
    yamux_close(h, NULL);
    uvt_session_close(&rpc.client);
  } else {
    ASSERT_GE(nread, 0);
  }
}

TEST(mailbox_worker_thread_drives_a_stream) {
  uv_loop_t loop;
  uv_thread_t worker;
  size_t i;

  memset(&rpc, 0, sizeof(rpc));
  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&rpc.client, YAMUX_CLIENT, NULL);
  uvt_session_init(&rpc.server, YAMUX_SERVER, NULL);
  uvt_socketpair(&loop, &rpc.client, &rpc.server);
  ASSERT_OK(yamux_session_start_uv(&loop, &rpc.client.session, 1, uvt_on_end));
  ASSERT_OK(yamux_session_start_uv(&loop, &rpc.server.session, 1, uvt_on_end));
  uvt_echo_listen(&rpc.server);
  ASSERT_OK(yamux_stream_init(&rpc.client.session, &rpc.stream));
  ASSERT_OK(yamux_stream_open(NULL, &rpc.stream, NULL));
  ASSERT_OK(yamux_read_start(&rpc.stream, rpc_alloc, rpc_read));
  ASSERT_OK(yamux_mailbox_init(&loop, &rpc.mb));
  ASSERT_OK(uv_thread_create(&worker, rpc_producer, NULL));
  uvt_loop_finish(&loop);
  ASSERT_OK(uv_thread_join(&worker));
  uvt_echo_free_all(&rpc.server);
  ASSERT_EQ(rpc.written, PIECES);
  ASSERT_EQ(rpc.eof, 1);
  ASSERT_EQ(rpc.echo.len, (size_t)PIECES * PIECE);
  for (i = 0; i < rpc.echo.len; i++) ASSERT_EQ(rpc.echo.data[i], tpattern(i));
  tbuf_free(&rpc.echo);
}

/* A mail callback that closes its mailbox cancels the rest of its batch:
 * mail posted before the close and not yet delivered gets UV_ECANCELED. */
static yamux_mailbox_t batch_mb;
static int batch_status[2];
static int batch_n;

static void batch_mail(yamux_mail_t* mail, int status) {
  (void)mail;
  batch_status[batch_n++] = status;
  if (batch_n == 1) yamux_mailbox_close(&batch_mb, NULL);
}

TEST(mailbox_close_from_a_mail_cancels_the_rest) {
  uv_loop_t loop;
  yamux_mail_t m1, m2;

  batch_n = 0;
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(yamux_mailbox_init(&loop, &batch_mb));
  ASSERT_OK(yamux_mailbox_post(&batch_mb, &m1, batch_mail));
  ASSERT_OK(yamux_mailbox_post(&batch_mb, &m2, batch_mail));
  uvt_loop_finish(&loop);
  ASSERT_EQ(batch_n, 2);
  ASSERT_EQ(batch_status[0], 0);
  ASSERT_EQ(batch_status[1], UV_ECANCELED);
}

/* Another thread posts without pause while the loop thread closes the
 * mailbox: every post returns 0 (its mail then completes once, delivered or
 * cancelled) or UV_ECANCELED, and the close waits for posts under way
 * before it destroys its lock (a post that held the lock as it was
 * destroyed aborted the process). The poster stops at its first
 * UV_ECANCELED, as the header asks, before the close callback. */
#define RACE_ROUNDS 1000
#define RACE_MAILS 4096

typedef struct {
  yamux_mailbox_t mb;
  yamux_mail_t mails[RACE_MAILS];
  int posted;    /* poster thread: posts that returned 0 */
  int completed; /* loop thread: callbacks */
  int running;   /* atomic: the poster has started */
} race_t;

static race_t race;

static void race_mail(yamux_mail_t* mail, int status) {
  (void)mail;
  ASSERT(status == 0 || status == UV_ECANCELED);
  race.completed++;
}

static void race_poster(void* arg) {
  int r;
  (void)arg;
  __atomic_store_n(&race.running, 1, __ATOMIC_SEQ_CST);
  for (;;) {
    ASSERT_LT(race.posted, RACE_MAILS);
    r = yamux_mailbox_post(&race.mb, &race.mails[race.posted], race_mail);
    if (r == UV_ECANCELED) break;
    ASSERT_OK(r);
    race.posted++;
    /* Leave room for mails of later posts while the loop is slow. */
    if (race.posted == RACE_MAILS - 1) break;
  }
}

TEST(mailbox_close_while_another_thread_posts) {
  uv_loop_t loop;
  uv_thread_t thread;
  int round;

  for (round = 0; round < RACE_ROUNDS; round++) {
    memset(&race, 0, sizeof(race));
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(yamux_mailbox_init(&loop, &race.mb));
    ASSERT_OK(uv_thread_create(&thread, race_poster, NULL));
    while (!__atomic_load_n(&race.running, __ATOMIC_SEQ_CST)) sched_yield();
    yamux_mailbox_close(&race.mb, NULL);
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_OK(uv_thread_join(&thread));
    ASSERT_EQ(race.completed, race.posted);
    ASSERT_OK(uv_loop_close(&loop));
  }
}
