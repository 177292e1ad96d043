/* http-stdio: HTTP over a child process's stdio, one yamux stream per TCP
 * connection (the use case libyamux started from).
 *
 * What it shows: the parent listens on TCP and spawns itself with --child
 * (yamux_session_spawn). Every accepted connection becomes one stream to the
 * child; the parent copies bytes both ways. The child serves HTTP/1.1
 * (keep-alive, pipelining) over yamux on its own stdin/stdout
 * (yamux_session_start_stdio). It is written the way a demanding user would:
 *  - zero-copy: TCP read buffers are handed to yamux_write() and freed in the
 *    write callback; stream data is read in place (no alloc_cb) and passed to
 *    uv_try_write(), copied only when the socket does not take all of it; the
 *    child's responses are written from static memory;
 *  - backpressure both ways: reading from TCP stops while the stream's write
 *    queue is above 256 KiB (yamux_stream_get_write_queue_size), reading from
 *    the stream stops while the socket's write queue is (the stream's window
 *    then fills and the child's writes queue up, so the child stops reading
 *    too);
 *  - half-close: a client's FIN becomes the stream's FIN (yamux_shutdown) and
 *    the child's FIN becomes the socket's (uv_shutdown); a reset on either
 *    side resets the other (yamux_close_reset, uv_tcp_close_reset);
 *  - SIGINT/SIGTERM: stop listening, reset open connections, close the
 *    session (the child reads EOF and exits 0), wait for the child, exit 0.
 *  - --direct serves the same HTTP on TCP in one process, for comparison.
 *
 * Endpoints: GET / (a fixed 13-byte body), GET /bytes/N (N bytes), POST
 * /sink (reads Content-Length bytes, answers how many), anything else 404.
 *
 * Run: build/examples/http-stdio [--listen HOST:PORT] [--direct]
 *      (default 127.0.0.1:8080; port 0 picks one; the first line on stdout
 *      says where it listens), then e.g. curl http://127.0.0.1:8080/
 *
 * How it compares with serving the same over TCP directly (wrk, requests
 * per second and CPU per request) is in bench/RESULTS-examples.md.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "yamux.h"

#define HIGH_WATER (256 * 1024) /* stop reading the other side above this */
#define LOW_WATER (64 * 1024)   /* resume below this */
#define READ_CHUNK 65536
#define REQ_MAX 16384 /* request head limit (and input buffer) */

#define HELLO_BODY "Hello, yamux\n"

static uv_loop_t* loop;
static yamux_session_t session;
static uv_process_t child;
static uv_tcp_t listener;
static uv_signal_t sigint_h, sigterm_h;
static int is_child, direct, stopping, child_running, exit_code;
static char hello_response[256];
static size_t hello_len;
static char zeros[65536]; /* body of GET /bytes/N, written zero-copy */

/* An intrusive list of live connections, to close them all at shutdown. */
typedef struct link_s {
  struct link_s* prev;
  struct link_s* next;
} link_t;

static link_t conns = {&conns, &conns};

static void link_add(link_t* l) {
  l->next = &conns;
  l->prev = conns.prev;
  conns.prev->next = l;
  conns.prev = l;
}

static void link_del(link_t* l) {
  if (l->next == NULL) return;
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->next = l->prev = NULL;
}

static void warn(const char* what, int err) {
  fprintf(stderr, "http-stdio%s: %s: %s\n", is_child ? " (child)" : "", what,
          yamux_strerror(err));
}

/* ======================================================================== */
/* The HTTP server: runs over a yamux stream (child) or a TCP socket       */
/* (--direct). Only the transport calls differ.                             */

enum { RESP_NONE, RESP_HELLO, RESP_BYTES, RESP_SINK, RESP_404, RESP_400 };

typedef struct {
  link_t link; /* first member */
  union {
    yamux_stream_t stream;
    uv_tcp_t tcp;
  } h;
  int over_yamux;
  union {
    yamux_shutdown_t yx;
    uv_shutdown_t uv;
  } shut_req;
  char in[REQ_MAX];
  size_t in_len;
  uint64_t body_left; /* request body still to read (discarded) */
  uint64_t body_len;
  uint64_t gen_left; /* GET /bytes/N body still to queue */
  int resp, resp_close, close_after, expect_continue;
  int peer_eof, shut, closing, reading;
  unsigned int refs; /* handle + requests in flight */
} http_conn_t;

