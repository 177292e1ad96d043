/* yxfault: one libyamux session over TCP (the libuv driver), the libyamux
 * side of `make test-faults`. interop/gopeer/faults.go runs the Go peer
 * (hashicorp/yamux or libp2p/go-yamux) with toxiproxy in between and starts
 * this program once per cell. This side runs a workload and accounts for
 * everything the library reports:
 *
 *  - every request (write, shutdown, connect, ping, stream close) completes
 *    exactly once, the writes of a stream in order, with 0, UV_ECANCELED or
 *    the session's error, and never with an error before the session ended;
 *  - every byte read matches the pattern at its offset; a read ends with
 *    UV_EOF only after every byte the peer sent (a cut-off stream must not
 *    look complete); after the session ends by itself, every reading stream
 *    and every pending request hears of it without our closing anything;
 *  - a 10 ms timer keeps firing: the loop never works more than
 *    --max-busy-ms of CPU time (default 100) between two ticks, and no two
 *    ticks are more than --max-gap-ms apart (default 1000: wall time, which
 *    includes the time a loaded machine did not run us); the session
 *    closes, the loop ends and uv_loop_close() returns 0.
 *
 * What depends on the cell (the end status, timings, byte counts) is judged
 * by the Go side from these lines on stdout:
 *   LISTEN port           with --listen (port 0 picks one)
 *   END status ms         end_cb fired (ms since start)
 *   CLOSED ms             the session's close callback fired
 *   RESULT key=value...   the last line
 * Exit 0 when this side's checks pass, else 1 with one line on stderr.
 *
 *   yxfault (--client|--server) (--connect HOST:PORT | --listen HOST:PORT)
 *     [--complete | --close-at MS] [--bulk N --bulk-bytes L --write-size W]
 *     [--churn N --churn-bytes B --churn-ms T] [--pings N --ping-ms T]
 *     [--inbound N --inbound-bytes L [--paused N --paused-bytes L]]
 *     [--hold-bytes L [--hold-unacked]] [--keepalive MS]
 *     [--keepalive-timeout MS] [--close-timeout MS] [--max-window N]
 *     [--max-gap-ms MS] [--max-busy-ms MS] [--deadline-ms MS] [-v]
 *
 * --bulk: N streams opened here, L bytes each in writes of W bytes, 16 of
 * them queued at a time, then FIN; the peer echoes and the echo is verified.
 * --churn: a stream every T ms (N in all; 0: until the session ends), B
 * bytes and FIN, echo verified, then closed. --pings: a ping every T ms (N
 * in all; 0: until the end). --inbound: the peer opens N streams and sends
 * L bytes and FIN on each; verified, FIN back, closed. --paused: of those,
 * the last N carry L bytes without FIN and are not read until the session
 * ended by itself; then every byte must come out, then the session's error.
 * --hold-bytes: one stream (opened after the bulk ones) the peer never
 * reads and may never accept: L bytes in three writes and FIN, of which the
 * window stalls the last write and the FIN; with --hold-unacked its connect
 * must not succeed.
 *
 * --complete: the workload must finish without any error, then we close the
 * session. --close-at: we close the session at that time (ms since start),
 * in the middle of the workload; it must not end by itself before.
 * Otherwise the session must end by itself (a fault). -v: the library's
 * log on stderr.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yamux.h"

#define MAX_STREAMS 4096
#define MAX_PINGS 8192
#define TICK_MS 10
#define GRACE_MS 2000
#define BULK_WINDOW 16 /* writes a bulk stream keeps queued */

enum { K_BULK = 1, K_CHURN, K_INBOUND, K_HOLD, K_PAUSED };

static const char* kind_name[] = {"",        "bulk", "churn",
                                  "inbound", "hold", "paused"};

/* One request's completion record. */
typedef struct {
  int calls;
  int status;
} track_t;

typedef struct fstream_s fstream_t;

typedef struct {
  yamux_write_t req;
  track_t t;
  fstream_t* st;
  unsigned int idx;
  unsigned char* buf;
} fwrite_t;

struct fstream_s {
  yamux_stream_t h;
  int kind;
  int live;    /* opened or accepted */
  int closing; /* yamux_close() called */
  int reading;
  int own_buf; /* read with an alloc_cb: read_cb frees */
  uint32_t id;
  yamux_connect_t creq;
  track_t conn;
  int has_conn;
  yamux_shutdown_t sreq;
  track_t shut;
  int has_shut;
  track_t closet;
  fwrite_t* writes;
  unsigned int nwrites;
  unsigned int writes_done; /* callbacks so far: the next must be this one */
  uint64_t total;           /* bytes to write */
  uint64_t queued;          /* bytes written so far */
  size_t chunk;             /* bytes a write */
  unsigned int window;      /* writes queued at once */
  int fin;                  /* shutdown after the last write */
  uint64_t rx;
  uint64_t expect;
  int rx_final; /* 0 while reading, else the final nread */
  int reads_after_final;
};

