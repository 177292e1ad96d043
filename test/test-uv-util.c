/* Shared pieces of the libuv driver tests; see test-uv-util.h. */
#include "test-uv-util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const unsigned char* p;
  size_t i;

  p = data;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t uvt_rand(uint64_t* state) {
  uint64_t x;

  x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}

void uvt_no_sigpipe(void) {
  signal(SIGPIPE, SIG_IGN);
}

/* ---- intrusive list ------------------------------------------------------ */

typedef struct node_s {
  struct node_s* next;
  struct node_s* prev;
} node_t;

static void list_init(void* head[2]) {
  head[0] = head;
  head[1] = head;
}

static void list_add(void* head[2], node_t* n) {
  node_t* h;

  h = (node_t*)head;
  if (h->next == NULL) list_init(head);
  n->next = h;
  n->prev = h->prev;
  n->prev->next = n;
  h->prev = n;
}

static void list_del(node_t* n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n;
  n->prev = n;
}

/* ---- sessions ------------------------------------------------------------ */

static void log_line(void* data, yamux_log_level_t level, const char* msg) {
  fprintf(stderr, "[%s %d] %s\n", (const char*)data, (int)level, msg);
}

void uvt_session_init(uvt_session_t* us, yamux_role_t role,
                      const yamux_config_t* cfg) {
  yamux_config_t def;

  memset(us, 0, sizeof(*us));
  if (cfg == NULL) {
    yamux_config_init(&def);
    def.keepalive_interval_ms = 0;
    cfg = &def;
  }
  if (getenv("UVT_LOG") != NULL) {
    /* Debugging aid: UVT_LOG=1 run-tests uv_... prints the engine's log. */
    if (cfg != &def) {
      def = *cfg;
      cfg = &def;
    }
    def.log_cb = log_line;
    def.log_data = role == YAMUX_CLIENT ? "client" : "server";
    def.log_level = YAMUX_LOG_DEBUG;
  }
  ASSERT_OK(yamux_session_init(&us->session, role, cfg));
  us->session.data = us;
  us->close_on_end = 1;
  us->end_status = 1;
  list_init(us->echo_head);
}

static void on_session_close(yamux_session_t* session) {
  uvt_session_t* us;

  us = session->data;
  us->close_count++;
  ASSERT_EQ(us->close_count, 1);
}

void uvt_session_close(uvt_session_t* us) {
  yamux_session_close(&us->session, on_session_close);
}

void uvt_on_end(yamux_session_t* session, int status) {
  uvt_session_t* us;

  us = session->data;
  us->end_count++;
  us->end_status = status;
  ASSERT_EQ(us->end_count, 1);
  ASSERT_LT(status, 0);
  if (us->close_on_end) uvt_session_close(us);
}

/* ---- echo server --------------------------------------------------------- */

typedef struct {
  node_t node;
  yamux_stream_t h;
  yamux_shutdown_t sreq;
  uvt_session_t* us;
  unsigned int writes;
  int reading;
  int eof;
  int closing;
  int closed;
} echo_t;

typedef struct {
  yamux_write_t req;
  char* base;
} echo_write_t;

static void echo_free(echo_t* e) {
  list_del(&e->node);
  free(e);
}

static void echo_on_close(yamux_stream_t* h) {
  echo_t* e;

  e = h->data;
  e->closed = 1;
  e->us->echo_closed++;
  if (e->writes == 0) echo_free(e);
}

static void echo_close(echo_t* e) {
  if (e->closing) return;
  e->closing = 1;
  yamux_close(&e->h, echo_on_close);
}

static void echo_on_shutdown(yamux_shutdown_t* req, int status) {
  (void)status;
  echo_close(req->stream->data);
}

static void echo_alloc(yamux_stream_t* h, size_t size, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(size);
  ASSERT_NOT_NULL(buf->base);
  buf->len = size;
}

static void echo_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf);

static void echo_on_write(yamux_write_t* req, int status) {
  echo_write_t* w;
  echo_t* e;

  w = (echo_write_t*)req;
  e = req->stream->data;
  free(w->base);
  free(w);
  e->writes--;
  if (e->closed) {
    if (e->writes == 0) echo_free(e);
    return;
  }
  if (e->closing) return;
  if (status < 0) {
    echo_close(e);
    return;
  }
  if (!e->reading && !e->eof &&
      yamux_stream_get_write_queue_size(&e->h) <= 256 * 1024) {
    ASSERT_OK(yamux_read_start(&e->h, echo_alloc, echo_read));
    e->reading = 1;
  }
}

