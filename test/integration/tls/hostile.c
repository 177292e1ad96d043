/* tls-hostile: libyamux-tls against a raw OpenSSL peer that does what a Go
 * peer never does, one scenario per run (test/integration/test-tls.c runs
 * them). The libyamux-tls side runs on the main thread's loop, the OpenSSL
 * peer on a second thread with blocking sockets.
 *
 *   tls-hostile SCENARIO PKI_DIR    (certificates of `tls-peer gencerts`)
 *
 *   resume        a server that requires client certificates: a client
 *                 reconnects offering its first session (Go with a
 *                 ClientSessionCache), over TLS 1.2 and 1.3: both resume
 *   keyupdates    a TLS 1.3 client sends KeyUpdate requests without pause
 *                 and never reads: the server must stop reading (each
 *                 KeyUpdate makes OpenSSL write one of ours), so the
 *                 client's sends block long before it has sent them all
 *   renegotiate   a TLS 1.2 server asks our idle client to renegotiate:
 *                 refused (no_renegotiation)
 *   huge-timeout  a handshake timeout too large to count in nanoseconds
 *                 (UINT64_MAX) against a silent server: no timeout
 *
 * Exit status 0 when the library behaved, 1 (with a line on stderr) if not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "yamux-tls.h"

static const char* pki;
static uv_loop_t* loop;
static uv_tcp_t listener;
static int port;

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tls-hostile: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static const char* pem(const char* name) {
  static char bufs[4][256];
  static unsigned int next;
  char* b = bufs[next++ % 4];
  snprintf(b, sizeof(bufs[0]), "%s/%s.pem", pki, name);
  return b;
}

static yamux_tls_ctx_t* make_ctx(const char* cert, const char* key,
                                 int require_client_cert,
                                 uint64_t handshake_timeout_ms) {
  yamux_tls_config_t cfg;
  yamux_tls_ctx_t* ctx;
  char err[256];

  yamux_tls_config_init(&cfg);
  cfg.cert_file = cert != NULL ? pem(cert) : NULL;
  cfg.key_file = key != NULL ? pem(key) : NULL;
  cfg.ca_file = pem("ca");
  cfg.require_client_cert = require_client_cert;
  cfg.handshake_timeout_ms = handshake_timeout_ms;
  if (yamux_tls_ctx_new(&ctx, &cfg, err, sizeof(err)) != 0)
    die("yamux_tls_ctx_new: %s", err);
  return ctx;
}

/* A blocking socket connected to 127.0.0.1:port. */
static int connect_port(void) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0)
    die("connect: %s", strerror(errno));
  return fd;
}

/* Listens on an ephemeral port of 127.0.0.1 with libuv. */
static void listen_uv(uv_connection_cb cb) {
  struct sockaddr_in a;
  int len = sizeof(a);
  uv_tcp_init(loop, &listener);
  uv_ip4_addr("127.0.0.1", 0, &a);
  if (uv_tcp_bind(&listener, (struct sockaddr*)&a, 0) != 0 ||
      uv_listen((uv_stream_t*)&listener, 8, cb) != 0 ||
      uv_tcp_getsockname(&listener, (struct sockaddr*)&a, &len) != 0)
    die("cannot listen");
  port = ntohs(a.sin_port);
}

/* ---- resume --------------------------------------------------------------
 */

#define RESUME_CONNS 4 /* TLS 1.2 twice, then TLS 1.3 twice */

static yamux_tls_ctx_t* server_ctx;
static yamux_session_t sessions[RESUME_CONNS];
static int accepted;
static int server_errors;

static void on_server_end(yamux_session_t* s, int status) {
  if (status == YAMUX_ETLS) {
    const char* e = yamux_tls_error(s);
    fprintf(stderr, "server session %d: %s (%s)\n", (int)(s - sessions),
            yamux_strerror(status), e != NULL ? e : "-");
    server_errors++;
  }
  yamux_session_close(s, NULL);
}