typedef struct {
  union {
    yamux_write_t yx;
    uv_write_t uv;
  } req;
  http_conn_t* c;
  char head[160]; /* response head written from here */
} http_write_t;

static void http_serve(http_conn_t* c);

static void http_unref(http_conn_t* c) {
  if (--c->refs == 0) free(c);
}

static void http_closed_yx(yamux_stream_t* s) {
  http_unref(s->data);
}
static void http_closed_uv(uv_handle_t* h) {
  http_unref(h->data);
}

static void http_close(http_conn_t* c, int reset) {
  if (c->closing) return;
  c->closing = 1;
  link_del(&c->link);
  if (c->over_yamux) {
    if (reset)
      yamux_close_reset(&c->h.stream, 0, http_closed_yx);
    else
      yamux_close(&c->h.stream, http_closed_yx);
  } else if (!reset || uv_tcp_close_reset(&c->h.tcp, http_closed_uv) != 0) {
    uv_close((uv_handle_t*)&c->h.tcp, http_closed_uv);
  }
}

static size_t http_queued(http_conn_t* c) {
  return c->over_yamux ? yamux_stream_get_write_queue_size(&c->h.stream)
                       : c->h.tcp.write_queue_size;
}

static void http_write_done(http_conn_t* c, int status) {
  if (status != 0 && !c->closing) http_close(c, 1);
  if (!c->closing && c->gen_left > 0 && http_queued(c) < LOW_WATER)
    http_serve(c);
  http_unref(c);
}

static void http_write_cb_yx(yamux_write_t* req, int status) {
  http_write_t* w = req->data;
  http_conn_t* c = w->c;
  free(w);
  http_write_done(c, status);
}

static void http_write_cb_uv(uv_write_t* req, int status) {
  http_write_t* w = req->data;
  http_conn_t* c = w->c;
  free(w);
  http_write_done(c, status);
}

/* Queues head (copied into the request) and body (not copied: static). */
static int http_write(http_conn_t* c, const char* head, size_t head_len,
                      const char* body, size_t body_len) {
  http_write_t* w = malloc(sizeof(*w));
  uv_buf_t bufs[2];
  unsigned int n = 0;
  int rc;
  if (w == NULL) return UV_ENOMEM;
  w->c = c;
  if (head_len > 0) {
    memcpy(w->head, head, head_len);
    bufs[n++] = uv_buf_init(w->head, (unsigned int)head_len);
  }
  if (body_len > 0)
    bufs[n++] = uv_buf_init((char*)body, (unsigned int)body_len);
  if (c->over_yamux) {
    w->req.yx.data = w;
    rc = yamux_write(&w->req.yx, &c->h.stream, bufs, n, http_write_cb_yx);
  } else {
    w->req.uv.data = w;
    rc = uv_write(&w->req.uv, (uv_stream_t*)&c->h.tcp, bufs, n,
                  http_write_cb_uv);
  }
  if (rc != 0) {
    free(w);
    return rc;
  }
  c->refs++;
  return 0;
}

static void http_shutdown_done(http_conn_t* c) {
  /* Our side is done. Over yamux, yamux_close() keeps the stream until the
   * peer's FIN; over TCP the socket is simply closed. */
  http_close(c, 0);
  http_unref(c);
}

static void http_shut_cb_yx(yamux_shutdown_t* req, int status) {
  (void)status;
  http_shutdown_done(req->data);
}

static void http_shut_cb_uv(uv_shutdown_t* req, int status) {
  (void)status;
  http_shutdown_done(req->data);
}

static void http_shutdown(http_conn_t* c) {
  int rc;
  if (c->shut || c->closing) return;
  c->shut = 1;
  if (c->over_yamux) {
    c->shut_req.yx.data = c;
    rc = yamux_shutdown(&c->shut_req.yx, &c->h.stream, http_shut_cb_yx);
  } else {
    c->shut_req.uv.data = c;
    rc = uv_shutdown(&c->shut_req.uv, (uv_stream_t*)&c->h.tcp, http_shut_cb_uv);
  }
  if (rc != 0)
    http_close(c, 1);
  else
    c->refs++;
}

