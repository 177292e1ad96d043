/* rpc: an RPC client and server over one yamux session, the way an RPC tool
 * would embed libyamux.
 *
 * What it shows:
 *  - one stream per call. A yamux stream costs one SYN (which carries the
 *    request: 0-RTT) and a few hundred bytes; in exchange a call needs no
 *    call id, a slow or large call never holds up the others (each stream
 *    has its own flow-control window, where calls multiplexed on a few
 *    streams would queue behind each other), and cancelling a call is
 *    resetting its stream, which the other side sees at once;
 *  - framing: every message is a 4-byte big-endian length and a body. A
 *    request body is a 1-byte method name length, the name, the arguments;
 *    a response body is a 1-byte status (0 ok, 1 error) and the result. The
 *    length prefix (not the stream's FIN) ends a request, so the server
 *    keeps reading after it and sees a reset while it works;
 *  - per-call timeouts: a uv_timer per call; on expiry the client resets the
 *    stream with code RPC_CODE_DEADLINE (yamux_close_reset) and the call
 *    completes with UV_ETIMEDOUT. The server's read callback gets
 *    UV_ECONNRESET, yamux_stream_reset_code() gives the code, and the server
 *    cancels the work (here: the timer of a "sleep" call);
 *  - zero-copy: requests and responses are written from the callers' memory
 *    (an echo response points into the request buffer); both sides read in
 *    place (yamux_read_start without an alloc_cb) into one buffer per
 *    message, sized from the length prefix.
 * Client and server run in one process over uv_socketpair(): two sessions,
 * one loop. rpc_call() below is the whole client API.
 *
 * Methods: "echo" (returns its arguments), "sum" (the bytes of the arguments
 * added up, as decimal text), "sleep" (arguments: milliseconds in decimal;
 * answers "slept" after that long).
 *
 * Run: build/examples/rpc [--calls N] [--concurrency C] [--slow K]
 *      Makes N echo/sum calls of random sizes (0 .. 64 KiB), C in flight,
 *      each verified, with a 10 s timeout; and K "sleep 5000" calls with a
 *      200 ms timeout, which must time out; the server must see the reset
 *      of each one it received.
 *      Defaults: 10000, 256, 3. Exit status 0 when everything went so.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "yamux.h"

#define RPC_CODE_DEADLINE 0x44 /* RST code: the caller's deadline passed */
#define RPC_MAX_MESSAGE (16u << 20)
#define SLOW_TIMEOUT_MS 200 /* the slow calls' deadline */

/* ======================================================================== */
/* Client                                                                    */

typedef void (*rpc_done_cb)(void* data, int status, const char* result,
                            size_t len);

typedef struct {
  yamux_stream_t stream;
  yamux_connect_t connect_req;
  yamux_write_t write_req;
  uv_timer_t timer;
  unsigned char head[5 + 255]; /* length, name length, name */
  unsigned char rhdr[4];       /* response length prefix */
  char* resp;
  uint32_t resp_len;
  size_t got;
  rpc_done_cb cb;
  void* data;
  int done;
  int refs; /* stream and timer handles */
} rpc_call_t;

static void put32(unsigned char* p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static void call_unref(rpc_call_t* c) {
  if (--c->refs == 0) {
    free(c->resp);
    free(c);
  }
}

static void call_stream_closed(yamux_stream_t* s) {
  call_unref(s->data);
}
static void call_timer_closed(uv_handle_t* h) {
  call_unref(h->data);
}

/* Completes the call once; `reset` aborts the stream (with `code`). */
static void call_finish(rpc_call_t* c, int status, int reset, uint32_t code) {
  if (c->done) return;
  c->done = 1;
  uv_close((uv_handle_t*)&c->timer, call_timer_closed);
  if (reset)
    yamux_close_reset(&c->stream, code, call_stream_closed);
  else
    yamux_close(&c->stream, call_stream_closed); /* FIN: we are done */
  if (status == 0)
    c->cb(c->data, c->resp[0] == 0 ? 0 : UV_EREMOTEIO, c->resp + 1,
          c->resp_len - 1);
  else
    c->cb(c->data, status, NULL, 0);
}

static void call_timeout(uv_timer_t* t) {
  /* The caller gives up; the reset tells the server to stop working. */
  call_finish(t->data, UV_ETIMEDOUT, 1, RPC_CODE_DEADLINE);
}

static void call_connected(yamux_connect_t* req, int status) {
  /* UV_ECONNREFUSED: the server refused the stream (backlog full). */
  if (status != 0 && status != UV_ECANCELED)
    call_finish(req->data, status, 1, 0);
}

static void call_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rpc_call_t* c = s->data;
  size_t i = 0, k;
  if (c->done) return;
  if (n < 0) { /* EOF before the whole response, reset, session ended */
    call_finish(c, n == UV_EOF ? UV_EPROTO : (int)n, n != UV_EOF, 0);
    return;
  }
  /* buf is the session's memory (no alloc_cb): take what we need now. */
  for (; i < (size_t)n && c->got < 4; i++) c->rhdr[c->got++] = buf->base[i];
  if (c->got == 4 && c->resp == NULL) {
    c->resp_len = get32(c->rhdr);
    if (c->resp_len == 0 || c->resp_len > RPC_MAX_MESSAGE ||
        (c->resp = malloc(c->resp_len)) == NULL) {
      call_finish(c, c->resp_len == 0 ? UV_EPROTO : UV_ENOMEM, 1, 0);
      return;
    }
  }
  k = (size_t)n - i;
  if (k == 0) return;
  if (c->got - 4 + k > c->resp_len) {
    call_finish(c, UV_EPROTO, 1, 0); /* more than the length said */
    return;
  }
  memcpy(c->resp + (c->got - 4), buf->base + i, k);
  c->got += k;
  if (c->got - 4 == c->resp_len) call_finish(c, 0, 0, 0);
}