typedef struct {
  yamux_ping_t req;
  track_t t;
} fping_t;

static uv_loop_t* loop;
static yamux_session_t session;
static uv_tcp_t listener;
static uv_connect_t connect_req;
static uv_timer_t tick, deadline;
static fstream_t streams[MAX_STREAMS];
static int nstreams;
static fping_t pings[MAX_PINGS];
static int npings, pings_done;

/* Options. */
static yamux_role_t role = YAMUX_CLIENT;
static const char* connect_addr;
static const char* listen_addr;
static int complete_mode;
static int bulk_n;
static uint64_t bulk_bytes = 1 << 20;
static size_t write_size = 65536;
static int churn_n = -1; /* -1: none */
static size_t churn_bytes = 2048;
static uint64_t churn_ms = 20;
static int inbound_n;
static uint64_t inbound_bytes;
static int paused_n;
static uint64_t paused_bytes;
static int pings_n = -1; /* -1: none */
static uint64_t ping_ms = 50;
static uint64_t hold_bytes;
static int hold_unacked;
static uint64_t max_gap_ms = 1000;
static uint64_t max_busy_ms = 100;
static uint64_t deadline_ms = 30000;
static uint64_t close_at_ms;
static int verbose;

/* State. */
static uint64_t t0;
static int started, ended, closing, session_closed;
static int end_calls, close_calls;
static int end_status;
static uint64_t end_at, close_at, closed_at;
static uint64_t last_tick, max_gap, max_gap_at;
static uint64_t last_cpu, max_busy, max_busy_at;
static uint64_t next_churn, next_ping;
static int churn_opened, ninbound;
static uint64_t rtt_min = UINT64_MAX, rtt_max;
static int pending_at_close = -1;
static int failed;
static char why[400];

static uint64_t now_ms(void) {
  return (uv_hrtime() - t0) / 1000000;
}

/* CPU time of this thread, in microseconds: the loop's own work, whether or
 * not the machine gave us the CPU meanwhile. */
static uint64_t cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void fail(const char* fmt, ...) {
  va_list ap;
  if (failed) return;
  failed = 1;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
}

/* The byte at offset `off` of the stream with id `seed`: splitmix64 of the
 * 8-byte block number, so a byte shifted, repeated or dropped shows. The Go
 * side (faults.go) computes the same. */
static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static void pattern(uint32_t seed, uint64_t off, unsigned char* p, size_t n) {
  uint64_t block = UINT64_MAX, x = 0;
  size_t i;
  for (i = 0; i < n; i++, off++) {
    if ((off >> 3) != block) {
      block = off >> 3;
      x = mix(((uint64_t)seed << 40) ^ block);
    }
    p[i] = (unsigned char)(x >> (8 * (off & 7)));
  }
}

static void verify(fstream_t* st, const char* data, size_t n) {
  unsigned char want[4096];
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < sizeof(want) ? n - done : sizeof(want);
    size_t i;
    pattern(st->id, st->rx + done, want, k);
    if (memcmp(want, data + done, k) != 0) {
      for (i = 0; i < k && want[i] == (unsigned char)data[done + i]; i++) {
      }
      fail("%s stream %u: byte %llu differs from what the peer sent",
           kind_name[st->kind], (unsigned)st->id,
           (unsigned long long)(st->rx + done + i));
      break;
    }
    done += k;
  }
  st->rx += n;
  if (st->rx > st->expect)
    fail("%s stream %u: %llu bytes read, the peer sent %llu",
         kind_name[st->kind], (unsigned)st->id, (unsigned long long)st->rx,
         (unsigned long long)st->expect);
}

/* What a request may complete with: 0; UV_ECANCELED once we closed the
 * session or the request's stream; the session's error once it ended (after
 * an EOF, UV_ECONNABORTED: the library takes EOF for no error). Never an
 * error while the session is fine and open. */
