/* One libuv loop per core: a yamux server that uses every core, and the
 * safe way for other threads to hand work to a session.
 *
 *   multiloop [--threads N] [--sessions S] [--streams K] [--bytes B]
 *             [--listen HOST:PORT]
 *
 * By default it runs a self-check: a server on N loops (one thread each)
 * and, in the same process, a client holding S sessions spread over N other
 * loops. Each client session opens K streams that the server echoes, and the
 * server opens one stream per session that the client echoes; every byte is
 * verified. Then the main thread stops the server loops through their
 * mailboxes, and every loop ends cleanly. With --listen it only serves (echo)
 * until SIGINT or SIGTERM.
 *
 * The pattern:
 *  - Each server thread runs its own loop with its own listening socket on
 *    the same port (SO_REUSEPORT): the kernel spreads connections over the
 *    loops, and a connection's session lives on the loop that accepted it.
 *    Sessions on different loops share nothing, so nothing needs a lock.
 *    (libuv 1.44 has no flag for SO_REUSEPORT: the socket is made here and
 *    given to libuv with uv_tcp_open().)
 *  - Another thread never calls into a session. It posts a mail to the
 *    session's loop (yamux_mailbox_post(), the one thread-safe function of
 *    libyamux), and the mail's callback, on that loop's thread, does the
 *    work. Here the main thread stops the loops that way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "yamux.h"

#define MAX_THREADS 64

/* Byte i of every stream's data. */
static uint8_t pattern(uint64_t i) {
  return (uint8_t)(i * 131 + (i >> 9) * 7 + 1);
}

static void die(const char* what, int err) {
  fprintf(stderr, "multiloop: %s: %s\n", what, yamux_strerror(err));
  exit(1);
}

/* ---- one stream: write `total` pattern bytes and check its echo, or echo
 * what arrives ------------------------------------------------------------ */

typedef struct conn_s conn_t;

typedef struct {
  yamux_stream_t h;
  conn_t* conn;
  int echo;       /* echo what arrives (else: send and verify) */
  uint64_t total; /* bytes to send (verify mode) */
  uint64_t sent;  /* handed to yamux_write */
  uint64_t got;   /* verified (verify mode) or echoed (echo mode) */
  int writes;     /* in flight */
  int eof;
  int closing;
  int bad;
  yamux_shutdown_t shut;
} strm_t;

typedef struct {
  yamux_write_t req;
  strm_t* s;
  char* buf; /* echo mode: our copy; verify mode: NULL */
} wreq_t;

struct conn_s {
  yamux_session_t session;
  struct worker_s* worker;
  conn_t* next; /* the worker's list */
  conn_t* prev;
  int streams_open; /* stream handles not yet closed */
  int verify_done;  /* verify-mode streams finished */
  int verify_want;  /* ... of this many */
  int echo_done;    /* echo-mode streams finished */
  int echo_want;    /* a client echoes the server's one stream */
  int closing;
  int server;
};

typedef struct worker_s {
  int index;
  int server;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_tcp_t listener;
  yamux_mailbox_t mailbox;
  yamux_mail_t stop;
  conn_t head; /* live connections (circular list) */
  /* configuration */
  const struct sockaddr_in* addr;
  int listen_fd;
  unsigned int sessions; /* client: to open */
  unsigned int streams;  /* client: per session */
  uint64_t bytes;        /* per stream, both directions */
  /* counters (read by the main thread after join) */
  unsigned int accepted;
  unsigned int connected;
  unsigned int sessions_done;
  uint64_t verified_streams;
  uint64_t echoed_streams;
  uint64_t bytes_verified;
  unsigned int errors;
} worker_t;

static char pattern_buf[65536];

static void strm_maybe_done(strm_t* s);

static void on_strm_closed(yamux_stream_t* h) {
  strm_t* s = h->data;
  conn_t* c = s->conn;
  free(s);
  c->streams_open--;
  if (c->streams_open == 0 && c->verify_done == c->verify_want &&
      c->echo_done >= c->echo_want && !c->server && !c->closing) {
    /* A client session is done when its streams and the server's are. */
    c->closing = 1;
    c->worker->sessions_done++;
    yamux_session_close(&c->session, NULL);
  }
}

