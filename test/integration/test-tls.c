/* libyamux-tls end to end: the C peer (test/integration/tls/peer.c, built on
 * libyamux-tls) against itself and against the Go peer (interop/tls-peer:
 * crypto/tls + hashicorp/yamux, as Consul and Nomad run them), both TLS
 * roles, mutual TLS, bulk and many streams with every byte checked, and
 * certificates that must be refused: each side ends with one "TLS error:"
 * line and exit status 3, nothing hangs, and the sanitizer half checks that
 * the C peer leaks nothing.
 *
 * The peers are processes: this runner does not link OpenSSL. Skipped when
 * OpenSSL (libssl-dev) or go is missing. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "test-uv-util.h"

/* The sanitizer build copies bytes ~10x slower. */
#define BULK_BYTES (UVT_SLOW ? (16u << 20) : (64u << 20))
#define PEER_TIMEOUT_MS 120000

/* ---- programs -------------------------------------------------------------
 */

/* $YAMUX_TLS_PEER (the sanitizer half sets it) or build/tls/tls-peer. */
static const char* c_peer(void) {
  const char* p = getenv("YAMUX_TLS_PEER");
  return p != NULL && p[0] != '\0' ? p : "build/tls/tls-peer";
}

static const char* go_peer(void) {
  return "interop/bin/tls-peer";
}

static int have_command(const char* cmd) {
  char line[256];

  snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", cmd);
  return system(line) == 0;
}

/* Skips without OpenSSL; fails if OpenSSL is there but the peer is not. */
static void need_c_peer(void) {
  if (access(c_peer(), X_OK) == 0) return;
  if (system("pkg-config --exists openssl 2>/dev/null") != 0)
    SKIP("OpenSSL (libssl-dev) is missing: libyamux-tls is not built");
  task_fail(__FILE__, __LINE__, "%s is missing: run make", c_peer());
}

static void need_go_peer(void) {
  need_c_peer();
  if (access(go_peer(), X_OK) == 0) return;
  if (!have_command("go")) SKIP("go is missing: no Go TLS peer");
  task_fail(__FILE__, __LINE__, "%s is missing: run make", go_peer());
}

/* ---- certificates ---------------------------------------------------------
 */

static char pki[128];

static void pki_cleanup(void) {
  char cmd[256];

  if (pki[0] == '\0') return;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", pki);
  pki[0] = '\0';
}

/* A fresh test PKI (tls-peer gencerts) in a temporary directory. */
static void make_pki(void) {
  char cmd[512];

  snprintf(pki, sizeof(pki), "/tmp/yamux-tls-test-XXXXXX");
  ASSERT_NOT_NULL(mkdtemp(pki));
  snprintf(cmd, sizeof(cmd), "%s gencerts %s", c_peer(), pki);
  ASSERT_OK(system(cmd));
}

/* The argument for --cert/--key/--ca: a file of the PKI. */
static const char* pem(const char* name) {
  static char bufs[8][192];
  static unsigned int next;
  char* b = bufs[next++ % 8];

  snprintf(b, sizeof(bufs[0]), "%s/%s.pem", pki, name);
  return b;
}

/* ---- running a pair -------------------------------------------------------
 */

#define MAX_ARGS 32

typedef struct peer_s {
  const char* argv[MAX_ARGS];
  int argc;
  pid_t pid;
  int status;
  char errfile[160];
  char err[16384];
  char out[4096];
} peer_t;

static void args(peer_t* p, const char* prog, ...) {
  va_list ap;
  const char* a;

  memset(p, 0, sizeof(*p));
  p->argv[p->argc++] = prog;
  va_start(ap, prog);
  while ((a = va_arg(ap, const char*)) != NULL) {
    ASSERT_LT(p->argc, MAX_ARGS - 4);
    p->argv[p->argc++] = a;
  }
  va_end(ap);
}

