/* yxdrive: libyamux as the side that opens streams, against a Go yamux peer
 * (interop/gopeer's go-peer runs the other side and judges it too).
 *
 *   yxdrive [--client|--server] (--stdio | --connect HOST:PORT |
 *           --spawn "CMD") --scenario NAME [--n N] [--peer-reset CODE]
 *
 * Scenarios (the Go side's part is in interop/gopeer/cdrive.go):
 *   open_many     open N (default 500) streams at once, random sizes up to
 *                 64 KiB, echo verified byte for byte; more than the 256
 *                 un-ACKed opens, so SYNs queue behind ACKs
 *   unacked_limit the Go side accepts nothing for 1 s: 300 opens, of which
 *                 256 SYNs go out and the rest wait for ACKs; none may be
 *                 refused (the Go backlog is 256 too) and all echo after
 *   backlog       the Go side opens 300 streams while we do not listen; we
 *                 then accept: 256 waited in our backlog, 44 were refused
 *   goaway        open a stream, write, send Go Away(0) in the same turn;
 *                 report what happened to the stream (the Go side checks
 *                 that its new opens fail)
 *   close_open    16 streams mid-transfer, yamux_session_close(): reads end
 *                 with UV_ECONNABORTED, every callback fires once
 *   reset_code    yamux_close_reset() with code 7 on an echoing stream;
 *                 with --peer-reset C also expect an inbound stream the Go
 *                 side resets with code C
 *   big_window    our initial_window is 16 MiB (a delta on the SYN): 4 MiB
 *                 written and not read for 500 ms; more than 256 KiB of
 *                 echo must be buffered by then (the peer used the window)
 *   ping          20 yamux_ping() round trips
 *
 * Exit 0 when our checks pass, else 1; one line on stderr either way.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamux.h"

#define MAX_STREAMS 1024

typedef struct {
  yamux_stream_t s;
  yamux_connect_t conn;
  yamux_write_t w;
  yamux_shutdown_t sh;
  int idx;
  int live;           /* opened or accepted, not yet closed */
  int conn_status;    /* 1: pending, else the connect callback's status */
  uint64_t conn_time; /* when the connect callback fired */
  int read_status;    /* 0 reading, UV_EOF or an error */
  int write_status;   /* 1: pending */
  int closed;
  int inbound;
  unsigned char* out;
  size_t out_len;
  unsigned char* in;
  size_t in_len;
  size_t in_cap;
} dstream_t;

static uv_loop_t* loop;
static yamux_session_t session;
static yamux_role_t role = YAMUX_SERVER;
static const char* scenario = "";
static int nstreams = -1;
static uint32_t peer_reset = 0;
static dstream_t streams[MAX_STREAMS];
static int nopen;          /* streams we opened */
static int ninbound;       /* streams we accepted */
static int nclosed;        /* close callbacks */
static int end_status = 1; /* 1: session did not end by itself */
static int closing;
static int session_closed;
static uint64_t t0;
static uv_timer_t timer;
static int failed;
static char result[512];
static uv_process_t child;
static uv_connect_t connect_req;
static const char* connect_addr;
static const char* spawn_cmd;
static unsigned char msg[] = "message from yxdrive";

static void fail(const char* fmt, ...) {
  va_list ap;
  if (failed) return;
  failed = 1;
  va_start(ap, fmt);
  vsnprintf(result, sizeof(result), fmt, ap);
  va_end(ap);
}

static void note(const char* fmt, ...) {
  va_list ap;
  size_t n = strlen(result);
  if (failed || n >= sizeof(result) - 1) return;
  va_start(ap, fmt);
  vsnprintf(result + n, sizeof(result) - n, fmt, ap);
  va_end(ap);
}

static uint64_t ms(void) {
  return (uv_hrtime() - t0) / 1000000;
}

static void fill(unsigned char* p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i;
  for (i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (unsigned char)x;
  }
}

static void scenario_step(void);

static void on_session_closed(yamux_session_t* s) {
  (void)s;
  session_closed = 1;
  uv_close((uv_handle_t*)&timer, NULL);
  if (strcmp(scenario, "close_open") == 0) scenario_step();
}

static void close_session(void) {
  if (closing) return;
  closing = 1;
  uv_timer_stop(&timer);
  yamux_session_close(&session, on_session_closed);
}

static void on_stream_closed(yamux_stream_t* s) {
  dstream_t* d = s->data;
  d->closed = 1;
  nclosed++;
}

