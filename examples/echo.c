/* echo: a yamux echo peer.
 *
 * What it shows: a complete libyamux server on libuv in one file. It accepts
 * every stream the peer opens and writes back every byte it reads, without
 * copying: the buffer a read fills is the buffer the write sends, freed in
 * the write callback. A stream whose write queue grows large stops reading
 * until the queue drains (backpressure through the windows). When the peer
 * half-closes a stream, the echo finishes, then half-closes its own side and
 * releases the stream; a reset stream is released at once.
 *
 * Usage:
 *   echo [--client|--server] [--stdio | --listen HOST:PORT |
 *        --connect HOST:PORT] [--keepalive MS] [--ping MS]
 *
 *   --server, --client  the session's role (default --server). It only
 *                       decides the parity of stream ids: the echo opens no
 *                       stream of its own and accepts the peer's in both.
 *   --stdio             run the session over fd 0 and fd 1 (default).
 *                       Nothing else is ever written to stdout.
 *   --listen HOST:PORT  serve TCP connections one at a time, each its own
 *                       session (prints "listening HOST:PORT" on stdout
 *                       once bound; port 0 picks a free port).
 *   --connect HOST:PORT run one session over a TCP connection.
 *   --keepalive MS      keepalive every MS milliseconds (default: off); as
 *                       configured, a session that hears from its peer
 *                       sends none.
 *   --ping MS           send a ping every MS milliseconds whatever the
 *                       traffic (yamux_ping(); for tests of a peer's pongs).
 *
 * Exit status: 0 when the session ends normally (the peer's Go Away(0) then
 * EOF, or a transport EOF); otherwise 1 with one line on stderr.
 *
 * Try it:
 *   make && build/examples/echo --listen 127.0.0.1:7000
 *   (then point any yamux client at 127.0.0.1:7000), or run it as the child
 *   process of a yamux client over stdio:
 *   go run interop/... | build/examples/echo --stdio
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamux.h"

#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)

typedef struct echo_stream_s {
  yamux_stream_t stream;
  yamux_shutdown_t shutdown_req;
  struct echo_stream_s* next;
  struct echo_stream_s* prev;
  unsigned int writes; /* write requests in flight */
  int reading;
  int eof;
  int closing;
  int closed;
} echo_stream_t;

typedef struct {
  yamux_write_t req;
  char* base;
} echo_write_t;

typedef enum { MODE_STDIO, MODE_LISTEN, MODE_CONNECT } mode_t_;

static uv_loop_t* loop;
static yamux_config_t config;
static yamux_role_t role = YAMUX_SERVER;
static mode_t_ mode = MODE_STDIO;
static yamux_session_t session;
static int session_live;
static echo_stream_t streams; /* list head */
static int exit_code;
static int goaway_normal; /* the peer sent Go Away(0) */
static uv_tcp_t server;
static int connection_waiting;
static uv_connect_t connect_req;
static uint64_t ping_ms;      /* --ping: 0 = off */
static uv_timer_t ping_timer; /* runs while a session is live */

static void start_reading(echo_stream_t* es);

static void fail(const char* what, int err) {
  fprintf(stderr, "echo: %s: %s (%s)\n", what, yamux_strerror(err),
          yamux_err_name(err));
  exit_code = 1;
}

static void stream_free(echo_stream_t* es) {
  es->prev->next = es->next;
  es->next->prev = es->prev;
  free(es);
}

static void on_stream_close(yamux_stream_t* stream) {
  echo_stream_t* es;

  es = (echo_stream_t*)stream->data;
  es->closed = 1;
  if (es->writes == 0) stream_free(es);
}

static void stream_close(echo_stream_t* es) {
  if (es->closing) return;
  es->closing = 1;
  yamux_close(&es->stream, on_stream_close);
}

static void on_shutdown(yamux_shutdown_t* req, int status) {
  (void)status;
  stream_close((echo_stream_t*)req->stream->data);
}

static void on_write(yamux_write_t* req, int status) {
  echo_write_t* w;
  echo_stream_t* es;

  w = (echo_write_t*)req;
  es = (echo_stream_t*)req->stream->data;
  free(w->base);
  free(w);
  es->writes--;
  if (es->closed) {
    if (es->writes == 0) stream_free(es);
    return;
  }
  if (es->closing) return;
  if (status < 0) {
    /* The peer reset the stream (or the session is ending). */
    stream_close(es);
    return;
  }
  if (!es->reading && !es->eof &&
      yamux_stream_get_write_queue_size(&es->stream) <= LOW_WATER)
    start_reading(es);
}

static void on_alloc(yamux_stream_t* stream, size_t size, uv_buf_t* buf) {
  (void)stream;
  buf->base = malloc(size);
  buf->len = buf->base == NULL ? 0 : size;
}