/* Starts the peer with stdout on a pipe (returned) and stderr in a file. */
static int start(peer_t* p, const char* tag) {
  int out[2];
  int fd;

  snprintf(p->errfile, sizeof(p->errfile), "/tmp/yamux-tls-test-%ld-%s",
           (long)getpid(), tag);
  ASSERT_OK(pipe(out));
  p->pid = fork();
  ASSERT_GE(p->pid, 0);
  if (p->pid == 0) {
    dup2(out[1], 1);
    fd = open(p->errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    close(out[0]);
    close(out[1]);
    execv(p->argv[0], (char* const*)p->argv);
    _exit(127);
  }
  close(out[1]);
  return out[0];
}

/* Reads the child's stdout until EOF (or a first line when `line`). */
static void read_out(peer_t* p, int fd, int line) {
  size_t n = strlen(p->out);
  ssize_t k;

  while (n + 1 < sizeof(p->out)) {
    k = read(fd, p->out + n, line ? 1 : sizeof(p->out) - 1 - n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
    p->out[n] = '\0';
    if (line && p->out[n - 1] == '\n') break;
  }
  p->out[n] = '\0';
}

static void finish(peer_t* p, int timeout_ms) {
  int waited = 0;
  int st;
  FILE* f;
  size_t n;

  for (;;) {
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    ASSERT_GE(r, 0);
    if (r == p->pid) break;
    if (waited >= timeout_ms) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
      p->status = -1;
      goto read_err;
    }
    usleep(10000);
    waited += 10;
  }
  p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
read_err:
  f = fopen(p->errfile, "r");
  n = f != NULL ? fread(p->err, 1, sizeof(p->err) - 1, f) : 0;
  p->err[n] = '\0';
  if (f != NULL) fclose(f);
  unlink(p->errfile);
}

/* Go's flag package stops at the first operand: options go before MODE,
 * the last argument. */
static void insert_before_mode(peer_t* p, const char* a, const char* b) {
  const char* mode = p->argv[p->argc - 1];

  ASSERT_LT(p->argc + 2, MAX_ARGS - 1);
  p->argv[p->argc - 1] = a;
  p->argv[p->argc] = b;
  p->argv[p->argc + 1] = mode;
  p->argc += 2;
  p->argv[p->argc] = NULL;
}

static peer_t* dump_a;
static peer_t* dump_b;

static void dump_one(const char* name, peer_t* p) {
  int i;

  if (p == NULL) return;
  fprintf(stderr, "--- %s (exit %d):", name, p->status);
  for (i = 0; i < p->argc; i++) fprintf(stderr, " %s", p->argv[i]);
  fprintf(stderr, "\n%s%s", p->out, p->err);
}

static void dump(void) {
  dump_one("server", dump_a);
  dump_one("client", dump_b);
}

/* Runs `server` (--listen 0 is added) and then `client` (--connect PORT),
 * waits for both. */
static void run_pair(peer_t* server, peer_t* client) {
  static char port[16];
  int sfd;
  int cfd;

  dump_a = server;
  dump_b = client;
  task_fail_hook = dump;
  insert_before_mode(server, "--listen", "0");
  sfd = start(server, "server");
  read_out(server, sfd, 1);
  if (strncmp(server->out, "PORT ", 5) != 0) {
    close(sfd);
    finish(server, PEER_TIMEOUT_MS);
    task_fail(__FILE__, __LINE__, "the server did not listen");
  }
  snprintf(port, sizeof(port), "%d", atoi(server->out + 5));
  insert_before_mode(client, "--connect", port);
  cfd = start(client, "client");
  read_out(client, cfd, 0);
  close(cfd);
  finish(client, PEER_TIMEOUT_MS);
  read_out(server, sfd, 0);
  close(sfd);
  finish(server, PEER_TIMEOUT_MS);
}

static int count(const char* s, const char* needle) {
  int n = 0;

  while ((s = strstr(s, needle)) != NULL) {
    n++;
    s += strlen(needle);
  }
  return n;
}

/* Both ended well: the client's "ok" line names what it verified. */
static void check_ok(peer_t* server, peer_t* client, const char* want) {
  if (client->status != 0 || server->status != 0 ||
      strstr(client->out, want) == NULL)
    task_fail(__FILE__, __LINE__, "want both to exit 0 and \"%s\"", want);
}

/* The side failed its TLS: exit status 3 and one "TLS error:" line that
 * says `why` (NULL: anything). */
static void check_tls_failed(peer_t* p, const char* side, const char* why) {
  if (p->status != 3 || count(p->err, "TLS error: ") != 1 ||
      (why != NULL && strstr(p->err, why) == NULL))
    task_fail(__FILE__, __LINE__, "%s: want exit 3 and one TLS error (%s)",
              side, why != NULL ? why : "any");
}

/* Server and client options of the usual mutual-TLS set-up. */
#define SERVER_MTLS                                                       \
  "--cert", pem("server"), "--key", pem("server-key"), "--ca", pem("ca"), \
      "--require-client-cert"
#define CLIENT_MTLS                                                          \
  "--ca", pem("ca"), "--servername", "server.test", "--cert", pem("client"), \
      "--key", pem("client-key")

static char bulk_arg[32];

static const char* bulk_bytes(void) {
  snprintf(bulk_arg, sizeof(bulk_arg), "%u", BULK_BYTES);
  return bulk_arg;
}

/* ---- working sessions -----------------------------------------------------
 */

static void pair_ok(const char* server_prog, const char* client_prog,
                    const char* mode) {
  peer_t server;
  peer_t client;

  make_pki();
  args(&server, server_prog, SERVER_MTLS, "echo", NULL);
  args(&client, client_prog, CLIENT_MTLS, "--bytes", bulk_bytes(), mode, NULL);
  run_pair(&server, &client);
  pki_cleanup();
  if (strcmp(mode, "bulk") == 0) {
    char want[96];
    snprintf(want, sizeof(want), "ok bulk: 1 stream(s), %u bytes each",
             BULK_BYTES);
    check_ok(&server, &client, want);
  } else {
    check_ok(&server, &client, "ok streams: 500 stream(s), 65536 bytes each");
  }
}

TEST_TIMEOUT(tls_c_to_c_mutual_bulk, 180) {
  need_c_peer();
  pair_ok(c_peer(), c_peer(), "bulk");
}

TEST_TIMEOUT(tls_c_to_c_mutual_streams, 180) {
  need_c_peer();
  pair_ok(c_peer(), c_peer(), "streams");
}

/* libyamux-tls as TLS and yamux client, Go (Consul's stack) as server. */
TEST_TIMEOUT(tls_c_client_go_server_bulk, 180) {
  need_go_peer();
  pair_ok(go_peer(), c_peer(), "bulk");
}

TEST_TIMEOUT(tls_c_client_go_server_streams, 180) {
  need_go_peer();
  pair_ok(go_peer(), c_peer(), "streams");
}

/* Go as TLS and yamux client, libyamux-tls as server. */
TEST_TIMEOUT(tls_go_client_c_server_bulk, 180) {
  need_go_peer();
  pair_ok(c_peer(), go_peer(), "bulk");
}

TEST_TIMEOUT(tls_go_client_c_server_streams, 180) {
  need_go_peer();
  pair_ok(c_peer(), go_peer(), "streams");
}

/* The TLS role does not fix the yamux role: the C end accepts the TLS
 * connection but is the yamux client that opens the streams, and the Go end
 * dials but serves yamux (a reverse tunnel's shape). */
TEST_TIMEOUT(tls_roles_crossed, 180) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, c_peer(), SERVER_MTLS, "--yamux-role", "client", "streams",
       NULL);
  args(&client, go_peer(), CLIENT_MTLS, "--yamux-role", "server", "echo", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  if (client.status != 0 || server.status != 0 ||
      strstr(server.out, "ok streams: 500 stream(s)") == NULL)
    task_fail(__FILE__, __LINE__, "want both to exit 0 and the C end's ok");
}

