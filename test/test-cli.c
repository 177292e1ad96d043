/* The `yamux` command (tools/yamux.c), run as real processes from the source
 * tree: two of them back to back (`yamux -l ... --exec 'yamux ...'`)
 * between a client and small servers in this process (threads with blocking
 * sockets). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"
#include "test-uv-util.h"

/* The yamux command of the runner's build tree (build/, build-asan/, ...):
 * CLI in shell commands (the runner exports the variable), cli_path() in
 * argument vectors. */
#define CLI "\"$YAMUX_TEST_BUILD_DIR\"/yamux"

static char* cli_path(void) {
  static char path[4096];
  if (path[0] == '\0')
    snprintf(path, sizeof(path), "%s/yamux", test_build_dir());
  return path;
}

/* ---- processes ------------------------------------------------------------
 */

static void cli_check_built(void) {
  if (access(cli_path(), X_OK) != 0)
    task_fail(__FILE__, __LINE__, "%s is missing: run make first", cli_path());
}

/* Runs `sh -c cmd`, returns its exit status; its stdout and stderr (merged)
 * go to out. */
static int cli_run(const char* cmd, char* out, size_t cap) {
  char full[1024];
  FILE* f;
  size_t n = 0;
  size_t k;
  int st;

  snprintf(full, sizeof(full), "{ %s ; } 2>&1", cmd);
  f = popen(full, "r");
  ASSERT_NOT_NULL(f);
  while (n + 1 < cap && (k = fread(out + n, 1, cap - 1 - n, f)) > 0) n += k;
  out[n] = '\0';
  st = pclose(f);
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* Starts argv with stdin and stdout on /dev/null (or stdin_fd) and stderr
 * appended to errfile. */
static pid_t cli_spawn(const char* errfile, int stdin_fd, char* const argv[]) {
  pid_t pid;
  int fd;

  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    fd = open("/dev/null", O_RDWR);
    dup2(stdin_fd >= 0 ? stdin_fd : fd, 0);
    dup2(fd, 1);
    fd = open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

/* Waits up to timeout_ms; returns the exit status, or -1 (then SIGKILLs). */
static int cli_wait(pid_t pid, int timeout_ms) {
  int st;
  int waited = 0;

  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    ASSERT_GE(r, 0);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (waited >= timeout_ms) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    usleep(10000);
    waited += 10;
  }
}

/* SIGTERM, then the exit status (0 expected: a requested stop is clean). */
static int cli_stop(pid_t pid) {
  kill(pid, SIGTERM);
  return cli_wait(pid, 10000);
}

static char* slurp(const char* path) {
  static char buf[65536];
  FILE* f = fopen(path, "r");
  size_t n = 0;

  buf[0] = '\0';
  if (f == NULL) return buf;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Waits up to timeout_ms for `needle` to appear in the file. */
static int file_wait_for(const char* path, const char* needle, int timeout_ms) {
  int waited;

  for (waited = 0; waited <= timeout_ms; waited += 20) {
    if (strstr(slurp(path), needle) != NULL) return 1;
    usleep(20000);
  }
  return 0;
}

static void tmp_path(char* out, size_t len, const char* what) {
  snprintf(out, len, "/tmp/yamux-cli-test-%ld-%s", (long)getpid(), what);
  unlink(out);
}

/* ---- sockets --------------------------------------------------------------
 */

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int bound_port(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);

  ASSERT_OK(getsockname(fd, (struct sockaddr*)&a, &len));
  return ntohs(a.sin_port);
}

/* A port nothing listens on right now. */
static int free_port(int type) {
  struct sockaddr_in a = loopback(0);
  int fd = socket(AF_INET, type, 0);
  int port;

  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  port = bound_port(fd);
  close(fd);
  return port;
}

static void set_timeout(int fd, int ms) {
  struct timeval tv;

  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connects, retrying while the listener is not up yet. */
static int connect_retry(const struct sockaddr* addr, socklen_t len,
                         int timeout_ms) {
  int waited;
  int fd;

  for (waited = 0; waited <= timeout_ms; waited += 20) {
    fd = socket(addr->sa_family, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    if (connect(fd, addr, len) == 0) {
      set_timeout(fd, 20000);
      return fd;
    }
    close(fd);
    usleep(20000);
  }
  task_fail(__FILE__, __LINE__, "could not connect: %s", strerror(errno));
}

static int tcp_connect(int port) {
  struct sockaddr_in a = loopback(port);
  return connect_retry((struct sockaddr*)&a, sizeof(a), 10000);
}

static struct sockaddr_un unix_addr(const char* path) {
  struct sockaddr_un a;

  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  ASSERT_LT(strlen(path), sizeof(a.sun_path));
  memcpy(a.sun_path, path, strlen(path) + 1);
  return a;
}

static int unix_connect(const char* path) {
  struct sockaddr_un a = unix_addr(path);
  return connect_retry((struct sockaddr*)&a, sizeof(a), 10000);
}

static void write_all(int fd, const void* data, size_t n) {
  const char* p = data;
  ssize_t k;

  while (n > 0) {
    k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    ASSERT_GT(k, 0);
    p += k;
    n -= (size_t)k;
  }
}

/* Reads until EOF (returns the count) or an error (returns -errno). */
static ssize_t read_all(int fd, void* buf, size_t cap) {
  char* p = buf;
  size_t n = 0;
  ssize_t k;

  for (;;) {
    k = read(fd, p + n, cap - n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -errno;
    if (k == 0) return (ssize_t)n;
    n += (size_t)k;
    if (n == cap) return (ssize_t)n;
  }
}

static void read_exact(int fd, void* buf, size_t n) {
  char* p = buf;
  ssize_t k;

  while (n > 0) {
    k = read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0)
      task_fail(__FILE__, __LINE__, "read: %s",
                k == 0 ? "unexpected EOF" : strerror(errno));
    p += k;
    n -= (size_t)k;
  }
}

static void fill_random(char* buf, size_t n, uint64_t seed) {
  uint64_t s = seed;
  size_t i;

  for (i = 0; i < n; i++) buf[i] = (char)(uvt_rand(&s) >> 32);
}

/* ---- servers (threads, blocking sockets) ---------------------------------
 * The first byte of a connection picks the behaviour:
 *   'E' echo until EOF, then half-close;
 *   'C' count: read until EOF, then reply "BYTES HASH\n" and close;
 *   'R' reverse: send "hi\n", half-close, read until EOF, record the count;
 *   'H' HTTP-like: read a request head, answer with a body, close;
 *   'X' abort: reset the connection (SO_LINGER 0). */

static volatile long reverse_count = -1;

static void* conn_main(void* arg) {
  int fd = (int)(intptr_t)arg;
  static const char body[] = "hello from the server\n";
  char buf[65536];
  char reply[128];
  uint64_t h = FNV_INIT;
  uint64_t total = 0;
  char mode;
  ssize_t k;

  if (read(fd, &mode, 1) != 1) {
    close(fd);
    return NULL;
  }
  if (mode == 'X') {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return NULL;
  }
  if (mode == 'R') {
    write(fd, "hi\n", 3);
    shutdown(fd, SHUT_WR);
  }
  if (mode == 'H') {
    size_t n = 0;
    while (n < sizeof(buf) - 1 && (k = read(fd, buf + n, 1)) == 1) {
      n++;
      if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    snprintf(reply, sizeof(reply),
             "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    write(fd, reply, strlen(reply));
    write(fd, body, strlen(body));
    close(fd);
    return NULL;
  }
  for (;;) {
    k = read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    total += (uint64_t)k;
    h = fnv1a(h, buf, (size_t)k);
    if (mode == 'E' && write(fd, buf, (size_t)k) != k) break;
  }
  if (mode == 'E') {
    shutdown(fd, SHUT_WR);
  } else if (mode == 'C') {
    snprintf(reply, sizeof(reply), "%llu %016llx\n", (unsigned long long)total,
             (unsigned long long)h);
    write(fd, reply, strlen(reply));
  } else if (mode == 'R') {
    reverse_count = (long)total;
  }
  close(fd);
  return NULL;
}

static void* server_main(void* arg) {
  int lfd = (int)(intptr_t)arg;
  pthread_t t;
  int fd;

  for (;;) {
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return NULL;
    }
    pthread_create(&t, NULL, conn_main, (void*)(intptr_t)fd);
    pthread_detach(t);
  }
}

static void start_server_fd(int lfd) {
  pthread_t t;

  ASSERT_OK(listen(lfd, 64));
  ASSERT_OK(pthread_create(&t, NULL, server_main, (void*)(intptr_t)lfd));
  pthread_detach(t);
}

/* A TCP server on 127.0.0.1; returns its port. */
static int start_tcp_server(void) {
  struct sockaddr_in a = loopback(0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;

  ASSERT_GE(fd, 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  start_server_fd(fd);
  return bound_port(fd);
}

static void start_unix_server(const char* path) {
  struct sockaddr_un a = unix_addr(path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);

  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  start_server_fd(fd);
}

static void* udp_echo_main(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[65536];
  struct sockaddr_storage from;
  socklen_t len;
  ssize_t k;

  for (;;) {
    len = sizeof(from);
    k = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr*)&from, &len);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return NULL;
    sendto(fd, buf, (size_t)k, 0, (struct sockaddr*)&from, len);
  }
}

/* A UDP echo server on 127.0.0.1; returns its port. */
static int start_udp_echo(void) {
  struct sockaddr_in a = loopback(0);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  pthread_t t;

  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  ASSERT_OK(pthread_create(&t, NULL, udp_echo_main, (void*)(intptr_t)fd));
  pthread_detach(t);
  return bound_port(fd);
}

/* ---- client checks --------------------------------------------------------
 */

/* Sends n pseudo-random bytes in count mode, half-closes, and checks the
 * server's "BYTES HASH" reply, then EOF. Exercises the half-close both ways:
 * the server answers only after our EOF reached it. */
static void check_count(int fd, size_t n, uint64_t seed) {
  char* data = malloc(n);
  char expect[128];
  char reply[128];
  ssize_t k;

  ASSERT_NOT_NULL(data);
  fill_random(data, n, seed);
  write_all(fd, "C", 1);
  write_all(fd, data, n);
  ASSERT_OK(shutdown(fd, SHUT_WR));
  snprintf(expect, sizeof(expect), "%llu %016llx\n", (unsigned long long)n,
           (unsigned long long)fnv1a(FNV_INIT, data, n));
  k = read_all(fd, reply, sizeof(reply) - 1);
  ASSERT_GE(k, 0);
  reply[k] = '\0';
  ASSERT_STR_EQ(reply, expect);
  free(data);
  close(fd);
}

/* Echo with interleaved writes and reads of varying size, then EOF. */
static void check_echo(int fd, unsigned int rounds, uint64_t seed) {
  char out[8192];
  char in[8192];
  uint64_t s = seed;
  unsigned int i;
  size_t n;

  write_all(fd, "E", 1);
  for (i = 0; i < rounds; i++) {
    n = 1 + (size_t)(uvt_rand(&s) % sizeof(out));
    fill_random(out, n, uvt_rand(&s));
    write_all(fd, out, n);
    read_exact(fd, in, n);
    ASSERT_MEM_EQ(in, out, n);
  }
  ASSERT_OK(shutdown(fd, SHUT_WR));
  ASSERT_EQ(read_all(fd, in, sizeof(in)), 0);
  close(fd);
}

/* The server half-closes first; we still send afterwards. */
static void check_reverse_halfclose(int fd) {
  char buf[16];
  static const char more[] = "still sending after the server's FIN";
  int waited;

  reverse_count = -1;
  write_all(fd, "R", 1);
  ASSERT_EQ(read_all(fd, buf, sizeof(buf)), 3);
  ASSERT_MEM_EQ(buf, "hi\n", 3);
  write_all(fd, more, strlen(more));
  ASSERT_OK(shutdown(fd, SHUT_WR));
  for (waited = 0; reverse_count < 0 && waited < 10000; waited += 10)
    usleep(10000);
  ASSERT_EQ(reverse_count, (long)strlen(more));
  close(fd);
}

/* ---- tests ----------------------------------------------------------------
 */

TEST(cli_version_help_and_usage_errors) {
  char out[4096];

  cli_check_built();
  ASSERT_EQ(cli_run(CLI " --version", out, sizeof(out)), 0);
  ASSERT_NOT_NULL(strstr(out, "yamux " YAMUX_VERSION_STRING));
  ASSERT_EQ(cli_run(CLI " -h", out, sizeof(out)), 0);
  ASSERT_NOT_NULL(strstr(out, "usage: yamux"));
  ASSERT_EQ(cli_run(CLI " -l", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "port number is missing"));
  ASSERT_EQ(cli_run(CLI " localhost", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "host and port number are missing"));
  ASSERT_EQ(cli_run(CLI " -U", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "Unix-domain socket is missing"));
  ASSERT_EQ(cli_run(CLI " -lU", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "unix domain socket is missing"));
  ASSERT_EQ(cli_run(CLI " -u -U /tmp/x", out, sizeof(out)), 2);
  ASSERT_EQ(cli_run(CLI " localhost 99999", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "invalid port"));
  ASSERT_EQ(cli_run(CLI " --window 1000 localhost 80", out, sizeof(out)), 2);
  ASSERT_EQ(cli_run(CLI " --bogus localhost 80", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "unknown option"));
  /* yamux-cli's combined short flags. */
  ASSERT_EQ(cli_run(CLI " -ul", out, sizeof(out)), 2);
  ASSERT_NOT_NULL(strstr(out, "port number is missing"));
}

TEST(cli_exit_codes) {
  char out[4096];

  cli_check_built();
  /* stdin at EOF at once: a normal end. */
  ASSERT_EQ(cli_run(CLI " 127.0.0.1 9 </dev/null >/dev/null", out, sizeof(out)),
            0);
  ASSERT_STR_EQ(out, "");
  /* Not yamux on stdin: a protocol error, one line, status 1. */
  ASSERT_EQ(cli_run("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | " CLI
                    " 127.0.0.1 9 >/dev/null",
                    out, sizeof(out)),
            1);
  ASSERT_NOT_NULL(strstr(out, "yamux: session ended"));
  /* The transport command fails. */
  ASSERT_EQ(cli_run(CLI " -l 127.0.0.1 0 --exec 'exit 3'", out, sizeof(out)),
            1);
  ASSERT_NOT_NULL(strstr(out, "command exited with status 3"));
  /* A port in use. */
  {
    struct sockaddr_in a = loopback(0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char cmd[128];
    ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
    ASSERT_OK(listen(fd, 1));
    snprintf(cmd, sizeof(cmd), CLI " -l 127.0.0.1 %d </dev/null",
             bound_port(fd));
    ASSERT_EQ(cli_run(cmd, out, sizeof(out)), 1);
    ASSERT_NOT_NULL(strstr(out, "address already in use"));
    close(fd);
  }
}

TEST_TIMEOUT(cli_tcp_through_two_processes, 120) {
  char log[256];
  char port[16];
  char inner[128];
  int fds[16];
  pid_t pid;
  int p1;
  int p2;
  int i;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(log, sizeof(log), "tcp.log");
  p2 = start_tcp_server();
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(inner, sizeof(inner), CLI " 127.0.0.1 %d", p2);
  {
    char* argv[] = {cli_path(), "-l",  "127.0.0.1", port,
                    "--exec",   inner, "-v",        NULL};
    pid = cli_spawn(log, -1, argv);
  }

  /* Bulk one way, reply after our FIN: bytes and half-close. */
  check_count(tcp_connect(p1), 4 << 20, 1);
  /* Interleaved echo, then EOF back. */
  check_echo(tcp_connect(p1), 200, 2);
  /* The server half-closes first. */
  check_reverse_halfclose(tcp_connect(p1));
  /* Many at once. */
  for (i = 0; i < 16; i++) {
    fds[i] = tcp_connect(p1);
    write_all(fds[i], "C", 1);
  }
  for (i = 0; i < 16; i++) {
    char data[10000];
    char reply[64];
    char expect[64];
    ssize_t k;
    fill_random(data, sizeof(data), 100 + (uint64_t)i);
    write_all(fds[i], data, sizeof(data));
    shutdown(fds[i], SHUT_WR);
    k = read_all(fds[i], reply, sizeof(reply) - 1);
    ASSERT_GT(k, 0);
    reply[k] = '\0';
    snprintf(expect, sizeof(expect), "%zu %016llx\n", sizeof(data),
             (unsigned long long)fnv1a(FNV_INIT, data, sizeof(data)));
    ASSERT_STR_EQ(reply, expect);
    close(fds[i]);
  }
  /* An HTTP-like exchange. */
  {
    static const char req[] = "HGET / HTTP/1.0\r\nHost: x\r\n\r\n";
    char resp[512];
    ssize_t k;
    int fd = tcp_connect(p1);
    write_all(fd, req, strlen(req));
    k = read_all(fd, resp, sizeof(resp) - 1);
    ASSERT_GT(k, 0);
    resp[k] = '\0';
    ASSERT_NOT_NULL(strstr(resp, "200 OK"));
    ASSERT_NOT_NULL(strstr(resp, "hello from the server\n"));
    close(fd);
  }

  /* The server resets its connection: so is ours (RST crosses as RST). */
  {
    char buf[16];
    ssize_t k;
    int fd = tcp_connect(p1);
    write_all(fd, "X", 1);
    k = read(fd, buf, sizeof(buf));
    ASSERT_EQ(k, -1);
    ASSERT_EQ(errno, ECONNRESET);
    close(fd);
  }

  /* Statistics on SIGUSR1, to stderr. */
  kill(pid, SIGUSR1);
  ASSERT(file_wait_for(log, "local->yamux", 5000));
  ASSERT_EQ(cli_stop(pid), 0);
  ASSERT_NULL(strstr(slurp(log), "session ended"));
  unlink(log);
}

TEST(cli_dial_failure_resets_the_stream) {
  char log[256];
  char port[16];
  char inner[128];
  char buf[16];
  pid_t pid;
  ssize_t k;
  int p1;
  int p2;
  int fd;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(log, sizeof(log), "dial.log");
  p2 = free_port(SOCK_STREAM); /* nobody listens there */
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(inner, sizeof(inner), CLI " 127.0.0.1 %d", p2);
  {
    char* argv[] = {cli_path(), "-l", "127.0.0.1", port, "--exec", inner, NULL};
    pid = cli_spawn(log, -1, argv);
  }
  fd = tcp_connect(p1);
  set_timeout(fd, 10000);
  /* It may be reset already. */
  if (write(fd, "x", 1) < 0) ASSERT(errno == ECONNRESET || errno == EPIPE);
  /* The stream is reset; the connection ends (reset), not hangs. */
  k = read(fd, buf, sizeof(buf));
  ASSERT(k == 0 || (k < 0 && errno == ECONNRESET));
  close(fd);
  snprintf(buf, sizeof(buf), ":%d", p2);
  ASSERT(file_wait_for(log, "dial 127.0.0.1", 5000));
  ASSERT_NOT_NULL(strstr(slurp(log), buf));
  /* The session goes on: another connection gets the same treatment. */
  fd = tcp_connect(p1);
  k = read(fd, buf, sizeof(buf));
  ASSERT(k == 0 || (k < 0 && errno == ECONNRESET));
  close(fd);
  ASSERT_EQ(cli_stop(pid), 0);
  unlink(log);
}

TEST(cli_unix_sockets) {
  char log[256];
  char s1[256];
  char s2[256];
  char inner[600];
  struct stat sb;
  pid_t pid;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(log, sizeof(log), "unix.log");
  tmp_path(s1, sizeof(s1), "s1.sock");
  tmp_path(s2, sizeof(s2), "s2.sock");
  start_unix_server(s2);
  snprintf(inner, sizeof(inner), CLI " -U %s", s2);
  {
    char* argv[] = {cli_path(), "-U", "-l", s1, "--exec", inner, NULL};
    pid = cli_spawn(log, -1, argv);
  }
  check_count(unix_connect(s1), 1 << 20, 3);
  check_echo(unix_connect(s1), 50, 4);
  check_reverse_halfclose(unix_connect(s1));
  ASSERT_EQ(cli_stop(pid), 0);
  /* The listening socket is removed on exit. */
  ASSERT_NE(stat(s1, &sb), 0);
  unlink(s2);
  unlink(log);
}

/* Sends `msg` from fd until its echo comes back (the listener may not be up
 * yet); checks the echo. */
static void udp_roundtrip(int fd, int port, const char* msg, size_t n) {
  struct sockaddr_in to = loopback(port);
  char* buf = malloc(65536);
  int tries;
  ssize_t k = -1;

  ASSERT_NOT_NULL(buf);
  for (tries = 0; tries < 50; tries++) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ASSERT_EQ(sendto(fd, msg, n, 0, (struct sockaddr*)&to, sizeof(to)),
              (ssize_t)n);
    /* Resends make late echoes: skip any that is not this message's. */
    while (poll(&pfd, 1, 200) == 1) {
      k = recv(fd, buf, 65536, 0);
      if (k == (ssize_t)n && memcmp(buf, msg, n) == 0) break;
    }
    if (k == (ssize_t)n && memcmp(buf, msg, n) == 0) break;
  }
  ASSERT_EQ(k, (ssize_t)n);
  ASSERT_MEM_EQ(buf, msg, n);
  free(buf);
}

TEST_TIMEOUT(cli_udp_flows, 90) {
  char log[256];
  char port[16];
  char inner[128];
  char* big;
  pid_t pid;
  int p1;
  int p2;
  int a;
  int b;
  int i;

  cli_check_built();
  tmp_path(log, sizeof(log), "udp.log");
  p2 = start_udp_echo();
  p1 = free_port(SOCK_DGRAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(inner, sizeof(inner), CLI " -u 127.0.0.1 %d", p2);
  {
    char* argv[] = {cli_path(), "-ul", "127.0.0.1",     port,  "--exec",
                    inner,      "-v",  "--udp-timeout", "0.5", NULL};
    pid = cli_spawn(log, -1, argv);
  }
  a = socket(AF_INET, SOCK_DGRAM, 0);
  b = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  /* Two sources, two flows; datagram boundaries kept. */
  udp_roundtrip(a, p1, "hello from a", 12);
  udp_roundtrip(b, p1, "hello from b", 12);
  for (i = 0; i < 20; i++) {
    char msg[32];
    snprintf(msg, sizeof(msg), "a%d", i);
    udp_roundtrip(i % 2 ? a : b, p1, msg, strlen(msg));
  }
  udp_roundtrip(a, p1, "", 0);
  big = malloc(60000);
  ASSERT_NOT_NULL(big);
  fill_random(big, 60000, 5);
  udp_roundtrip(b, p1, big, 60000);
  free(big);
  /* Idle flows expire; a new datagram opens a new flow. */
  ASSERT(file_wait_for(log, "expired", 5000));
  usleep(300000);
  udp_roundtrip(a, p1, "after expiry", 12);
  ASSERT_EQ(cli_stop(pid), 0);
  close(a);
  close(b);
  unlink(log);
}

TEST(cli_stdin_eof_ends_and_sigusr1_prints_stats) {
  char log[256];
  int fds[2];
  pid_t pid;

  cli_check_built();
  tmp_path(log, sizeof(log), "stats.log");
  ASSERT_OK(pipe2(fds, O_CLOEXEC));
  {
    char* argv[] = {cli_path(), "127.0.0.1", "9", NULL};
    /* The child starts with SIGUSR1 ignored (inherited through fork and
     * exec) until the program installs its handler: an early one must not
     * kill it. */
    void (*old)(int) = signal(SIGUSR1, SIG_IGN);
    pid = cli_spawn(log, fds[0], argv);
    signal(SIGUSR1, old);
  }
  close(fds[0]);
  /* Until its handler is installed (a slow start, e.g. under valgrind) the
   * signal is ignored: send it until the statistics appear. */
  {
    int tries;
    for (tries = 0; tries < 50; tries++) {
      kill(pid, SIGUSR1);
      if (file_wait_for(log, "streams opened", 200)) break;
    }
    ASSERT(tries < 50);
  }
  close(fds[1]); /* EOF on its stdin: the session ends normally */
  ASSERT_EQ(cli_wait(pid, 10000), 0);
  unlink(log);
}

/* Issue 7's yamux-cli check: the README pipeline (mkfifo p; cat p | yamux
 * HOST PORT | yamux -l PORT2 > p) with HTTP over TCP and Unix sockets and a
 * UDP echo, libyamux's yamux and the Go yamux-cli in every pairing of roles
 * (interop/yamux-cli-check.sh; skipped without go, python3 or curl). */
TEST_TIMEOUT(cli_interop_yamux_cli_go, 300) {
  char out[16384];
  int st;

  cli_check_built();
  st = cli_run("interop/yamux-cli-check.sh " CLI, out, sizeof(out));
  if (st == 77)
    SKIP("interop/yamux-cli-check.sh: go, python3 or curl is missing");
  if (st != 0) fprintf(stderr, "%s", out);
  ASSERT_EQ(st, 0);
  ASSERT_NOT_NULL(strstr(out, "# 0 failed"));
}
