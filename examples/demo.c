/* demo: many concurrent request/response exchanges over one child process's
 * stdin/stdout, multiplexed by one yamux session.
 *
 * What it shows: the use case libyamux was built for. The parent spawns
 * itself as a child (yamux_session_spawn), the child serves requests over
 * its own fd 0/1 (yamux_session_start_stdio). The parent keeps
 * --concurrency streams in flight until --requests exchanges are done; each
 * stream carries one request (a 16-byte header and a body of random size),
 * then FIN; the child checks the body, answers with the number of bytes the
 * header asked for (content derived from a seed), then FIN. The parent
 * verifies every byte of every response, and prints the rate and the
 * session's statistics.
 *
 * Run: build/examples/demo [--requests N] [--concurrency C]
 *      (defaults: 20000 requests, 512 in flight). Exit status 0 means every
 *      response was verified and the child exited cleanly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "yamux.h"

#define HDR_LEN 16
#define MAGIC 0x594d5844u /* "YMXD" */

typedef struct {
  yamux_stream_t stream;
  yamux_connect_t connect_req;
  yamux_write_t write_req;
  yamux_shutdown_t shutdown_req;
  uint8_t* out; /* request (parent) or response (child) */
  size_t out_len;
  uint8_t hdr[HDR_LEN];
  size_t got;    /* bytes received */
  uint32_t want; /* response length the request asks for */
  uint32_t body; /* request body length */
  uint64_t seed;
  int eof, written, failed;
} exchange_t;

static uv_loop_t* loop;
static yamux_session_t session;
static uv_process_t child;
static int is_child;
static char rxbuf[65536];

/* Parent state. */
static uint64_t n_requests = 20000, concurrency = 512;
static uint64_t started, completed, failures, bytes_up, bytes_down;
static uint64_t t_start, t_end;
static int64_t child_exit = -1;
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static yamux_session_stats_t final_stats;

static uint64_t splitmix(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The content both sides derive from a seed: byte i of a message. */
static uint8_t content(uint64_t seed, size_t i) {
  uint64_t x = seed ^ ((uint64_t)(i >> 3) * 0xD6E8FEB86659FD93ull);
  x ^= x >> 32;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return (uint8_t)(x >> ((i & 7) * 8));
}

/* content() for bytes [off, off + n), a word at a time. */
static void fill_at(uint8_t* p, size_t n, uint64_t seed, size_t off) {
  size_t i = 0;
  while (i < n && ((off + i) & 7) != 0) {
    p[i] = content(seed, off + i);
    i++;
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t x = seed ^ ((uint64_t)((off + i) >> 3) * 0xD6E8FEB86659FD93ull);
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p + i, &x, 8); /* byte b of the word is content()'s byte b */
#else
    int b;
    for (b = 0; b < 8; b++) p[i + b] = (uint8_t)(x >> (b * 8));
#endif
  }
  for (; i < n; i++) p[i] = content(seed, off + i);
}

static void fill(uint8_t* p, size_t n, uint64_t seed) {
  fill_at(p, n, seed, 0);
}

/* Does buf hold content(seed) bytes [off, off + n)? */
static int matches(const char* buf, size_t n, uint64_t seed, size_t off) {
  uint8_t expect[4096];
  while (n > 0) {
    size_t k = n < sizeof(expect) ? n : sizeof(expect);
    fill_at(expect, k, seed, off);
    if (memcmp(buf, expect, k) != 0) return 0;
    buf += k;
    off += k;
    n -= k;
  }
  return 1;
}

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static void alloc_cb(yamux_stream_t* st, size_t suggested, uv_buf_t* buf) {
  (void)st;
  (void)suggested;
  *buf = uv_buf_init(rxbuf, sizeof(rxbuf)); /* consumed inside read_cb */
}

static void on_closed(yamux_stream_t* st) {
  exchange_t* x = st->data;
  free(x->out);
  free(x);
}

static void die(const char* what, int err) {
  fprintf(stderr, "demo%s: %s: %s\n", is_child ? " (child)" : "", what,
          yamux_strerror(err));
  exit(1);
}

/* ---- child: serve requests ------------------------------------------------
 */

static void child_maybe_done(exchange_t* x) {
  if (x->eof && x->written && !yamux_is_closing(&x->stream))
    yamux_close(&x->stream, on_closed);
}

static void child_shutdown_cb(yamux_shutdown_t* req, int status) {
  exchange_t* x = req->data;
  (void)status;
  x->written = 1;
  child_maybe_done(x);
}