static void on_read(yamux_stream_t* stream, ssize_t nread,
                    const uv_buf_t* buf) {
  echo_stream_t* es;
  echo_write_t* w;
  uv_buf_t out;
  int r;

  es = (echo_stream_t*)stream->data;
  if (nread > 0) {
    w = malloc(sizeof(*w));
    if (w == NULL) {
      free(buf->base);
      yamux_close_reset(stream, 0, on_stream_close);
      es->closing = 1;
      return;
    }
    /* Zero copy: the read buffer itself goes out, freed in on_write. */
    w->base = buf->base;
    out = uv_buf_init(buf->base, (unsigned int)nread);
    r = yamux_write(&w->req, stream, &out, 1, on_write);
    if (r < 0) {
      free(w->base);
      free(w);
      stream_close(es);
      return;
    }
    es->writes++;
    if (yamux_stream_get_write_queue_size(stream) > HIGH_WATER) {
      yamux_read_stop(stream);
      es->reading = 0;
    }
    return;
  }

  free(buf->base);
  if (nread == 0) return;
  es->reading = 0;
  if (nread == UV_EOF) {
    /* Half-closed by the peer: the FIN goes after every queued echo. */
    es->eof = 1;
    if (yamux_shutdown(&es->shutdown_req, stream, on_shutdown) < 0)
      stream_close(es);
    return;
  }
  if (nread == UV_ENOBUFS) {
    yamux_close_reset(stream, 0, on_stream_close);
    es->closing = 1;
    return;
  }
  /* Reset by the peer, or the session ended under the stream. */
  stream_close(es);
}

static void start_reading(echo_stream_t* es) {
  if (yamux_read_start(&es->stream, on_alloc, on_read) == 0) es->reading = 1;
}

static void on_connection(yamux_session_t* s, int status) {
  echo_stream_t* es;

  if (status < 0) return;
  for (;;) {
    es = calloc(1, sizeof(*es));
    if (es == NULL) return; /* they wait in the backlog */
    yamux_stream_init(s, &es->stream);
    if (yamux_accept(s, &es->stream) != 0) {
      free(es);
      return;
    }
    es->stream.data = es;
    es->next = &streams;
    es->prev = streams.prev;
    es->prev->next = es;
    streams.prev = es;
    start_reading(es);
  }
}

static void on_goaway(yamux_session_t* s, uint32_t code) {
  (void)s;
  if (code == YAMUX_GOAWAY_NORMAL) goaway_normal = 1;
}

static void start_next_connection(void);

static void on_ping(yamux_ping_t* req, int status, uint64_t rtt_ns) {
  (void)status; /* UV_ECANCELED when the session closes first */
  (void)rtt_ns;
  free(req);
}

static void on_ping_timer(uv_timer_t* t) {
  yamux_ping_t* req = malloc(sizeof(*req));
  (void)t;
  if (req != NULL && yamux_ping(req, &session, on_ping) != 0) free(req);
}

static void on_session_close(yamux_session_t* s) {
  (void)s;
  if (ping_ms > 0) uv_close((uv_handle_t*)&ping_timer, NULL);
  /* Stream handles of a closed session need no close of their own. */
  while (streams.next != &streams) stream_free(streams.next);
  session_live = 0;
  if (mode == MODE_LISTEN && connection_waiting) start_next_connection();
}

static void on_session_end(yamux_session_t* s, int status) {
  /* A transport EOF is the normal end; a reset or broken pipe after the
   * peer's Go Away(0) is a peer that closed without reading our last
   * bytes, which ends the session just as normally. */
  if (status != UV_EOF &&
      !(goaway_normal && (status == UV_ECONNRESET || status == UV_EPIPE)))
    fail("session ended", status);
  yamux_session_close(s, on_session_close);
}

static int session_new(void) {
  int r;

  r = yamux_session_init(&session, role, &config);
  if (r < 0) {
    fail("session init", r);
    return r;
  }
  session_live = 1;
  goaway_normal = 0;
  streams.next = &streams;
  streams.prev = &streams;
  yamux_session_listen(&session, on_connection);
  yamux_session_on_goaway(&session, on_goaway);
  if (ping_ms > 0) {
    uv_timer_init(loop, &ping_timer);
    uv_timer_start(&ping_timer, on_ping_timer, ping_ms, ping_ms);
  }
  return 0;
}

/* ---- TCP ----------------------------------------------------------------- */

/* start_uv() failed: the handle is still ours; close it before the
 * session, whose memory holds it. */
static void on_failed_io_closed(uv_handle_t* handle) {
  (void)handle;
  yamux_session_close(&session, on_session_close);
}

static void start_next_connection(void) {
  int r;

  connection_waiting = 0;
  if (session_new() < 0) return;
  uv_tcp_init(loop, &session.io[0].tcp);
  r = uv_accept((uv_stream_t*)&server, &session.io[0].stream);
  if (r == 0) {
    uv_tcp_nodelay(&session.io[0].tcp, 1);
    r = yamux_session_start_uv(loop, &session, 1, on_session_end);
  }
  if (r < 0) {
    fail("accept", r); /* one bad connection does not stop the server */
    uv_close(&session.io[0].handle, on_failed_io_closed);
  }
}

static void on_new_connection(uv_stream_t* s, int status) {
  (void)s;
  if (status < 0) {
    fail("listen", status);
    uv_close((uv_handle_t*)&server, NULL);
    return;
  }
  /* One connection at a time: a connection that arrives while a session
   * runs waits (libuv holds it and stops accepting) until that session
   * closed. */
  connection_waiting = 1;
  if (!session_live) start_next_connection();
}