static void http_alloc_yx(yamux_stream_t* s, size_t size, uv_buf_t* buf) {
  http_conn_t* c = s->data;
  (void)size;
  *buf = uv_buf_init(c->in + c->in_len, (unsigned int)(REQ_MAX - c->in_len));
}

static void http_alloc_uv(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  http_conn_t* c = h->data;
  (void)size;
  *buf = uv_buf_init(c->in + c->in_len, (unsigned int)(REQ_MAX - c->in_len));
}

static void http_on_read(http_conn_t* c, ssize_t n) {
  if (n > 0) {
    c->in_len += (size_t)n;
  } else if (n == UV_EOF) {
    c->peer_eof = 1;
    c->reading = 0;
  } else if (n < 0) {
    /* UV_ECONNRESET (the client went away), UV_ECONNABORTED (the session
     * ended): nothing left to answer. */
    c->reading = 0;
    http_close(c, 1);
    return;
  }
  http_serve(c);
}

static void http_read_yx(yamux_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  http_on_read(s->data, n);
}

static void http_read_uv(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  http_on_read(s->data, n);
}

/* Reads while there is room in the input buffer (pipelined requests beyond
 * it wait in the transport: backpressure to the client). */
static void http_update_reading(http_conn_t* c) {
  int want = !c->closing && !c->peer_eof && !c->shut && c->in_len < REQ_MAX;
  int rc = 0;
  if (want == c->reading) return;
  if (want) {
    rc = c->over_yamux
             ? yamux_read_start(&c->h.stream, http_alloc_yx, http_read_yx)
             : uv_read_start((uv_stream_t*)&c->h.tcp, http_alloc_uv,
                             http_read_uv);
  } else if (c->over_yamux) {
    yamux_read_stop(&c->h.stream);
  } else {
    uv_read_stop((uv_stream_t*)&c->h.tcp);
  }
  if (rc != 0) {
    warn("read_start", rc);
    http_close(c, 1);
    return;
  }
  c->reading = want;
}

static void consume(http_conn_t* c, size_t n) {
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
}

/* Finds the end of the request head; parses what we need. Returns 1 when a
 * request was taken, 0 if more input is needed. */
static int http_parse(http_conn_t* c) {
  char* end;
  char* line;
  char* p;
  size_t head_len;
  int http10;
  end = c->in_len > 0 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
  if (end == NULL) {
    if (c->in_len == REQ_MAX) { /* head too large */
      c->resp = RESP_400;
      c->close_after = 1;
      c->in_len = 0;
      return 1;
    }
    return 0;
  }
  head_len = (size_t)(end - c->in) + 4;
  *end = '\0';
  c->body_left = 0;
  c->expect_continue = 0;
  http10 = strstr(c->in, " HTTP/1.0\r\n") != NULL ||
           (strchr(c->in, '\r') == NULL && strstr(c->in, " HTTP/1.0") != NULL);
  c->close_after = http10;
  /* Header lines: Content-Length and Connection. */
  for (line = strstr(c->in, "\r\n"); line != NULL;
       line = strstr(line + 2, "\r\n")) {
    p = line + 2;
    if (strncasecmp(p, "content-length:", 15) == 0)
      c->body_left = strtoull(p + 15, NULL, 10);
    else if (strncasecmp(p, "expect:", 7) == 0)
      c->expect_continue = strcasestr(p, "100-continue") != NULL;
    else if (strncasecmp(p, "connection:", 11) == 0) {
      if (strcasestr(p, "close") != NULL) c->close_after = 1;
      if (strcasestr(p, "keep-alive") != NULL) c->close_after = 0;
    }
  }
  c->body_len = c->body_left;
  if (strncmp(c->in, "GET / ", 6) == 0) {
    c->resp = RESP_HELLO;
  } else if (strncmp(c->in, "GET /bytes/", 11) == 0) {
    c->resp = RESP_BYTES;
    c->gen_left = 0;
    c->body_len = strtoull(c->in + 11, NULL, 10);
    c->body_left = 0;
  } else if (strncmp(c->in, "POST /sink ", 11) == 0) {
    c->resp = RESP_SINK;
  } else if (strncmp(c->in, "GET ", 4) == 0 ||
             strncmp(c->in, "POST ", 5) == 0) {
    c->resp = RESP_404;
  } else {
    c->resp = RESP_400;
    c->close_after = 1;
  }
  consume(c, head_len);
  return 1;
}