static void close_stream(dstream_t* d) {
  if (d->live) {
    d->live = 0;
    yamux_close(&d->s, on_stream_closed);
  }
}

static void check_echo(dstream_t* d) {
  if (d->in_len != d->out_len || memcmp(d->in, d->out, d->out_len) != 0)
    fail("stream %u: echo %zu bytes, sent %zu (or they differ)",
         (unsigned)d->s.id, d->in_len, d->out_len);
}

static void on_read(yamux_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  dstream_t* d = s->data;
  if (nread > 0) {
    if (d->in_len + (size_t)nread > d->in_cap) {
      d->in_cap = (d->in_len + (size_t)nread) * 2;
      d->in = realloc(d->in, d->in_cap);
      if (d->in == NULL) abort();
    }
    memcpy(d->in + d->in_len, buf->base, (size_t)nread);
    d->in_len += (size_t)nread;
  } else if (nread < 0) {
    d->read_status = (int)nread;
  }
  scenario_step();
}

static void on_write(yamux_write_t* req, int status) {
  dstream_t* d = req->data;
  d->write_status = status;
  scenario_step();
}

static void on_connect(yamux_connect_t* req, int status) {
  dstream_t* d = req->data;
  d->conn_status = status;
  d->conn_time = ms();
  scenario_step();
}

static dstream_t* new_stream(void) {
  dstream_t* d;
  if (nopen + ninbound >= MAX_STREAMS) abort();
  d = &streams[nopen + ninbound];
  memset(d, 0, sizeof(*d));
  d->idx = nopen + ninbound;
  yamux_stream_init(&session, &d->s);
  d->s.data = d;
  d->conn.data = d;
  d->w.data = d;
  d->conn_status = 1;
  d->write_status = 1;
  return d;
}

/* Opens a stream; writes `len` bytes of its pattern (0: none yet) and
 * half-closes when fin is set; starts reading. */
static dstream_t* open_stream(size_t len, int fin) {
  dstream_t* d = new_stream();
  uv_buf_t b;
  int r;
  nopen++;
  r = yamux_stream_open(&d->conn, &d->s, on_connect);
  if (r != 0) {
    fail("yamux_stream_open #%d: %s", d->idx, yamux_err_name(r));
    return d;
  }
  d->live = 1;
  if (len > 0) {
    d->out_len = len;
    d->out = malloc(len);
    fill(d->out, len, (uint64_t)d->idx + 1);
    b = uv_buf_init((char*)d->out, (unsigned int)len);
    if ((r = yamux_write(&d->w, &d->s, &b, 1, on_write)) != 0)
      fail("yamux_write: %s", yamux_err_name(r));
  }
  if (fin && (r = yamux_shutdown(&d->sh, &d->s, NULL)) != 0)
    fail("yamux_shutdown: %s", yamux_err_name(r));
  yamux_read_start(&d->s, NULL, on_read);
  return d;
}

static void write_and_fin(dstream_t* d, const unsigned char* p, size_t len) {
  uv_buf_t b = uv_buf_init((char*)p, (unsigned int)len);
  int r;
  d->out = malloc(len + 1);
  memcpy(d->out, p, len);
  d->out_len = len;
  b.base = (char*)d->out;
  if (len == 0)
    d->write_status = 0;
  else if ((r = yamux_write(&d->w, &d->s, &b, 1, on_write)) != 0)
    fail("yamux_write: %s", yamux_err_name(r));
  if ((r = yamux_shutdown(&d->sh, &d->s, NULL)) != 0)
    fail("yamux_shutdown: %s", yamux_err_name(r));
}

/* Echo an inbound stream: the whole input is written back after the peer's
 * FIN (small messages only). */
static void on_inbound(yamux_session_t* s, int status) {
  (void)status;
  for (;;) {
    dstream_t* d = new_stream();
    int r = yamux_accept(s, &d->s);
    if (r != 0) {
      /* The slot was not used. */
      break;
    }
    ninbound++;
    d->inbound = 1;
    d->live = 1;
    yamux_read_start(&d->s, NULL, on_read);
  }
  scenario_step();
}

/* Inbound streams: echo on EOF, close once written. */
static void step_inbound(void) {
  int i;
  for (i = 0; i < nopen + ninbound; i++) {
    dstream_t* d = &streams[i];
    if (!d->inbound || !d->live) continue;
    if (d->read_status == UV_EOF && d->out == NULL)
      write_and_fin(d, d->in, d->in_len);
    else if (d->read_status < 0 && d->read_status != UV_EOF)
      close_stream(d);
    else if (d->out != NULL && d->write_status != 1)
      close_stream(d);
  }
}