/* Calls `method` with `args` (not copied: valid until cb) on a new stream
 * of `session`; cb(data, status, result, len) runs exactly once, later:
 * status 0 with the result (valid during cb only), UV_EREMOTEIO with the
 * server's error text, UV_ETIMEDOUT after timeout_ms (the stream is reset),
 * or another error. Returns 0 or an error (then cb never runs). */
static int rpc_call(yamux_session_t* session, const char* method,
                    const void* args, size_t args_len, uint64_t timeout_ms,
                    rpc_done_cb cb, void* data) {
  size_t name_len = strlen(method);
  rpc_call_t* c;
  uv_buf_t bufs[2];
  int rc;
  if (name_len == 0 || name_len > 255 ||
      1 + name_len + args_len > RPC_MAX_MESSAGE)
    return UV_EINVAL;
  if ((c = calloc(1, sizeof(*c))) == NULL) return UV_ENOMEM;
  c->cb = cb;
  c->data = data;
  c->stream.data = c;
  c->connect_req.data = c;
  c->timer.data = c;
  put32(c->head, (uint32_t)(1 + name_len + args_len));
  c->head[4] = (unsigned char)name_len;
  memcpy(c->head + 5, method, name_len);
  bufs[0] = uv_buf_init((char*)c->head, (unsigned int)(5 + name_len));
  bufs[1] = uv_buf_init((char*)args, (unsigned int)args_len);
  if ((rc = yamux_stream_init(session, &c->stream)) != 0 ||
      (rc = yamux_stream_open(&c->connect_req, &c->stream, call_connected))) {
    free(c);
    return rc;
  }
  c->refs = 2;
  /* Written in the same turn as the open: the request rides on the SYN. */
  if ((rc = uv_timer_init(session->loop, &c->timer)) != 0) {
    c->refs = 1;
    yamux_close_reset(&c->stream, 0, call_stream_closed);
    return rc;
  }
  if ((rc = yamux_write(&c->write_req, &c->stream, bufs, args_len ? 2 : 1,
                        NULL)) != 0 ||
      (rc = yamux_read_start(&c->stream, NULL, call_read)) != 0 ||
      /* The deadline counts from now: the loop's cached time may be old. */
      (uv_update_time(session->loop),
       (rc = uv_timer_start(&c->timer, call_timeout, timeout_ms, 0))) != 0) {
    c->done = 1;
    uv_close((uv_handle_t*)&c->timer, call_timer_closed);
    yamux_close_reset(&c->stream, 0, call_stream_closed);
    return rc;
  }
  return 0;
}

/* ======================================================================== */
/* Server                                                                    */

typedef struct srv_call_s {
  struct srv_call_s* prev;
  struct srv_call_s* next;
  yamux_stream_t stream;
  yamux_write_t write_req;
  uv_timer_t work; /* a "sleep" call's work */
  unsigned char hdr[4];
  unsigned char out_head[5];
  char result[32];
  char* req;
  uint32_t req_len;
  size_t got;
  int working, responded, eof, closing, refs;
} srv_call_t;

static srv_call_t srv_calls; /* list head: live server calls */
static uint64_t srv_resets, srv_cancelled, srv_served, srv_sleeps;
static uint32_t srv_last_code;

static void maybe_done(void);

static void srv_unref(srv_call_t* sc) {
  if (--sc->refs == 0) {
    free(sc->req);
    free(sc);
  }
}