static int http_respond(http_conn_t* c) {
  char head[160];
  int n;
  const char* conn_hdr = c->close_after ? "Connection: close\r\n" : "";
  switch (c->resp) {
    case RESP_HELLO:
      if (!c->close_after) /* the common case: one static buffer */
        return http_write(c, NULL, 0, hello_response, hello_len);
      n = snprintf(head, sizeof(head),
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n%s\r\n",
                   sizeof(HELLO_BODY) - 1, conn_hdr);
      return http_write(c, head, (size_t)n, HELLO_BODY, sizeof(HELLO_BODY) - 1);
    case RESP_BYTES:
      n = snprintf(head, sizeof(head),
                   "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                   "\r\nContent-Length: %llu\r\n%s\r\n",
                   (unsigned long long)c->body_len, conn_hdr);
      c->gen_left = c->body_len;
      return http_write(c, head, (size_t)n, NULL, 0);
    case RESP_SINK: {
      char body[64];
      int bn = snprintf(body, sizeof(body), "received %llu bytes\n",
                        (unsigned long long)c->body_len);
      n = snprintf(head, sizeof(head),
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %d\r\n%s\r\n%s",
                   bn, conn_hdr, body);
      return http_write(c, head, (size_t)n, NULL, 0);
    }
    case RESP_404:
      n = snprintf(head, sizeof(head),
                   "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n%s\r\n"
                   "not found\n",
                   conn_hdr);
      return http_write(c, head, (size_t)n, NULL, 0);
    default:
      n = snprintf(head, sizeof(head),
                   "HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\n"
                   "Connection: close\r\n\r\nbad request\n");
      return http_write(c, head, (size_t)n, NULL, 0);
  }
}

/* Runs the connection as far as it can go without waiting. */
static void http_serve(http_conn_t* c) {
  int rc;
  while (!c->closing && !c->shut) {
    /* 1. A GET /bytes/N body being queued: only up to the high-water mark;
     *    the write callbacks bring us back here. */
    while (c->gen_left > 0 && http_queued(c) < HIGH_WATER) {
      size_t k =
          c->gen_left < sizeof(zeros) ? (size_t)c->gen_left : sizeof(zeros);
      if ((rc = http_write(c, NULL, 0, zeros, k)) != 0) {
        http_close(c, 1);
        return;
      }
      c->gen_left -= k;
    }
    if (c->gen_left > 0) break;
    if (c->resp == RESP_NONE && c->resp_close) { /* Connection: close */
      http_shutdown(c);
      return;
    }
    /* 2. The next request's head. */
    if (c->resp == RESP_NONE && !http_parse(c)) {
      if (c->peer_eof) { /* the client is done: so are we */
        http_shutdown(c);
        return;
      }
      break;
    }
    /* 3. Its body (discarded), then the response. */
    if (c->expect_continue) { /* curl asks before sending a large body */
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      c->expect_continue = 0;
      if (c->body_left > 0 &&
          http_write(c, NULL, 0, cont, sizeof(cont) - 1) != 0) {
        http_close(c, 1);
        return;
      }
    }
    if (c->body_left > 0) {
      size_t k = c->body_left < c->in_len ? (size_t)c->body_left : c->in_len;
      consume(c, k);
      c->body_left -= k;
      if (c->body_left > 0) {
        if (c->peer_eof) { /* truncated request */
          http_close(c, 1);
          return;
        }
        break;
      }
    }
    if ((rc = http_respond(c)) != 0) {
      http_close(c, 1);
      return;
    }
    c->resp_close = c->close_after;
    c->resp = RESP_NONE;
  }
  http_update_reading(c);
}

