/* Writes the fuzz seed corpus from real traffic: two sessions back to back
 * over an in-memory transport run a few workloads (open, 0-RTT data, echo,
 * half-close, reset, ping, go away, a window's worth of data, larger
 * initial windows), and every byte each side receives is recorded.
 *
 *   gen-corpus <dir>
 *
 * writes <dir>/frame/<name>-{c,s} (what the client / server received: raw
 * input for fuzz-frame) and <dir>/session/<name>-{c,s} (programs for
 * fuzz-session: the same bytes as "feed raw" operations for a session of
 * that role, interleaved with the API calls and gathers the workload
 * made). `make fuzz-corpus` runs it into test/fuzz/corpus/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yamux.h"

#define CHECK(c)                                                     \
  do {                                                               \
    if (!(c)) {                                                      \
      fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c); \
      exit(1);                                                       \
    }                                                                \
  } while (0)

typedef struct {
  unsigned char* p;
  size_t n, cap;
} buf_t;

static void put(buf_t* b, const void* d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 256;
    b->p = realloc(b->p, b->cap);
    CHECK(b->p != NULL);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void put1(buf_t* b, unsigned int v) {
  unsigned char c = (unsigned char)v;
  put(b, &c, 1);
}

typedef struct side_s {
  yamux_session_t s;
  int woken;
  int tclose;
  int closed;
  buf_t rx;   /* every byte received */
  buf_t prog; /* fuzz-session program for this role */
} side_t;

static side_t C, S;
static uint64_t now = 1000000000ull;
static char pattern[1 << 20];

static side_t* side_of(yamux_session_t* s) {
  return s == &C.s ? &C : &S;
}
static void wake(yamux_session_t* s) {
  side_of(s)->woken = 1;
}
static void tclose(yamux_session_t* s) {
  side_of(s)->tclose = 1;
}
static void on_end(yamux_session_t* s, int st) {
  (void)s;
  (void)st;
}
static void on_close(yamux_session_t* s) {
  side_of(s)->closed = 1;
}

/* Program ops of fuzz-session.c. */
enum {
  OP_FEED = 0,
  OP_OPEN = 4,
  OP_WRITE = 5,
  OP_SHUT = 6,
  OP_CLOSE = 7,
  OP_READ = 8,
  OP_ACCEPT = 9,
  OP_PING = 10,
  OP_GOAWAY = 11,
  OP_GATHER = 12,
  OP_RUN = 17
};

static void prog_op(side_t* sd, unsigned int op, unsigned int a) {
  put1(&sd->prog, op);
  put1(&sd->prog, a);
}

/* Moves bytes both ways until nothing moves. */
static void pump(void) {
  int moved;
  do {
    side_t* sides[2] = {&C, &S};
    int k;
    moved = 0;
    for (k = 0; k < 2; k++) {
      side_t* a = sides[k];
      side_t* b = sides[1 - k];
      const uv_buf_t* bufs;
      unsigned int n, i;
      size_t total = 0;
      if (a->tclose && !a->closed) {
        a->tclose = 0;
        yamux_session_transport_closed(&a->s);
        moved = 1;
        continue;
      }
      if (a->closed) continue;
      if (a->woken) {
        a->woken = 0;
        yamux_session_run(&a->s, now);
        moved = 1;
      }
      n = yamux_session_send_buffers(&a->s, &bufs, 1024, now);
      if (n == 0) continue;
      prog_op(a, OP_GATHER, 15);
      for (i = 0; i < n; i++) {
        size_t off = 0;
        if (!b->closed)
          yamux_session_feed(&b->s, bufs[i].base, bufs[i].len, now);
        put(&b->rx, bufs[i].base, bufs[i].len);
        while (off < bufs[i].len) { /* fuzz-session feeds <= 256 a time */
          size_t k2 = bufs[i].len - off > 256 ? 256 : bufs[i].len - off;
          prog_op(b, OP_FEED, (unsigned int)(k2 - 1));
          put(&b->prog, bufs[i].base + off, k2);
          off += k2;
        }
        total += bufs[i].len;
      }
      yamux_session_send_done(&a->s, total, 0, now);
      moved = 1;
    }
  } while (moved);
}