static void on_resume_conn(uv_stream_t* l, int status) {
  yamux_session_t* s;
  if (status != 0 || accepted == RESUME_CONNS) die("accept: %d", status);
  s = &sessions[accepted++];
  yamux_session_init(s, YAMUX_SERVER, NULL);
  uv_tcp_init(loop, &s->io[0].tcp);
  if (uv_accept(l, &s->io[0].stream) != 0 ||
      yamux_session_start_tls(loop, s, 1, server_ctx, YAMUX_TLS_SERVER, NULL,
                              on_server_end) != 0)
    die("cannot start the server session");
  if (accepted == RESUME_CONNS) uv_close((uv_handle_t*)&listener, NULL);
}

static int resumed[RESUME_CONNS];
static int handshakes_ok;

static void resume_client(void* arg) {
  SSL_CTX* c = SSL_CTX_new(TLS_client_method());
  SSL_SESSION* saved = NULL;
  int i;
  (void)arg;
  SSL_CTX_use_certificate_file(c, pem("client"), SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(c, pem("client-key"), SSL_FILETYPE_PEM);
  SSL_CTX_load_verify_locations(c, pem("ca"), NULL);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  for (i = 0; i < RESUME_CONNS; i++) {
    int fd = connect_port();
    struct timeval tv = {0, 300000};
    char b[64];
    SSL* ssl = SSL_new(c);
    int version = i < 2 ? TLS1_2_VERSION : TLS1_3_VERSION;
    if (i == 2) { /* a new protocol version: a new first session */
      SSL_SESSION_free(saved);
      saved = NULL;
    }
    SSL_set_min_proto_version(ssl, version);
    SSL_set_max_proto_version(ssl, version);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "server.test");
    if (saved != NULL) SSL_set_session(ssl, saved);
    if (SSL_connect(ssl) == 1) {
      handshakes_ok++;
      SSL_read(ssl, b, sizeof(b)); /* TLS 1.3 tickets come after it */
      resumed[i] = SSL_session_reused(ssl);
      if (saved == NULL) saved = SSL_get1_session(ssl);
    } else {
      fprintf(stderr, "connection %d: handshake failed\n", i);
      ERR_print_errors_fp(stderr);
    }
    ERR_clear_error();
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }
  SSL_SESSION_free(saved);
  SSL_CTX_free(c);
}