static http_conn_t* http_conn_new(int over_yamux) {
  http_conn_t* c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->over_yamux = over_yamux;
  c->refs = 1; /* the handle */
  c->h.stream.data = c;
  link_add(&c->link);
  return c;
}

/* ======================================================================== */
/* Child: HTTP over yamux on this process's stdin/stdout                    */

static void child_on_stream(yamux_session_t* s, int status) {
  http_conn_t* c;
  int rc;
  (void)status;
  if ((c = http_conn_new(1)) == NULL) return; /* stays in the backlog */
  if ((rc = yamux_stream_init(s, &c->h.stream)) != 0 ||
      (rc = yamux_accept(s, &c->h.stream)) != 0) {
    link_del(&c->link);
    free(c);
    if (rc != UV_EAGAIN) warn("accept", rc);
    return;
  }
  http_serve(c);
}

static void close_all_conns(int reset);

static void child_end_cb(yamux_session_t* s, int status) {
  /* UV_EOF: the parent closed the session (its shutdown). */
  if (status != UV_EOF) {
    warn("session ended", status);
    exit_code = 1;
  }
  close_all_conns(1);
  yamux_session_close(s, NULL);
}

static int run_child(void) {
  int rc;
  /* A terminal's Ctrl-C reaches the whole process group: the parent decides
   * when we stop, by closing the session. */
  signal(SIGINT, SIG_IGN);
  if ((rc = yamux_session_init(&session, YAMUX_SERVER, NULL)) != 0 ||
      (rc = yamux_session_start_stdio(loop, &session, child_end_cb)) != 0 ||
      (rc = yamux_session_listen(&session, child_on_stream)) != 0) {
    warn("session", rc);
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) return 1;
  return exit_code;
}

/* ======================================================================== */
/* Parent: each TCP connection is carried as one stream to the child         */

typedef struct {
  link_t link; /* first member */
  uv_tcp_t tcp;
  yamux_stream_t stream;
  yamux_connect_t connect_req;
  yamux_shutdown_t yshut_req;
  uv_shutdown_t tshut_req;
  int tcp_eof, stream_eof, yshut_done, tshut_done;
  int tcp_paused, stream_paused, closing;
  unsigned int refs;
} proxy_t;

typedef struct {
  union {
    yamux_write_t yx;
    uv_write_t uv;
  } req;
  proxy_t* p;
  char* base; /* owned: freed when the write completes */
} proxy_write_t;

static void proxy_unref(proxy_t* p) {
  if (--p->refs == 0) free(p);
}

static void proxy_stream_closed(yamux_stream_t* s) {
  proxy_unref(s->data);
}
static void proxy_tcp_closed(uv_handle_t* h) {
  proxy_unref(h->data);
}

/* reset: tell both sides the connection failed (RST on the stream and on
 * the socket) instead of closing them gracefully. */
static void proxy_close(proxy_t* p, int reset) {
  if (p->closing) return;
  p->closing = 1;
  link_del(&p->link);
  if (reset) {
    yamux_close_reset(&p->stream, 0, proxy_stream_closed);
    if (uv_tcp_close_reset(&p->tcp, proxy_tcp_closed) != 0)
      uv_close((uv_handle_t*)&p->tcp, proxy_tcp_closed);
  } else {
    yamux_close(&p->stream, proxy_stream_closed);
    uv_close((uv_handle_t*)&p->tcp, proxy_tcp_closed);
  }
}

static void proxy_maybe_done(proxy_t* p) {
  if (p->tcp_eof && p->yshut_done && p->stream_eof && p->tshut_done)
    proxy_close(p, 0);
}

static void proxy_tcp_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf);
static void proxy_tcp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);

/* TCP -> stream ---------------------------------------------------------- */

static void proxy_ywrite_cb(yamux_write_t* req, int status) {
  proxy_write_t* w = req->data;
  proxy_t* p = w->p;
  free(w->base);
  free(w);
  if (status != 0) {
    proxy_close(p, 1);
  } else if (p->tcp_paused && !p->closing &&
             yamux_stream_get_write_queue_size(&p->stream) < LOW_WATER) {
    p->tcp_paused = 0;
    if (uv_read_start((uv_stream_t*)&p->tcp, proxy_tcp_alloc, proxy_tcp_read) !=
        0)
      proxy_close(p, 1);
  }
  proxy_unref(p);
}