static void srv_closed(yamux_stream_t* s) {
  srv_unref(s->data);
}
static void srv_work_closed(uv_handle_t* h) {
  srv_unref(h->data);
}

static void srv_close(srv_call_t* sc, int reset) {
  if (sc->closing) return;
  sc->closing = 1;
  sc->prev->next = sc->next;
  sc->next->prev = sc->prev;
  if (sc->working) { /* cancel the work */
    sc->working = 0;
    srv_cancelled++;
    uv_close((uv_handle_t*)&sc->work, srv_work_closed);
  }
  if (reset)
    yamux_close_reset(&sc->stream, 0, srv_closed);
  else
    yamux_close(&sc->stream, srv_closed);
}

static void srv_written(yamux_write_t* req, int status) {
  srv_call_t* sc = req->data;
  sc->responded = 2;
  if (status != 0)
    srv_close(sc, 0); /* reset by the client, or the session ended */
  else if (sc->eof)   /* the client had its answer and closed its side */
    srv_close(sc, 0);
  srv_unref(sc);
}

/* Sends [len][status][result]; result stays valid until srv_written. */
static void srv_respond(srv_call_t* sc, int status, const char* result,
                        size_t len) {
  uv_buf_t bufs[2];
  int rc;
  put32(sc->out_head, (uint32_t)(1 + len));
  sc->out_head[4] = (unsigned char)status;
  bufs[0] = uv_buf_init((char*)sc->out_head, 5);
  bufs[1] = uv_buf_init((char*)result, (unsigned int)len);
  sc->write_req.data = sc;
  sc->responded = 1;
  if ((rc = yamux_write(&sc->write_req, &sc->stream, bufs, len ? 2 : 1,
                        srv_written)) != 0) {
    srv_close(sc, 1);
    return;
  }
  sc->refs++;
  srv_served++;
}

static void srv_work_done(uv_timer_t* t) {
  srv_call_t* sc = t->data;
  sc->working = 0;
  uv_close((uv_handle_t*)&sc->work, srv_work_closed);
  srv_respond(sc, 0, "slept", 5);
}

static void srv_dispatch(srv_call_t* sc) {
  size_t name_len = (unsigned char)sc->req[0];
  const char* name = sc->req + 1;
  char* args = sc->req + 1 + name_len;
  size_t args_len;
  if (1 + name_len > sc->req_len) {
    srv_respond(sc, 1, "bad request", 11);
    return;
  }
  args_len = sc->req_len - 1 - name_len;
  if (name_len == 4 && memcmp(name, "echo", 4) == 0) {
    srv_respond(sc, 0, args, args_len); /* zero-copy: from the request */
  } else if (name_len == 3 && memcmp(name, "sum", 3) == 0) {
    uint64_t sum = 0;
    size_t i;
    for (i = 0; i < args_len; i++) sum += (unsigned char)args[i];
    snprintf(sc->result, sizeof(sc->result), "%" PRIu64, sum);
    srv_respond(sc, 0, sc->result, strlen(sc->result));
  } else if (name_len == 5 && memcmp(name, "sleep", 5) == 0) {
    char ms[16];
    size_t k = args_len < sizeof(ms) - 1 ? args_len : sizeof(ms) - 1;
    memcpy(ms, args, k);
    ms[k] = '\0';
    sc->work.data = sc;
    if (uv_timer_init(sc->stream.session->loop, &sc->work) != 0) {
      srv_respond(sc, 1, "no timer", 8);
      return;
    }
    sc->refs++;
    sc->working = 1;
    srv_sleeps++;
    uv_timer_start(&sc->work, srv_work_done, strtoull(ms, NULL, 10), 0);
  } else {
    srv_respond(sc, 1, "no such method", 14);
  }
}

static void srv_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  srv_call_t* sc = s->data;
  size_t i = 0, k;
  if (n == UV_EOF) {
    /* The client has its answer (or gave up politely): close once our
     * response is out. */
    sc->eof = 1;
    if (sc->responded != 1) srv_close(sc, sc->responded == 0);
    return;
  }
  if (n < 0) {
    if (n == UV_ECONNRESET) {
      srv_resets++;
      srv_last_code = yamux_stream_reset_code(s);
    }
    srv_close(sc, 0); /* stops the work, if any */
    maybe_done();
    return;
  }
  for (; i < (size_t)n && sc->got < 4; i++) sc->hdr[sc->got++] = buf->base[i];
  if (sc->got == 4 && sc->req == NULL) {
    sc->req_len = get32(sc->hdr);
    if (sc->req_len == 0 || sc->req_len > RPC_MAX_MESSAGE ||
        (sc->req = malloc(sc->req_len)) == NULL) {
      srv_close(sc, 1);
      return;
    }
  }
  k = (size_t)n - i;
  if (k == 0) return;
  if (sc->got - 4 + k > sc->req_len) { /* one request per stream */
    srv_close(sc, 1);
    return;
  }
  memcpy(sc->req + (sc->got - 4), buf->base + i, k);
  sc->got += k;
  /* Keep reading after the request: a reset must reach us while we work. */
  if (sc->got - 4 == sc->req_len) srv_dispatch(sc);
}