static void tracked(track_t* t, int status, const char* what, uint32_t id,
                    int stream_closed) {
  t->calls++;
  if (t->calls > 1) {
    fail("%s (stream %u): callback ran %d times", what, (unsigned)id, t->calls);
    return;
  }
  t->status = status;
  if (session_closed)
    fail("%s (stream %u): callback after the session's close callback", what,
         (unsigned)id);
  if (status == 0 || (status == UV_ECANCELED && (closing || stream_closed)))
    return;
  if (!ended) {
    fail("%s (stream %u): %s while the session was fine%s", what, (unsigned)id,
         yamux_err_name(status),
         complete_mode ? " (a link that only slows down)" : "");
  } else if (status != end_status &&
             !(end_status == UV_EOF && status == UV_ECONNABORTED)) {
    fail("%s (stream %u): %s after the session ended with %s", what,
         (unsigned)id, yamux_err_name(status), yamux_err_name(end_status));
  }
}

static int pending_requests(void) {
  int i, n = 0;
  unsigned int w;
  for (i = 0; i < nstreams; i++) {
    fstream_t* st = &streams[i];
    if (!st->live) continue;
    n += st->has_conn && st->conn.calls == 0;
    n += st->has_shut && st->shut.calls == 0;
    for (w = 0; w < st->nwrites; w++) n += st->writes[w].t.calls == 0;
  }
  for (i = 0; i < npings; i++) n += pings[i].t.calls == 0;
  return n;
}

static int unfinished_readers(void) {
  int i, n = 0;
  for (i = 0; i < nstreams; i++)
    n += streams[i].live && streams[i].reading && !streams[i].closing &&
         streams[i].rx_final == 0;
  return n;
}

static void on_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf);
static void on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf);

/* ---- session end --------------------------------------------------------- */

static void on_handle_closed(uv_handle_t* h) {
  (void)h;
}

static void on_session_closed(yamux_session_t* s) {
  (void)s;
  close_calls++;
  session_closed = 1;
  closed_at = now_ms();
  printf("CLOSED %llu\n", (unsigned long long)closed_at);
  fflush(stdout);
  uv_close((uv_handle_t*)&tick, on_handle_closed);
  uv_close((uv_handle_t*)&deadline, on_handle_closed);
}

static void begin_close(void) {
  if (closing) return;
  pending_at_close = pending_requests();
  closing = 1;
  close_at = now_ms();
  if (!uv_is_closing((uv_handle_t*)&listener))
    uv_close((uv_handle_t*)&listener, on_handle_closed);
  yamux_session_close(&session, on_session_closed);
}

static void on_end(yamux_session_t* s, int status) {
  int i, r;
  (void)s;
  end_calls++;
  if (end_calls > 1) fail("end_cb ran %d times", end_calls);
  if (closing) fail("end_cb after yamux_session_close()");
  if (status >= 0) fail("end_cb with status %d", status);
  ended = 1;
  end_status = status;
  end_at = now_ms();
  printf("END %s %llu\n", yamux_err_name(status), (unsigned long long)end_at);
  fflush(stdout);
  if (complete_mode)
    fail("the session ended with %s before the workload finished",
         yamux_err_name(status));
  for (i = 0; i < nstreams; i++) {
    fstream_t* st = &streams[i];
    if (st->kind != K_PAUSED) continue;
    r = yamux_read_start(&st->h, on_alloc, on_read);
    if (r != 0)
      fail("paused stream %u: yamux_read_start after the session ended: %s",
           (unsigned)st->id, yamux_err_name(r));
    else
      st->reading = st->own_buf = 1;
  }
}

/* ---- streams ------------------------------------------------------------- */

static void on_stream_closed(yamux_stream_t* h) {
  fstream_t* st = h->data;
  tracked(&st->closet, 0, "close", st->id, 1);
}

static void close_stream(fstream_t* st) {
  if (st->closing || closing) return;
  st->closing = 1;
  yamux_close(&st->h, on_stream_closed);
}

static void refill(fstream_t* st);

static void on_write(yamux_write_t* req, int status) {
  fwrite_t* w = req->data;
  fstream_t* st = w->st;
  tracked(&w->t, status, "write", st->id, st->closing);
  if (w->idx != st->writes_done)
    fail("stream %u: write %u completed (%s) before write %u (%s%s)",
         (unsigned)st->id, w->idx, yamux_err_name(status), st->writes_done,
         st->writes[st->writes_done].t.calls ? "" : "still pending, ",
         ended ? "after the session ended" : "session live");
  st->writes_done++;
  free(w->buf);
  w->buf = NULL;
  if (status == 0) refill(st);
}

static void on_shutdown(yamux_shutdown_t* req, int status) {
  fstream_t* st = req->data;
  tracked(&st->shut, status, "shutdown", st->id, st->closing);
  if (st->kind == K_INBOUND) close_stream(st);
}