static void echo_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  echo_write_t* w;
  echo_t* e;
  uv_buf_t out;

  e = h->data;
  if (nread > 0) {
    w = malloc(sizeof(*w));
    ASSERT_NOT_NULL(w);
    w->base = buf->base;
    out = uv_buf_init(buf->base, (unsigned int)nread);
    if (yamux_write(&w->req, h, &out, 1, echo_on_write) != 0) {
      free(w->base);
      free(w);
      echo_close(e);
      return;
    }
    e->writes++;
    e->us->echo_bytes += (uint64_t)nread;
    if (yamux_stream_get_write_queue_size(h) > 1024 * 1024) {
      yamux_read_stop(h);
      e->reading = 0;
    }
    return;
  }
  free(buf->base);
  if (nread == 0) return;
  e->reading = 0;
  if (nread == UV_EOF) {
    e->eof = 1;
    if (yamux_shutdown(&e->sreq, h, echo_on_shutdown) != 0) echo_close(e);
    return;
  }
  echo_close(e);
}

static void echo_on_connection(yamux_session_t* session, int status) {
  uvt_session_t* us;
  echo_t* e;

  ASSERT_OK(status);
  us = session->data;
  for (;;) {
    e = calloc(1, sizeof(*e));
    ASSERT_NOT_NULL(e);
    ASSERT_OK(yamux_stream_init(session, &e->h));
    if (yamux_accept(session, &e->h) != 0) {
      free(e);
      return;
    }
    e->h.data = e;
    e->us = us;
    list_add(us->echo_head, &e->node);
    us->echo_accepted++;
    ASSERT_OK(yamux_read_start(&e->h, echo_alloc, echo_read));
    e->reading = 1;
  }
}

static void on_goaway(yamux_session_t* session, uint32_t code) {
  uvt_session_t* us;

  us = session->data;
  us->goaway_code = code;
  us->goaway_count++;
}

void uvt_echo_listen(uvt_session_t* us) {
  ASSERT_OK(yamux_session_listen(&us->session, echo_on_connection));
  yamux_session_on_goaway(&us->session, on_goaway);
}

/* Frees echo streams a closed session left behind (their handles need no
 * close once the session is closed). */
void uvt_echo_free_all(uvt_session_t* us) {
  node_t* h;

  h = (node_t*)us->echo_head;
  while (h->next != h) echo_free((echo_t*)h->next);
}

/* ---- client workload ----------------------------------------------------- */

typedef struct {
  node_t node;
  yamux_stream_t h;
  yamux_connect_t creq;
  yamux_shutdown_t sreq;
  uvt_gen_t* g;
  uint64_t size;
  uint64_t sent;
  uint64_t received;
  uint64_t prng;
  uint64_t tx_hash;
  uint64_t rx_hash;
  unsigned int inflight; /* writes */
  int connect_fired;
  int shut_started;
  int shut_fired;
  int eof;
  int failed;
  int closing;
  int closed;
} gen_stream_t;

typedef struct {
  yamux_write_t req;
  gen_stream_t* gs;
  char* buf;
  int done;
} gen_write_t;

static void gen_pump(gen_stream_t* gs);

static int gen_busy(gen_stream_t* gs) {
  return gs->inflight > 0 || !gs->connect_fired ||
         (gs->shut_started && !gs->shut_fired);
}

static void gen_release(gen_stream_t* gs) {
  if (gs->closed && !gen_busy(gs)) {
    list_del(&gs->node);
    free(gs);
  }
}

static void gen_on_close(yamux_stream_t* h) {
  gen_stream_t* gs;
  uvt_gen_t* g;

  gs = h->data;
  g = gs->g;
  ASSERT(!gs->closed);
  gs->closed = 1;
  g->closed++;
  gen_release(gs);
  if (g->closed == g->opened && g->close_when_done) uvt_session_close(g->us);
}

static void gen_fail(gen_stream_t* gs, const char* what, int status) {
  if (!gs->g->expect_errors)
    task_fail(__FILE__, __LINE__, "stream %u: %s: %s", gs->h.id, what,
              yamux_err_name(status));
  if (!gs->failed) {
    gs->failed = 1;
    gs->g->stream_errors++;
  }
}

static void gen_maybe_close(gen_stream_t* gs) {
  if (gs->closing) return;
  if (!gs->failed && !(gs->eof && gs->shut_fired)) return;
  gs->closing = 1;
  yamux_close(&gs->h, gen_on_close);
}

static void gen_on_write(yamux_write_t* req, int status) {
  gen_write_t* w;
  gen_stream_t* gs;
  uvt_gen_t* g;

  w = (gen_write_t*)req;
  gs = w->gs;
  g = gs->g;
  ASSERT(!w->done);
  w->done = 1;
  g->writes_done++;
  free(w->buf);
  free(w);
  gs->inflight--;
  if (status < 0) {
    g->write_errors++;
    gen_fail(gs, "write", status);
  }
  if (g->on_progress != NULL) g->on_progress(g);
  if (gs->closed) {
    gen_release(gs);
    return;
  }
  if (gs->failed)
    gen_maybe_close(gs);
  else
    gen_pump(gs);
}