static void strm_close(strm_t* s) {
  if (s->closing) return;
  s->closing = 1;
  yamux_close(&s->h, on_strm_closed);
}

static void on_write(yamux_write_t* req, int status) {
  wreq_t* w = req->data;
  strm_t* s = w->s;
  free(w->buf);
  free(w);
  s->writes--;
  if (status < 0 && status != UV_ECANCELED) s->bad = 1;
  strm_maybe_done(s);
}

static void on_shutdown(yamux_shutdown_t* req, int status) {
  strm_t* s = req->data;
  if (status < 0 && status != UV_ECANCELED) s->bad = 1;
}

/* Verify mode: keep up to four 64 KiB writes in flight until `total`. */
static void strm_pump(strm_t* s) {
  while (!s->closing && s->sent < s->total && s->writes < 4) {
    size_t n = s->total - s->sent < sizeof(pattern_buf)
                   ? (size_t)(s->total - s->sent)
                   : sizeof(pattern_buf);
    wreq_t* w = malloc(sizeof(*w));
    uv_buf_t b;
    int r;
    if (w == NULL) die("malloc", UV_ENOMEM);
    /* The pattern depends on the offset only through i mod 64 KiB steps:
     * sending from a fixed buffer keeps offsets aligned to its size. */
    b = uv_buf_init(pattern_buf, (unsigned int)n);
    w->s = s;
    w->buf = NULL;
    w->req.data = w;
    r = yamux_write(&w->req, &s->h, &b, 1, on_write);
    if (r < 0) {
      free(w);
      s->bad = 1;
      return;
    }
    s->writes++;
    s->sent += n;
  }
  if (s->sent == s->total && !s->closing && s->shut.data == NULL) {
    s->shut.data = s;
    if (yamux_shutdown(&s->shut, &s->h, on_shutdown) < 0) s->bad = 1;
  }
}

static void strm_maybe_done(strm_t* s) {
  conn_t* c = s->conn;
  if (s->echo) {
    if (s->eof && s->writes == 0 && !s->closing) {
      c->worker->echoed_streams++;
      c->echo_done++;
      strm_close(s);
    }
    return;
  }
  strm_pump(s);
  if (s->eof && s->writes == 0 && !s->closing) {
    if (s->got == s->total && !s->bad) {
      c->worker->verified_streams++;
      c->worker->bytes_verified += s->got;
    } else {
      c->worker->errors++;
    }
    c->verify_done++;
    strm_close(s);
  }
}

static void on_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base != NULL ? suggested : 0;
}

static void on_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  strm_t* s = h->data;
  if (nread > 0 && s->echo) {
    /* Echo: the buffer goes back as is (the write owns it now). */
    wreq_t* w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init(buf->base, (unsigned int)nread);
    if (w == NULL) die("malloc", UV_ENOMEM);
    w->s = s;
    w->buf = buf->base;
    w->req.data = w;
    if (yamux_write(&w->req, h, &b, 1, on_write) < 0) {
      free(w->buf);
      free(w);
      s->bad = 1;
    } else {
      s->writes++;
      s->got += (uint64_t)nread;
    }
    return;
  }
  if (nread > 0) {
    ssize_t i;
    for (i = 0; i < nread; i++)
      if ((uint8_t)buf->base[i] != pattern((s->got + (uint64_t)i) % 65536))
        s->bad = 1;
    s->got += (uint64_t)nread;
  }
  if (buf != NULL) free(buf->base);
  if (nread == UV_EOF) {
    s->eof = 1;
    if (s->echo && s->shut.data == NULL) {
      s->shut.data = s;
      if (yamux_shutdown(&s->shut, h, on_shutdown) < 0) s->bad = 1;
    }
    strm_maybe_done(s);
  } else if (nread < 0) {
    s->bad = 1;
    s->conn->worker->errors++;
    if (!s->echo) s->conn->verify_done++;
    strm_close(s);
  }
}