/* ---- refused certificates -------------------------------------------------
 */

/* The C client does not trust the server's CA. OpenSSL sends its alert
 * before it switches to the handshake keys, which Go cannot decrypt: Go
 * reports a bad record MAC rather than the alert. */
TEST_TIMEOUT(tls_c_client_refuses_untrusted_server, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, go_peer(), "--cert", pem("rogue-server"), "--key",
       pem("rogue-server-key"), "--ca", pem("ca"), "--require-client-cert",
       "echo", NULL);
  args(&client, c_peer(), CLIENT_MTLS, "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "C client",
                   "certificate verify failed: unable to get local issuer");
  check_tls_failed(&server, "Go server", NULL);
}

TEST_TIMEOUT(tls_c_client_refuses_wrong_hostname, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, go_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, c_peer(), "--ca", pem("ca"), "--servername", "other.test",
       "--cert", pem("client"), "--key", pem("client-key"), "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "C client", "hostname mismatch");
  check_tls_failed(&server, "Go server", NULL);
}

/* TLS 1.3: the client's handshake is done before the server has judged its
 * certificate; the verdict arrives as an alert on the first read. */
TEST_TIMEOUT(tls_go_server_requires_client_cert, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, go_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, c_peer(), "--ca", pem("ca"), "--servername", "server.test",
       "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "C client", "alert certificate required");
  check_tls_failed(&server, "Go server", "client didn't provide a certificate");
}