static int count(int (*pred)(dstream_t*)) {
  int i, n = 0;
  for (i = 0; i < nopen + ninbound; i++) n += pred(&streams[i]) != 0;
  return n;
}

static int is_done_outbound(dstream_t* d) {
  return !d->inbound && (d->read_status != 0 || d->conn_status < 0);
}

/* ---- scenarios ----------------------------------------------------------- */

static int phase;

static void step_big_window(void) {
  dstream_t* d = &streams[0];
  if (d->read_status == 0) return;
  if (d->read_status != UV_EOF)
    fail("read ended with %s", yamux_err_name(d->read_status));
  else
    check_echo(d);
  close_stream(d);
  if (!failed) note("4 MiB echoed byte for byte");
  close_session();
}

static void on_big_window_timer(uv_timer_t* t) {
  yamux_stream_stats_t st;
  dstream_t* d = &streams[0];
  (void)t;
  if (yamux_stream_get_stats(&d->s, &st) != 0) {
    fail("yamux_stream_get_stats failed");
    close_session();
    return;
  }
  note(
      "16 MiB window announced on SYN; after 500 ms unread: %llu KiB "
      "buffered (window %u KiB); ",
      (unsigned long long)st.buffered_bytes >> 10,
      (unsigned)(st.recv_window_max >> 10));
  if (st.buffered_bytes <= 262144)
    fail(
        "only %llu bytes buffered with a 16 MiB window: the peer kept to "
        "256 KiB",
        (unsigned long long)st.buffered_bytes);
  yamux_read_start(&d->s, NULL, on_read);
}

static yamux_ping_t ping_req;
static int pings;
static uint64_t rtt_max;

static void on_ping(yamux_ping_t* req, int status, uint64_t rtt_ns) {
  int r;
  if (status != 0) {
    fail("ping %d: %s", pings, yamux_err_name(status));
    close_session();
    return;
  }
  if (rtt_ns == 0) fail("ping %d: rtt 0", pings);
  if (rtt_ns > rtt_max) rtt_max = rtt_ns;
  if (++pings == 20) {
    note("20 pings answered, max rtt %llu us",
         (unsigned long long)rtt_max / 1000);
    close_session();
    return;
  }
  if ((r = yamux_ping(req, &session, on_ping)) != 0) {
    fail("yamux_ping: %s", yamux_err_name(r));
    close_session();
  }
}

static void step_open_many(void) {
  int i;
  if (count(is_done_outbound) < nopen) return;
  for (i = 0; i < nopen; i++) {
    dstream_t* d = &streams[i];
    if (d->conn_status != 0)
      fail("stream #%d: connect %s", i, yamux_err_name(d->conn_status));
    else if (d->read_status != UV_EOF)
      fail("stream %u: read ended with %s", (unsigned)d->s.id,
           yamux_err_name(d->read_status));
    else
      check_echo(d);
    close_stream(d);
  }
  note("%d streams opened at once, all echoed byte for byte", nopen);
  close_session();
}

static void step_unacked(void) {
  int i;
  uint64_t first = UINT64_MAX;
  if (phase == 0) {
    /* Write once connected: the echo is judged below. */
    for (i = 0; i < nopen; i++) {
      dstream_t* d = &streams[i];
      if (d->conn_status == 0 && d->out == NULL)
        write_and_fin(d, msg, sizeof(msg));
    }
  }
  if (count(is_done_outbound) < nopen) return;
  phase = 1;
  for (i = 0; i < nopen; i++) {
    dstream_t* d = &streams[i];
    if (d->conn_status != 0) {
      fail(
          "stream #%d: connect %s (the peer's backlog overflowed: more "
          "than 256 SYNs un-ACKed?)",
          i, yamux_err_name(d->conn_status));
    } else if (d->read_status != UV_EOF) {
      fail("stream %u: read ended with %s", (unsigned)d->s.id,
           yamux_err_name(d->read_status));
    } else {
      check_echo(d);
    }
    if (d->conn_time < first) first = d->conn_time;
    close_stream(d);
  }
  note(
      "%d opens while the peer accepted nothing; first ACK after %llu ms, "
      "none refused, all echoed",
      nopen, (unsigned long long)first);
  close_session();
}

