/* go-talk: talking to a Go program that uses hashicorp/yamux, over its stdio.
 *
 * What it shows: the go-plugin arrangement. This program spawns the Go
 * program (interop/go-talk, built into interop/bin/go-talk) with
 * yamux_session_spawn() and runs the client side of one yamux session over
 * the child's stdin/stdout; the Go side is a hashicorp/yamux server. Both
 * sides open streams:
 *  - the Go program opens a stream at once and says hello;
 *  - we open three requests: "upper" (text back in upper case), "hash"
 *    (1 MiB; the Go side answers its length and FNV-1a 64, which we check)
 *    and "callback 3", for which the Go program opens three streams back to
 *    us at once (from three goroutines: their SYNs may arrive out of id
 *    order), sends "ping I" on each and waits for our "pong I";
 *  - then we close the session; the Go program reads EOF and exits 0.
 *
 * One hashicorp/yamux behaviour shapes the code: hashicorp only ACKs a
 * stream if its application accepts it before the FIN arrives, so a request
 * sent as open + write + shutdown in one turn is served but never ACKed
 * (libyamux takes the answer as the ACK, but until then the open counts
 * against max_unacked_opens). So we write the request with the open (it
 * rides on the SYN) and shut down from the connect callback, after the ACK.
 * libyamux never puts FIN on a Data frame with a body, which hashicorp could
 * lose (doc/protocol.md).
 *
 * Run: go build -o interop/bin/go-talk ./interop/go-talk
 *      build/examples/go-talk [path/to/go-talk]   (default interop/bin/go-talk)
 *      Exit status 0 when every answer was right and the child exited 0.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "yamux.h"

#define HASH_LEN (1u << 20)
#define N_CALLBACKS 3

typedef struct {
  yamux_stream_t stream;
  yamux_connect_t connect_req;
  yamux_write_t write_req;
  yamux_shutdown_t shutdown_req;
  const char* name;
  char head[32];
  const char* body; /* not copied: static or long-lived */
  size_t body_len;
  char* in; /* what the peer sent, up to its FIN */
  size_t in_len, in_cap;
  int inbound; /* opened by the Go side */
  int eof, shut_done;
} talk_t;

static uv_loop_t* loop;
static yamux_session_t session;
static uv_process_t child;
static int64_t child_status = -1;
/* Messages to receive: 3 answers, the hello, 3 pings. */
static int failures, answers_left = 3 + 1 + N_CALLBACKS, live, closing;
static char* hash_data;
static uint64_t hash_expect;
static char pong[N_CALLBACKS + 4][32];
static int pongs_sent;

static void fail(const char* what, int err) {
  fprintf(stderr, "go-talk: %s: %s\n", what, yamux_strerror(err));
  failures++;
}

static void maybe_finish(void);

static void talk_closed(yamux_stream_t* s) {
  talk_t* t = s->data;
  free(t->in);
  free(t);
  live--;
  maybe_finish();
}

static uint64_t fnv1a64(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static void finish_all(void) {
  if (closing) return;
  closing = 1;
  /* Closing the session closes the child's stdin: it reads EOF, exits. */
  yamux_session_close(&session, NULL);
}

/* Every message in and every stream closed: done. */
static void maybe_finish(void) {
  if (answers_left == 0 && live == 0) finish_all();
}

/* A complete message from the Go side (everything up to its FIN). */
static void on_message(talk_t* t) {
  char expect[64];
  int n = (int)t->in_len;
  if (t->inbound) {
    printf("go-talk: go opened stream %u: %.*s", t->stream.id, n, t->in);
    answers_left--;
    return;
  }
  if (strcmp(t->name, "upper") == 0) {
    printf("go-talk: upper -> %.*s\n", n, t->in);
    if (t->in_len != 12 || memcmp(t->in, "HELLO FROM C", 12))
      fail("upper: wrong answer", UV_EPROTO);
  } else if (strcmp(t->name, "hash") == 0) {
    snprintf(expect, sizeof(expect), "%u %016" PRIx64 "\n", HASH_LEN,
             hash_expect);
    printf("go-talk: hash of %u bytes: go says %.*s", HASH_LEN, n, t->in);
    if (t->in_len != strlen(expect) || memcmp(t->in, expect, t->in_len))
      fail("hash: go and c disagree", UV_EPROTO);
  } else {
    printf("go-talk: callback -> %.*s", n, t->in);
    snprintf(expect, sizeof(expect), "callbacks ok %d: pong 0", N_CALLBACKS);
    if (t->in_len < strlen(expect) || memcmp(t->in, expect, strlen(expect)))
      fail("callback: wrong answer", UV_EPROTO);
  }
  answers_left--;
}

static void talk_maybe_close(talk_t* t) {
  if (t->eof && t->shut_done && !yamux_is_closing(&t->stream))
    yamux_close(&t->stream, talk_closed);
}

static void talk_alloc(yamux_stream_t* s, size_t suggested, uv_buf_t* buf) {
  talk_t* t = s->data;
  if (t->in_cap - t->in_len < suggested) {
    char* p = realloc(t->in, t->in_len + suggested);
    if (p == NULL) {
      *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
      return;
    }
    t->in = p;
    t->in_cap = t->in_len + suggested;
  }
  *buf = uv_buf_init(t->in + t->in_len, (unsigned int)(t->in_cap - t->in_len));
}

static void talk_shutdown_cb(yamux_shutdown_t* req, int status) {
  talk_t* t = req->data;
  if (status != 0 && status != UV_ECANCELED) fail("shutdown", status);
  t->shut_done = 1;
  talk_maybe_close(t);
}

static void talk_shutdown(talk_t* t) {
  int rc;
  t->shutdown_req.data = t;
  if ((rc = yamux_shutdown(&t->shutdown_req, &t->stream, talk_shutdown_cb))) {
    fail("shutdown", rc);
    t->shut_done = 1;
  }
}

static void talk_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  talk_t* t = s->data;
  (void)buf;
  if (n > 0) {
    t->in_len += (size_t)n;
    return;
  }
  if (n != UV_EOF) {
    fail("read", (int)n);
    t->eof = t->shut_done = 1;
    yamux_close_reset(s, 0, talk_closed);
    return;
  }
  t->eof = 1;
  on_message(t);
  if (t->inbound && strncmp(t->in, "ping ", 5) == 0 &&
      pongs_sent < (int)(sizeof(pong) / sizeof(pong[0]))) {
    /* Answer the Go side's callback on its own stream, then FIN. */
    char* p = pong[pongs_sent++];
    uv_buf_t b;
    int rc;
    snprintf(p, sizeof(pong[0]), "pong %.*s", (int)(t->in_len - 5), t->in + 5);
    b = uv_buf_init(p, (unsigned int)strlen(p));
    if ((rc = yamux_write(&t->write_req, s, &b, 1, NULL)) != 0)
      fail("write", rc);
  }
  if (t->inbound) talk_shutdown(t);
  talk_maybe_close(t);
}