static void child_respond(exchange_t* x) {
  uv_buf_t b;
  int rc;
  x->out = malloc(x->want ? x->want : 1);
  if (x->out == NULL) die("malloc", UV_ENOMEM);
  fill(x->out, x->want, x->seed);
  b = uv_buf_init((char*)x->out, x->want);
  x->write_req.data = x;
  x->shutdown_req.data = x;
  rc = yamux_write(&x->write_req, &x->stream, &b, 1, NULL);
  if (rc == 0)
    rc = yamux_shutdown(&x->shutdown_req, &x->stream, child_shutdown_cb);
  if (rc != 0) {
    x->written = 1;
    child_maybe_done(x);
  }
}

static void child_read_cb(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  exchange_t* x = st->data;
  ssize_t i;
  if (n == UV_EOF) {
    x->eof = 1;
    if (x->got != (size_t)HDR_LEN + x->body || x->failed) {
      yamux_close_reset(st, 1, on_closed); /* malformed request */
      return;
    }
    child_respond(x);
    return;
  }
  if (n < 0) {
    yamux_close(st, on_closed);
    return;
  }
  for (i = 0; i < n && x->got < HDR_LEN; i++, x->got++) {
    x->hdr[x->got] = (uint8_t)buf->base[i];
    if (x->got == HDR_LEN - 1) {
      if (get32(x->hdr) != MAGIC) x->failed = 1;
      x->body = get32(x->hdr + 4);
      x->want = get32(x->hdr + 8);
      x->seed = get32(x->hdr + 12);
    }
  }
  if (i < n) {
    size_t k = (size_t)(n - i), off = x->got - HDR_LEN;
    if (off + k > x->body ||
        !matches(buf->base + i, k, x->seed ^ 0xA5A5A5A5u, off))
      x->failed = 1;
    x->got += k;
  }
}

static void child_on_stream(yamux_session_t* s, int status) {
  exchange_t* x;
  if (status != 0) return;
  x = calloc(1, sizeof(*x));
  if (x == NULL) die("calloc", UV_ENOMEM);
  x->stream.data = x;
  if (yamux_stream_init(s, &x->stream) != 0 ||
      yamux_accept(s, &x->stream) != 0) {
    free(x);
    return;
  }
  yamux_read_start(&x->stream, alloc_cb, child_read_cb);
}

static void child_end_cb(yamux_session_t* s, int status) {
  if (status != UV_EOF)
    fprintf(stderr, "demo (child): session ended: %s\n",
            yamux_strerror(status));
  yamux_session_close(s, NULL);
}