/* ---- server: echo ------------------------------------------------------- */

typedef struct {
  yamux_stream_t h;
  char buf[65536];
} estream_t;

static void e_alloc(yamux_stream_t* h, size_t sz, uv_buf_t* b) {
  estream_t* e = (estream_t*)h;
  (void)sz;
  *b = uv_buf_init(e->buf, sizeof(e->buf));
}

static void e_wrote(yamux_write_t* w, int st) {
  (void)st;
  free(w);
}

static void e_closed(yamux_stream_t* h) {
  free(h);
}

static void e_shut(yamux_shutdown_t* r, int st) {
  (void)st;
  yamux_close(r->stream, e_closed);
  free(r);
}

static void e_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  if (n > 0) {
    yamux_write_t* w = malloc(sizeof(*w) + (size_t)n);
    uv_buf_t wb = uv_buf_init((char*)(w + 1), (unsigned int)n);
    memcpy(w + 1, b->base, (size_t)n);
    if (yamux_write(w, h, &wb, 1, e_wrote) != 0) free(w);
  } else if (n == UV_EOF) {
    /* Close once the FIN is queued: closing now would cancel the echo. */
    yamux_shutdown_t* r = malloc(sizeof(*r));
    if (yamux_shutdown(r, h, e_shut) != 0) {
      free(r);
      yamux_close(h, e_closed);
    }
  } else if (n != UV_ENOBUFS) {
    yamux_close(h, e_closed);
  }
}

static void on_conn(yamux_session_t* s, int st) {
  estream_t* e = calloc(1, sizeof(*e));
  (void)st;
  CHECK(yamux_stream_init(s, &e->h) == 0);
  if (yamux_accept(s, &e->h) != 0) {
    free(e);
    return;
  }
  prog_op(&S, OP_ACCEPT, 0);
  prog_op(&S, OP_READ, (7u << 3) | 0);
  yamux_read_start(&e->h, e_alloc, e_read);
}

/* ---- client workloads ---------------------------------------------------- */

static yamux_stream_t cs[8];
static yamux_write_t cw[64];
static int ncw;
static char cbuf[65536];

static void c_alloc(yamux_stream_t* h, size_t sz, uv_buf_t* b) {
  (void)h;
  (void)sz;
  *b = uv_buf_init(cbuf, sizeof(cbuf));
}
static void c_read(yamux_stream_t* h, ssize_t n, const uv_buf_t* b) {
  (void)h;
  (void)n;
  (void)b;
}

static void c_open(int i) {
  CHECK(yamux_stream_init(&C.s, &cs[i]) == 0);
  CHECK(yamux_stream_open(NULL, &cs[i], NULL) == 0);
  CHECK(yamux_read_start(&cs[i], c_alloc, c_read) == 0);
  prog_op(&C, OP_OPEN, 0x80 | (unsigned int)i);
  prog_op(&C, OP_READ, (7u << 3) | (unsigned int)i);
}

static void c_write(int i, size_t len) {
  uv_buf_t b = uv_buf_init(pattern, (unsigned int)len);
  CHECK(ncw < 64);
  CHECK(yamux_write(&cw[ncw++], &cs[i], &b, 1, NULL) == 0);
  prog_op(&C, OP_WRITE, 8 | (unsigned int)i);
  put1(&C.prog, (unsigned int)(len >> 8));
  put1(&C.prog, (unsigned int)len);
}

static void start(const yamux_config_t* cfg) {
  static const yamux_transport_t tr = {wake, tclose};
  memset(&C, 0, sizeof(C));
  memset(&S, 0, sizeof(S));
  ncw = 0;
  CHECK(yamux_session_init(&C.s, YAMUX_CLIENT, cfg) == 0);
  CHECK(yamux_session_init(&S.s, YAMUX_SERVER, cfg) == 0);
  CHECK(yamux_session_start_custom(&C.s, &tr, on_end, now) == 0);
  CHECK(yamux_session_start_custom(&S.s, &tr, on_end, now) == 0);
  CHECK(yamux_session_listen(&S.s, on_conn) == 0);
  /* Program headers: role (bit 0 client; bit 1 set: no listen), config
   * variant 3 (defaults) with autorun. */
  put1(&C.prog, 1 | 2);
  put1(&C.prog, 3 | 4);
  put1(&S.prog, 0);
  put1(&S.prog, 3 | 4);
}