/* Go side's streams: accept and read to its FIN. */
static void on_stream(yamux_session_t* s, int status) {
  talk_t* t;
  int rc;
  (void)status;
  if ((t = calloc(1, sizeof(*t))) == NULL) return;
  t->inbound = 1;
  t->stream.data = t;
  if ((rc = yamux_stream_init(s, &t->stream)) != 0 ||
      (rc = yamux_accept(s, &t->stream)) != 0) {
    free(t);
    if (rc != UV_EAGAIN) fail("accept", rc);
    return;
  }
  live++;
  if ((rc = yamux_read_start(&t->stream, talk_alloc, talk_read)) != 0) {
    fail("read_start", rc);
    yamux_close_reset(&t->stream, 0, talk_closed);
  }
}

/* The Go side ACKed our stream: only now send our FIN (see the top). */
static void request_connected(yamux_connect_t* req, int status) {
  talk_t* t = req->data;
  if (status != 0) {
    if (status != UV_ECANCELED) fail("open", status);
    return;
  }
  talk_shutdown(t);
}

static void request(const char* name, const char* head, const char* body,
                    size_t body_len) {
  talk_t* t = calloc(1, sizeof(*t));
  uv_buf_t bufs[2];
  int rc;
  if (t == NULL) {
    fail("calloc", UV_ENOMEM);
    return;
  }
  t->name = name;
  t->stream.data = t;
  t->connect_req.data = t;
  snprintf(t->head, sizeof(t->head), "%s", head);
  t->body = body;
  t->body_len = body_len;
  bufs[0] = uv_buf_init(t->head, (unsigned int)strlen(t->head));
  bufs[1] = uv_buf_init((char*)body, (unsigned int)body_len);
  if ((rc = yamux_stream_init(&session, &t->stream)) != 0 ||
      (rc = yamux_stream_open(&t->connect_req, &t->stream,
                              request_connected)) != 0) {
    free(t);
    fail("open", rc);
    return;
  }
  live++;
  if ((rc = yamux_write(&t->write_req, &t->stream, bufs, body_len ? 2 : 1,
                        NULL)) != 0 ||
      (rc = yamux_read_start(&t->stream, talk_alloc, talk_read)) != 0) {
    fail("request", rc);
    yamux_close_reset(&t->stream, 0, talk_closed);
  }
}

static void end_cb(yamux_session_t* s, int status) {
  fail("session ended early", status);
  (void)s;
  finish_all();
}

static void on_exit_cb(uv_process_t* p, int64_t status, int sig) {
  child_status = sig ? 128 + sig : status;
  uv_close((uv_handle_t*)p, NULL);
}

int main(int argc, char** argv) {
  char* args[2] = {argc > 1 ? argv[1] : "interop/bin/go-talk", NULL};
  uv_process_options_t opts;
  size_t i;
  int rc;

  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  opts.exit_cb = on_exit_cb;
  if ((rc = yamux_session_init(&session, YAMUX_CLIENT, NULL)) != 0 ||
      (rc = yamux_session_spawn(loop, &session, &child, &opts, end_cb))) {
    fprintf(stderr, "go-talk: cannot run %s: %s\n", args[0],
            yamux_strerror(rc));
    yamux_session_close(&session, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  printf("go-talk: spawned %s (pid %d); yamux over its stdin/stdout\n", args[0],
         child.pid);
  yamux_session_listen(&session, on_stream);

  if ((hash_data = malloc(HASH_LEN)) == NULL) return 1;
  for (i = 0; i < HASH_LEN; i++) hash_data[i] = (char)(i * 7 + (i >> 12));
  hash_expect = fnv1a64(hash_data, HASH_LEN);

  request("upper", "upper\n", "hello from C", 12);
  request("hash", "hash\n", hash_data, HASH_LEN);
  request("callback", "callback 3\n", NULL, 0);

  uv_run(loop, UV_RUN_DEFAULT);
  printf("go-talk: child exited with status %" PRId64 "\n", child_status);
  free(hash_data);
  rc = uv_loop_close(loop);
  return failures == 0 && answers_left == 0 && child_status == 0 &&
                 pongs_sent == N_CALLBACKS && rc == 0
             ? 0
             : 1;
}