static void srv_on_stream(yamux_session_t* session, int status) {
  srv_call_t* sc;
  (void)status;
  if ((sc = calloc(1, sizeof(*sc))) == NULL) return;
  sc->stream.data = sc;
  if (yamux_stream_init(session, &sc->stream) != 0 ||
      yamux_accept(session, &sc->stream) != 0) {
    free(sc);
    return;
  }
  sc->refs = 1;
  sc->next = &srv_calls;
  sc->prev = srv_calls.prev;
  srv_calls.prev->next = sc;
  srv_calls.prev = sc;
  if (yamux_read_start(&sc->stream, NULL, srv_read) != 0) srv_close(sc, 1);
}

/* ======================================================================== */
/* The program: both ends in one process                                     */

static uv_loop_t* loop;
static yamux_session_t client, server;
static uv_timer_t watchdog;
static uint64_t n_calls = 10000, concurrency = 256, n_slow = 3;
static uint64_t started, ok, failed, slow_timed_out, slow_other, finished;
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static int closed;

typedef struct {
  const char* args; /* a slice of the pool: no copy, valid for ever */
  size_t len;
  int is_sum;
} job_t;

/* Call arguments are slices of one random pool (rpc_call never copies
 * them; they only have to outlive the call). */
#define POOL_SIZE (128 * 1024)
static char pool[POOL_SIZE];

static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void close_all(void) {
  if (closed) return;
  closed = 1;
  uv_close((uv_handle_t*)&watchdog, NULL);
  while (srv_calls.next != &srv_calls) srv_close(srv_calls.next, 1);
  yamux_session_close(&client, NULL);
  yamux_session_close(&server, NULL);
}

static void maybe_done(void) {
  /* Done when every call completed and the server saw the reset of every
   * slow call it started working on. (A call whose deadline passes before
   * its request left never reaches the server: its RST is dropped there as
   * one for an unknown stream.) */
  if (finished == n_calls + n_slow && srv_cancelled == srv_sleeps) close_all();
}

static void slow_done(void* data, int status, const char* result, size_t len);

/* The slow calls are opened first: their requests ride on the first SYNs,
 * which leave ahead of the other calls' data (SYNs go in open order). */
static void start_slow_calls(void) {
  uint64_t i;
  int rc;
  for (i = 0; i < n_slow; i++) {
    rc =
        rpc_call(&client, "sleep", "5000", 4, SLOW_TIMEOUT_MS, slow_done, NULL);
    if (rc != 0) {
      fprintf(stderr, "rpc: rpc_call: %s\n", yamux_strerror(rc));
      exit(1);
    }
  }
}

static void start_call(void);

static void job_done(void* data, int status, const char* result, size_t len) {
  job_t* j = data;
  int good = 0;
  if (status == 0 && j->is_sum) {
    uint64_t sum = 0;
    char text[32];
    size_t i;
    for (i = 0; i < j->len; i++) sum += (unsigned char)j->args[i];
    snprintf(text, sizeof(text), "%" PRIu64, sum);
    good = len == strlen(text) && memcmp(result, text, len) == 0;
  } else if (status == 0) {
    good = len == j->len && memcmp(result, j->args, len) == 0;
  }
  if (good) {
    ok++;
  } else {
    failed++;
    fprintf(stderr, "rpc: call failed: %s\n",
            status ? yamux_strerror(status) : "wrong result");
  }
  free(j);
  finished++;
  if (started < n_calls) start_call();
  maybe_done();
}

static void start_call(void) {
  job_t* j = calloc(1, sizeof(*j));
  uint64_t r = next_rand();
  int rc;
  if (j == NULL) {
    fprintf(stderr, "rpc: out of memory\n");
    exit(1);
  }
  started++;
  j->len = (size_t)(r % 65537);
  j->is_sum = (r >> 20) & 1;
  j->args = pool + (r >> 32) % (POOL_SIZE - 65536);
  rc = rpc_call(&client, j->is_sum ? "sum" : "echo", j->args, j->len, 10000,
                job_done, j);
  if (rc != 0) {
    fprintf(stderr, "rpc: rpc_call: %s\n", yamux_strerror(rc));
    exit(1);
  }
}