TEST_TIMEOUT(tls_go_server_refuses_untrusted_client, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, go_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, c_peer(), "--ca", pem("ca"), "--servername", "server.test",
       "--cert", pem("rogue-client"), "--key", pem("rogue-client-key"), "bulk",
       NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "C client", "alert unknown ca");
  check_tls_failed(&server, "Go server", "certificate signed by unknown");
}

TEST_TIMEOUT(tls_go_client_refuses_untrusted_c_server, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, c_peer(), "--cert", pem("rogue-server"), "--key",
       pem("rogue-server-key"), "--ca", pem("ca"), "--require-client-cert",
       "echo", NULL);
  args(&client, go_peer(), CLIENT_MTLS, "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "Go client", "certificate signed by unknown");
  check_tls_failed(&server, "C server", "alert bad certificate");
}

TEST_TIMEOUT(tls_go_client_refuses_wrong_hostname, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, c_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, go_peer(), "--ca", pem("ca"), "--servername", "other.test",
       "--cert", pem("client"), "--key", pem("client-key"), "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&client, "Go client", "not other.test");
  check_tls_failed(&server, "C server", "alert bad certificate");
}

TEST_TIMEOUT(tls_c_server_requires_client_cert, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, c_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, go_peer(), "--ca", pem("ca"), "--servername", "server.test",
       "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&server, "C server", "peer did not return a certificate");
  check_tls_failed(&client, "Go client", "certificate required");
}

/* The C server names its CA in the certificate request, as Go's ClientCAs
 * does, so Go sends no certificate rather than one from another CA. */
TEST_TIMEOUT(tls_c_server_refuses_untrusted_client, 60) {
  peer_t server;
  peer_t client;

  need_go_peer();
  make_pki();
  args(&server, c_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, go_peer(), "--ca", pem("ca"), "--servername", "server.test",
       "--cert", pem("rogue-client"), "--key", pem("rogue-client-key"), "bulk",
       NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&server, "C server", "peer did not return a certificate");
  check_tls_failed(&client, "Go client", "certificate required");
}

/* Between two libyamux-tls ends: a client certificate from another CA is
 * sent (OpenSSL does not pick by the CA list) and refused by the chain
 * check. */