static void proxy_yshut_cb(yamux_shutdown_t* req, int status) {
  proxy_t* p = req->data;
  p->yshut_done = 1;
  if (status != 0)
    proxy_close(p, 1);
  else
    proxy_maybe_done(p);
  proxy_unref(p);
}

static void proxy_tcp_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  (void)h;
  (void)size;
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base != NULL ? READ_CHUNK : 0; /* 0: UV_ENOBUFS */
}

static void proxy_tcp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  proxy_t* p = s->data;
  proxy_write_t* w;
  uv_buf_t b;
  int rc;
  if (n > 0) {
    /* The read buffer itself is queued: no copy. */
    if ((w = malloc(sizeof(*w))) == NULL) {
      free(buf->base);
      proxy_close(p, 1);
      return;
    }
    w->p = p;
    w->base = buf->base;
    w->req.yx.data = w;
    b = uv_buf_init(buf->base, (unsigned int)n);
    if ((rc = yamux_write(&w->req.yx, &p->stream, &b, 1, proxy_ywrite_cb))) {
      free(w->base);
      free(w);
      proxy_close(p, 1);
      return;
    }
    p->refs++;
    if (yamux_stream_get_write_queue_size(&p->stream) > HIGH_WATER) {
      uv_read_stop(s); /* resumed from proxy_ywrite_cb */
      p->tcp_paused = 1;
    }
    return;
  }
  free(buf->base);
  if (n == 0) return;
  if (n != UV_EOF) { /* ECONNRESET and friends: reset the stream too */
    proxy_close(p, 1);
    return;
  }
  /* The client half-closed: FIN on the stream after the queued data. */
  p->tcp_eof = 1;
  uv_read_stop(s);
  p->yshut_req.data = p;
  if (yamux_shutdown(&p->yshut_req, &p->stream, proxy_yshut_cb) != 0) {
    proxy_close(p, 1);
    return;
  }
  p->refs++;
}

/* stream -> TCP ---------------------------------------------------------- */

static void proxy_stream_read(yamux_stream_t* s, ssize_t n,
                              const uv_buf_t* buf);

static void proxy_twrite_cb(uv_write_t* req, int status) {
  proxy_write_t* w = req->data;
  proxy_t* p = w->p;
  free(w->base);
  free(w);
  if (status != 0) {
    proxy_close(p, 1);
  } else if (p->stream_paused && !p->closing &&
             p->tcp.write_queue_size < LOW_WATER) {
    p->stream_paused = 0;
    if (yamux_read_start(&p->stream, NULL, proxy_stream_read) != 0)
      proxy_close(p, 1);
  }
  proxy_unref(p);
}

static void proxy_tshut_cb(uv_shutdown_t* req, int status) {
  proxy_t* p = req->data;
  p->tshut_done = 1;
  if (status != 0)
    proxy_close(p, 1);
  else
    proxy_maybe_done(p);
  proxy_unref(p);
}

/* Read in place (no alloc_cb): buf is the session's memory, valid only
 * here. The socket usually takes all of it at once; the rest is copied. */
static void proxy_stream_read(yamux_stream_t* s, ssize_t n,
                              const uv_buf_t* buf) {
  proxy_t* p = s->data;
  proxy_write_t* w;
  uv_buf_t b;
  int k;
  if (n > 0) {
    b = uv_buf_init(buf->base, (unsigned int)n);
    k = p->tcp.write_queue_size == 0
            ? uv_try_write((uv_stream_t*)&p->tcp, &b, 1)
            : UV_EAGAIN;
    if (k == UV_EAGAIN) k = 0;
    if (k < 0) {
      proxy_close(p, 1);
      return;
    }
    if (k == n) return;
    if ((w = malloc(sizeof(*w))) == NULL ||
        (w->base = malloc((size_t)n - (size_t)k)) == NULL) {
      free(w);
      proxy_close(p, 1);
      return;
    }
    memcpy(w->base, buf->base + k, (size_t)n - (size_t)k);
    w->p = p;
    w->req.uv.data = w;
    b = uv_buf_init(w->base, (unsigned int)(n - k));
    if (uv_write(&w->req.uv, (uv_stream_t*)&p->tcp, &b, 1, proxy_twrite_cb)) {
      free(w->base);
      free(w);
      proxy_close(p, 1);
      return;
    }
    p->refs++;
    if (p->tcp.write_queue_size > HIGH_WATER) {
      yamux_read_stop(s); /* resumed from proxy_twrite_cb */
      p->stream_paused = 1;
    }
    return;
  }
  if (n != UV_EOF) { /* UV_ECONNRESET: the child reset; or session gone */
    proxy_close(p, 1);
    return;
  }
  /* The child half-closed: FIN on the socket after the queued data. */
  p->stream_eof = 1;
  p->tshut_req.data = p;
  if (uv_shutdown(&p->tshut_req, (uv_stream_t*)&p->tcp, proxy_tshut_cb)) {
    proxy_close(p, 1);
    return;
  }
  p->refs++;
}