static void run_resume(void) {
  uv_thread_t thread;
  server_ctx = make_ctx("server", "server-key", 1, 10000);
  listen_uv(on_resume_conn);
  uv_thread_create(&thread, resume_client, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_thread_join(&thread);
  yamux_tls_ctx_free(server_ctx);
  if (handshakes_ok != RESUME_CONNS || server_errors != 0)
    die("%d of %d handshakes, %d server errors", handshakes_ok, RESUME_CONNS,
        server_errors);
  if (!resumed[1] || !resumed[3])
    die("not resumed: TLS 1.2 %d, TLS 1.3 %d", resumed[1], resumed[3]);
}

/* ---- keyupdates ----------------------------------------------------------
 */

/* More than the server may hold unsent (2 MiB of 22-byte answers) plus
 * what small socket buffers take: a server that keeps reading takes them
 * all. */
#define KEYUPDATES 250000
#define SMALL_BUFFER 65536

static yamux_session_t flood_session;
static int flood_sent;
static int flood_blocked;
static int flood_done; /* atomic */

static void on_flood_end(yamux_session_t* s, int status) {
  (void)s;
  (void)status;
}

static void on_flood_conn(uv_stream_t* l, int status) {
  if (status != 0) die("accept: %d", status);
  yamux_session_init(&flood_session, YAMUX_SERVER, NULL);
  uv_tcp_init(loop, &flood_session.io[0].tcp);
  if (uv_accept(l, &flood_session.io[0].stream) != 0) die("accept");
  {
    /* Small kernel buffers: what the server cannot send waits in it. */
    int size = SMALL_BUFFER;
    uv_recv_buffer_size((uv_handle_t*)&flood_session.io[0].tcp, &size);
    size = SMALL_BUFFER;
    uv_send_buffer_size((uv_handle_t*)&flood_session.io[0].tcp, &size);
  }
  if (yamux_session_start_tls(loop, &flood_session, 1, server_ctx,
                              YAMUX_TLS_SERVER, NULL, on_flood_end) != 0)
    die("cannot start the server session");
  uv_close((uv_handle_t*)&listener, NULL);
}

static void flood_client(void* arg) {
  SSL_CTX* c = SSL_CTX_new(TLS_client_method());
  SSL* ssl;
  int fd, size = SMALL_BUFFER, one = 1;
  struct timeval tv = {1, 0};
  (void)arg;
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_load_verify_locations(c, pem("ca"), NULL);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  fd = connect_port();
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ssl = SSL_new(c);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "server.test");
  if (SSL_connect(ssl) != 1) die("flood client: handshake failed");
  /* From here on a send that waits 1 s means the server stopped reading. */
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  for (flood_sent = 0; flood_sent < KEYUPDATES; flood_sent++) {
    if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
        SSL_do_handshake(ssl) != 1) {
      flood_blocked = 1;
      break;
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(c);
  __atomic_store_n(&flood_done, 1, __ATOMIC_SEQ_CST);
}

static void flood_watch(uv_timer_t* t) {
  if (!__atomic_load_n(&flood_done, __ATOMIC_SEQ_CST)) return;
  uv_close((uv_handle_t*)t, NULL);
  yamux_session_close(&flood_session, NULL);
}

static void run_keyupdates(void) {
  uv_thread_t thread;
  uv_timer_t watch;
  server_ctx = make_ctx("server", "server-key", 0, 10000);
  listen_uv(on_flood_conn);
  uv_timer_init(loop, &watch);
  uv_timer_start(&watch, flood_watch, 50, 50);
  uv_thread_create(&thread, flood_client, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_thread_join(&thread);
  yamux_tls_ctx_free(server_ctx);
  if (!flood_blocked)
    die("the server read all %d KeyUpdates of a peer that never reads",
        flood_sent);
  fprintf(stderr, "the client blocked after %d KeyUpdates\n", flood_sent);
}

/* ---- renegotiate ---------------------------------------------------------
 */

static yamux_session_t reneg_session;
static int reneg_refused;
static int reneg_end_status = 1;

static void on_reneg_end(yamux_session_t* s, int status) {
  reneg_end_status = status;
  yamux_session_close(s, NULL);
}

static void on_reneg_connect(uv_connect_t* req, int status) {
  yamux_tls_ctx_t* ctx;
  (void)req;
  if (status != 0) die("connect: %d", status);
  ctx = make_ctx(NULL, NULL, 0, 10000);
  if (yamux_session_start_tls(loop, &reneg_session, 1, ctx, YAMUX_TLS_CLIENT,
                              "server.test", on_reneg_end) != 0)
    die("cannot start the client session");
  yamux_tls_ctx_free(ctx); /* the session keeps a reference */
}

static void reneg_server(void* arg) {
  int lfd = *(int*)arg, fd, r;
  SSL_CTX* c = SSL_CTX_new(TLS_server_method());
  SSL* ssl;
  char b[256];
  struct timeval tv = {5, 0};

  SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_use_certificate_chain_file(c, pem("server"));
  SSL_CTX_use_PrivateKey_file(c, pem("server-key"), SSL_FILETYPE_PEM);
  fd = accept(lfd, NULL, NULL);
  close(lfd);
  if (fd < 0) die("accept: %s", strerror(errno));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssl = SSL_new(c);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) die("renegotiate: handshake failed");
  if (SSL_renegotiate(ssl) != 1) die("SSL_renegotiate failed");
  /* Sends the HelloRequest; the client's answer arrives on a read. */
  SSL_do_handshake(ssl);
  ERR_clear_error();
  for (;;) {
    r = SSL_read(ssl, b, sizeof(b));
    if (r > 0) continue; /* the client's yamux frames */
    if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_NO_RENEGOTIATION)
      reneg_refused = 1;
    break;
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(c);
}

static void run_renegotiate(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  uv_thread_t thread;
  uv_connect_t req;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
      getsockname(lfd, (struct sockaddr*)&a, &len) != 0)
    die("cannot listen");
  uv_thread_create(&thread, reneg_server, &lfd);
  yamux_session_init(&reneg_session, YAMUX_CLIENT, NULL);
  uv_tcp_init(loop, &reneg_session.io[0].tcp);
  uv_tcp_connect(&req, &reneg_session.io[0].tcp, (struct sockaddr*)&a,
                 on_reneg_connect);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_thread_join(&thread);
  if (!reneg_refused) die("the client did not refuse the renegotiation");
  if (reneg_end_status == 1) die("the client session did not end");
}