TEST_TIMEOUT(tls_c_to_c_untrusted_client, 60) {
  peer_t server;
  peer_t client;

  need_c_peer();
  make_pki();
  args(&server, c_peer(), SERVER_MTLS, "echo", NULL);
  args(&client, c_peer(), "--ca", pem("ca"), "--servername", "server.test",
       "--cert", pem("rogue-client"), "--key", pem("rogue-client-key"), "bulk",
       NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_tls_failed(&server, "C server",
                   "certificate verify failed: unable to get local issuer");
  check_tls_failed(&client, "C client", "alert unknown ca");
}

/* Verification can be turned off explicitly: a rogue server and no client
 * certificate pass with --no-verify on both sides. */
TEST_TIMEOUT(tls_c_to_c_no_verify, 60) {
  peer_t server;
  peer_t client;

  need_c_peer();
  make_pki();
  args(&server, c_peer(), "--cert", pem("rogue-server"), "--key",
       pem("rogue-server-key"), "echo", NULL);
  args(&client, c_peer(), "--no-verify", "--bytes", "1048576", "bulk", NULL);
  run_pair(&server, &client);
  pki_cleanup();
  check_ok(&server, &client, "ok bulk: 1 stream(s), 1048576 bytes each");
}

/* ---- peers that are not TLS -----------------------------------------------
 */

/* A listening socket in this process that accepts one connection and does
 * `what` with it: 0 stays silent, 1 answers with plain text and closes. */
static int silent_fd = -1;

static int listen_here(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  ASSERT_OK(listen(fd, 4));
  ASSERT_OK(getsockname(fd, (struct sockaddr*)&a, &len));
  silent_fd = fd;
  return ntohs(a.sin_port);
}

static void run_client_against_here(peer_t* client, int what) {
  static char port[16];
  int cfd;
  int conn;

  snprintf(port, sizeof(port), "%d", listen_here());
  insert_before_mode(client, "--connect", port);
  dump_a = NULL;
  dump_b = client;
  task_fail_hook = dump;
  cfd = start(client, "client");
  conn = accept(silent_fd, NULL, NULL);
  ASSERT_GE(conn, 0);
  if (what == 1) {
    char junk[4096];
    static const char reply[] = "HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\n";
    ssize_t n = read(conn, junk, sizeof(junk)); /* its ClientHello */
    ASSERT_GT(n, 0);
    ASSERT_EQ(write(conn, reply, sizeof(reply) - 1),
              (ssize_t)sizeof(reply) - 1);
    close(conn);
  }
  read_out(client, cfd, 0);
  close(cfd);
  finish(client, PEER_TIMEOUT_MS);
  if (what == 0) close(conn);
  close(silent_fd);
}

TEST_TIMEOUT(tls_handshake_timeout, 60) {
  peer_t client;

  need_c_peer();
  make_pki();
  args(&client, c_peer(), CLIENT_MTLS, "--handshake-timeout", "500", "bulk",
       NULL);
  run_client_against_here(&client, 0);
  pki_cleanup();
  check_tls_failed(&client, "C client", "TLS handshake timed out");
}

TEST_TIMEOUT(tls_peer_is_not_tls, 60) {
  peer_t client;

  need_c_peer();
  make_pki();
  args(&client, c_peer(), CLIENT_MTLS, "bulk", NULL);
  run_client_against_here(&client, 1);
  pki_cleanup();
  check_tls_failed(&client, "C client", "TLS handshake failed: ");
}

/* Configuration errors name the file and exit before any connection. */
TEST(tls_bad_files) {
  peer_t p;
  int fd;

  need_c_peer();
  make_pki();
  args(&p, c_peer(), "--connect", "1", "--ca", pem("ca"), "--servername",
       "server.test", "--cert", pem("missing"), "bulk", NULL);
  fd = start(&p, "bad1");
  read_out(&p, fd, 0);
  close(fd);
  finish(&p, 10000);
  ASSERT_EQ(p.status, 1);
  ASSERT_NOT_NULL(
      strstr(p.err, "missing.pem: cannot load the certificate: No such file"));

  args(&p, c_peer(), "--connect", "1", "--ca", pem("ca"), "--servername",
       "server.test", "--cert", pem("client"), "--key", pem("server-key"),
       "bulk", NULL);
  fd = start(&p, "bad2");
  read_out(&p, fd, 0);
  close(fd);
  finish(&p, 10000);
  pki_cleanup();
  ASSERT_EQ(p.status, 1);
  ASSERT_NOT_NULL(strstr(
      p.err,
      "server-key.pem: cannot load the private key: key values mismatch"));
}

/* ---- a raw OpenSSL peer -------------------------------------------------- */

/* $YAMUX_TLS_HOSTILE (the sanitizer half sets it) or build/tls/tls-hostile:
 * libyamux-tls against an OpenSSL peer doing what Go peers never do
 * (test/integration/tls/hostile.c); exit status 0 when the library held. */
static void hostile(const char* scenario) {
  const char* prog = getenv("YAMUX_TLS_HOSTILE");
  char cmd[512];
  int status;

  if (prog == NULL || prog[0] == '\0') prog = "build/tls/tls-hostile";
  if (access(prog, X_OK) != 0)
    task_fail(__FILE__, __LINE__, "%s is missing: run make", prog);
  need_c_peer();
  make_pki();
  snprintf(cmd, sizeof(cmd), "%s %s %s", prog, scenario, pki);
  status = system(cmd);
  pki_cleanup();
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* A server that requires client certificates resumes sessions (a Go client
 * with a ClientSessionCache reconnecting), TLS 1.2 and 1.3: OpenSSL failed
 * every resumed handshake without a session id context. */
TEST_TIMEOUT(tls_server_with_client_certs_resumes_sessions, 60) {
  hostile("resume");
}

/* A peer that sends KeyUpdate requests and never reads: the server stops
 * reading once 2 MiB of its answers wait (it held them all before). */
TEST_TIMEOUT(tls_peer_that_never_reads_is_not_buffered_without_bound, 120) {
  hostile("keyupdates");
}

/* TLS 1.2 renegotiation asked by a server is refused. */
TEST_TIMEOUT(tls_client_refuses_renegotiation, 60) {
  hostile("renegotiate");
}

/* handshake_timeout_ms = UINT64_MAX is no timeout (it overflowed into one
 * that expired at once). */
TEST_TIMEOUT(tls_huge_handshake_timeout_never_expires, 60) {
  hostile("huge-timeout");
}