#define GEN_OF(ptr, member) \
  ((gen_stream_t*)((char*)(ptr)-offsetof(gen_stream_t, member)))

static void gen_on_shutdown(yamux_shutdown_t* req, int status) {
  gen_stream_t* gs;

  gs = GEN_OF(req, sreq);
  ASSERT(!gs->shut_fired);
  gs->shut_fired = 1;
  gs->g->shutdowns_done++;
  if (status < 0) gen_fail(gs, "shutdown", status);
  if (gs->closed) {
    gen_release(gs);
    return;
  }
  gen_maybe_close(gs);
}

static void gen_on_connect(yamux_connect_t* req, int status) {
  gen_stream_t* gs;

  gs = GEN_OF(req, creq);
  ASSERT(!gs->connect_fired);
  gs->connect_fired = 1;
  gs->g->connect_done++;
  if (status == 0)
    gs->g->connected++;
  else
    gen_fail(gs, "connect", status);
  if (gs->closed) {
    gen_release(gs);
    return;
  }
  gen_maybe_close(gs);
}

static void gen_alloc(yamux_stream_t* h, size_t size, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(size);
  ASSERT_NOT_NULL(buf->base);
  buf->len = size;
}

static void gen_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  gen_stream_t* gs;

  gs = h->data;
  if (nread > 0) {
    gs->rx_hash = fnv1a(gs->rx_hash, buf->base, (size_t)nread);
    gs->received += (uint64_t)nread;
    gs->g->bytes_received += (uint64_t)nread;
  }
  free(buf->base);
  if (nread >= 0) return;
  if (nread == UV_EOF) {
    gs->eof = 1;
    if (gs->received == gs->size && gs->rx_hash == gs->tx_hash &&
        gs->sent == gs->size) {
      gs->g->verified++;
    } else if (!gs->g->expect_errors) {
      task_fail(__FILE__, __LINE__,
                "stream %u: echo mismatch: %llu of %llu bytes, hash %s", h->id,
                (unsigned long long)gs->received, (unsigned long long)gs->size,
                gs->rx_hash == gs->tx_hash ? "equal" : "differs");
    } else {
      gen_fail(gs, "echo", UV_EOF);
    }
  } else {
    gen_fail(gs, "read", (int)nread);
  }
  gen_maybe_close(gs);
}

static void gen_pump(gen_stream_t* gs) {
  uvt_gen_t* g;
  gen_write_t* w;
  uv_buf_t buf;
  uint64_t v;
  size_t n;
  size_t i;
  int r;

  g = gs->g;
  while (!gs->failed && gs->inflight < g->depth && gs->sent < gs->size) {
    n = gs->size - gs->sent < g->chunk ? (size_t)(gs->size - gs->sent)
                                       : g->chunk;
    w = malloc(sizeof(*w));
    ASSERT_NOT_NULL(w);
    w->buf = malloc(n);
    ASSERT_NOT_NULL(w->buf);
    w->gs = gs;
    w->done = 0;
    for (i = 0; i < n; i += 8) {
      v = uvt_rand(&gs->prng);
      memcpy(w->buf + i, &v, n - i < 8 ? n - i : 8);
    }
    buf = uv_buf_init(w->buf, (unsigned int)n);
    r = yamux_write(&w->req, &gs->h, &buf, 1, gen_on_write);
    if (r != 0) {
      free(w->buf);
      free(w);
      gen_fail(gs, "yamux_write", r);
      gen_maybe_close(gs);
      return;
    }
    gs->tx_hash = fnv1a(gs->tx_hash, w->buf, n);
    gs->sent += n;
    gs->inflight++;
    g->writes_started++;
    g->bytes_sent += n;
  }
  if (!gs->failed && gs->sent == gs->size && !gs->shut_started) {
    r = yamux_shutdown(&gs->sreq, &gs->h, gen_on_shutdown);
    if (r != 0) {
      gen_fail(gs, "yamux_shutdown", r);
      gen_maybe_close(gs);
      return;
    }
    gs->shut_started = 1;
    g->shutdowns_started++;
  }
}

