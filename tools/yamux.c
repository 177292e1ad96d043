/* yamux: netcat for yamux. Carries TCP, Unix-socket and UDP flows over one
 * yamux session on stdin/stdout (or on the stdin/stdout of a command).
 *
 * The command line is nwtgck/yamux-cli's, with the same role mapping, so the
 * two interoperate and one replaces the other:
 *
 *   yamux HOST PORT          accept streams (yamux server); dial HOST:PORT
 *                            for each and copy both ways
 *   yamux -l [HOST] PORT     listen (yamux client); one stream per local
 *                            connection
 *   yamux -U PATH            dial a Unix socket per stream
 *   yamux -U -l PATH         listen on a Unix socket
 *   yamux -u HOST PORT       UDP: one connected socket per stream
 *   yamux -u -l [HOST] PORT  UDP: one stream per source address
 *
 * Inside a UDP stream every datagram is a 4-byte big-endian length and the
 * payload (yamux-cli's framing). See tools/yamux.1 for the options.
 *
 * This file holds the options, the session and the TCP and Unix flows;
 * tools/yamux-udp.c the UDP flows; tools/yamux-tls.c the session over TLS
 * (--tls, with libyamux-tls); tools/cli.h what they share.
 *
 * Beyond yamux-cli: half-closes cross in both directions (a local EOF becomes
 * a FIN and a FIN becomes shutdown(SHUT_WR)); a failed dial resets the stream;
 * a session that ends under an unfinished stream resets its connection and
 * makes the exit status 1, so that a truncated transfer never looks whole; a
 * stale Unix socket file is replaced; idle UDP flows expire; I/O errors end
 * one flow, never the process; --exec runs the transport through a command;
 * keepalive and window flags; -v logs to stderr; statistics on SIGUSR1 and
 * (with -v or --stats) on exit.
 *
 * Nothing but yamux frames is ever written to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

#define CLI_VERSION YAMUX_VERSION_STRING

/* After the session ends, flows get this long to flush to their sockets. */
#define DRAIN_TIMEOUT_MS 5000
/* After the session closed, an --exec command gets this long to exit before
 * SIGTERM. */
#define CHILD_GRACE_MS 2000

#define EXIT_USAGE 2

/* Options. */
int opt_listen;
static int opt_udp;
static int opt_unix;
static int opt_verbose;
static int opt_stats;
static const char* opt_exec;
static const char* opt_host; /* NULL: all interfaces (listen) */
static const char* opt_port;
static const char* opt_path;
static int kind;

uv_loop_t* loop;
static yamux_config_t config;
yamux_session_t session;
int session_state = S_RUNNING;
static int session_inited;
static int end_status;
static int session_failed;      /* it ended with an error, not by our choice */
static unsigned long flows_cut; /* connections it ended unfinished */
static int goaway_received;
static yamux_session_stats_t last_stats;
static int have_last_stats;
static int exit_code;
static int shutting_down; /* a signal asked us to stop */

flow_t flows;
static unsigned long nflows;
static unsigned long next_flow_id = 1;

sock_t listener;
static int listener_live;
int listener_closed;
static int unix_bound;

static uv_timer_t drain_timer;
static uv_timer_t child_timer;
static uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
static uv_process_t child;
static int child_live;
static int child_killed; /* by us, after the session closed */
static int child_failed; /* exited non-zero or killed, not by us */
static int64_t child_status;
static int child_signal;

struct cli_stats st;

static void flow_drain(flow_t* f);
static void session_finish(void);

/* ---- messages -------------------------------------------------------------
 * Level 0 always prints (errors), 1 with -v, 2 with -vv. */

void say(int level, const char* fmt, ...) {
  char line[512];
  va_list ap;

  if (level > opt_verbose) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "yamux: %s\n", line);
}

static void on_lib_log(void* data, yamux_log_level_t level, const char* msg) {
  (void)data;
  fprintf(stderr, "yamux: %s%s\n", level <= YAMUX_LOG_WARN ? "session: " : "",
          msg);
}

const char* errstr(int err) {
  const char* tls = cli_tls_strerror(err);

  return tls != NULL ? tls : yamux_strerror(err);
}

static void print_stats(void) {
  yamux_session_stats_t s;

  memset(&s, 0, sizeof(s));
  if (session_state >= S_CLOSING || !session_inited ||
      yamux_session_get_stats(&session, &s) != 0) {
    if (have_last_stats) s = last_stats;
  }
  fprintf(stderr,
          "yamux: flows %llu (%lu open), dial failures %llu, open failures "
          "%llu\n"
          "yamux: local->yamux %llu bytes, yamux->local %llu bytes\n",
          (unsigned long long)st.flows, nflows,
          (unsigned long long)st.dial_failures,
          (unsigned long long)st.open_failures, (unsigned long long)st.up_bytes,
          (unsigned long long)st.down_bytes);
  if (opt_udp)
    fprintf(stderr,
            "yamux: udp datagrams in %llu, out %llu, dropped %llu; flows "
            "expired %llu\n",
            (unsigned long long)st.udp_in, (unsigned long long)st.udp_out,
            (unsigned long long)st.udp_dropped,
            (unsigned long long)st.udp_expired);
  fprintf(stderr,
          "yamux: session sent %llu bytes in %llu frames, received %llu bytes "
          "in %llu frames\n"
          "yamux: streams opened %llu, accepted %llu, refused %llu, open now "
          "%u; resets sent %llu, received %llu; rtt %.3f ms\n",
          (unsigned long long)s.bytes_sent, (unsigned long long)s.frames_sent,
          (unsigned long long)s.bytes_received,
          (unsigned long long)s.frames_received,
          (unsigned long long)s.streams_opened,
          (unsigned long long)s.streams_accepted,
          (unsigned long long)s.streams_refused, s.streams_open,
          (unsigned long long)s.resets_sent,
          (unsigned long long)s.resets_received, (double)s.rtt_ns / 1e6);
}

/* ---- addresses ------------------------------------------------------------
 */