static void on_backlog_timer(uv_timer_t* t) {
  yamux_session_stats_t st;
  (void)t;
  yamux_session_get_stats(&session, &st);
  if (st.streams_pending_accept + st.streams_refused < (uint64_t)nstreams &&
      ms() < 5000)
    return;
  uv_timer_stop(&timer);
  note("before accepting: %u waiting, %llu refused; ",
       (unsigned)st.streams_pending_accept,
       (unsigned long long)st.streams_refused);
  if (st.streams_refused != (uint64_t)nstreams - 256 ||
      st.streams_pending_accept != 256)
    fail("backlog: %u waiting and %llu refused of %d, want 256 and %d",
         (unsigned)st.streams_pending_accept,
         (unsigned long long)st.streams_refused, nstreams, nstreams - 256);
  yamux_session_listen(&session, on_inbound);
}

static void step_backlog(void) {
  step_inbound();
}

static dstream_t* ga_stream;

static void step_goaway(void) {
  dstream_t* d = ga_stream;
  step_inbound();
  if (ninbound > 0) fail("accepted an inbound stream after our Go Away");
  if (d->read_status == 0 && end_status == 1) return;
  if (d->read_status == UV_EOF) {
    check_echo(d);
    note("stream %u echoed after our Go Away(0), then EOF", (unsigned)d->s.id);
  } else {
    note("stream %u ended with %s after our Go Away(0)", (unsigned)d->s.id,
         d->read_status ? yamux_err_name(d->read_status) : "no read result");
  }
  if (end_status != 1) note("; session ended: %s", yamux_err_name(end_status));
  close_stream(d);
  close_session();
}

static int has_echo(dstream_t* d) {
  return !d->inbound && d->in_len >= 1024;
}

static void step_close_open(void) {
  int i;
  if (phase == 0) {
    if (count(has_echo) < nopen) return;
    phase = 1;
    close_session();
    return;
  }
  /* After close: every reader saw UV_ECONNABORTED. */
  if (!session_closed) return;
  for (i = 0; i < nopen; i++) {
    dstream_t* d = &streams[i];
    if (d->read_status != UV_ECONNABORTED)
      fail("stream %u: read ended with %s, want UV_ECONNABORTED",
           (unsigned)d->s.id, yamux_err_name(d->read_status));
    if (d->write_status == 1)
      fail("stream %u: write callback never fired", (unsigned)d->s.id);
  }
  note(
      "%d streams mid-transfer, yamux_session_close(): reads ended "
      "UV_ECONNABORTED, writes completed or cancelled",
      nopen);
}

static void step_reset_code(void) {
  dstream_t* d = &streams[0];
  int i;
  if (phase == 0 && d->in_len >= sizeof(msg)) {
    phase = 1;
    d->live = 0;
    yamux_close_reset(&d->s, 7, on_stream_closed);
    note("reset stream %u with code 7; ", (unsigned)d->s.id);
  }
  if (phase != 1) return;
  if (peer_reset == 0) {
    phase = 2; /* the Go side ends the session once it saw our RST */
    return;
  }
  for (i = 0; i < nopen + ninbound; i++) {
    dstream_t* in = &streams[i];
    if (!in->inbound || in->read_status == 0) continue;
    if (in->read_status != UV_ECONNRESET)
      fail("inbound stream %u: read ended %s, want UV_ECONNRESET",
           (unsigned)in->s.id, yamux_err_name(in->read_status));
    else if (yamux_stream_reset_code(&in->s) != peer_reset)
      fail("inbound stream %u: reset code %u, want %u", (unsigned)in->s.id,
           (unsigned)yamux_stream_reset_code(&in->s), (unsigned)peer_reset);
    else
      note("peer reset stream %u with code %u: seen", (unsigned)in->s.id,
           (unsigned)peer_reset);
    phase = 2;
    close_stream(in);
    return;
  }
}

static void scenario_step(void) {
  if (closing && strcmp(scenario, "close_open") != 0) return;
  if (strcmp(scenario, "open_many") == 0)
    step_open_many();
  else if (strcmp(scenario, "unacked_limit") == 0)
    step_unacked();
  else if (strcmp(scenario, "backlog") == 0)
    step_backlog();
  else if (strcmp(scenario, "goaway") == 0)
    step_goaway();
  else if (strcmp(scenario, "close_open") == 0)
    step_close_open();
  else if (strcmp(scenario, "reset_code") == 0)
    step_reset_code();
  else if (strcmp(scenario, "big_window") == 0)
    step_big_window();
  if (failed) close_session();
}