static strm_t* strm_new(conn_t* c, int echo, uint64_t total) {
  strm_t* s = calloc(1, sizeof(*s));
  if (s == NULL) die("calloc", UV_ENOMEM);
  if (yamux_stream_init(&c->session, &s->h) < 0) die("stream_init", UV_EINVAL);
  s->h.data = s;
  s->conn = c;
  s->echo = echo;
  s->total = total;
  return s;
}

static void strm_start(strm_t* s) {
  int r = yamux_read_start(&s->h, on_alloc, on_read);
  if (r < 0) die("read_start", r);
  s->conn->streams_open++;
  if (!s->echo) {
    s->conn->verify_want++;
    strm_pump(s);
  }
}

/* Opens a stream that sends `bytes` and verifies their echo. */
static void open_verify_stream(conn_t* c, uint64_t bytes) {
  strm_t* s = strm_new(c, 0, bytes);
  int r = yamux_stream_open(NULL, &s->h, NULL);
  if (r < 0) die("stream_open", r);
  strm_start(s);
}

/* Inbound streams are echoed. */
static void on_connection(yamux_session_t* session, int status) {
  conn_t* c = session->data;
  strm_t* s;
  (void)status;
  s = strm_new(c, 1, 0);
  if (yamux_accept(session, &s->h) < 0) {
    free(s);
    return;
  }
  strm_start(s);
}

/* ---- connections ------------------------------------------------------- */

static void conn_unlink(conn_t* c) {
  c->prev->next = c->next;
  c->next->prev = c->prev;
}

static void on_session_closed(yamux_session_t* session) {
  conn_t* c = session->data;
  conn_unlink(c);
  free(c);
}

static void on_session_end(yamux_session_t* session, int status) {
  conn_t* c = session->data;
  /* A server session ends with the client's EOF; anything else, or a
   * client session ending before its work was done, is an error. */
  if (status != UV_EOF || !c->server) c->worker->errors++;
  if (!c->closing) {
    c->closing = 1;
    yamux_session_close(session, on_session_closed);
  }
}

static conn_t* conn_new(worker_t* w, int server) {
  conn_t* c = calloc(1, sizeof(*c));
  yamux_config_t cfg;
  int r;
  if (c == NULL) die("calloc", UV_ENOMEM);
  yamux_config_init(&cfg);
  r = yamux_session_init(&c->session, server ? YAMUX_SERVER : YAMUX_CLIENT,
                         &cfg);
  if (r < 0) die("session_init", r);
  c->session.data = c;
  c->worker = w;
  c->server = server;
  c->next = w->head.next;
  c->prev = &w->head;
  w->head.next->prev = c;
  w->head.next = c;
  return c;
}

static void conn_start(conn_t* c) {
  int r =
      yamux_session_start_uv(&c->worker->loop, &c->session, 1, on_session_end);
  if (r < 0) die("session_start_uv", r);
  yamux_session_listen(&c->session, on_connection);
}

/* Server: every accepted connection is a session on this loop. Each opens
 * one stream toward the client, which echoes it. */
static void on_accept(uv_stream_t* listener, int status) {
  worker_t* w = listener->data;
  conn_t* c;
  if (status < 0) return;
  c = conn_new(w, 1);
  uv_tcp_init(&w->loop, &c->session.io[0].tcp);
  if (uv_accept(listener, &c->session.io[0].stream) < 0) {
    uv_close(&c->session.io[0].handle, NULL);
    conn_unlink(c);
    yamux_session_close(&c->session, NULL);
    free(c);
    return;
  }
  uv_tcp_nodelay(&c->session.io[0].tcp, 1);
  w->accepted++;
  conn_start(c);
  if (w->bytes > 0) open_verify_stream(c, w->bytes);
}

/* Client: connect, start the session, open the streams. */
static void on_connected(uv_connect_t* req, int status) {
  conn_t* c = req->data;
  unsigned int i;
  free(req);
  if (status < 0) die("connect", status);
  c->worker->connected++;
  c->echo_want = c->worker->bytes > 0; /* the server's stream */
  uv_tcp_nodelay(&c->session.io[0].tcp, 1);
  conn_start(c);
  for (i = 0; i < c->worker->streams; i++)
    open_verify_stream(c, c->worker->bytes);
}