static void on_connect(yamux_connect_t* req, int status) {
  fstream_t* st = req->data;
  tracked(&st->conn, status, "connect", st->id, st->closing);
  if (st->kind == K_HOLD && hold_unacked && status == 0)
    fail("hold stream %u: ACKed by a peer that never accepted it",
         (unsigned)st->id);
}

static void on_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base != NULL ? suggested : 0;
}

static void read_ended(fstream_t* st, int status) {
  int want;
  st->rx_final = status;
  if (status == UV_EOF) {
    if (st->rx != st->expect)
      fail(
          "%s stream %u: UV_EOF after %llu of %llu bytes: a cut-off stream "
          "looks complete",
          kind_name[st->kind], (unsigned)st->id, (unsigned long long)st->rx,
          (unsigned long long)st->expect);
    if (st->kind == K_INBOUND && !closing) {
      /* FIN back, then close once it is queued. */
      int r = yamux_shutdown(&st->sreq, &st->h, on_shutdown);
      if (r == 0)
        st->has_shut = 1;
      else if (!ended)
        fail("inbound stream %u: yamux_shutdown: %s", (unsigned)st->id,
             yamux_err_name(r));
      if (r != 0) close_stream(st);
      return;
    }
  } else if (!ended && !closing) {
    fail("%s stream %u: read ended with %s while the session was fine",
         kind_name[st->kind], (unsigned)st->id, yamux_err_name(status));
  } else if (ended && !closing) {
    if (st->kind == K_PAUSED && st->rx != st->expect)
      fail(
          "paused stream %u: %llu of the %llu bytes it had buffered came "
          "out after the session ended",
          (unsigned)st->id, (unsigned long long)st->rx,
          (unsigned long long)st->expect);
    /* The header: UV_ECONNABORTED, or our own YAMUX_E* code. */
    want = end_status <= YAMUX_EPROTO && end_status > YAMUX_ERRNO_RESERVED_END
               ? end_status
               : UV_ECONNABORTED;
    if (status != want)
      fail(
          "%s stream %u: read ended with %s after the session ended with "
          "%s (want %s)",
          kind_name[st->kind], (unsigned)st->id, yamux_err_name(status),
          yamux_err_name(end_status), yamux_err_name(want));
  }
  close_stream(st);
}

static void on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  fstream_t* st = h->data;
  if (st->rx_final != 0) {
    st->reads_after_final++;
    fail("%s stream %u: read_cb(%zd) after the final one (%s)",
         kind_name[st->kind], (unsigned)st->id, nread,
         yamux_err_name(st->rx_final));
  } else if (nread > 0) {
    verify(st, buf->base, (size_t)nread);
  } else if (nread < 0) {
    read_ended(st, (int)nread);
  }
  if (st->own_buf) free(buf->base);
}

static fstream_t* new_stream(int kind) {
  fstream_t* st;
  if (nstreams == MAX_STREAMS) return NULL;
  st = &streams[nstreams++];
  memset(st, 0, sizeof(*st));
  st->kind = kind;
  st->h.data = st;
  st->creq.data = st;
  st->sreq.data = st;
  if (yamux_stream_init(&session, &st->h) != 0) abort();
  return st;
}

/* Keeps up to st->window writes of the stream's pattern queued until
 * st->total bytes are, then sends the FIN if st->fin: a writer that waits
 * for its callbacks, as real ones do. */
static void refill(fstream_t* st) {
  int r;
  while (st->queued < st->total && st->nwrites - st->writes_done < st->window &&
         !ended && !closing && !st->closing) {
    fwrite_t* w = &st->writes[st->nwrites];
    size_t n = st->total - st->queued < st->chunk
                   ? (size_t)(st->total - st->queued)
                   : st->chunk;
    uv_buf_t b;
    w->st = st;
    w->idx = st->nwrites;
    w->req.data = w;
    w->buf = malloc(n);
    if (w->buf == NULL) abort();
    pattern(st->id, st->queued, w->buf, n);
    b = uv_buf_init((char*)w->buf, (unsigned int)n);
    r = yamux_write(&w->req, &st->h, &b, 1, on_write);
    if (r != 0) {
      fail("stream %u: yamux_write: %s", (unsigned)st->id, yamux_err_name(r));
      free(w->buf);
      w->buf = NULL;
      return;
    }
    st->nwrites++;
    st->queued += n;
  }
  if (st->queued == st->total && st->fin && !st->has_shut && !ended &&
      !closing && !st->closing) {
    r = yamux_shutdown(&st->sreq, &st->h, on_shutdown);
    if (r != 0)
      fail("stream %u: yamux_shutdown: %s", (unsigned)st->id,
           yamux_err_name(r));
    else
      st->has_shut = 1;
  }
}