static void on_session_end(yamux_session_t* s, int status) {
  (void)s;
  end_status = status;
  if (getenv("YXDRIVE_DEBUG") != NULL) {
    int i, conn = 0, pend = 0, refused = 0, eof = 0;
    yamux_session_stats_t st;
    yamux_session_get_stats(&session, &st);
    for (i = 0; i < nopen + ninbound; i++) {
      conn += streams[i].conn_status == 0;
      pend += streams[i].conn_status == 1;
      refused += streams[i].conn_status < 0;
      eof += streams[i].read_status == UV_EOF;
    }
    fprintf(stderr,
            "yxdrive: end %s at %llu ms: opened %d (connected %d, "
            "pending %d, failed %d, eof %d), inbound %d; frames sent %llu "
            "received %llu, streams_opened %llu\n",
            yamux_err_name(status), (unsigned long long)ms(), nopen, conn, pend,
            refused, eof, ninbound, (unsigned long long)st.frames_sent,
            (unsigned long long)st.frames_received,
            (unsigned long long)st.streams_opened);
  }
  if (strcmp(scenario, "goaway") == 0) {
    scenario_step();
    return;
  }
  if (strcmp(scenario, "backlog") == 0 && status == UV_EOF) {
    note("accepted %d, all echoed; session ended by the peer", ninbound);
    if (ninbound != 256) fail("accepted %d streams, want 256", ninbound);
  } else if (strcmp(scenario, "reset_code") == 0 && status == UV_EOF) {
    if (phase != 2)
      fail("session ended by the peer before the resets were seen (phase %d)",
           phase);
  } else if (!closing) {
    fail("session ended: %s", yamux_err_name(status));
  }
  close_session();
}

static void start_scenario(void) {
  int i;
  t0 = uv_hrtime();
  if (strcmp(scenario, "open_many") == 0) {
    uint64_t x = 12345;
    if (nstreams < 0) nstreams = 500;
    for (i = 0; i < nstreams && !failed; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      open_stream(1 + (size_t)((x >> 33) % 65536), 1);
    }
  } else if (strcmp(scenario, "unacked_limit") == 0) {
    if (nstreams < 0) nstreams = 300;
    for (i = 0; i < nstreams && !failed; i++) open_stream(0, 0);
  } else if (strcmp(scenario, "backlog") == 0) {
    if (nstreams < 0) nstreams = 300;
    uv_timer_start(&timer, on_backlog_timer, 20, 20);
  } else if (strcmp(scenario, "goaway") == 0) {
    int r;
    yamux_session_listen(&session, on_inbound);
    ga_stream = open_stream(0, 0);
    write_and_fin(ga_stream, msg, sizeof(msg));
    if ((r = yamux_session_goaway(&session, 0)) != 0)
      fail("yamux_session_goaway: %s", yamux_err_name(r));
  } else if (strcmp(scenario, "close_open") == 0) {
    if (nstreams < 0) nstreams = 16;
    for (i = 0; i < nstreams && !failed; i++) open_stream(256 * 1024, 0);
  } else if (strcmp(scenario, "reset_code") == 0) {
    yamux_session_listen(&session, on_inbound);
    open_stream(sizeof(msg), 0);
  } else if (strcmp(scenario, "big_window") == 0) {
    dstream_t* d = open_stream(4 << 20, 1);
    yamux_read_stop(&d->s);
    uv_timer_start(&timer, on_big_window_timer, 500, 0);
  } else if (strcmp(scenario, "ping") == 0) {
    int r = yamux_ping(&ping_req, &session, on_ping);
    if (r != 0) fail("yamux_ping: %s", yamux_err_name(r));
  } else {
    fail("unknown scenario %s", scenario);
  }
  if (failed) close_session();
}

/* ---- transports ---------------------------------------------------------- */

static void on_io_closed(uv_handle_t* h) {
  (void)h;
}

static void on_tcp_connect(uv_connect_t* req, int status) {
  int r;
  (void)req;
  if (status != 0) {
    fail("connect %s: %s", connect_addr, uv_strerror(status));
    uv_close(&session.io[0].handle, on_io_closed);
    yamux_session_close(&session, NULL);
    uv_close((uv_handle_t*)&timer, NULL);
    return;
  }
  uv_tcp_nodelay(&session.io[0].tcp, 1);
  r = yamux_session_start_uv(loop, &session, 1, on_session_end);
  if (r != 0) {
    fail("yamux_session_start_uv: %s", yamux_err_name(r));
    uv_close(&session.io[0].handle, on_io_closed);
    yamux_session_close(&session, NULL);
    uv_close((uv_handle_t*)&timer, NULL);
    return;
  }
  start_scenario();
}