static void write_file(const char* dir, const char* sub, const char* name,
                       const char* sfx, const buf_t* b) {
  char path[512];
  FILE* f;
  snprintf(path, sizeof(path), "%s/%s", dir, sub);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/%s/%s-%s", dir, sub, name, sfx);
  f = fopen(path, "wb");
  CHECK(f != NULL);
  if (b->n) CHECK(fwrite(b->p, 1, b->n, f) == b->n);
  fclose(f);
}

static void finish(const char* dir, const char* name) {
  int i;
  yamux_session_close(&C.s, on_close);
  prog_op(&C, 15, 0);
  pump();
  yamux_session_close(&S.s, on_close);
  pump();
  for (i = 0; i < 100 && !(C.closed && S.closed); i++) {
    now += 10ull * 1000000000ull;
    if (!C.closed) yamux_session_handle_expiry(&C.s, now);
    if (!S.closed) yamux_session_handle_expiry(&S.s, now);
    pump();
  }
  CHECK(C.closed && S.closed);
  write_file(dir, "frame", name, "c", &C.rx);
  write_file(dir, "frame", name, "s", &S.rx);
  write_file(dir, "session", name, "c", &C.prog);
  write_file(dir, "session", name, "s", &S.prog);
  free(C.rx.p);
  free(S.rx.p);
  free(C.prog.p);
  free(S.prog.p);
}

int main(int argc, char** argv) {
  yamux_config_t cfg;
  yamux_ping_t ping;
  const char* dir;
  int i;

  CHECK(argc == 2);
  dir = argv[1];
  mkdir(dir, 0755);
  for (i = 0; i < (int)sizeof(pattern); i++) pattern[i] = (char)(i * 7 + 1);
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;

  /* One stream, 0-RTT data, echo, half-close both ways. */
  start(&cfg);
  c_open(0);
  c_write(0, 100);
  yamux_shutdown(NULL, &cs[0], NULL);
  prog_op(&C, OP_SHUT, 0x80);
  pump();
  finish(dir, "echo1");

  /* SYN alone, then data; a ping; three streams interleaved. */
  start(&cfg);
  c_open(0);
  pump();
  c_write(0, 5);
  CHECK(yamux_ping(&ping, &C.s, NULL) == 0);
  prog_op(&C, OP_PING, 0);
  c_open(1);
  c_open(2);
  c_write(1, 3000);
  c_write(2, 1);
  pump();
  for (i = 0; i < 3; i++) {
    yamux_shutdown(NULL, &cs[i], NULL);
    prog_op(&C, OP_SHUT, 0x80 | (unsigned int)i);
  }
  pump();
  finish(dir, "multi");

  /* Reset with a code, close (FIN) and Go Away. */
  start(&cfg);
  c_open(0);
  c_open(1);
  c_write(0, 10);
  pump();
  yamux_close_reset(&cs[0], 42, NULL);
  prog_op(&C, OP_CLOSE, 0x18);
  yamux_close(&cs[1], NULL);
  prog_op(&C, OP_CLOSE, 1);
  pump();
  CHECK(yamux_session_goaway(&C.s, 0) == 0);
  prog_op(&C, OP_GOAWAY, 0);
  pump();
  finish(dir, "reset-goaway");

  /* A window's worth and more: credit updates both ways. */
  start(&cfg);
  c_open(0);
  for (i = 0; i < 2; i++) c_write(0, 70000);
  yamux_shutdown(NULL, &cs[0], NULL);
  prog_op(&C, OP_SHUT, 0x80);
  pump();
  finish(dir, "window");

  /* A larger initial window (WU deltas on SYN and ACK), small frames. */
  cfg.initial_window = 512 * 1024;
  cfg.max_window = 512 * 1024;
  cfg.max_frame_size = 4096;
  start(&cfg);
  c_open(0);
  c_write(0, 20000);
  yamux_shutdown(NULL, &cs[0], NULL);
  prog_op(&C, OP_SHUT, 0x80);
  pump();
  finish(dir, "bigwin");
  return 0;
}