/* Opens a stream of `kind`: `len` bytes written in `chunk`-byte writes,
 * `window` of them queued at a time, FIN behind them, and the echo read back
 * (the hold stream expects none). */
static fstream_t* open_stream(int kind, uint64_t len, size_t chunk,
                              unsigned int window) {
  fstream_t* st = new_stream(kind);
  int r;
  if (st == NULL) return NULL;
  r = yamux_stream_open(&st->creq, &st->h, on_connect);
  if (r != 0) {
    fail("%s stream: yamux_stream_open: %s", kind_name[kind],
         yamux_err_name(r));
    nstreams--;
    return NULL;
  }
  st->live = 1;
  st->has_conn = 1;
  st->id = st->h.id;
  st->expect = kind == K_HOLD ? 0 : len;
  st->total = len;
  st->chunk = chunk;
  st->window = window;
  st->fin = 1;
  st->writes =
      calloc((size_t)((len + chunk - 1) / chunk) + 1, sizeof(*st->writes));
  if (st->writes == NULL) abort();
  refill(st);
  /* Bulk streams read into our buffers, the others zero-copy. */
  st->own_buf = kind == K_BULK;
  r = yamux_read_start(&st->h, st->own_buf ? on_alloc : NULL, on_read);
  if (r != 0)
    fail("stream %u: yamux_read_start: %s", (unsigned)st->id,
         yamux_err_name(r));
  else
    st->reading = 1;
  return st;
}

static void on_inbound(yamux_session_t* s, int status) {
  (void)status;
  for (;;) {
    /* The last paused_n inbound streams are read only once the session
     * ended: what they buffered must come out whole. */
    int paused = ninbound >= inbound_n - paused_n;
    fstream_t* st = new_stream(paused ? K_PAUSED : K_INBOUND);
    int r;
    if (st == NULL) {
      fail("too many streams");
      return;
    }
    r = yamux_accept(s, &st->h);
    if (r != 0) {
      nstreams--;
      if (r != UV_EAGAIN) fail("yamux_accept: %s", yamux_err_name(r));
      return;
    }
    ninbound++;
    st->live = 1;
    st->id = st->h.id;
    st->expect = paused ? paused_bytes : inbound_bytes;
    if (ninbound > inbound_n)
      fail("the peer opened %d streams, want %d", ninbound, inbound_n);
    if (paused) continue;
    r = yamux_read_start(&st->h, NULL, on_read);
    if (r != 0)
      fail("inbound stream %u: yamux_read_start: %s", (unsigned)st->id,
           yamux_err_name(r));
    else
      st->reading = 1;
  }
}

/* ---- pings --------------------------------------------------------------- */

static void on_ping(yamux_ping_t* req, int status, uint64_t rtt_ns) {
  fping_t* p = req->data;
  tracked(&p->t, status, "ping", 0, 0);
  pings_done++;
  if (status == 0) {
    if (rtt_ns == 0) fail("ping answered with rtt 0");
    if (rtt_ns < rtt_min) rtt_min = rtt_ns;
    if (rtt_ns > rtt_max) rtt_max = rtt_ns;
  } else if (rtt_ns != 0) {
    fail("failed ping with rtt %llu", (unsigned long long)rtt_ns);
  }
}

static void send_ping(void) {
  fping_t* p;
  int r;
  if (npings == MAX_PINGS) return;
  p = &pings[npings];
  p->req.data = p;
  r = yamux_ping(&p->req, &session, on_ping);
  if (r != 0) {
    fail("yamux_ping: %s", yamux_err_name(r));
    return;
  }
  npings++;
}

/* ---- the workload -------------------------------------------------------- */

static int all_done(void) {
  int i;
  if (churn_n > 0 && churn_opened < churn_n) return 0;
  if (pings_n > 0 && (npings < pings_n || pings_done < npings)) return 0;
  if (ninbound < inbound_n) return 0;
  for (i = 0; i < nstreams; i++)
    if (streams[i].live && streams[i].closet.calls == 0) return 0;
  return 1;
}