static void slow_done(void* data, int status, const char* result, size_t len) {
  (void)data, (void)result, (void)len;
  if (status == UV_ETIMEDOUT)
    slow_timed_out++;
  else
    slow_other++;
  finished++;
  maybe_done();
}

static void on_watchdog(uv_timer_t* t) {
  (void)t;
  fprintf(stderr,
          "rpc: gave up waiting (%" PRIu64 " of %" PRIu64
          " calls finished, server saw %" PRIu64 " resets)\n",
          finished, n_calls + n_slow, srv_resets);
  failed++;
  close_all();
}

static void end_cb(yamux_session_t* s, int status) {
  fprintf(stderr, "rpc: %s session ended: %s\n",
          s == &client ? "client" : "server", yamux_strerror(status));
  failed++;
  close_all();
}

static int start_session(yamux_session_t* s, yamux_role_t role, uv_os_fd_t fd) {
  int rc;
  if ((rc = yamux_session_init(s, role, NULL)) != 0) return rc;
  if ((rc = uv_pipe_init(loop, &s->io[0].pipe, 0)) != 0 ||
      (rc = uv_pipe_open(&s->io[0].pipe, fd)) != 0 ||
      (rc = yamux_session_start_uv(loop, s, 1, end_cb)) != 0)
    return rc;
  return 0;
}

int main(int argc, char** argv) {
  uv_os_sock_t fds[2];
  uint64_t i;
  int a, rc;
  for (a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--calls") == 0 && a + 1 < argc)
      n_calls = strtoull(argv[++a], NULL, 10);
    else if (strcmp(argv[a], "--concurrency") == 0 && a + 1 < argc)
      concurrency = strtoull(argv[++a], NULL, 10);
    else if (strcmp(argv[a], "--slow") == 0 && a + 1 < argc)
      n_slow = strtoull(argv[++a], NULL, 10);
    else {
      fprintf(stderr, "usage: rpc [--calls N] [--concurrency C] [--slow K]\n");
      return 2;
    }
  }
  if (concurrency == 0) return 2;
  srv_calls.prev = srv_calls.next = &srv_calls;
  loop = uv_default_loop();
  if ((rc = uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE,
                          UV_NONBLOCK_PIPE)) != 0 ||
      (rc = start_session(&server, YAMUX_SERVER, fds[0])) != 0 ||
      (rc = start_session(&client, YAMUX_CLIENT, fds[1])) != 0 ||
      (rc = yamux_session_listen(&server, srv_on_stream)) != 0) {
    fprintf(stderr, "rpc: setup: %s\n", yamux_strerror(rc));
    return 1;
  }
  uv_timer_init(loop, &watchdog);
  uv_timer_start(&watchdog, on_watchdog, 60000, 0);

  for (i = 0; i < POOL_SIZE; i += 8) {
    uint64_t x = next_rand();
    memcpy(pool + i, &x, 8);
  }
  start_slow_calls();
  for (i = 0; i < concurrency && started < n_calls; i++) start_call();
  maybe_done();
  uv_run(loop, UV_RUN_DEFAULT);

  printf("rpc: %" PRIu64 " calls ok, %" PRIu64 " failed (%" PRIu64
         " in flight at most, one stream each)\n",
         ok, failed, concurrency);
  printf("rpc: %" PRIu64 " of %" PRIu64
         " slow calls timed out after %d ms "
         "and were reset\n",
         slow_timed_out, n_slow, SLOW_TIMEOUT_MS);
  printf("rpc: server saw %" PRIu64 " resets (last code 0x%" PRIx32
         "), cancelled %" PRIu64 " of %" PRIu64
         " sleeping calls, answered %" PRIu64 "\n",
         srv_resets, srv_last_code, srv_cancelled, srv_sleeps, srv_served);
  if (srv_sleeps < n_slow)
    printf("rpc: %" PRIu64
           " slow calls timed out before their request "
           "left\n",
           n_slow - srv_sleeps);
  rc = uv_loop_close(loop);
  if (rc != 0) fprintf(stderr, "rpc: loop not clean: %s\n", uv_strerror(rc));
  return ok == n_calls && failed == 0 && slow_timed_out == n_slow &&
                 slow_other == 0 && srv_resets == srv_sleeps &&
                 srv_cancelled == srv_sleeps &&
                 (n_slow == 0 || srv_last_code == RPC_CODE_DEADLINE) && rc == 0
             ? 0
             : 1;
}