static void proxy_connect_cb(yamux_connect_t* req, int status) {
  proxy_t* p = req->data;
  /* UV_ECONNREFUSED: the child's backlog is full. */
  if (status != 0 && status != UV_ECANCELED) proxy_close(p, 1);
  proxy_unref(p);
}

static void on_tcp_connection(uv_stream_t* server, int status) {
  proxy_t* p;
  int rc;
  if (status != 0) {
    warn("listen", status);
    return;
  }
  if ((p = calloc(1, sizeof(*p))) == NULL) return;
  p->tcp.data = p;
  p->stream.data = p;
  p->connect_req.data = p;
  if ((rc = uv_tcp_init(loop, &p->tcp)) != 0) {
    free(p);
    return;
  }
  p->refs = 1;
  if ((rc = uv_accept(server, (uv_stream_t*)&p->tcp)) != 0) {
    uv_close((uv_handle_t*)&p->tcp, proxy_tcp_closed);
    return;
  }
  uv_tcp_nodelay(&p->tcp, 1);
  if ((rc = yamux_stream_init(&session, &p->stream)) != 0 ||
      (rc = yamux_stream_open(&p->connect_req, &p->stream, proxy_connect_cb)) !=
          0) {
    warn("open", rc);
    uv_close((uv_handle_t*)&p->tcp, proxy_tcp_closed);
    return;
  }
  p->refs += 2; /* the stream handle and the connect request */
  link_add(&p->link);
  if ((rc = uv_read_start((uv_stream_t*)&p->tcp, proxy_tcp_alloc,
                          proxy_tcp_read)) != 0 ||
      (rc = yamux_read_start(&p->stream, NULL, proxy_stream_read)) != 0)
    proxy_close(p, 1);
}

/* ======================================================================== */
/* --direct: the same HTTP server straight on TCP                            */

static void on_direct_connection(uv_stream_t* server, int status) {
  http_conn_t* c;
  if (status != 0) {
    warn("listen", status);
    return;
  }
  if ((c = http_conn_new(0)) == NULL) return;
  c->h.tcp.data = c;
  if (uv_tcp_init(loop, &c->h.tcp) != 0) {
    link_del(&c->link);
    free(c);
    return;
  }
  if (uv_accept(server, (uv_stream_t*)&c->h.tcp) != 0) {
    http_close(c, 0);
    return;
  }
  uv_tcp_nodelay(&c->h.tcp, 1);
  http_serve(c);
}

/* ======================================================================== */
/* Parent: startup and shutdown                                              */

static void close_all_conns(int reset) {
  while (conns.next != &conns) {
    link_t* l = conns.next;
    if (is_child || direct)
      http_close((http_conn_t*)l, reset);
    else
      proxy_close((proxy_t*)l, reset);
  }
}

static void stop(int code) {
  if (stopping) return;
  stopping = 1;
  if (code != 0) exit_code = code;
  uv_close((uv_handle_t*)&listener, NULL);
  uv_close((uv_handle_t*)&sigint_h, NULL);
  uv_close((uv_handle_t*)&sigterm_h, NULL);
  close_all_conns(1);
  /* The child reads EOF on its stdin and exits. */
  if (!direct) yamux_session_close(&session, NULL);
}

