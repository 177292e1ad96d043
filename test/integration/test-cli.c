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
#include <stdarg.h>
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

/* ---- processes ------------------------------------------------------------
 */

/* The command under test: $YAMUX_CLI if set, else the yamux command of the
 * runner's own build tree (build/, build-asan/, ...: test_build_dir()). */
static const char* cli(void) {
  static char path[4096];
  const char* p = getenv("YAMUX_CLI");
  if (p != NULL && p[0] != '\0') return p;
  if (path[0] == '\0')
    snprintf(path, sizeof(path), "%s/yamux", test_build_dir());
  return path;
}

static void cli_check_built(void) {
  if (access(cli(), X_OK) != 0)
    task_fail(__FILE__, __LINE__, "%s is missing: run make first", cli());
}

/* Runs `sh -c` on the formatted command, returns its exit status; its stdout
 * and stderr (merged) go to out. */
static int cli_run(char* out, size_t cap, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cli_run(char* out, size_t cap, const char* fmt, ...) {
  char cmd[1024];
  char full[1100];
  va_list ap;
  FILE* f;
  size_t n = 0;
  size_t k;
  int st;

  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  snprintf(full, sizeof(full), "{ %s ; } 2>&1", cmd);
  f = popen(full, "r");
  ASSERT_NOT_NULL(f);
  while (n + 1 < cap && (k = fread(out + n, 1, cap - 1 - n, f)) > 0) n += k;
  out[n] = '\0';
  st = pclose(f);
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* Starts argv with stdin on in_fd and stdout on out_fd (/dev/null for -1)
 * and stderr appended to errfile. */
static pid_t cli_spawn_io(const char* errfile, int in_fd, int out_fd,
                          char* const argv[]) {
  pid_t pid;
  int fd;

  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    fd = open("/dev/null", O_RDWR);
    dup2(in_fd >= 0 ? in_fd : fd, 0);
    dup2(out_fd >= 0 ? out_fd : fd, 1);
    fd = open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static pid_t cli_spawn(const char* errfile, int stdin_fd, char* const argv[]) {
  return cli_spawn_io(errfile, stdin_fd, -1, argv);
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

static int count_lines(const char* s) {
  int n = 0;

  for (; *s != '\0'; s++)
    if (*s == '\n') n++;
  return n;
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

/* The log holds exactly one line, and it has each of the needles. */
static void check_one_line(const char* path, const char* a, const char* b) {
  const char* log = slurp(path);

  if (count_lines(log) != 1 || strstr(log, a) == NULL ||
      (b != NULL && strstr(log, b) == NULL))
    task_fail(__FILE__, __LINE__, "%s: want one line with \"%s\"%s%s%s: %s",
              path, a, b != NULL ? " and \"" : "", b != NULL ? b : "",
              b != NULL ? "\"" : "", log);
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
 *   'X' abort: reset the connection (SO_LINGER 0);
 *   'S' stream: send bytes until a write fails;
 *   'U' upload: read until EOF or an error, counting (upload_bytes) and
 *       recording how it ended (upload_end: 0 for EOF, else errno). */

static volatile long reverse_count = -1;
static volatile long upload_bytes;
static volatile int upload_end = -1;

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
  if (mode == 'S') {
    fill_random(buf, sizeof(buf), 9);
    while (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0) continue;
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
    if (mode == 'U') upload_bytes += (long)k;
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
  } else if (mode == 'U') {
    upload_end = k == 0 ? 0 : errno;
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
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --version", cli()), 0);
  ASSERT_NOT_NULL(strstr(out, "yamux " YAMUX_VERSION_STRING));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -h", cli()), 0);
  ASSERT_NOT_NULL(strstr(out, "usage: yamux"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -l", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "port number is missing"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s localhost", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "host and port number are missing"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -U", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "Unix-domain socket is missing"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -lU", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "unix domain socket is missing"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -u -U /tmp/x", cli()), 2);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s localhost 99999", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "invalid port"));
  /* Port 0 cannot be dialed (a listener may ask for it: any free port). */
  ASSERT_EQ(cli_run(out, sizeof(out), "%s 127.0.0.1 0", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "invalid port: 0"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -u 127.0.0.1 0", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "invalid port: 0"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --window 1000 localhost 80", cli()),
            2);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --bogus localhost 80", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "unknown option"));
  /* yamux-cli's combined short flags. */
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -ul", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "port number is missing"));
}

TEST(cli_exit_codes) {
  char out[4096];

  cli_check_built();
  /* stdin at EOF at once: a normal end. */
  ASSERT_EQ(
      cli_run(out, sizeof(out), "%s 127.0.0.1 9 </dev/null >/dev/null", cli()),
      0);
  ASSERT_STR_EQ(out, "");
  /* Not yamux on stdin: a protocol error, one line, status 1. */
  ASSERT_EQ(cli_run(out, sizeof(out),
                    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | %s 127.0.0.1 9 "
                    ">/dev/null",
                    cli()),
            1);
  ASSERT_NOT_NULL(strstr(out, "yamux: session ended"));
  /* The transport command fails. */
  ASSERT_EQ(
      cli_run(out, sizeof(out), "%s -l 127.0.0.1 0 --exec 'exit 3'", cli()), 1);
  ASSERT_NOT_NULL(strstr(out, "command exited with status 3"));
  /* A port in use. */
  {
    struct sockaddr_in a = loopback(0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
    ASSERT_OK(listen(fd, 1));
    ASSERT_EQ(cli_run(out, sizeof(out), "%s -l 127.0.0.1 %d </dev/null", cli(),
                      bound_port(fd)),
              1);
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
  snprintf(inner, sizeof(inner), "%s 127.0.0.1 %d", cli(), p2);
  {
    char* argv[] = {(char*)cli(), "-l",  "127.0.0.1", port,
                    "--exec",     inner, "-v",        NULL};
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
  snprintf(inner, sizeof(inner), "%s 127.0.0.1 %d", cli(), p2);
  {
    char* argv[] = {(char*)cli(), "-l",  "127.0.0.1", port,
                    "--exec",     inner, NULL};
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
  snprintf(inner, sizeof(inner), "%s -U %s", cli(), s2);
  {
    char* argv[] = {(char*)cli(), "-U", "-l", s1, "--exec", inner, NULL};
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

/* A socket file left by a listener that was killed is replaced, with one
 * line saying so; a live socket, or a file that is not a socket, is left
 * alone and the command fails. */
TEST(cli_unix_listen_replaces_only_a_stale_socket) {
  char log[256];
  char path[256];
  char out[4096];
  struct sockaddr_un a;
  struct stat sb;
  pid_t pid;
  int pfd[2];
  int fd;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(log, sizeof(log), "stale.log");
  tmp_path(path, sizeof(path), "stale.sock");

  /* Stale: bound, never unlinked, nobody listens. */
  a = unix_addr(path);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  close(fd);
  ASSERT_OK(lstat(path, &sb));
  ASSERT(S_ISSOCK(sb.st_mode));
  ASSERT_OK(pipe2(pfd, O_CLOEXEC));
  {
    char* argv[] = {(char*)cli(), "-U", "-l", path, NULL};
    pid = cli_spawn(log, pfd[0], argv);
  }
  close(pfd[0]);
  fd = unix_connect(path); /* refused until the new listener is up */
  close(fd);
  ASSERT_EQ(cli_stop(pid), 0);
  close(pfd[1]);
  check_one_line(log, "removed the stale socket", path);
  ASSERT_NE(lstat(path, &sb), 0); /* and its own is removed on exit */

  /* Live: refused, and the listener keeps its socket. */
  start_unix_server(path);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -U -l %s </dev/null", cli(), path),
            1);
  ASSERT_NOT_NULL(strstr(out, "address already in use"));
  ASSERT_NULL(strstr(out, "removed"));
  check_echo(unix_connect(path), 3, 6);
  unlink(path);

  /* Not a socket: left as it is. */
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  write_all(fd, "keep", 4);
  close(fd);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s -U -l %s </dev/null", cli(), path),
            1);
  ASSERT_NULL(strstr(out, "removed"));
  ASSERT_OK(lstat(path, &sb));
  ASSERT(S_ISREG(sb.st_mode));
  ASSERT_EQ(sb.st_size, 4);
  unlink(path);
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
  snprintf(inner, sizeof(inner), "%s -u 127.0.0.1 %d", cli(), p2);
  {
    char* argv[] = {(char*)cli(), "-ul", "127.0.0.1",     port,  "--exec",
                    inner,        "-v",  "--udp-timeout", "0.5", NULL};
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
    char* argv[] = {(char*)cli(), "127.0.0.1", "9", NULL};
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

/* ---- truncation: the far end dies mid-transfer ---------------------------
 * Two yamux processes whose stdin and stdout are sockets; two threads here
 * carry the bytes between them, so that a test can cut the transport or
 * kill one end and see the other notice. */

typedef struct {
  int from;
  int to;
  pthread_t thread;
} pump_t;

typedef struct {
  pid_t near;  /* yamux -l: the local clients connect to it */
  pid_t far;   /* yamux HOST PORT: dials the servers */
  int fds[4];  /* this side of near's stdin and stdout, far's stdin, stdout */
  pump_t up;   /* near -> far */
  pump_t down; /* far -> near */
} tunnel_t;

static void* pump_main(void* arg) {
  pump_t* p = arg;
  char buf[65536];
  ssize_t k;
  ssize_t w;
  size_t off;

  for (;;) {
    k = read(p->from, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    for (off = 0; off < (size_t)k; off += (size_t)w) {
      w = send(p->to, buf + off, (size_t)k - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) w = 0;
      if (w < 0) break;
    }
    if (off < (size_t)k) break;
  }
  /* As on a link: the receiver reads EOF, the sender gets EPIPE. */
  shutdown(p->to, SHUT_WR);
  shutdown(p->from, SHUT_RD);
  return NULL;
}

static void tunnel_start(tunnel_t* t, const char* near_log,
                         char* const near_argv[], const char* far_log,
                         char* const far_argv[]) {
  int sv[4][2];
  int i;

  for (i = 0; i < 4; i++)
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]));
  t->near = cli_spawn_io(near_log, sv[0][1], sv[1][1], near_argv);
  t->far = cli_spawn_io(far_log, sv[2][1], sv[3][1], far_argv);
  for (i = 0; i < 4; i++) {
    close(sv[i][1]);
    t->fds[i] = sv[i][0];
  }
  t->up.from = t->fds[1];
  t->up.to = t->fds[2];
  t->down.from = t->fds[3];
  t->down.to = t->fds[0];
  ASSERT_OK(pthread_create(&t->up.thread, NULL, pump_main, &t->up));
  ASSERT_OK(pthread_create(&t->down.thread, NULL, pump_main, &t->down));
}

/* near: yamux -l 127.0.0.1 PORT; far: yamux 127.0.0.1 SERVER (a server of
 * this file, started here). Returns PORT. */
static int tunnel_start_tcp(tunnel_t* t, const char* near_log,
                            const char* far_log) {
  char port[16];
  char server[16];
  int p1 = free_port(SOCK_STREAM);
  char* nargv[] = {(char*)cli(), "-l", "127.0.0.1", port, NULL};
  char* fargv[] = {(char*)cli(), "127.0.0.1", server, NULL};

  snprintf(port, sizeof(port), "%d", p1);
  snprintf(server, sizeof(server), "%d", start_tcp_server());
  tunnel_start(t, near_log, nargv, far_log, fargv);
  return p1;
}

/* Both directions end at once, both ends still running: a dead link. */
static void tunnel_cut(tunnel_t* t) {
  int i;

  for (i = 0; i < 4; i++) shutdown(t->fds[i], SHUT_RDWR);
}

/* After both processes exited. */
static void tunnel_end(tunnel_t* t) {
  int i;

  pthread_join(t->up.thread, NULL);
  pthread_join(t->down.thread, NULL);
  for (i = 0; i < 4; i++) close(t->fds[i]);
}

/* Reads and drops bytes until the end: 0 for EOF, else -errno. */
static int read_to_end(int fd) {
  char buf[65536];
  ssize_t k;

  for (;;) {
    k = read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -errno;
    if (k == 0) return 0;
  }
}

/* A download in progress: the stream server is sending, we have read some. */
static int start_download(int fd) {
  static char buf[1 << 20];

  write_all(fd, "S", 1);
  read_exact(fd, buf, sizeof(buf));
  return fd;
}

TEST_TIMEOUT(cli_far_end_killed_mid_transfer_resets_connections, 120) {
  char nlog[256];
  char flog[256];
  char pidfile[256];
  char port[16];
  char inner[600];
  char s1[256];
  char s2[256];
  tunnel_t t;
  pid_t pid;
  long far_pid;
  FILE* f;
  int tries;
  int fd;
  int r;
  int p1;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(nlog, sizeof(nlog), "kill-near.log");
  tmp_path(flog, sizeof(flog), "kill-far.log");

  /* The remote yamux is killed: the client reads what had arrived, then a
   * reset (not EOF); the command says so in one line and exits 1. */
  p1 = tunnel_start_tcp(&t, nlog, flog);
  fd = start_download(tcp_connect(p1));
  kill(t.far, SIGKILL);
  ASSERT_EQ(cli_wait(t.far, 10000), 128 + SIGKILL);
  ASSERT_EQ(read_to_end(fd), -ECONNRESET);
  close(fd);
  ASSERT_EQ(cli_wait(t.near, 10000), 1);
  tunnel_end(&t);
  check_one_line(nlog,
                 "yamux: session ended: ", "1 unfinished connection reset");

  /* The same over a Unix socket, which has no reset: the connection is
   * closed unfinished; the exit status and the line tell. */
  unlink(nlog);
  tmp_path(s1, sizeof(s1), "kill1.sock");
  tmp_path(s2, sizeof(s2), "kill2.sock");
  start_unix_server(s2);
  {
    char* nargv[] = {(char*)cli(), "-U", "-l", s1, NULL};
    char* fargv[] = {(char*)cli(), "-U", s2, NULL};
    tunnel_start(&t, nlog, nargv, flog, fargv);
  }
  fd = start_download(unix_connect(s1));
  kill(t.far, SIGKILL);
  ASSERT_EQ(cli_wait(t.far, 10000), 128 + SIGKILL);
  r = read_to_end(fd);
  ASSERT(r == 0 || r == -ECONNRESET);
  close(fd);
  ASSERT_EQ(cli_wait(t.near, 10000), 1);
  tunnel_end(&t);
  check_one_line(nlog,
                 "yamux: session ended: ", "1 unfinished connection closed");
  unlink(s1);
  unlink(s2);

  /* The --exec command (the remote yamux itself here) is killed. */
  unlink(nlog);
  tmp_path(pidfile, sizeof(pidfile), "kill.pid");
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(inner, sizeof(inner), "echo $$ > %s; exec %s 127.0.0.1 %d", pidfile,
           cli(), start_tcp_server());
  {
    char* argv[] = {(char*)cli(), "-l",  "127.0.0.1", port,
                    "--exec",     inner, NULL};
    pid = cli_spawn(nlog, -1, argv);
  }
  fd = start_download(tcp_connect(p1));
  far_pid = 0;
  for (tries = 0; tries < 100 && far_pid <= 0; tries++) {
    f = fopen(pidfile, "r");
    if (f != NULL) {
      if (fscanf(f, "%ld", &far_pid) != 1) far_pid = 0;
      fclose(f);
    }
    if (far_pid <= 0) usleep(20000);
  }
  ASSERT_GT(far_pid, 0);
  ASSERT_OK(kill((pid_t)far_pid, SIGKILL));
  ASSERT_EQ(read_to_end(fd), -ECONNRESET);
  close(fd);
  ASSERT_EQ(cli_wait(pid, 10000), 1);
  check_one_line(nlog, "1 unfinished connection reset",
                 "command killed by signal 9");
  unlink(pidfile);
  unlink(nlog);
  unlink(flog);
}

TEST_TIMEOUT(cli_transport_cut_resets_both_ends, 60) {
  static char data[100000];
  char nlog[256];
  char flog[256];
  tunnel_t t;
  int waited;
  int down;
  int up;
  int p1;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(nlog, sizeof(nlog), "cut-near.log");
  tmp_path(flog, sizeof(flog), "cut-far.log");
  p1 = tunnel_start_tcp(&t, nlog, flog);
  /* A download and an upload, both unfinished. */
  down = start_download(tcp_connect(p1));
  up = tcp_connect(p1);
  upload_bytes = 0;
  upload_end = -1;
  write_all(up, "U", 1);
  write_all(up, data, sizeof(data));
  for (waited = 0; upload_bytes < (long)sizeof(data) && waited < 10000;
       waited += 10)
    usleep(10000);
  ASSERT_EQ(upload_bytes, (long)sizeof(data));

  tunnel_cut(&t);
  /* Each end resets its connections: the clients here and the servers
   * there see a reset, never a clean end. */
  ASSERT_EQ(read_to_end(down), -ECONNRESET);
  ASSERT_EQ(read_to_end(up), -ECONNRESET);
  for (waited = 0; upload_end < 0 && waited < 10000; waited += 10)
    usleep(10000);
  ASSERT_EQ(upload_end, ECONNRESET);
  close(down);
  close(up);
  ASSERT_EQ(cli_wait(t.near, 10000), 1);
  ASSERT_EQ(cli_wait(t.far, 10000), 1);
  tunnel_end(&t);
  check_one_line(nlog,
                 "yamux: session ended: ", "2 unfinished connections reset");
  check_one_line(flog,
                 "yamux: session ended: ", "2 unfinished connections reset");
  unlink(nlog);
  unlink(flog);
}

TEST_TIMEOUT(cli_clean_end_keeps_finished_streams, 60) {
  static const char req[] = "HGET / HTTP/1.0\r\nHost: x\r\n\r\n";
  char nlog[256];
  char flog[256];
  char buf[512];
  tunnel_t t;
  ssize_t k;
  int fd;
  int p1;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(nlog, sizeof(nlog), "clean-near.log");
  tmp_path(flog, sizeof(flog), "clean-far.log");
  p1 = tunnel_start_tcp(&t, nlog, flog);
  /* A finished exchange. */
  fd = tcp_connect(p1);
  write_all(fd, req, strlen(req));
  k = read_all(fd, buf, sizeof(buf) - 1);
  ASSERT_GT(k, 0);
  buf[k] = '\0';
  ASSERT_NOT_NULL(strstr(buf, "hello from the server\n"));
  close(fd);
  /* A connection whose stream the far end finished (its FIN came) while
   * ours stays open: not unfinished. */
  fd = tcp_connect(p1);
  write_all(fd, "R", 1);
  ASSERT_EQ(read_all(fd, buf, sizeof(buf)), 3);
  /* The far end stops (Go Away, then end of file): a clean end here. */
  kill(t.far, SIGTERM);
  ASSERT_EQ(cli_wait(t.far, 10000), 0);
  ASSERT_EQ(cli_wait(t.near, 10000), 0);
  ASSERT_EQ(read_to_end(fd), 0);
  close(fd);
  tunnel_end(&t);
  ASSERT_STR_EQ(slurp(nlog), "");
  unlink(nlog);
  unlink(flog);
}

/* Stopped by a signal while a client reads nothing: the flush it gets is
 * bounded (5 s), then the connection is reset and the process exits 0. */
TEST_TIMEOUT(cli_stop_does_not_wait_for_a_stalled_client, 60) {
  char log[256];
  char port[16];
  char inner[128];
  struct sockaddr_in a;
  pid_t pid;
  int small = 4096;
  int fd;
  int p1;

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  tmp_path(log, sizeof(log), "stall.log");
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(inner, sizeof(inner), "%s 127.0.0.1 %d", cli(), start_tcp_server());
  {
    char* argv[] = {(char*)cli(), "-l",  "127.0.0.1", port,
                    "--exec",     inner, NULL};
    pid = cli_spawn(log, -1, argv);
  }
  a = loopback(p1);
  for (;;) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    if (connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0) break;
    close(fd);
    usleep(20000);
  }
  set_timeout(fd, 20000);
  write_all(fd, "S", 1);
  usleep(500000); /* every buffer on the way fills up */
  kill(pid, SIGTERM);
  ASSERT_EQ(cli_wait(pid, 15000), 0);
  ASSERT_EQ(read_to_end(fd), -ECONNRESET);
  close(fd);
  unlink(log);
}

/* The yamux-cli check: the README pipeline (mkfifo p; cat p | yamux
 * HOST PORT | yamux -l PORT2 > p) with HTTP over TCP and Unix sockets and a
 * UDP echo, libyamux's yamux and the Go yamux-cli in every pairing of roles
 * (interop/yamux-cli-check.sh; skipped without go, python3 or curl). */
TEST_TIMEOUT(cli_interop_yamux_cli_go, 300) {
  char out[16384];
  int st;

  cli_check_built();
  st = cli_run(out, sizeof(out), "interop/yamux-cli-check.sh %s", cli());
  if (st == 77)
    SKIP("interop/yamux-cli-check.sh: go, python3 or curl is missing");
  if (st != 0) fprintf(stderr, "%s", out);
  ASSERT_EQ(st, 0);
  ASSERT_NOT_NULL(strstr(out, "# 0 failed"));
}

/* ---- --tls ----------------------------------------------------------------
 * The session over TLS (libyamux-tls): two commands back to back with mutual
 * TLS, refused certificates, usage errors, the stdio pipeline of the README,
 * and the Go peer (crypto/tls + hashicorp/yamux, interop/tls-peer) on each
 * side. The test PKI comes from build/tls/tls-peer gencerts. Skipped when
 * the command was built without OpenSSL. */

static char tls_dir[128];

static const char* tls_peer_prog(void) {
  const char* p = getenv("YAMUX_TLS_PEER");
  return p != NULL && p[0] != '\0' ? p : "build/tls/tls-peer";
}

static void tls_cleanup(void) {
  char cmd[256];

  if (tls_dir[0] == '\0') return;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tls_dir);
  tls_dir[0] = '\0';
}

/* Skips unless the command has --tls; makes a fresh test PKI. */
static void tls_setup(void) {
  char out[4096];
  char cmd[512];

  cli_check_built();
  signal(SIGPIPE, SIG_IGN);
  cli_run(out, sizeof(out), "%s --tls 127.0.0.1 9 </dev/null", cli());
  if (strstr(out, "built without TLS") != NULL)
    SKIP("the yamux command was built without TLS (OpenSSL missing)");
  if (access(tls_peer_prog(), X_OK) != 0)
    task_fail(__FILE__, __LINE__, "%s is missing: run make", tls_peer_prog());
  snprintf(tls_dir, sizeof(tls_dir), "/tmp/yamux-cli-tls-XXXXXX");
  ASSERT_NOT_NULL(mkdtemp(tls_dir));
  snprintf(cmd, sizeof(cmd), "%s gencerts %s", tls_peer_prog(), tls_dir);
  ASSERT_OK(system(cmd));
}

/* "DIR/name.pem" in one of a few static buffers. */
static const char* tls_pem(const char* name) {
  static char bufs[8][192];
  static unsigned int next;
  char* b = bufs[next++ % 8];

  snprintf(b, sizeof(bufs[0]), "%s/%s.pem", tls_dir, name);
  return b;
}

/* Plain echo (no mode byte), one thread per connection. */
static void* pure_echo_conn(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[65536];
  ssize_t k;

  for (;;) {
    k = read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    if (write(fd, buf, (size_t)k) != k) break;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
  return NULL;
}

static void* pure_echo_main(void* arg) {
  int lfd = (int)(intptr_t)arg;
  pthread_t t;
  int fd;

  for (;;) {
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return NULL;
    }
    pthread_create(&t, NULL, pure_echo_conn, (void*)(intptr_t)fd);
    pthread_detach(t);
  }
}

static int start_pure_echo(void) {
  struct sockaddr_in a = loopback(0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  pthread_t t;

  ASSERT_GE(fd, 0);
  ASSERT_OK(bind(fd, (struct sockaddr*)&a, sizeof(a)));
  ASSERT_OK(listen(fd, 128));
  ASSERT_OK(pthread_create(&t, NULL, pure_echo_main, (void*)(intptr_t)fd));
  pthread_detach(t);
  return bound_port(fd);
}

/* n random bytes through a plain echo, then EOF back. */
static void check_pure_echo(int fd, size_t n, uint64_t seed) {
  char* out = malloc(n);
  char* in = malloc(n);
  char end[16];

  ASSERT_NOT_NULL(out);
  ASSERT_NOT_NULL(in);
  fill_random(out, n, seed);
  write_all(fd, out, n);
  ASSERT_OK(shutdown(fd, SHUT_WR));
  read_exact(fd, in, n);
  ASSERT_MEM_EQ(in, out, n);
  ASSERT_EQ(read_all(fd, end, sizeof(end)), 0);
  free(out);
  free(in);
  close(fd);
}

/* The inner command (dialing side, TLS server) for --exec. */
static void tls_inner(char* out, size_t len, const char* extra, int port) {
  snprintf(out, len, "%s --tls --cert %s --key %s %s 127.0.0.1 %d", cli(),
           tls_pem("server"), tls_pem("server-key"), extra, port);
}

TEST_TIMEOUT(cli_tls_tunnel_mutual, 120) {
  char log[256];
  char port[16];
  char inner[1024];
  char ca_opt[256];
  int fds[16];
  pid_t pid;
  int p1;
  int p2;
  int i;

  tls_setup();
  tmp_path(log, sizeof(log), "tls.log");
  p2 = start_tcp_server();
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  snprintf(ca_opt, sizeof(ca_opt), "--ca %s", tls_pem("ca"));
  tls_inner(inner, sizeof(inner), ca_opt, p2);
  {
    char* argv[] = {(char*)cli(),   "--tls",
                    "--ca",         (char*)tls_pem("ca"),
                    "--servername", "server.test",
                    "--cert",       (char*)tls_pem("client"),
                    "--key",        (char*)tls_pem("client-key"),
                    "-l",           "127.0.0.1",
                    port,           "--exec",
                    inner,          NULL};
    pid = cli_spawn(log, -1, argv);
  }
  check_count(tcp_connect(p1), 4 << 20, 1);
  check_echo(tcp_connect(p1), 200, 2);
  check_reverse_halfclose(tcp_connect(p1));
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
  ASSERT_EQ(cli_stop(pid), 0);
  ASSERT_STR_EQ(slurp(log), "");
  unlink(log);
  tls_cleanup();
}

/* A refused certificate ends both commands with status 1 and one line each
 * that says why. */
static void tls_refused(const char* outer_opts, const char* inner_extra,
                        const char* outer_says, const char* inner_says) {
  char out[8192];
  char inner[1024];

  tls_inner(inner, sizeof(inner), inner_extra, 9);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --tls %s -l 127.0.0.1 0 --exec '%s'",
                    cli(), outer_opts, inner),
            1);
  if (count_lines(out) != 2 || strstr(out, outer_says) == NULL ||
      strstr(out, inner_says) == NULL)
    task_fail(__FILE__, __LINE__, "want two lines with \"%s\" and \"%s\": %s",
              outer_says, inner_says, out);
}

TEST_TIMEOUT(cli_tls_refused_certificates, 60) {
  char opts[1024];
  char ca_opt[256];

  tls_setup();
  snprintf(ca_opt, sizeof(ca_opt), "--ca %s", tls_pem("ca"));
  /* The name does not match. */
  snprintf(opts, sizeof(opts), "--ca %s --servername other.test",
           tls_pem("ca"));
  tls_refused(opts, "",
              "session ended: TLS handshake failed: certificate verify "
              "failed: hostname mismatch",
              "session ended: TLS handshake failed: sslv3 alert bad "
              "certificate");
  /* The server's CA is not ours. */
  snprintf(opts, sizeof(opts), "--ca %s --servername server.test",
           tls_pem("other-ca"));
  tls_refused(opts, "", "certificate verify failed",
              "TLS handshake failed: tlsv1 alert unknown ca");
  /* The server requires a client certificate (its --ca) and gets none. */
  snprintf(opts, sizeof(opts), "--ca %s --servername server.test",
           tls_pem("ca"));
  tls_refused(opts, ca_opt,
              "session ended: TLS connection failed: tlsv13 alert "
              "certificate required",
              "session ended: TLS handshake failed: peer did not return a "
              "certificate");
  /* ... or one from another CA. */
  snprintf(opts, sizeof(opts),
           "--ca %s --servername server.test --cert %s --key %s", tls_pem("ca"),
           tls_pem("rogue-client"), tls_pem("rogue-client-key"));
  tls_refused(
      opts, ca_opt, "tlsv1 alert unknown ca",
      "certificate verify failed: unable to get local issuer certificate");
  tls_cleanup();
}

TEST(cli_tls_usage_errors) {
  char out[4096];

  tls_setup();
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --cert x 127.0.0.1 80", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "need --tls"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --tls 127.0.0.1 80", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "needs --cert"));
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --tls -l 0", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "give --servername NAME"));
  ASSERT_EQ(
      cli_run(out, sizeof(out), "%s --tls --key x --no-verify -l 0", cli()), 2);
  ASSERT_NOT_NULL(strstr(out, "--key needs --cert"));
  /* Files are read before anything else happens. */
  ASSERT_EQ(cli_run(out, sizeof(out),
                    "%s --tls --cert %s/none.pem 127.0.0.1 80", cli(), tls_dir),
            1);
  ASSERT_NOT_NULL(strstr(out, "none.pem: cannot load the certificate"));
  ASSERT_EQ(count_lines(out), 1);
  ASSERT_EQ(cli_run(out, sizeof(out), "%s --tls --cert %s 127.0.0.1 80", cli(),
                    tls_pem("server")),
            1);
  ASSERT_NOT_NULL(strstr(out, "no private key in it"));
  /* TLS needs a byte stream on stdin/stdout, not a file. */
  ASSERT_EQ(cli_run(out, sizeof(out),
                    "%s --tls --no-verify -l 127.0.0.1 0 </dev/null >/dev/null",
                    cli()),
            1);
  ASSERT_NOT_NULL(strstr(out, "stdin and stdout must be pipes or sockets"));
  tls_cleanup();
}

/* The README's pipeline with --tls on both ends: the session runs over two
 * pipes (non-duplex stdio) in each command. */
TEST_TIMEOUT(cli_tls_stdio_pipeline, 120) {
  char cmd[2048];
  char fifo[256];
  char log[256];
  pid_t pid;
  int p1;
  int p2;

  tls_setup();
  tmp_path(fifo, sizeof(fifo), "tls.fifo");
  tmp_path(log, sizeof(log), "tls-pipe.log");
  ASSERT_OK(mkfifo(fifo, 0600));
  p2 = start_pure_echo();
  p1 = free_port(SOCK_STREAM);
  snprintf(cmd, sizeof(cmd),
           "cat %s | %s --tls --cert %s --key %s 127.0.0.1 %d | %s --tls "
           "--ca %s --servername localhost -l 127.0.0.1 %d > %s",
           fifo, cli(), tls_pem("server"), tls_pem("server-key"), p2, cli(),
           tls_pem("ca"), p1, fifo);
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    setpgid(0, 0);
    if (fd >= 0) dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", cmd, (char*)NULL);
    _exit(127);
  }
  check_pure_echo(tcp_connect(p1), 1 << 20, 7);
  check_pure_echo(tcp_connect(p1), 1000, 8);
  kill(-pid, SIGTERM);
  cli_wait(pid, 10000);
  ASSERT_STR_EQ(slurp(log), "");
  unlink(log);
  unlink(fifo);
  tls_cleanup();
}

/* The command against Go's crypto/tls + hashicorp/yamux (Consul's stack):
 * as TLS and yamux client with its stdin/stdout on a TCP connection to the
 * Go echo server, and as TLS and yamux server behind a Go client that opens
 * 100 streams. */
TEST_TIMEOUT(cli_tls_against_go, 120) {
  const char* go = "interop/bin/tls-peer";
  char port[16];
  char log[256];
  char out[256];
  FILE* f;
  pid_t gopid;
  pid_t pid;
  int sfd;
  int fd;
  int p1;
  int st;

  tls_setup();
  if (access(go, X_OK) != 0) {
    if (system("command -v go >/dev/null 2>&1") != 0)
      SKIP("go is missing: no Go TLS peer");
    task_fail(__FILE__, __LINE__, "%s is missing: run make", go);
  }
  tmp_path(log, sizeof(log), "tls-go.log");

  /* 1: Go serves (TLS server, yamux server, echo). */
  snprintf(out, sizeof(out),
           "%s --listen 0 --cert %s --key %s --ca %s --require-client-cert "
           "echo",
           go, tls_pem("server"), tls_pem("server-key"), tls_pem("ca"));
  f = popen(out, "r");
  ASSERT_NOT_NULL(f);
  ASSERT_NOT_NULL(fgets(out, sizeof(out), f));
  ASSERT_EQ(strncmp(out, "PORT ", 5), 0);
  sfd = tcp_connect(atoi(out + 5));
  set_timeout(sfd, 0);
  p1 = free_port(SOCK_STREAM);
  snprintf(port, sizeof(port), "%d", p1);
  {
    char* argv[] = {(char*)cli(),   "--tls",
                    "--ca",         (char*)tls_pem("ca"),
                    "--servername", "server.test",
                    "--cert",       (char*)tls_pem("client"),
                    "--key",        (char*)tls_pem("client-key"),
                    "-l",           "127.0.0.1",
                    port,           NULL};
    pid = cli_spawn_io(log, sfd, sfd, argv);
  }
  close(sfd);
  check_pure_echo(tcp_connect(p1), 4 << 20, 11);
  check_pure_echo(tcp_connect(p1), 1, 12);
  ASSERT_EQ(cli_stop(pid), 0);
  st = pclose(f); /* the Go server sees our close_notify: a clean end */
  ASSERT(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
  ASSERT_STR_EQ(slurp(log), "");

  /* 2: Go dials (TLS client, yamux client, 100 streams); the command serves
   * on the accepted connection and dials the echo server per stream. */
  {
    struct sockaddr_in a = loopback(0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char gport[16];
    char ep[16];
    ASSERT_GE(lfd, 0);
    ASSERT_OK(bind(lfd, (struct sockaddr*)&a, sizeof(a)));
    ASSERT_OK(listen(lfd, 1));
    snprintf(gport, sizeof(gport), "%d", bound_port(lfd));
    snprintf(ep, sizeof(ep), "%d", start_pure_echo());
    {
      char* gargv[] = {(char*)go,
                       "--connect",
                       gport,
                       "--ca",
                       (char*)tls_pem("ca"),
                       "--servername",
                       "server.test",
                       "--cert",
                       (char*)tls_pem("client"),
                       "--key",
                       (char*)tls_pem("client-key"),
                       "--streams",
                       "100",
                       "streams",
                       NULL};
      gopid = cli_spawn(log, -1, gargv);
    }
    fd = accept(lfd, NULL, NULL);
    ASSERT_GE(fd, 0);
    close(lfd);
    {
      char* argv[] = {(char*)cli(), "--tls",
                      "--cert",     (char*)tls_pem("server"),
                      "--key",      (char*)tls_pem("server-key"),
                      "--ca",       (char*)tls_pem("ca"),
                      "127.0.0.1",  ep,
                      NULL};
      pid = cli_spawn_io(log, fd, fd, argv);
    }
    close(fd);
    ASSERT_EQ(cli_wait(gopid, 60000), 0);
    /* The Go client closed the session: the command ends cleanly. */
    ASSERT_EQ(cli_wait(pid, 10000), 0);
  }
  ASSERT_STR_EQ(slurp(log), "");
  unlink(log);
  tls_cleanup();
}