static void client_connect(worker_t* w) {
  conn_t* c = conn_new(w, 0);
  uv_connect_t* req = malloc(sizeof(*req));
  int r;
  if (req == NULL) die("malloc", UV_ENOMEM);
  req->data = c;
  uv_tcp_init(&w->loop, &c->session.io[0].tcp);
  r = uv_tcp_connect(req, &c->session.io[0].tcp,
                     (const struct sockaddr*)w->addr, on_connected);
  if (r < 0) die("tcp_connect", r);
}

/* ---- the loops --------------------------------------------------------- */

/* A listening socket on addr that shares its port with the other loops'. */
static int reuseport_socket(struct sockaddr_in* addr) {
  socklen_t len = sizeof(*addr);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", -errno);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
    die("setsockopt SO_REUSEPORT", -errno);
  if (bind(fd, (struct sockaddr*)addr, sizeof(*addr)) < 0) die("bind", -errno);
  /* With port 0 the first socket picks the port the others then share. */
  if (getsockname(fd, (struct sockaddr*)addr, &len) < 0)
    die("getsockname", -errno);
  return fd;
}

static void on_closed_listener(uv_handle_t* h) {
  (void)h;
}

/* The main thread's stop mail: close the listener and every session, then
 * the mailbox itself; the loop ends when nothing is left. */
static void on_stop(yamux_mail_t* mail, int status) {
  worker_t* w = mail->data;
  conn_t* c;
  (void)status;
  if (w->server) uv_close((uv_handle_t*)&w->listener, on_closed_listener);
  for (c = w->head.next; c != &w->head; c = c->next) {
    if (c->closing) continue;
    c->closing = 1;
    yamux_session_close(&c->session, on_session_closed);
  }
  yamux_mailbox_close(&w->mailbox, NULL);
}