static void on_tick(uv_timer_t* t) {
  uint64_t now = now_ms();
  (void)t;
  uint64_t cpu = cpu_us();
  if (now - last_tick > max_gap) {
    max_gap = now - last_tick;
    max_gap_at = now;
  }
  if (cpu - last_cpu > max_busy) {
    max_busy = cpu - last_cpu;
    max_busy_at = now;
  }
  last_tick = now;
  last_cpu = cpu;
  if (!started || closing) return;
  if (ended) {
    if (unfinished_readers() == 0 && pending_requests() == 0) {
      begin_close();
    } else if (now - end_at > GRACE_MS) {
      fail(
          "%d reading streams and %d requests still had no callback %d ms "
          "after the session ended",
          unfinished_readers(), pending_requests(), GRACE_MS);
      begin_close();
    }
    return;
  }
  if (churn_n >= 0 && (churn_n == 0 || churn_opened < churn_n) &&
      now >= next_churn) {
    next_churn = now + churn_ms;
    if (open_stream(K_CHURN, churn_bytes, churn_bytes, 1) != NULL)
      churn_opened++;
  }
  if (pings_n >= 0 && (pings_n == 0 || npings < pings_n) && now >= next_ping) {
    next_ping = now + ping_ms;
    send_ping();
  }
  if (complete_mode && all_done()) begin_close();
  if (close_at_ms > 0 && now >= close_at_ms) begin_close();
}

static void on_deadline(uv_timer_t* t) {
  (void)t;
  if (closing) {
    /* The close itself hangs: report and leave. */
    fail("yamux_session_close() has not completed after %llu ms",
         (unsigned long long)(now_ms() - close_at));
    printf("RESULT ok=0\n");
    fprintf(stderr, "yxfault: FAIL: %s\n", why);
    fflush(NULL);
    _exit(1);
  }
  fail(
      "still running after %llu ms (ended=%d, %d readers and %d requests "
      "pending)",
      (unsigned long long)deadline_ms, ended, unfinished_readers(),
      pending_requests());
  begin_close();
  uv_timer_start(&deadline, on_deadline, 3000, 0);
}

static void start_workload(void) {
  int i, r;
  started = 1;
  r = yamux_session_listen(&session, on_inbound);
  if (r != 0) fail("yamux_session_listen: %s", yamux_err_name(r));
  for (i = 0; i < bulk_n; i++)
    open_stream(K_BULK, bulk_bytes, write_size, BULK_WINDOW);
  if (hold_bytes > 0) open_stream(K_HOLD, hold_bytes, (hold_bytes + 2) / 3, 3);
  next_churn = next_ping = now_ms();
}

/* ---- transport ----------------------------------------------------------- */

static void start_session(void) {
  int r;
  uv_tcp_nodelay(&session.io[0].tcp, 1);
  r = yamux_session_start_uv(loop, &session, 1, on_end);
  if (r != 0) {
    fail("yamux_session_start_uv: %s", yamux_err_name(r));
    uv_close(&session.io[0].handle, on_handle_closed);
    begin_close();
    return;
  }
  start_workload();
}

static void on_connected(uv_connect_t* req, int status) {
  (void)req;
  if (status != 0) {
    fail("connect %s: %s", connect_addr, uv_strerror(status));
    uv_close(&session.io[0].handle, on_handle_closed);
    begin_close();
    return;
  }
  start_session();
}

static void on_connection(uv_stream_t* server, int status) {
  int r;
  if (status != 0 || session.io[0].handle.type != UV_UNKNOWN_HANDLE) return;
  uv_tcp_init(loop, &session.io[0].tcp);
  r = uv_accept(server, &session.io[0].stream);
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  if (r != 0) {
    fail("accept: %s", uv_strerror(r));
    uv_close(&session.io[0].handle, on_handle_closed);
    begin_close();
    return;
  }
  start_session();
}

static int parse_addr(const char* s, struct sockaddr_in* addr) {
  char host[64];
  const char* colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  return uv_ip4_addr(host, atoi(colon + 1), addr);
}

static void on_log(void* data, yamux_log_level_t level, const char* msg) {
  (void)data;
  fprintf(stderr, "yxfault[%llu] %d %s\n", (unsigned long long)now_ms(),
          (int)level, msg);
}

/* ---- results ------------------------------------------------------------- */

typedef struct {
  int issued, ok, canceled, other;
} tally_t;

static void count(tally_t* t, const track_t* tr, const char* what,
                  uint32_t id) {
  t->issued++;
  if (tr->calls != 1) {
    fail("%s (stream %u): callback ran %d times, want once", what, (unsigned)id,
         tr->calls);
    return;
  }
  if (tr->status == 0)
    t->ok++;
  else if (tr->status == UV_ECANCELED)
    t->canceled++;
  else
    t->other++;
}

static void print_tally(const char* name, const tally_t* t) {
  printf(" %s=%d/%d/%d/%d", name, t->issued, t->ok, t->canceled, t->other);
}