static void on_connect(uv_connect_t* req, int status) {
  (void)req;
  if (status == 0)
    status = yamux_session_start_uv(loop, &session, 1, on_session_end);
  if (status < 0) {
    fail("connect", status);
    uv_close(&session.io[0].handle, on_failed_io_closed);
    return;
  }
  uv_tcp_nodelay(&session.io[0].tcp, 1);
}

static int resolve(const char* hostport, struct sockaddr_storage* addr) {
  char host[256];
  const char* colon;
  uv_getaddrinfo_t req;
  struct addrinfo hints;
  size_t n;
  int r;

  colon = strrchr(hostport, ':');
  if (colon == NULL || colon == hostport) return UV_EINVAL;
  n = (size_t)(colon - hostport);
  if (n >= sizeof(host)) return UV_EINVAL;
  memcpy(host, hostport, n);
  host[n] = '\0';
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') { /* [::1]:port */
    memmove(host, host + 1, n - 2);
    host[n - 2] = '\0';
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r = uv_getaddrinfo(loop, &req, NULL, host, colon + 1, &hints);
  if (r < 0) return r;
  memcpy(addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

static int run_listen(const char* hostport) {
  struct sockaddr_storage addr;
  char name[INET6_ADDRSTRLEN];
  int len;
  int r;

  r = resolve(hostport, &addr);
  if (r == 0) r = uv_tcp_init(loop, &server);
  if (r < 0) {
    fail(hostport, r);
    return 1;
  }
  r = uv_tcp_bind(&server, (struct sockaddr*)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t*)&server, 16, on_new_connection);
  if (r < 0) {
    fail(hostport, r);
    uv_close((uv_handle_t*)&server, NULL);
    return 1;
  }
  len = sizeof(addr);
  uv_tcp_getsockname(&server, (struct sockaddr*)&addr, &len);
  if (addr.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6*)&addr, name, sizeof(name));
    printf("listening [%s]:%d\n", name,
           ntohs(((struct sockaddr_in6*)&addr)->sin6_port));
  } else {
    uv_ip4_name((struct sockaddr_in*)&addr, name, sizeof(name));
    printf("listening %s:%d\n", name,
           ntohs(((struct sockaddr_in*)&addr)->sin_port));
  }
  fflush(stdout);
  return 0;
}

static int run_connect(const char* hostport) {
  struct sockaddr_storage addr;
  int r;

  r = resolve(hostport, &addr);
  if (r < 0) {
    fail(hostport, r);
    return 1;
  }
  if (session_new() < 0) return 1;
  uv_tcp_init(loop, &session.io[0].tcp);
  r = uv_tcp_connect(&connect_req, &session.io[0].tcp, (struct sockaddr*)&addr,
                     on_connect);
  if (r < 0) {
    fail(hostport, r);
    uv_close(&session.io[0].handle, on_failed_io_closed);
    return 1;
  }
  return 0;
}

static int run_stdio(void) {
  int r;

  if (session_new() < 0) return 1;
  r = yamux_session_start_stdio(loop, &session, on_session_end);
  if (r < 0) {
    fail("stdio", r);
    yamux_session_close(&session, on_session_close);
    return 1;
  }
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: echo [--client|--server] [--stdio | --listen HOST:PORT | "
          "--connect HOST:PORT] [--keepalive MS] [--ping MS]\n");
  return 2;
}

int main(int argc, char** argv) {
  const char* hostport;
  char* end;
  int i;

  /* A peer that goes away must show up as EPIPE, not kill the process. */
  signal(SIGPIPE, SIG_IGN);
  yamux_config_init(&config);
  config.keepalive_interval_ms = 0;
  hostport = NULL;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--client") == 0) {
      role = YAMUX_CLIENT;
    } else if (strcmp(argv[i], "--server") == 0) {
      role = YAMUX_SERVER;
    } else if (strcmp(argv[i], "--stdio") == 0) {
      mode = MODE_STDIO;
    } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      mode = MODE_LISTEN;
      hostport = argv[++i];
    } else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
      mode = MODE_CONNECT;
      hostport = argv[++i];
    } else if (strcmp(argv[i], "--keepalive") == 0 && i + 1 < argc) {
      config.keepalive_interval_ms = strtoull(argv[++i], &end, 10);
      if (*end != '\0') return usage();
    } else if (strcmp(argv[i], "--ping") == 0 && i + 1 < argc) {
      ping_ms = strtoull(argv[++i], &end, 10);
      if (*end != '\0') return usage();
    } else {
      return usage();
    }
  }

  loop = uv_default_loop();
  switch (mode) {
    case MODE_STDIO:
      if (run_stdio() != 0) exit_code = 1;
      break;
    case MODE_LISTEN:
      if (run_listen(hostport) != 0) exit_code = 1;
      break;
    case MODE_CONNECT:
      if (run_connect(hostport) != 0) exit_code = 1;
      break;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return exit_code;
}