void uvt_gen_start(uvt_gen_t* g, uvt_session_t* us, unsigned int nstreams,
                   const uint64_t* sizes, size_t chunk, unsigned int depth) {
  gen_stream_t* gs;
  unsigned int i;
  int r;

  g->us = us;
  g->nstreams = nstreams;
  g->sizes = sizes;
  g->chunk = chunk;
  g->depth = depth;
  us->gen = g;
  list_init(g->head);
  for (i = 0; i < nstreams; i++) {
    gs = calloc(1, sizeof(*gs));
    ASSERT_NOT_NULL(gs);
    gs->g = g;
    gs->size = sizes[i];
    gs->prng = 0x9e3779b97f4a7c15ull * (i + 1);
    gs->tx_hash = FNV_INIT;
    gs->rx_hash = FNV_INIT;
    ASSERT_OK(yamux_stream_init(&us->session, &gs->h));
    gs->h.data = gs;
    r = yamux_stream_open(&gs->creq, &gs->h, gen_on_connect);
    if (r != 0) {
      if (!g->expect_errors)
        task_fail(__FILE__, __LINE__, "open: %s", yamux_err_name(r));
      free(gs);
      continue;
    }
    list_add(g->head, &gs->node);
    g->opened++;
    ASSERT_OK(yamux_read_start(&gs->h, gen_alloc, gen_read));
    gen_pump(gs);
  }
}

void uvt_gen_check_done(uvt_gen_t* g) {
  node_t* h;

  ASSERT_EQ(g->writes_started, g->writes_done);
  ASSERT_EQ(g->shutdowns_started, g->shutdowns_done);
  ASSERT_EQ(g->connect_done, g->opened);
  /* Streams not closed by hand were released with the session. */
  h = (node_t*)g->head;
  while (h->next != h) {
    gen_stream_t* gs = (gen_stream_t*)h->next;
    ASSERT(!gen_busy(gs));
    list_del(&gs->node);
    free(gs);
  }
  uvt_echo_free_all(g->us);
}

/* ---- transports ---------------------------------------------------------- */

static void pipe_open(uv_loop_t* loop, yamux_uv_io_t* io, uv_file fd) {
  ASSERT_OK(uv_pipe_init(loop, &io->pipe, 0));
  ASSERT_OK(uv_pipe_open(&io->pipe, fd));
}

void uvt_socketpair(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b) {
  uv_os_sock_t fds[2];

  ASSERT_OK(
      uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  pipe_open(loop, &a->session.io[0], fds[0]);
  pipe_open(loop, &b->session.io[0], fds[1]);
}

void uvt_pipes(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b) {
  uv_file ab[2];
  uv_file ba[2];

  ASSERT_OK(uv_pipe(ab, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  ASSERT_OK(uv_pipe(ba, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  pipe_open(loop, &a->session.io[0], ba[0]);
  pipe_open(loop, &a->session.io[1], ab[1]);
  pipe_open(loop, &b->session.io[0], ab[0]);
  pipe_open(loop, &b->session.io[1], ba[1]);
}

static uv_tcp_t tcp_server;
static uv_connect_t tcp_connect_req;
static int tcp_connected;
static int tcp_accepted;
static uvt_session_t* tcp_accept_into;

static void tcp_on_connect(uv_connect_t* req, int status) {
  (void)req;
  ASSERT_OK(status);
  tcp_connected = 1;
}

static void tcp_on_connection(uv_stream_t* server, int status) {
  ASSERT_OK(status);
  ASSERT_OK(uv_accept(server, &tcp_accept_into->session.io[0].stream));
  tcp_accepted = 1;
}

void uvt_tcp(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b) {
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int len;

  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_init(loop, &tcp_server));
  ASSERT_OK(uv_tcp_bind(&tcp_server, (struct sockaddr*)&addr, 0));
  ASSERT_OK(uv_listen((uv_stream_t*)&tcp_server, 8, tcp_on_connection));
  len = sizeof(name);
  ASSERT_OK(uv_tcp_getsockname(&tcp_server, (struct sockaddr*)&name, &len));
  tcp_connected = 0;
  tcp_accepted = 0;
  tcp_accept_into = b;
  ASSERT_OK(uv_tcp_init(loop, &a->session.io[0].tcp));
  ASSERT_OK(uv_tcp_init(loop, &b->session.io[0].tcp));
  ASSERT_OK(uv_tcp_connect(&tcp_connect_req, &a->session.io[0].tcp,
                           (struct sockaddr*)&name, tcp_on_connect));
  while (!tcp_connected || !tcp_accepted) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t*)&tcp_server, NULL);
  ASSERT_OK(uv_tcp_nodelay(&a->session.io[0].tcp, 1));
  ASSERT_OK(uv_tcp_nodelay(&b->session.io[0].tcp, 1));
}

static void print_handle(uv_handle_t* h, void* arg) {
  (void)arg;
  fprintf(stderr, "open handle: %s %p%s\n", uv_handle_type_name(h->type),
          (void*)h, uv_is_closing(h) ? " (closing)" : "");
}

void uvt_loop_finish(uv_loop_t* loop) {
  int r;

  ASSERT_OK(uv_run(loop, UV_RUN_DEFAULT));
  r = uv_loop_close(loop);
  if (r != 0) uv_walk(loop, print_handle, NULL);
  ASSERT_OK(r);
}