static void report(int loop_close) {
  tally_t writes = {0}, shuts = {0}, conns = {0}, closes = {0}, pt = {0};
  uint64_t rx[6] = {0};
  int finals_eof = 0, finals_err = 0, i;
  unsigned int w;
  for (i = 0; i < nstreams; i++) {
    fstream_t* st = &streams[i];
    if (!st->live) continue;
    if (st->has_conn) count(&conns, &st->conn, "connect", st->id);
    if (st->has_shut) count(&shuts, &st->shut, "shutdown", st->id);
    for (w = 0; w < st->nwrites; w++)
      count(&writes, &st->writes[w].t, "write", st->id);
    if (st->closing)
      count(&closes, &st->closet, "close", st->id);
    else if (st->closet.calls != 0)
      fail("stream %u: close callback without yamux_close()", (unsigned)st->id);
    rx[st->kind] += st->rx;
    if (st->rx_final == UV_EOF)
      finals_eof++;
    else if (st->rx_final != 0)
      finals_err++;
    if (complete_mode && st->reading && st->rx_final != UV_EOF)
      fail("%s stream %u: read %llu of %llu bytes, no UV_EOF",
           kind_name[st->kind], (unsigned)st->id, (unsigned long long)st->rx,
           (unsigned long long)st->expect);
  }
  for (i = 0; i < npings; i++) count(&pt, &pings[i].t, "ping", 0);
  if (close_calls != 1)
    fail("the session's close callback ran %d times", close_calls);
  if (!complete_mode && close_at_ms == 0 && end_calls != 1 && !failed)
    fail("the session never ended by itself (no end_cb)");
  if (close_at_ms > 0 && end_calls != 0)
    fail("the session ended (%s) before we closed it at %llu ms",
         yamux_err_name(end_status), (unsigned long long)close_at_ms);
  if (complete_mode && inbound_n != ninbound)
    fail("%d inbound streams, want %d", ninbound, inbound_n);
  if (max_busy > max_busy_ms * 1000)
    fail(
        "the loop worked %llu ms of CPU time between two ticks of a %d ms "
        "timer",
        (unsigned long long)max_busy / 1000, TICK_MS);
  if (max_gap > max_gap_ms)
    fail("the loop stalled: %llu ms between two ticks of a %d ms timer",
         (unsigned long long)max_gap, TICK_MS);
  if (loop_close != 0)
    fail("uv_loop_close: %s (handles left open)", uv_strerror(loop_close));

  printf(
      "RESULT ok=%d end=%s end_ms=%lld close_ms=%lld closed_ms=%lld "
      "pending_at_close=%d",
      !failed, ended ? yamux_err_name(end_status) : "none",
      ended ? (long long)end_at : -1LL, closing ? (long long)close_at : -1LL,
      session_closed ? (long long)closed_at : -1LL, pending_at_close);
  /* issued/ok/canceled/other */
  print_tally("writes", &writes);
  print_tally("shutdowns", &shuts);
  print_tally("connects", &conns);
  print_tally("pings", &pt);
  print_tally("closes", &closes);
  printf(" streams=%d inbound=%d reads_eof=%d reads_err=%d", nstreams, ninbound,
         finals_eof, finals_err);
  printf(" rx_bulk=%llu rx_churn=%llu rx_inbound=%llu rx_paused=%llu",
         (unsigned long long)rx[K_BULK], (unsigned long long)rx[K_CHURN],
         (unsigned long long)rx[K_INBOUND], (unsigned long long)rx[K_PAUSED]);
  printf(
      " rtt_min_us=%llu rtt_max_us=%llu max_gap_ms=%llu max_gap_at=%llu "
      "max_busy_us=%llu max_busy_at=%llu\n",
      rtt_min == UINT64_MAX ? 0ULL : (unsigned long long)rtt_min / 1000,
      (unsigned long long)rtt_max / 1000, (unsigned long long)max_gap,
      (unsigned long long)max_gap_at, (unsigned long long)max_busy,
      (unsigned long long)max_busy_at);
  fflush(stdout);
  if (failed) fprintf(stderr, "yxfault: FAIL: %s\n", why);
}

static int usage(const char* arg) {
  fprintf(stderr, "yxfault: bad argument %s (see the comment at the top)\n",
          arg);
  return 2;
}