void addr_name(const struct sockaddr* sa, char* out, size_t len) {
  char ip[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6* a6 = (const struct sockaddr_in6*)sa;
    uv_ip6_name(a6, ip, sizeof(ip));
    snprintf(out, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in* a4 = (const struct sockaddr_in*)sa;
    uv_ip4_name(a4, ip, sizeof(ip));
    snprintf(out, len, "%s:%u", ip, ntohs(a4->sin_port));
  } else {
    snprintf(out, len, "unix");
  }
}

static void target_name(char* out, size_t len) {
  if (kind == K_UNIX)
    snprintf(out, len, "%s", opt_path);
  else if (opt_host != NULL && strchr(opt_host, ':') != NULL)
    snprintf(out, len, "[%s]:%s", opt_host, opt_port);
  else
    snprintf(out, len, "%s:%s", opt_host ? opt_host : "*", opt_port);
}

size_t addr_len(const struct sockaddr* sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

/* ---- blocks ---------------------------------------------------------------
 */

block_t* block_new(size_t size) {
  return malloc(sizeof(block_t) + size);
}

/* A small read does not keep a whole chunk alive while it waits. */
static block_t* block_shrink(block_t* b, size_t used) {
  block_t* n;

  if (used >= CHUNK / 4) return b;
  n = realloc(b, sizeof(block_t) + used);
  return n != NULL ? n : b;
}

/* ---- flows ----------------------------------------------------------------
 */

flow_t* flow_new(void) {
  flow_t* f = calloc(1, sizeof(*f));

  if (f == NULL) {
    say(0, "out of memory");
    return NULL;
  }
  f->id = next_flow_id++;
  f->stream.data = f;
  f->sock.handle.data = f;
  f->last_active = uv_now(loop);
  f->next = &flows;
  f->prev = flows.prev;
  f->prev->next = f;
  flows.prev = f;
  nflows++;
  st.flows++;
  return f;
}

void flow_maybe_free(flow_t* f) {
  if (!f->closing || f->pending != 0) return;
  if (f->stream_live && !f->stream_closed) return;
  if (f->sock_live && !f->sock_closed) return;
  say(2, "flow %lu: released", f->id);
  udp_flow_unhash(f);
  udp_flow_released(f);
  f->prev->next = f->next;
  f->next->prev = f->prev;
  if (f->ai_head != NULL) uv_freeaddrinfo(f->ai_head);
  free(f->rec);
  free(f);
  nflows--;
  if (nflows == 0 && session_state == S_ENDED) session_finish();
}

static void on_stream_closed(yamux_stream_t* stream) {
  flow_t* f = stream->data;

  f->stream_closed = 1;
  flow_maybe_free(f);
}

static void on_sock_closed(uv_handle_t* handle) {
  flow_t* f = handle->data;

  f->sock_closed = 1;
  flow_maybe_free(f);
}

static void sock_stop(flow_t* f) {
  if (!f->sock_reading) return;
  f->sock_reading = 0;
  if (kind == K_UDP)
    uv_udp_recv_stop(&f->sock.udp);
  else
    uv_read_stop(&f->sock.stream);
}

/* Ends the flow. CLOSE_RESET_STREAM sends RST instead of FIN (the local side
 * failed); CLOSE_RESET_SOCK resets the TCP connection (the stream was
 * reset). */
void flow_close(flow_t* f, int how) {
  if (f->closing) return;
  f->closing = 1;
  udp_flow_unhash(f);
  if (f->stream_live && !f->stream_closing) {
    f->stream_closing = 1;
    if (session_state == S_CLOSED)
      f->stream_closed = 1; /* released with the session */
    else if (how == CLOSE_RESET_STREAM)
      yamux_close_reset(&f->stream, 0, on_stream_closed);
    else
      yamux_close(&f->stream, on_stream_closed);
  }
  if (f->sock_live && !f->sock_closing) {
    f->sock_closing = 1;
    sock_stop(f);
    if (how != CLOSE_RESET_SOCK || kind != K_TCP ||
        uv_tcp_close_reset(&f->sock.tcp, on_sock_closed) != 0)
      uv_close(&f->sock.handle, on_sock_closed);
  }
  say(1, "flow %lu: closed%s", f->id,
      how == CLOSE_RESET_STREAM ? " (stream reset)"
      : how == CLOSE_RESET_SOCK ? " (connection reset)"
                                : "");
  flow_maybe_free(f);
}

static void flow_check_done(flow_t* f) {
  if (!f->closing && f->sock_eof && f->fin_done && f->stream_eof &&
      f->shut_done)
    flow_close(f, CLOSE_CLEAN);
}

/* ---- stream -> socket -----------------------------------------------------
 */

void on_stream_alloc(yamux_stream_t* stream, size_t size, uv_buf_t* buf) {
  block_t* b;

  (void)stream;
  if (size > CHUNK) size = CHUNK;
  b = block_new(size);
  buf->base = b != NULL ? BLOCK_DATA(b) : NULL;
  buf->len = b != NULL ? size : 0;
}

static void on_shut(uv_shutdown_t* req, int status) {
  flow_t* f = req->data;

  f->pending--;
  f->shut_done = 1;
  if (status < 0 && status != UV_ECANCELED)
    say(2, "flow %lu: shutdown: %s", f->id, errstr(status));
  if (f->draining)
    flow_close(f, CLOSE_CLEAN);
  else
    flow_check_done(f);
  flow_maybe_free(f);
}

static void sock_shutdown(flow_t* f) {
  if (f->shut_started || f->closing) return;
  f->shut_started = 1;
  f->shut_req.data = f;
  if (uv_shutdown(&f->shut_req, &f->sock.stream, on_shut) < 0) {
    f->shut_done = 1;
    flow_close(f, CLOSE_CLEAN);
    return;
  }
  f->pending++;
}

/* The stream can carry nothing more: deliver what the socket still has
 * queued, then close. */
static void flow_drain(flow_t* f) {
  if (f->closing) return;
  f->draining = 1;
  f->stream_eof = 1;
  sock_stop(f);
  if (kind == K_UDP || !f->sock_live || f->shut_done)
    flow_close(f, CLOSE_CLEAN);
  else
    sock_shutdown(f);
}

/* The connection ends before its stream did: it is one of the unfinished
 * connections the end of the session reports. A stop that a signal asked
 * for is no failure. */
static void flow_count_cut(flow_t* f) {
  if (f->cut || kind == K_UDP || !f->sock_live) return;
  f->cut = 1;
  if (!shutting_down) flows_cut++;
}

/* The stream ended without the peer's FIN (the session ended under it): the
 * bytes already queued to the socket are delivered, then the connection is
 * reset, so that the client cannot take what it got for the whole. A Unix
 * socket has no reset: it is closed without the half-close that precedes a
 * normal end (its client reads ECONNRESET if bytes it sent were still
 * unread, else end of file). */
static void flow_abort(flow_t* f) {
  if (f->closing) return;
  flow_count_cut(f);
  f->aborting = 1;
  sock_stop(f);
  if (f->sock_writes == 0) flow_close(f, CLOSE_RESET_SOCK);
}

/* The session ended: nothing more can go up the stream. The flow ends when
 * the stream's end (the peer's FIN, or the session's error after the data
 * already received) has reached the socket. */
static void flow_up_ended(flow_t* f) {
  if (f->closing) return;
  sock_stop(f);
  f->sock_eof = 1;
  f->fin_done = 1;
  flow_check_done(f);
}

/* A write to the stream failed: if the session is ending, the stream's end
 * decides; otherwise the stream is broken and the socket is reset. */
static void flow_stream_failed(flow_t* f) {
  if (session_state != S_RUNNING)
    flow_up_ended(f);
  else
    flow_close(f, CLOSE_RESET_SOCK);
}

/* Keeps the nread bytes just read into b as one write to forward. */
static block_t* block_take(flow_t* f, block_t* b, ssize_t nread,
                           uv_buf_t* out) {
  b = block_shrink(b, (size_t)nread);
  b->flow = f;
  *out = uv_buf_init(BLOCK_DATA(b), (unsigned int)nread);
  return b;
}

static void on_sock_write(uv_write_t* req, int status) {
  block_t* b = (block_t*)req;
  flow_t* f = b->flow;

  free(b);
  f->pending--;
  f->sock_writes--;
  if (status < 0) {
    if (status != UV_ECANCELED && !f->closing) {
      say(1, "flow %lu: write: %s", f->id, errstr(status));
      flow_close(f, CLOSE_RESET_STREAM);
    }
  } else if (f->aborting) {
    if (f->sock_writes == 0) flow_close(f, CLOSE_RESET_SOCK);
  } else if (!f->closing && !f->stream_reading) {
    start_copy(f);
  }
  flow_maybe_free(f);
}

static void on_stream_read(yamux_stream_t* stream, ssize_t nread,
                           const uv_buf_t* buf) {
  flow_t* f = stream->data;
  block_t* b = buf->base != NULL ? BLOCK_OF(buf->base) : NULL;
  uv_buf_t out;
  int r;

  if (nread <= 0) {
    free(b);
    if (nread == 0) return;
    f->stream_reading = 0;
    if (f->closing) return;
    if (nread == UV_EOF) {
      say(2, "flow %lu: stream EOF", f->id);
      f->stream_eof = 1;
      sock_shutdown(f);
    } else if (nread == UV_ECONNRESET) {
      say(1, "flow %lu: stream reset by peer", f->id);
      flow_close(f, CLOSE_RESET_SOCK);
    } else if (nread == UV_ENOBUFS) {
      say(0, "out of memory");
      flow_close(f, CLOSE_RESET_STREAM);
    } else {
      say(1, "flow %lu: stream ended with the session: %s", f->id,
          errstr((int)nread));
      flow_abort(f);
    }
    return;
  }
  if (f->closing) {
    free(b);
    return;
  }
  b = block_take(f, b, nread, &out);
  r = uv_write(&b->req.u, &f->sock.stream, &out, 1, on_sock_write);
  if (r < 0) {
    free(b);
    say(1, "flow %lu: write: %s", f->id, errstr(r));
    flow_close(f, CLOSE_RESET_STREAM);
    return;
  }
  f->pending++;
  f->sock_writes++;
  st.down_bytes += (uint64_t)nread;
  if (uv_stream_get_write_queue_size(&f->sock.stream) > HIGH_WATER) {
    yamux_read_stop(&f->stream);
    f->stream_reading = 0;
  }
}

/* ---- socket -> stream -----------------------------------------------------
 */

static void on_sock_alloc(uv_handle_t* handle, size_t size, uv_buf_t* buf) {
  block_t* b;

  (void)handle;
  if (size > CHUNK) size = CHUNK;
  b = block_new(size);
  buf->base = b != NULL ? BLOCK_DATA(b) : NULL;
  buf->len = b != NULL ? size : 0;
}

void on_stream_write(yamux_write_t* req, int status) {
  block_t* b = (block_t*)req;
  flow_t* f = b->flow;

  free(b);
  f->pending--;
  if (status < 0) {
    if (status != UV_ECANCELED && !f->closing) flow_stream_failed(f);
  } else if (!f->closing && !f->sock_reading) {
    start_copy(f);
  }
  flow_maybe_free(f);
}

static void on_fin(yamux_shutdown_t* req, int status) {
  flow_t* f = req->stream->data;

  f->pending--;
  f->fin_done = 1;
  if (status < 0 && status != UV_ECANCELED && !f->closing)
    say(2, "flow %lu: FIN: %s", f->id, errstr(status));
  flow_check_done(f);
  flow_maybe_free(f);
}

static void on_sock_read(uv_stream_t* handle, ssize_t nread,
                         const uv_buf_t* buf) {
  flow_t* f = handle->data;
  block_t* b = buf->base != NULL ? BLOCK_OF(buf->base) : NULL;
  uv_buf_t out;
  int r;

  if (nread <= 0) {
    free(b);
    if (nread == 0) return;
    sock_stop(f);
    if (f->closing) return;
    if (nread == UV_EOF) {
      say(2, "flow %lu: local EOF", f->id);
      f->sock_eof = 1;
      r = yamux_shutdown(&f->fin_req, &f->stream, on_fin);
      if (r == 0) {
        f->pending++;
      } else {
        f->fin_done = 1;
        if (session_state != S_RUNNING)
          flow_up_ended(f);
        else if (r == UV_ECONNRESET)
          flow_close(f, CLOSE_RESET_SOCK);
      }
      flow_check_done(f);
    } else {
      say(1, "flow %lu: read: %s", f->id, errstr((int)nread));
      flow_close(f, CLOSE_RESET_STREAM);
    }
    return;
  }
  if (f->closing) {
    free(b);
    return;
  }
  b = block_take(f, b, nread, &out);
  r = yamux_write(&b->req.y, &f->stream, &out, 1, on_stream_write);
  if (r < 0) {
    free(b);
    flow_stream_failed(f);
    return;
  }
  f->pending++;
  f->last_active = uv_now(loop);
  st.up_bytes += (uint64_t)nread;
  if (yamux_stream_get_write_queue_size(&f->stream) > HIGH_WATER) sock_stop(f);
}

/* ---- starting the copy ----------------------------------------------------
 */

/* Starts (or resumes) reading both sides of a connected flow, each only
 * while the other side's write queue is short. */
void start_copy(flow_t* f) {
  int r;

  if (f->closing || f->aborting) return;
  if (f->sock_live && !f->sock_reading && !f->sock_eof && !f->draining &&
      (!f->stream_live ||
       yamux_stream_get_write_queue_size(&f->stream) <= LOW_WATER)) {
    if (kind == K_UDP)
      r = uv_udp_recv_start(&f->sock.udp, on_udp_alloc, on_udp_flow_read);
    else
      r = uv_read_start(&f->sock.stream, on_sock_alloc, on_sock_read);
    if (r == 0) f->sock_reading = 1;
  }
  if (f->stream_live && !f->stream_reading && !f->stream_eof &&
      !f->udp_paused &&
      (kind == K_UDP || !f->sock_live ||
       uv_stream_get_write_queue_size(&f->sock.stream) <= LOW_WATER)) {
    r = yamux_read_start(&f->stream, on_stream_alloc,
                         kind == K_UDP ? on_udp_stream_read : on_stream_read);
    if (r == 0 || r == UV_EALREADY) f->stream_reading = 1;
  }
}

/* ---- dial mode (yamux server): a stream arrives, dial the target ----------
 */

static void dial_next(flow_t* f);

static void dial_failed(flow_t* f) {
  char target[300];

  target_name(target, sizeof(target));
  say(0, "dial %s: %s", target, errstr(f->dial_err));
  st.dial_failures++;
  flow_close(f, CLOSE_RESET_STREAM);
}

static void dial_connected(flow_t* f) {
  if (f->ai_head != NULL) {
    uv_freeaddrinfo(f->ai_head);
    f->ai_head = f->ai_next = NULL;
  }
  if (kind == K_TCP) uv_tcp_nodelay(&f->sock.tcp, 1);
  say(1, "flow %lu: stream %u connected", f->id, f->stream.id);
  start_copy(f);
}

static void on_redial_closed(uv_handle_t* handle) {
  flow_t* f = handle->data;

  f->pending--;
  f->sock_live = 0;
  f->sock_closing = 0;
  if (f->closing)
    flow_maybe_free(f);
  else
    dial_next(f);
}

/* The last attempt failed: close its handle, then try the next address. */
static void redial(flow_t* f) {
  f->sock_closing = 1;
  f->pending++;
  uv_close(&f->sock.handle, on_redial_closed);
}

static void on_dialed(uv_connect_t* req, int status) {
  flow_t* f = req->data;

  f->pending--;
  if (f->closing) {
    flow_maybe_free(f);
    return;
  }
  if (status < 0) {
    f->dial_err = status;
    redial(f);
    return;
  }
  dial_connected(f);
}

static void dial_next(flow_t* f) {
  struct addrinfo* ai = f->ai_next;
  int r;

  if (f->closing) return;
  if (kind == K_UNIX) {
    if (f->attempts++ > 0) { /* one path, one attempt */
      dial_failed(f);
      return;
    }
    uv_pipe_init(loop, &f->sock.pipe, 0);
    f->sock.handle.data = f;
    f->sock_live = 1;
    f->conn_req.data = f;
    uv_pipe_connect(&f->conn_req, &f->sock.pipe, opt_path, on_dialed);
    f->pending++;
    return;
  }
  if (ai == NULL) {
    dial_failed(f);
    return;
  }
  f->ai_next = ai->ai_next;
  if (kind == K_UDP) {
    r = uv_udp_init(loop, &f->sock.udp);
    if (r < 0) {
      f->dial_err = r;
      dial_failed(f);
      return;
    }
    f->sock.handle.data = f;
    f->sock_live = 1;
    r = uv_udp_connect(&f->sock.udp, ai->ai_addr);
    if (r < 0) {
      f->dial_err = r;
      redial(f);
      return;
    }
    dial_connected(f);
    return;
  }
  r = uv_tcp_init(loop, &f->sock.tcp);
  if (r < 0) {
    f->dial_err = r;
    dial_failed(f);
    return;
  }
  f->sock.handle.data = f;
  f->sock_live = 1;
  f->conn_req.data = f;
  r = uv_tcp_connect(&f->conn_req, &f->sock.tcp, ai->ai_addr, on_dialed);
  if (r < 0) {
    f->dial_err = r;
    redial(f);
    return;
  }
  f->pending++;
}

static void on_resolved(uv_getaddrinfo_t* req, int status,
                        struct addrinfo* res) {
  flow_t* f = req->data;

  f->pending--;
  if (f->closing) {
    if (res != NULL) uv_freeaddrinfo(res);
    flow_maybe_free(f);
    return;
  }
  if (status < 0) {
    f->dial_err = status;
    dial_failed(f);
    return;
  }
  f->ai_head = f->ai_next = res;
  f->dial_err = UV_ECONNREFUSED;
  if (kind == K_UDP) {
    /* A UDP "connect" succeeds whether anyone listens or not, so the first
     * address is the only one tried: prefer IPv4 ("localhost" resolves to
     * ::1 first, where fewer UDP services listen). */
    struct addrinfo* ai;
    for (ai = res; ai != NULL; ai = ai->ai_next)
      if (ai->ai_family == AF_INET) {
        f->ai_next = ai;
        break;
      }
  }
  dial_next(f);
}

static void dial(flow_t* f) {
  struct addrinfo hints;
  int r;

  if (kind == K_UNIX) {
    dial_next(f);
    return;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = kind == K_UDP ? SOCK_DGRAM : SOCK_STREAM;
  f->gai_req.data = f;
  r = uv_getaddrinfo(loop, &f->gai_req, on_resolved, opt_host, opt_port,
                     &hints);
  if (r < 0) {
    f->dial_err = r;
    dial_failed(f);
    return;
  }
  f->pending++;
}

static void on_inbound(yamux_session_t* s, int status) {
  flow_t* f;

  if (status < 0) return;
  for (;;) {
    f = flow_new();
    if (f == NULL) return; /* the rest waits in the backlog */
    yamux_stream_init(s, &f->stream);
    if (yamux_accept(s, &f->stream) != 0) {
      st.flows--;
      f->closing = 1;
      flow_maybe_free(f);
      return;
    }
    f->stream_live = 1;
    if (opt_listen) {
      /* yamux-cli's listening side never accepts streams. */
      say(1, "refusing stream %u: this side listens", f->stream.id);
      flow_close(f, CLOSE_RESET_STREAM);
      continue;
    }
    say(1, "flow %lu: stream %u", f->id, f->stream.id);
    dial(f);
  }
}

/* ---- listen mode (yamux client): a local connection, open a stream --------
 */

static void on_open(yamux_connect_t* req, int status) {
  flow_t* f = req->stream->data;

  f->pending--;
  if (status < 0 && status != UV_ECANCELED && !f->closing) {
    if (session_state != S_RUNNING) {
      flow_abort(f);
    } else {
      say(0, "open stream for %s: %s", f->name, errstr(status));
      st.open_failures++;
      flow_close(f, CLOSE_RESET_SOCK);
    }
  }
  flow_maybe_free(f);
}

static void on_local_connection(uv_stream_t* server, int status) {
  flow_t* f;
  struct sockaddr_storage addr;
  int len;
  int r;

  if (status < 0) {
    say(0, "accept: %s", errstr(status));
    return;
  }
  f = flow_new();
  if (f == NULL) return;
  if (kind == K_TCP)
    r = uv_tcp_init(loop, &f->sock.tcp);
  else
    r = uv_pipe_init(loop, &f->sock.pipe, 0);
  if (r < 0) {
    say(0, "accept: %s", errstr(r));
    f->closing = 1;
    flow_maybe_free(f);
    return;
  }
  f->sock.handle.data = f;
  f->sock_live = 1;
  r = uv_accept(server, &f->sock.stream);
  if (r < 0) {
    say(0, "accept: %s", errstr(r));
    flow_close(f, CLOSE_CLEAN);
    return;
  }
  if (kind == K_TCP) {
    uv_tcp_nodelay(&f->sock.tcp, 1);
    len = sizeof(addr);
    if (uv_tcp_getpeername(&f->sock.tcp, (struct sockaddr*)&addr, &len) == 0)
      addr_name((struct sockaddr*)&addr, f->name, sizeof(f->name));
  } else {
    snprintf(f->name, sizeof(f->name), "unix connection");
  }
  if (session_state != S_RUNNING) {
    flow_close(f, CLOSE_CLEAN);
    return;
  }
  yamux_stream_init(&session, &f->stream);
  r = yamux_stream_open(&f->open_req, &f->stream, on_open);
  if (r < 0) {
    say(0, "open stream for %s: %s", f->name, errstr(r));
    st.open_failures++;
    flow_close(f, CLOSE_RESET_SOCK);
    return;
  }
  f->stream_live = 1;
  f->pending++;
  say(1, "flow %lu: %s -> stream %u", f->id, f->name, f->stream.id);
  start_copy(f);
}

static void stop_listener(void) {
  if (!listener_live || listener_closed) return;
  listener_closed = 1;
  uv_close(&listener.handle, NULL);
  if (unix_bound) {
    unlink(opt_path);
    unix_bound = 0;
  }
}

static int listen_tcp_or_udp(void) {
  uv_getaddrinfo_t req;
  struct addrinfo hints;
  struct addrinfo* ai;
  struct sockaddr_storage bound;
  char name[80];
  int pass;
  int len;
  int r;
  int err = UV_EADDRNOTAVAIL;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = kind == K_UDP ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  r = uv_getaddrinfo(loop, &req, NULL, opt_host, opt_port, &hints);
  if (r < 0) {
    say(0, "listen %s:%s: %s", opt_host ? opt_host : "", opt_port, errstr(r));
    return -1;
  }
  /* With no host, IPv6's wildcard first: it takes IPv4 too (dual stack). */
  for (pass = 0; pass < 2; pass++) {
    for (ai = req.addrinfo; ai != NULL; ai = ai->ai_next) {
      if (opt_host == NULL ? (ai->ai_family == AF_INET6) != (pass == 0)
                           : pass != 0)
        continue;
      if (kind == K_UDP) {
        uv_udp_init(loop, &listener.udp);
        r = uv_udp_bind(&listener.udp, ai->ai_addr, UV_UDP_REUSEADDR);
        if (r == 0)
          r = uv_udp_recv_start(&listener.udp, on_udp_alloc,
                                on_udp_listener_read);
      } else {
        uv_tcp_init(loop, &listener.tcp);
        r = uv_tcp_bind(&listener.tcp, ai->ai_addr, 0);
        if (r == 0) r = uv_listen(&listener.stream, 511, on_local_connection);
      }
      if (r == 0) goto bound;
      err = r;
      uv_close(&listener.handle, NULL);
      uv_run(loop, UV_RUN_NOWAIT);
    }
  }
  uv_freeaddrinfo(req.addrinfo);
  say(0, "listen %s%s%s: %s", opt_host ? opt_host : "", opt_host ? ":" : "",
      opt_port, errstr(err));
  return -1;

bound:
  uv_freeaddrinfo(req.addrinfo);
  listener_live = 1;
  len = sizeof(bound);
  if (kind == K_UDP)
    uv_udp_getsockname(&listener.udp, (struct sockaddr*)&bound, &len);
  else
    uv_tcp_getsockname(&listener.tcp, (struct sockaddr*)&bound, &len);
  addr_name((struct sockaddr*)&bound, name, sizeof(name));
  say(1, "listening on %s%s", name, kind == K_UDP ? " (udp)" : "");
  return 0;
}

/* Whether path is a socket that nobody listens on any more (its listener
 * was killed before it could remove it): a connection to it is refused.
 * A live socket, one with a full backlog, or a file that is not a socket
 * is not stale. */
static int unix_socket_is_stale(const char* path) {
  struct sockaddr_un a;
  struct stat sb;
  size_t len = strlen(path);
  int fd;
  int r;

  if (lstat(path, &sb) != 0 || !S_ISSOCK(sb.st_mode)) return 0;
  if (len >= sizeof(a.sun_path)) return 0;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path, len + 1);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  r = connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0 &&
      errno == ECONNREFUSED;
  close(fd);
  return r;
}

static int listen_unix(void) {
  int r;

  uv_pipe_init(loop, &listener.pipe, 0);
  r = uv_pipe_bind(&listener.pipe, opt_path);
  if (r == UV_EADDRINUSE && unix_socket_is_stale(opt_path)) {
    say(0, "removed the stale socket %s (nothing listened on it)", opt_path);
    if (unlink(opt_path) == 0) r = uv_pipe_bind(&listener.pipe, opt_path);
  }
  if (r == 0) {
    unix_bound = 1;
    r = uv_listen(&listener.stream, 511, on_local_connection);
  }
  if (r < 0) {
    say(0, "listen %s: %s", opt_path, errstr(r));
    if (unix_bound) unlink(opt_path);
    unix_bound = 0;
    uv_close(&listener.handle, NULL);
    return -1;
  }
  listener_live = 1;
  say(1, "listening on %s", opt_path);
  return 0;
}

/* ---- session --------------------------------------------------------------
 */

static void on_drain_timeout(uv_timer_t* timer) {
  flow_t* f;
  flow_t* next;

  (void)timer;
  say(1, "flows did not drain in time: closing them");
  for (f = flows.next; f != &flows; f = next) {
    next = f->next;
    if (!f->closing) flow_count_cut(f);
    flow_close(f, CLOSE_RESET_SOCK);
  }
}

static void on_child_timer(uv_timer_t* timer) {
  (void)timer;
  if (child_live) {
    say(1, "command still running: sending SIGTERM");
    child_killed = 1;
    uv_process_kill(&child, SIGTERM);
  }
}

static void on_session_closed(yamux_session_t* s) {
  flow_t* f;
  flow_t* next;

  (void)s;
  session_state = S_CLOSED;
  cli_tls_closed();
  /* Stream handles of a closed session are released with it. A connection
   * whose stream had not ended is unfinished. */
  for (f = flows.next; f != &flows; f = next) {
    next = f->next;
    if (f->stream_live) f->stream_closed = 1;
    if (f->closing)
      flow_maybe_free(f);
    else if (kind == K_UDP || f->stream_eof)
      flow_drain(f);
    else
      flow_abort(f);
  }
  udp_expiry_stop();
  /* Flushing flows get the same time after a stop we were asked for: a
   * client that reads nothing must not keep the process alive. */
  if (nflows > 0 && !uv_is_active((uv_handle_t*)&drain_timer)) {
    uv_timer_start(&drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    uv_unref((uv_handle_t*)&drain_timer);
  }
  if (child_live) {
    uv_timer_start(&child_timer, on_child_timer, CHILD_GRACE_MS, 0);
    uv_unref((uv_handle_t*)&child_timer);
  }
}

static void session_finish(void) {
  if (session_state >= S_CLOSING) return;
  if (yamux_session_get_stats(&session, &last_stats) == 0) have_last_stats = 1;
  session_state = S_CLOSING;
  yamux_session_close(&session, on_session_closed);
}

static void on_session_end(yamux_session_t* s, int status) {
  flow_t* f;
  flow_t* next;

  end_status = status;
  cli_tls_session_ended(s, status);
  if (session_state == S_RUNNING) session_state = S_ENDED;
  /* A transport EOF is the normal end, and so is a reset or broken pipe
   * after the peer's Go Away(0): it closed without reading our last bytes.
   * Whether it left connections unfinished is known when they end. */
  if (status != UV_EOF &&
      !(goaway_received && (status == UV_ECONNRESET || status == UV_EPIPE)) &&
      !shutting_down)
    session_failed = 1;
  stop_listener();
  if (kind != K_UDP) {
    for (f = flows.next; f != &flows; f = next) {
      next = f->next;
      flow_up_ended(f);
    }
  }
  if (nflows == 0) {
    session_finish();
  } else {
    uv_timer_start(&drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    uv_unref((uv_handle_t*)&drain_timer);
  }
}

static void on_goaway(yamux_session_t* s, uint32_t code) {
  (void)s;
  goaway_received = 1;
  say(2, "peer sent Go Away(%lu)", (unsigned long)code);
}

static void on_signal(uv_signal_t* handle, int signum) {
  (void)handle;
  if (signum == SIGUSR1) {
    print_stats();
    return;
  }
  if (shutting_down) {
    say(0, "interrupted again: exiting now");
    _exit(128 + signum);
  }
  shutting_down = 1;
  say(1, "signal %d: closing", signum);
  stop_listener();
  if (session_state == S_RUNNING) session_state = S_ENDED;
  session_finish();
}

static void on_child_exit(uv_process_t* p, int64_t status, int signum) {
  child_live = 0;
  uv_close((uv_handle_t*)p, NULL);
  if (!uv_is_closing((uv_handle_t*)&child_timer))
    uv_close((uv_handle_t*)&child_timer, NULL);
  say(1, "command exited with status %lld, signal %d", (long long)status,
      signum);
  /* The command's failure is ours, unless we stopped it; report_end() says
   * so. */
  if ((signum != 0 || status != 0) && !shutting_down && !child_killed) {
    child_failed = 1;
    child_status = status;
    child_signal = signum;
  }
}

/* One line on stderr and exit status 1 for an end that was not clean: the
 * session failed or left connections unfinished (the command's failure, if
 * it also failed, on the same line), or the command failed alone. */
static void report_end(void) {
  char cut[80] = "";
  char cmd[80] = "";

  if (child_failed && child_signal != 0)
    snprintf(cmd, sizeof(cmd), "command killed by signal %d", child_signal);
  else if (child_failed)
    snprintf(cmd, sizeof(cmd), "command exited with status %lld",
             (long long)child_status);
  if (session_failed || flows_cut > 0) {
    if (flows_cut > 0)
      snprintf(cut, sizeof(cut), "; %lu unfinished connection%s %s", flows_cut,
               flows_cut == 1 ? "" : "s", kind == K_TCP ? "reset" : "closed");
    say(0, "session ended: %s%s%s%s",
        end_status != 0 ? errstr(end_status) : "closed", cut,
        cmd[0] != '\0' ? "; " : "", cmd);
    exit_code = 1;
  } else if (child_failed) {
    say(0, "%s", cmd);
    exit_code = 1;
  }
}

static int start_session(void) {
  uv_process_options_t po;
  char* args[4];
  int r;

  r = yamux_session_init(&session, opt_listen ? YAMUX_CLIENT : YAMUX_SERVER,
                         &config);
  if (r < 0) {
    say(0, "session: %s", errstr(r));
    return -1;
  }
  session_inited = 1;
  yamux_session_on_goaway(&session, on_goaway);
  yamux_session_listen(&session, on_inbound);
  if (opt_exec != NULL) {
    memset(&po, 0, sizeof(po));
    args[0] = "/bin/sh";
    args[1] = "-c";
    args[2] = (char*)opt_exec;
    args[3] = NULL;
    po.file = args[0];
    po.args = args;
    po.exit_cb = on_child_exit;
    if (tls_opt.on)
      r = cli_tls_start(&session, &child, &po, on_session_end);
    else
      r = yamux_session_spawn(loop, &session, &child, &po, on_session_end);
    if (r == 0) {
      child_live = 1;
      uv_timer_init(loop, &child_timer);
    }
  } else if (tls_opt.on) {
    r = cli_tls_start(&session, NULL, NULL, on_session_end);
  } else {
    r = yamux_session_start_stdio(loop, &session, on_session_end);
  }
  if (r < 0) {
    if (tls_opt.on)
      ; /* cli_tls_start() said why */
    else if (opt_exec != NULL)
      say(0, "--exec %s: %s", opt_exec, errstr(r));
    else
      say(0, "stdin/stdout: %s", errstr(r));
    session_state = S_CLOSING;
    yamux_session_close(&session, NULL);
    session_state = S_CLOSED;
    return -1;
  }
  return 0;
}

/* ---- command line ---------------------------------------------------------
 */

static void usage(FILE* out) {
  fprintf(out,
          "usage: yamux [options] HOST PORT      accept streams, dial "
          "HOST:PORT for each\n"
          "       yamux -l [options] [HOST] PORT listen, one stream per "
          "connection\n"
          "       yamux -U [-l] [options] PATH   the same with a Unix "
          "socket\n"
          "The yamux session runs over stdin/stdout (or --exec CMD's).\n"
          "\n"
          "  -l, --listen           listen for local connections (yamux "
          "client)\n"
          "  -u, --udp              UDP (-l: one stream per source address)\n"
          "  -U, --unixsock         Unix-domain socket PATH instead of HOST "
          "PORT\n"
          "      --exec CMD         run CMD with /bin/sh -c; the session "
          "runs over its\n"
          "                         stdin/stdout instead of ours\n"
          "      --keepalive MS     keepalive ping interval, 0 = off "
          "(default 30000)\n"
          "      --window BYTES     stream receive window (default 262144; "
          "K/M suffix)\n"
          "      --udp-timeout SEC  close UDP flows idle this long, 0 = "
          "never (default 60)\n"
          "      --tls              run the session over TLS (-l: TLS client, "
          "else server)\n"
          "      --cert FILE        our certificate chain (PEM; the server "
          "needs one)\n"
          "      --key FILE         its private key (PEM; default: in --cert)\n"
          "      --ca FILE          CA certificates to check the peer with "
          "(server: require\n"
          "                         client certificates from them)\n"
          "      --servername NAME  the name the server's certificate must "
          "carry (-l)\n"
          "      --no-verify        do not check the peer's certificate "
          "(insecure)\n"
          "  -v, --verbose          log to stderr (-vv: debug)\n"
          "      --stats            print statistics on exit (SIGUSR1: any "
          "time)\n"
          "  -V, --version          print the version and exit\n"
          "  -h, --help             print this help and exit\n"
          "\n"
          "Examples: yamux localhost 80    yamux -l 8080\n"
          "  mkfifo p; cat p | yamux localhost 80 | yamux -l 8080 > p\n");
}

static int bad_usage(const char* fmt, const char* arg) {
  fprintf(stderr, "yamux: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'yamux --help' for more information.\n");
  return EXIT_USAGE;
}

static int parse_u64(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;

  if (s[0] < '0' || s[0] > '9') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0) return -1;
  if (*end == 'k' || *end == 'K') {
    v *= 1024;
    end++;
  } else if (*end == 'm' || *end == 'M') {
    v *= 1024 * 1024;
    end++;
  }
  if (*end != '\0') return -1;
  *out = v;
  return 0;
}

static int valid_port(const char* s) {
  uint64_t v;

  if (s[0] >= '0' && s[0] <= '9') {
    for (const char* p = s; *p; p++)
      if (*p < '0' || *p > '9') return 0;
    /* Port 0 is any port: a listener may ask for one (-v says which it
     * got), a dial cannot. */
    return parse_u64(s, &v) == 0 && v <= 65535 && (v > 0 || opt_listen);
  }
  return getservbyname(s, opt_udp ? "udp" : "tcp") != NULL;
}

enum {
  OPT_STATS = 256,
  OPT_EXEC,
  OPT_KEEPALIVE,
  OPT_WINDOW,
  OPT_UDP_TIMEOUT,
  OPT_TLS,
  OPT_CERT,
  OPT_KEY,
  OPT_CA,
  OPT_SERVERNAME,
  OPT_NO_VERIFY
};

static int parse_args(int argc, char** argv) {
  static const struct option longopts[] = {
      {"listen", no_argument, NULL, 'l'},
      {"udp", no_argument, NULL, 'u'},
      {"unixsock", no_argument, NULL, 'U'},
      /* Long names only: netcat's -e, -k, -w mean other things. */
      {"exec", required_argument, NULL, OPT_EXEC},
      {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
      {"window", required_argument, NULL, OPT_WINDOW},
      {"udp-timeout", required_argument, NULL, OPT_UDP_TIMEOUT},
      {"tls", no_argument, NULL, OPT_TLS},
      {"cert", required_argument, NULL, OPT_CERT},
      {"key", required_argument, NULL, OPT_KEY},
      {"ca", required_argument, NULL, OPT_CA},
      {"servername", required_argument, NULL, OPT_SERVERNAME},
      {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
      {"verbose", no_argument, NULL, 'v'},
      {"stats", no_argument, NULL, OPT_STATS},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  uint64_t v;
  double d;
  char* end;
  int nargs;
  int c;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":luUvVh", longopts, NULL)) != -1) {
    switch (c) {
      case 'l':
        opt_listen = 1;
        break;
      case 'u':
        opt_udp = 1;
        break;
      case 'U':
        opt_unix = 1;
        break;
      case OPT_EXEC:
        opt_exec = optarg;
        break;
      case OPT_KEEPALIVE:
        if (parse_u64(optarg, &v) < 0)
          return bad_usage("--keepalive: not a number of milliseconds: %s",
                           optarg);
        config.keepalive_interval_ms = v;
        break;
      case OPT_WINDOW:
        if (parse_u64(optarg, &v) < 0 || v < 262144 || v > 0x7fffffff)
          return bad_usage(
              "--window: must be 262144 to 2147483647 bytes, "
              "not %s",
              optarg);
        config.initial_window = (uint32_t)v;
        if (config.max_window < config.initial_window)
          config.max_window = config.initial_window;
        break;
      case OPT_UDP_TIMEOUT:
        errno = 0;
        d = strtod(optarg, &end);
        if (errno != 0 || *end != '\0' || end == optarg || !(d >= 0) || d > 1e9)
          return bad_usage("--udp-timeout: not a number of seconds: %s",
                           optarg);
        udp_timeout_ms = (uint64_t)(d * 1000 + 0.5);
        if (d > 0 && udp_timeout_ms == 0) udp_timeout_ms = 1;
        break;
      case OPT_TLS:
        tls_opt.on = 1;
        break;
      case OPT_CERT:
        tls_opt.cert = optarg;
        break;
      case OPT_KEY:
        tls_opt.key = optarg;
        break;
      case OPT_CA:
        tls_opt.ca = optarg;
        break;
      case OPT_SERVERNAME:
        tls_opt.servername = optarg;
        break;
      case OPT_NO_VERIFY:
        tls_opt.no_verify = 1;
        break;
      case 'v':
        opt_verbose++;
        break;
      case OPT_STATS:
        opt_stats = 1;
        break;
      case 'V':
        printf("yamux %s (libyamux %s)\n", CLI_VERSION, yamux_version_string());
        exit(0);
      case 'h':
        usage(stdout);
        exit(0);
      case ':':
        return bad_usage("option requires an argument: %s", argv[optind - 1]);
      default:
        if (optopt != 0) {
          char s[3] = {'-', (char)optopt, '\0'};
          return bad_usage("unknown option: %s", s);
        }
        return bad_usage("unknown option: %s", argv[optind - 1]);
    }
  }
  nargs = argc - optind;
  argv += optind;
  if (opt_udp && opt_unix)
    return bad_usage("%s",
                     "-u with -U (Unix datagram sockets) is not "
                     "supported");
  kind = opt_unix ? K_UNIX : opt_udp ? K_UDP : K_TCP;
  if (opt_unix) {
    if (nargs < 1)
      return bad_usage("%s", opt_listen ? "unix domain socket is missing"
                                        : "Unix-domain socket is missing");
    if (nargs > 1) return bad_usage("too many arguments: %s", argv[1]);
    opt_path = argv[0];
  } else if (opt_listen) {
    if (nargs < 1) return bad_usage("%s", "port number is missing");
    if (nargs > 2) return bad_usage("too many arguments: %s", argv[2]);
    opt_host = nargs == 2 && argv[0][0] != '\0' ? argv[0] : NULL;
    opt_port = argv[nargs - 1];
  } else {
    if (nargs < 2) return bad_usage("%s", "host and port number are missing");
    if (nargs > 2) return bad_usage("too many arguments: %s", argv[2]);
    opt_host = argv[0];
    opt_port = argv[1];
  }
  if (opt_port != NULL && !valid_port(opt_port))
    return bad_usage("invalid port: %s", opt_port);
  if (cli_tls_check() < 0) return EXIT_USAGE;
  return 0;
}

static void close_walk(uv_handle_t* handle, void* arg) {
  (void)arg;
  if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

int main(int argc, char** argv) {
  int r;

  /* A peer or a local client going away must show up as EPIPE. */
  signal(SIGPIPE, SIG_IGN);
  yamux_config_init(&config);
  r = parse_args(argc, argv);
  if (r != 0) return r;
  if (opt_verbose > 0) {
    config.log_cb = on_lib_log;
    config.log_level = opt_verbose > 1 ? YAMUX_LOG_DEBUG : YAMUX_LOG_INFO;
  }

  loop = uv_default_loop();
  flows.next = flows.prev = &flows;
  uv_timer_init(loop, &drain_timer);
  uv_signal_init(loop, &sig_int);
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_hup);
  uv_signal_init(loop, &sig_usr1);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_hup, on_signal, SIGHUP);
  uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
  uv_unref((uv_handle_t*)&sig_int);
  uv_unref((uv_handle_t*)&sig_term);
  uv_unref((uv_handle_t*)&sig_hup);
  uv_unref((uv_handle_t*)&sig_usr1);

  /* Certificates, then the address: each fails before the session
   * starts. */
  if (tls_opt.on && cli_tls_init() < 0) {
    exit_code = 1;
    goto out;
  }
  if (opt_listen) {
    r = kind == K_UNIX ? listen_unix() : listen_tcp_or_udp();
    if (r < 0) {
      exit_code = 1;
      goto out;
    }
  }
  if (start_session() < 0) {
    exit_code = 1;
    stop_listener();
    goto out;
  }
  if (kind == K_UDP) udp_expiry_start();
  uv_run(loop, UV_RUN_DEFAULT);
  if (opt_stats || opt_verbose > 0) print_stats();
  report_end();

out:
  stop_listener();
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) say(1, "loop did not close cleanly");
  cli_tls_free();
  return exit_code;
}