static void on_signal(uv_signal_t* h, int signum) {
  (void)h;
  fprintf(stderr, "http-stdio: signal %d: shutting down\n", signum);
  stop(0);
}

static void parent_end_cb(yamux_session_t* s, int status) {
  (void)s;
  warn("the child's session ended", status);
  stop(1);
}

static void on_child_exit(uv_process_t* p, int64_t status, int sig) {
  child_running = 0;
  if (status != 0 || sig != 0) {
    fprintf(stderr, "http-stdio: child exited with status %lld signal %d\n",
            (long long)status, sig);
    exit_code = 1;
  }
  uv_close((uv_handle_t*)p, NULL);
  stop(exit_code);
}

static int run_parent(const char* host, int port) {
  struct sockaddr_storage addr;
  struct sockaddr_in* sin = (struct sockaddr_in*)&addr;
  int namelen = sizeof(addr);
  char self[4096];
  size_t self_len = sizeof(self);
  char* args[3];
  uv_process_options_t opts;
  int rc;

  if ((rc = uv_ip4_addr(host, port, sin)) != 0 &&
      (rc = uv_ip6_addr(host, port, (struct sockaddr_in6*)&addr)) != 0) {
    warn("address", rc);
    return 2;
  }
  if ((rc = uv_tcp_init(loop, &listener)) != 0 ||
      (rc = uv_tcp_bind(&listener, (struct sockaddr*)&addr, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t*)&listener, 1024,
                      direct ? on_direct_connection : on_tcp_connection))) {
    warn("listen", rc);
    return 1;
  }
  uv_tcp_getsockname(&listener, (struct sockaddr*)&addr, &namelen);
  port = ntohs(sin->sin_port); /* same offset in sockaddr_in6 */

  if (!direct) {
    if ((rc = uv_exepath(self, &self_len)) != 0 ||
        (rc = yamux_session_init(&session, YAMUX_CLIENT, NULL)) != 0) {
      warn("init", rc);
      return 1;
    }
    memset(&opts, 0, sizeof(opts));
    args[0] = self;
    args[1] = "--child";
    args[2] = NULL;
    opts.file = self;
    opts.args = args;
    opts.exit_cb = on_child_exit;
    if ((rc = yamux_session_spawn(loop, &session, &child, &opts,
                                  parent_end_cb)) != 0) {
      warn("spawn", rc);
      yamux_session_close(&session, NULL);
      return 1;
    }
    child_running = 1;
  }
  uv_signal_init(loop, &sigint_h);
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);

  if (direct)
    printf("http-stdio: listening on http://%s:%d/ (direct)\n", host, port);
  else
    printf(
        "http-stdio: listening on http://%s:%d/ (through child pid %d's "
        "stdio)\n",
        host, port, child.pid);
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  if ((rc = uv_loop_close(loop)) != 0) {
    warn("loop not clean", rc);
    return 1;
  }
  return exit_code;
}

int main(int argc, char** argv) {
  const char* listen_at = "127.0.0.1:8080";
  char host[256];
  const char* colon;
  int i;

  loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--child") == 0)
      is_child = 1;
    else if (strcmp(argv[i], "--direct") == 0)
      direct = 1;
    else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
      listen_at = argv[++i];
    else {
      fprintf(stderr, "usage: http-stdio [--listen HOST:PORT] [--direct]\n");
      return 2;
    }
  }
  hello_len = (size_t)snprintf(hello_response, sizeof(hello_response),
                               "HTTP/1.1 200 OK\r\nContent-Type: text/plain"
                               "\r\nContent-Length: %zu\r\n\r\n%s",
                               sizeof(HELLO_BODY) - 1, HELLO_BODY);
  if (is_child) return run_child();
  colon = strrchr(listen_at, ':');
  if (colon == NULL || (size_t)(colon - listen_at) >= sizeof(host)) {
    fprintf(stderr, "http-stdio: --listen wants HOST:PORT\n");
    return 2;
  }
  memcpy(host, listen_at, (size_t)(colon - listen_at));
  host[colon - listen_at] = '\0';
  return run_parent(host, atoi(colon + 1));
}