/* ---- huge-timeout --------------------------------------------------------
 */

static yamux_session_t silent_session;
static int silent_end_status = 1;

static void on_silent_end(yamux_session_t* s, int status) {
  (void)s;
  silent_end_status = status;
}

static uv_tcp_t silent_peer;

static void on_silent_conn(uv_stream_t* l, int status) {
  (void)status;
  uv_tcp_init(loop, &silent_peer);
  uv_accept(l, (uv_stream_t*)&silent_peer); /* accepts, never answers */
}

static void silent_check(uv_timer_t* t) {
  uv_close((uv_handle_t*)t, NULL);
  uv_close((uv_handle_t*)&listener, NULL);
  uv_close((uv_handle_t*)&silent_peer, NULL);
  yamux_session_close(&silent_session, NULL);
}

static void on_silent_connect(uv_connect_t* req, int status) {
  static yamux_tls_ctx_t* ctx;
  static uv_timer_t timer;
  (void)req;
  if (status != 0) die("connect: %d", status);
  ctx = make_ctx(NULL, NULL, 0, UINT64_MAX);
  if (yamux_session_start_tls(loop, &silent_session, 1, ctx, YAMUX_TLS_CLIENT,
                              "server.test", on_silent_end) != 0)
    die("cannot start the client session");
  yamux_tls_ctx_free(ctx); /* sessions keep what they need */
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, silent_check, 500, 0);
}

static void run_huge_timeout(void) {
  struct sockaddr_in a;
  uv_connect_t req;
  listen_uv(on_silent_conn);
  uv_ip4_addr("127.0.0.1", port, &a);
  yamux_session_init(&silent_session, YAMUX_CLIENT, NULL);
  uv_tcp_init(loop, &silent_session.io[0].tcp);
  uv_tcp_connect(&req, &silent_session.io[0].tcp, (struct sockaddr*)&a,
                 on_silent_connect);
  uv_run(loop, UV_RUN_DEFAULT);
  /* The close ended it (UV_ECANCELED); a timeout would have said so first. */
  if (silent_end_status != UV_ECANCELED && silent_end_status != 1)
    die("the handshake ended within 500 ms: %s",
        yamux_strerror(silent_end_status));
}

int main(int argc, char** argv) {
  uv_loop_t l;
  if (argc != 3) {
    fprintf(stderr, "usage: tls-hostile SCENARIO PKI_DIR\n");
    return 2;
  }
  pki = argv[2];
  uv_loop_init(&l);
  loop = &l;
  if (strcmp(argv[1], "resume") == 0)
    run_resume();
  else if (strcmp(argv[1], "keyupdates") == 0)
    run_keyupdates();
  else if (strcmp(argv[1], "renegotiate") == 0)
    run_renegotiate();
  else if (strcmp(argv[1], "huge-timeout") == 0)
    run_huge_timeout();
  else
    die("unknown scenario %s", argv[1]);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) die("handles left open");
  return 0;
}