static int run_child(void) {
  int rc;
  if ((rc = yamux_session_init(&session, YAMUX_SERVER, NULL)) != 0)
    die("session init", rc);
  if ((rc = yamux_session_start_stdio(loop, &session, child_end_cb)) != 0)
    die("start stdio", rc);
  yamux_session_listen(&session, child_on_stream);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

/* ---- parent: issue requests -----------------------------------------------
 */

static void start_request(void);

static void finish(exchange_t* x, int ok) {
  if (!ok) failures++;
  completed++;
  yamux_close(&x->stream, on_closed);
  if (started < n_requests) start_request();
  if (completed == n_requests) {
    t_end = uv_hrtime();
    yamux_session_get_stats(&session, &final_stats);
    yamux_session_close(&session, NULL);
  }
}

static void parent_read_cb(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  exchange_t* x = st->data;
  if (n == UV_EOF) {
    finish(x, !x->failed && x->got == x->want);
    return;
  }
  if (n < 0) {
    fprintf(stderr, "demo: stream %u: %s\n", st->id, yamux_strerror((int)n));
    finish(x, 0);
    return;
  }
  bytes_down += (uint64_t)n;
  if (x->got + (size_t)n > x->want ||
      !matches(buf->base, (size_t)n, x->seed, x->got))
    x->failed = 1;
  x->got += (size_t)n;
}

static void start_request(void) {
  exchange_t* x = calloc(1, sizeof(*x));
  uint64_t r = splitmix(&rng);
  uv_buf_t b;
  int rc;
  if (x == NULL) die("calloc", UV_ENOMEM);
  started++;
  x->body = 64 + (uint32_t)(r % 4033); /* 64 B .. 4 KiB */
  x->want = 256u << ((r >> 16) % 9);   /* 256 B .. 64 KiB */
  x->want += (uint32_t)((r >> 24) % x->want);
  x->seed = (uint32_t)(r >> 32);
  x->out_len = HDR_LEN + x->body;
  x->out = malloc(x->out_len);
  if (x->out == NULL) die("malloc", UV_ENOMEM);
  put32(x->out, MAGIC);
  put32(x->out + 4, x->body);
  put32(x->out + 8, x->want);
  put32(x->out + 12, (uint32_t)x->seed);
  fill(x->out + HDR_LEN, x->body, x->seed ^ 0xA5A5A5A5u);
  bytes_up += x->out_len;
  x->stream.data = x;
  if ((rc = yamux_stream_init(&session, &x->stream)) != 0)
    die("stream init", rc);
  if ((rc = yamux_stream_open(NULL, &x->stream, NULL)) != 0) die("open", rc);
  b = uv_buf_init((char*)x->out, (unsigned int)x->out_len);
  /* Written in the same turn as the open: the request rides on the SYN. */
  if ((rc = yamux_write(&x->write_req, &x->stream, &b, 1, NULL)) != 0)
    die("write", rc);
  if ((rc = yamux_shutdown(NULL, &x->stream, NULL)) != 0) die("shutdown", rc);
  if ((rc = yamux_read_start(&x->stream, alloc_cb, parent_read_cb)) != 0)
    die("read_start", rc);
}

static void parent_end_cb(yamux_session_t* s, int status) {
  fprintf(stderr, "demo: session ended early: %s\n", yamux_strerror(status));
  failures++;
  yamux_session_close(s, NULL);
}

static void on_child_exit(uv_process_t* p, int64_t status, int sig) {
  child_exit = sig ? 128 + sig : status;
  uv_close((uv_handle_t*)p, NULL);
}

static int run_parent(const char* self) {
  char* args[3];
  uv_process_options_t opts;
  yamux_session_stats_t st;
  double secs;
  uint64_t i;
  int rc;

  if ((rc = yamux_session_init(&session, YAMUX_CLIENT, NULL)) != 0)
    die("session init", rc);
  memset(&opts, 0, sizeof(opts));
  args[0] = (char*)self;
  args[1] = "--child";
  args[2] = NULL;
  opts.file = self;
  opts.args = args;
  opts.exit_cb = on_child_exit;
  if ((rc = yamux_session_spawn(loop, &session, &child, &opts, parent_end_cb)))
    die("spawn", rc);

  printf(
      "demo: parent pid %d spawned child pid %d; one yamux session over "
      "the child's stdin/stdout\n",
      (int)uv_os_getpid(), child.pid);
  printf("demo: %" PRIu64 " request/response exchanges, %" PRIu64
         " streams in flight, each verified byte for byte\n",
         n_requests, concurrency);
  fflush(stdout);
  t_start = uv_hrtime();
  for (i = 0; i < concurrency && started < n_requests; i++) start_request();
  /* Statistics are read just before the session closes. */
  uv_run(loop, UV_RUN_DEFAULT);
  secs = (double)(t_end - t_start) / 1e9;
  printf("demo: %" PRIu64
         " exchanges done in %.3f s: %.0f requests/s, "
         "%.1f MiB/s (%.1f MiB up, %.1f MiB down)\n",
         completed, secs, completed / secs,
         (double)(bytes_up + bytes_down) / secs / 1048576.0,
         bytes_up / 1048576.0, bytes_down / 1048576.0);
  printf("demo: verification: %" PRIu64 " failed, %" PRIu64 " ok\n", failures,
         completed - failures);
  st = final_stats;
  printf("demo: session: %" PRIu64 " streams opened, %" PRIu64
         " frames sent, %" PRIu64
         " received, %.1f MiB on the wire out, "
         "%.1f MiB in, %" PRIu64 " resets, %" PRIu64 " protocol errors\n",
         st.streams_opened, st.frames_sent, st.frames_received,
         st.bytes_sent / 1048576.0, st.bytes_received / 1048576.0,
         st.resets_sent + st.resets_received, st.protocol_errors);
  printf("demo: child exited with status %" PRId64 "\n", child_exit);
  rc = uv_loop_close(loop);
  if (rc != 0) fprintf(stderr, "demo: loop not clean: %s\n", uv_strerror(rc));
  return failures == 0 && completed == n_requests && child_exit == 0 && rc == 0
             ? 0
             : 1;
}

int main(int argc, char** argv) {
  int i;
  loop = uv_default_loop();
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--child") == 0)
      is_child = 1;
    else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
      n_requests = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc)
      concurrency = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: demo [--requests N] [--concurrency C]\n");
      return 2;
    }
  }
  if (n_requests == 0 || concurrency == 0) return 2;
  if (is_child) return run_child();
  {
    char self[4096];
    size_t len = sizeof(self);
    if (uv_exepath(self, &len) != 0) return 1;
    return run_parent(self);
  }
}