int main(int argc, char** argv) {
  yamux_config_t cfg;
  struct sockaddr_in addr;
  int i, r;

  signal(SIGPIPE, SIG_IGN);
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--client") == 0) {
      role = YAMUX_CLIENT;
      continue;
    }
    if (strcmp(a, "--server") == 0) {
      role = YAMUX_SERVER;
      continue;
    }
    if (strcmp(a, "--complete") == 0) {
      complete_mode = 1;
      continue;
    }
    if (strcmp(a, "--hold-unacked") == 0) {
      hold_unacked = 1;
      continue;
    }
    if (strcmp(a, "-v") == 0) {
      verbose = 1;
      continue;
    }
    if (v == NULL) return usage(a);
    i++;
    if (strcmp(a, "--connect") == 0)
      connect_addr = v;
    else if (strcmp(a, "--listen") == 0)
      listen_addr = v;
    else if (strcmp(a, "--bulk") == 0)
      bulk_n = atoi(v);
    else if (strcmp(a, "--bulk-bytes") == 0)
      bulk_bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--write-size") == 0)
      write_size = strtoull(v, NULL, 10);
    else if (strcmp(a, "--churn") == 0)
      churn_n = atoi(v);
    else if (strcmp(a, "--churn-bytes") == 0)
      churn_bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--churn-ms") == 0)
      churn_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--inbound") == 0)
      inbound_n = atoi(v);
    else if (strcmp(a, "--inbound-bytes") == 0)
      inbound_bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--paused") == 0)
      paused_n = atoi(v);
    else if (strcmp(a, "--paused-bytes") == 0)
      paused_bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--pings") == 0)
      pings_n = atoi(v);
    else if (strcmp(a, "--ping-ms") == 0)
      ping_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--hold-bytes") == 0)
      hold_bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--keepalive") == 0)
      cfg.keepalive_interval_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--keepalive-timeout") == 0)
      cfg.keepalive_timeout_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--close-timeout") == 0)
      cfg.close_timeout_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--max-window") == 0)
      cfg.max_window = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--max-gap-ms") == 0)
      max_gap_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--max-busy-ms") == 0)
      max_busy_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--deadline-ms") == 0)
      deadline_ms = strtoull(v, NULL, 10);
    else if (strcmp(a, "--close-at") == 0)
      close_at_ms = strtoull(v, NULL, 10);
    else
      return usage(a);
  }
  if ((connect_addr == NULL) == (listen_addr == NULL) || write_size == 0 ||
      churn_bytes == 0 || bulk_n < 0 || bulk_n > 64 || inbound_n < 0)
    return usage("(--connect or --listen, sizes)");
  if (verbose) {
    cfg.log_cb = on_log;
    cfg.log_level = YAMUX_LOG_DEBUG;
  }

  t0 = uv_hrtime();
  loop = uv_default_loop();
  r = yamux_session_init(&session, role, &cfg);
  if (r != 0) {
    fprintf(stderr, "yxfault: yamux_session_init: %s\n", yamux_err_name(r));
    return 1;
  }
  uv_timer_init(loop, &tick);
  uv_timer_init(loop, &deadline);
  uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
  uv_timer_start(&deadline, on_deadline, deadline_ms, 0);
  uv_tcp_init(loop, &listener);

  if (connect_addr != NULL) {
    uv_close((uv_handle_t*)&listener, on_handle_closed);
    if (parse_addr(connect_addr, &addr) != 0) return usage(connect_addr);
    uv_tcp_init(loop, &session.io[0].tcp);
    r = uv_tcp_connect(&connect_req, &session.io[0].tcp,
                       (const struct sockaddr*)&addr, on_connected);
    if (r != 0) {
      fprintf(stderr, "yxfault: connect: %s\n", uv_strerror(r));
      return 1;
    }
  } else {
    struct sockaddr_storage name;
    int len = sizeof(name);
    if (parse_addr(listen_addr, &addr) != 0) return usage(listen_addr);
    r = uv_tcp_bind(&listener, (const struct sockaddr*)&addr, 0);
    if (r == 0) r = uv_listen((uv_stream_t*)&listener, 4, on_connection);
    if (r == 0)
      r = uv_tcp_getsockname(&listener, (struct sockaddr*)&name, &len);
    if (r != 0) {
      fprintf(stderr, "yxfault: listen %s: %s\n", listen_addr, uv_strerror(r));
      return 1;
    }
    printf("LISTEN %d\n", ntohs(((struct sockaddr_in*)&name)->sin_port));
    fflush(stdout);
  }
  last_tick = now_ms();
  last_cpu = cpu_us();

  uv_run(loop, UV_RUN_DEFAULT);
  if (!session_closed) fail("the loop ended before the session closed");
  r = uv_loop_close(loop);
  report(r);
  for (i = 0; i < nstreams; i++) {
    unsigned int w;
    for (w = 0; w < streams[i].nwrites; w++) free(streams[i].writes[w].buf);
    free(streams[i].writes);
  }
  return failed ? 1 : 0;
}