static void on_child_exit(uv_process_t* p, int64_t status, int sig) {
  if (status != 0 || sig != 0)
    fail("the spawned peer exited with status %lld, signal %d",
         (long long)status, sig);
  uv_close((uv_handle_t*)p, NULL);
}

static int usage(void) {
  fprintf(stderr,
          "usage: yxdrive [--client|--server] (--stdio | --connect "
          "HOST:PORT | --spawn CMD) --scenario NAME [--n N] "
          "[--peer-reset CODE]\n");
  return 2;
}

int main(int argc, char** argv) {
  int i, r;
  int use_stdio = 1;
  yamux_config_t cfg;

  signal(SIGPIPE, SIG_IGN);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--client") == 0)
      role = YAMUX_CLIENT;
    else if (strcmp(argv[i], "--server") == 0)
      role = YAMUX_SERVER;
    else if (strcmp(argv[i], "--stdio") == 0)
      use_stdio = 1;
    else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc)
      connect_addr = argv[++i], use_stdio = 0;
    else if (strcmp(argv[i], "--spawn") == 0 && i + 1 < argc)
      spawn_cmd = argv[++i], use_stdio = 0;
    else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc)
      scenario = argv[++i];
    else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      nstreams = atoi(argv[++i]);
    else if (strcmp(argv[i], "--peer-reset") == 0 && i + 1 < argc)
      peer_reset = (uint32_t)strtoul(argv[++i], NULL, 10);
    else
      return usage();
  }
  if (nstreams > MAX_STREAMS - 16) return usage();

  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  if (strcmp(scenario, "big_window") == 0) {
    cfg.initial_window = 16 << 20;
    cfg.max_window = 16 << 20;
  }
  if ((r = yamux_session_init(&session, role, &cfg)) != 0) {
    fprintf(stderr, "yxdrive: yamux_session_init: %s\n", yamux_err_name(r));
    return 1;
  }

  if (connect_addr != NULL) {
    struct sockaddr_in addr;
    char host[256];
    const char* colon = strrchr(connect_addr, ':');
    if (colon == NULL || (size_t)(colon - connect_addr) >= sizeof(host))
      return usage();
    memcpy(host, connect_addr, (size_t)(colon - connect_addr));
    host[colon - connect_addr] = '\0';
    if (uv_ip4_addr(host, atoi(colon + 1), &addr) != 0) return usage();
    uv_tcp_init(loop, &session.io[0].tcp);
    r = uv_tcp_connect(&connect_req, &session.io[0].tcp,
                       (const struct sockaddr*)&addr, on_tcp_connect);
    if (r != 0) {
      fprintf(stderr, "yxdrive: connect: %s\n", uv_strerror(r));
      return 1;
    }
  } else if (spawn_cmd != NULL) {
    uv_process_options_t opts;
    uv_stdio_container_t stdio[3];
    char* args[4];
    memset(&opts, 0, sizeof(opts));
    memset(stdio, 0, sizeof(stdio));
    args[0] = "/bin/sh";
    args[1] = "-c";
    args[2] = (char*)spawn_cmd;
    args[3] = NULL;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    opts.file = args[0];
    opts.args = args;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = on_child_exit;
    r = yamux_session_spawn(loop, &session, &child, &opts, on_session_end);
    if (r != 0) {
      fprintf(stderr, "yxdrive: spawn: %s\n", yamux_err_name(r));
      return 1;
    }
    start_scenario();
  } else if (use_stdio) {
    r = yamux_session_start_stdio(loop, &session, on_session_end);
    if (r != 0) {
      fprintf(stderr, "yxdrive: stdio: %s\n", yamux_err_name(r));
      return 1;
    }
    start_scenario();
  }

  uv_run(loop, UV_RUN_DEFAULT);
  if (!session_closed) fail("the loop ended before the session closed");
  if (strcmp(scenario, "close_open") != 0 && !failed)
    for (i = 0; i < nopen + ninbound; i++)
      if (streams[i].live)
        fail("stream %u never closed", (unsigned)streams[i].s.id);
  r = uv_loop_close(loop);
  if (r != 0 && !failed)
    fail("uv_loop_close: %s (handles left open)", uv_strerror(r));
  for (i = 0; i < nopen + ninbound; i++) {
    free(streams[i].out);
    free(streams[i].in);
  }
  fprintf(stderr, "yxdrive: %s: %s: %s\n", scenario, failed ? "FAIL" : "ok",
          result);
  return failed ? 1 : 0;
}