static void worker_main(void* arg) {
  worker_t* w = arg;
  unsigned int i;
  int r;
  if (w->server) {
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    r = uv_tcp_open(&w->listener, w->listen_fd);
    if (r == 0) r = uv_listen((uv_stream_t*)&w->listener, 4096, on_accept);
    if (r < 0) die("listen", r);
  } else {
    for (i = 0; i < w->sessions; i++) client_connect(w);
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void worker_init(worker_t* w, int index, int server) {
  memset(w, 0, sizeof(*w));
  w->index = index;
  w->server = server;
  w->head.next = w->head.prev = &w->head;
  w->listen_fd = -1;
  if (uv_loop_init(&w->loop) < 0) die("loop_init", UV_EINVAL);
  /* A server loop's mailbox keeps it alive until the stop mail comes; a
   * client loop ends by itself once its sessions are done. */
  if (server && yamux_mailbox_init(&w->loop, &w->mailbox) < 0)
    die("mailbox_init", UV_EINVAL);
  w->stop.data = w;
}

static int parse_addr(const char* s, struct sockaddr_in* addr) {
  char host[256];
  const char* colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  return uv_ip4_addr(host, atoi(colon + 1), addr);
}

static int signalled;
static void on_signal(int sig) {
  (void)sig;
  signalled = 1;
}

int main(int argc, char** argv) {
  static worker_t servers[MAX_THREADS], clients[MAX_THREADS];
  struct sockaddr_in addr;
  unsigned int threads = 2, sessions = 200, streams = 2;
  uint64_t bytes = 100000, verified = 0, echoed = 0, total_bytes = 0;
  unsigned int accepted = 0, done = 0, errors = 0, i;
  const char* listen_at = NULL;
  uint64_t t0;

  for (i = 1; i < (unsigned int)argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < (unsigned int)argc)
      threads = (unsigned int)atoi(argv[++i]);
    else if (strcmp(argv[i], "--sessions") == 0 && i + 1 < (unsigned int)argc)
      sessions = (unsigned int)atoi(argv[++i]);
    else if (strcmp(argv[i], "--streams") == 0 && i + 1 < (unsigned int)argc)
      streams = (unsigned int)atoi(argv[++i]);
    else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < (unsigned int)argc)
      bytes = (uint64_t)strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--listen") == 0 && i + 1 < (unsigned int)argc)
      listen_at = argv[++i];
    else {
      fprintf(stderr,
              "usage: multiloop [--threads N] [--sessions S] [--streams K] "
              "[--bytes B] [--listen HOST:PORT]\n");
      return 2;
    }
  }
  if (threads == 0 || threads > MAX_THREADS) {
    fprintf(stderr, "multiloop: --threads must be 1..%d\n", MAX_THREADS);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  for (i = 0; i < 65536; i++) pattern_buf[i] = (char)pattern(i);
  if (listen_at != NULL) {
    if (parse_addr(listen_at, &addr) < 0) {
      fprintf(stderr, "multiloop: bad address %s\n", listen_at);
      return 2;
    }
  } else {
    uv_ip4_addr("127.0.0.1", 0, &addr);
  }

  /* The server loops, each with its own socket on the shared port. */
  for (i = 0; i < threads; i++) {
    worker_init(&servers[i], (int)i, 1);
    servers[i].listen_fd = reuseport_socket(&addr);
    servers[i].bytes = listen_at != NULL ? 0 : bytes;
    if (uv_thread_create(&servers[i].thread, worker_main, &servers[i]) < 0)
      die("thread_create", UV_EINVAL);
  }
  if (listen_at != NULL) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "multiloop: serving on port %d with %u loops\n",
            ntohs(addr.sin_port), threads);
    while (!signalled) pause();
  } else {
    /* The client loops, the sessions spread over them. */
    t0 = uv_hrtime();
    for (i = 0; i < threads; i++) {
      worker_init(&clients[i], (int)i, 0);
      clients[i].addr = &addr;
      clients[i].sessions = sessions / threads + (i < sessions % threads);
      clients[i].streams = streams;
      clients[i].bytes = bytes;
      if (uv_thread_create(&clients[i].thread, worker_main, &clients[i]) < 0)
        die("thread_create", UV_EINVAL);
    }
    for (i = 0; i < threads; i++) {
      uv_thread_join(&clients[i].thread);
      done += clients[i].sessions_done;
      verified += clients[i].verified_streams;
      echoed += clients[i].echoed_streams;
      total_bytes += clients[i].bytes_verified;
      errors += clients[i].errors;
      if (uv_loop_close(&clients[i].loop) != 0) errors++;
    }
    printf(
        "multiloop: %u client sessions on %u loops done in %.3f s: %llu "
        "streams verified (%.1f MiB), %llu server streams echoed\n",
        done, threads, (double)(uv_hrtime() - t0) / 1e9,
        (unsigned long long)verified, (double)total_bytes / 1048576,
        (unsigned long long)echoed);
  }

  /* Stop the server loops from this thread: mail, not a direct call. */
  for (i = 0; i < threads; i++)
    if (yamux_mailbox_post(&servers[i].mailbox, &servers[i].stop, on_stop) < 0)
      die("mailbox_post", UV_EINVAL);
  for (i = 0; i < threads; i++) {
    uv_thread_join(&servers[i].thread);
    accepted += servers[i].accepted;
    verified += servers[i].verified_streams;
    total_bytes += servers[i].bytes_verified;
    errors += servers[i].errors;
    printf("multiloop: server loop %u: %u sessions, %llu streams verified\n", i,
           servers[i].accepted,
           (unsigned long long)servers[i].verified_streams);
    if (uv_loop_close(&servers[i].loop) != 0) errors++;
  }
  if (listen_at != NULL) return errors ? 1 : 0;
  if (accepted != sessions || done != sessions ||
      verified != (uint64_t)sessions * (streams + 1) || echoed != sessions ||
      errors != 0) {
    fprintf(stderr,
            "multiloop: FAILED: accepted %u, done %u, verified %llu (want "
            "%llu), echoed %llu, errors %u\n",
            accepted, done, (unsigned long long)verified,
            (unsigned long long)sessions * (streams + 1),
            (unsigned long long)echoed, errors);
    return 1;
  }
  printf(
      "multiloop: ok: %u sessions, %llu streams both ways, every byte "
      "verified, every loop closed\n",
      sessions, (unsigned long long)verified);
  return 0;
}
