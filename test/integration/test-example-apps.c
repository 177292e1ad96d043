/* The example applications do what their comments say: http-stdio (HTTP
 * over a child's stdio, and --direct), rpc (concurrent calls, a timed-out
 * call reset and seen by the server) and go-talk (a hashicorp/yamux program
 * as the child). Run from the source tree, as `make test` does; the examples
 * are the runner's build tree's ($YAMUX_TEST_BUILD_DIR). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

/* Starts argv with stdout on a pipe; returns the pid and the read end. */
static pid_t spawn_piped(char* const argv[], int* out_fd) {
  int fds[2];
  pid_t pid;
  ASSERT_EQ(pipe(fds), 0);
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  return pid;
}

/* Reads one line (without the newline) from fd, byte by byte. */
static void read_line(int fd, char* line, size_t cap) {
  size_t n = 0;
  char ch;
  while (n + 1 < cap) {
    ssize_t k = read(fd, &ch, 1);
    ASSERT_EQ(k, 1);
    if (ch == '\n') break;
    line[n++] = ch;
  }
  line[n] = '\0';
}

static int exit_status_of(pid_t pid) {
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* ---- a tiny blocking HTTP/1.1 client ------------------------------------- */

typedef struct {
  int fd;
  char buf[65536];
  size_t len;
} conn_t;

static void conn_open(conn_t* c, int port) {
  struct sockaddr_in sin;
  struct timeval tv = {20, 0};
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->len = 0;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(c->fd, 0);
  ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  ASSERT_EQ(connect(c->fd, (struct sockaddr*)&sin, sizeof(sin)), 0);
}

static void send_all(int fd, const void* p, size_t n) {
  const char* s = p;
  while (n > 0) {
    ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
    ASSERT_GT(k, 0);
    s += k;
    n -= (size_t)k;
  }
}

static ssize_t conn_fill(conn_t* c) {
  ssize_t k;
  ASSERT_LT(c->len, sizeof(c->buf));
  k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
  ASSERT_GE(k, 0); /* < 0 would be a timeout or a reset */
  c->len += (size_t)k;
  return k;
}

/* Reads one response; returns its status code, copies up to cap-1 bytes of
 * the body into body (NUL-terminated), sets *body_len to its full length and
 * *zeros to whether every byte was 0. */
static int read_response(conn_t* c, char* body, size_t cap, size_t* body_len,
                         int* zeros) {
  char* end;
  char* cl;
  size_t head, want, got = 0, k;
  int status;
  for (;;) {
    end = c->len > 0 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (end != NULL) break;
    ASSERT_GT(conn_fill(c), 0);
  }
  head = (size_t)(end - c->buf) + 4;
  *end = '\0';
  ASSERT_EQ(sscanf(c->buf, "HTTP/1.1 %d", &status), 1);
  cl = strcasestr(c->buf, "\r\nContent-Length:");
  ASSERT_NOT_NULL(cl);
  want = strtoull(cl + 17, NULL, 10);
  memmove(c->buf, c->buf + head, c->len - head);
  c->len -= head;
  *zeros = 1;
  while (got < want) {
    if (c->len == 0) ASSERT_GT(conn_fill(c), 0);
    k = want - got < c->len ? want - got : c->len;
    if (got < cap - 1) {
      size_t m = k < cap - 1 - got ? k : cap - 1 - got;
      memcpy(body + got, c->buf, m);
    }
    for (size_t i = 0; i < k; i++)
      if (c->buf[i] != 0) *zeros = 0;
    memmove(c->buf, c->buf + k, c->len - k);
    c->len -= k;
    got += k;
  }
  body[got < cap - 1 ? got : cap - 1] = '\0';
  *body_len = got;
  return status;
}

/* Reads until the server's FIN; nothing else may arrive. */
static void expect_eof(conn_t* c) {
  ASSERT_EQ(c->len, 0);
  ASSERT_EQ(conn_fill(c), 0);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

static void http_checks(int port) {
  conn_t* c = malloc(sizeof(*c));
  conn_t* many;
  char body[256];
  size_t blen;
  int zeros, i;
  char* big;
  ASSERT_NOT_NULL(c);

  /* Three pipelined requests on one keep-alive connection, a 404, a large
   * response, a large request body. */
  conn_open(c, port);
  send_all(c->fd, GET("/") GET("/") GET("/"), 3 * strlen(GET("/")));
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 200);
    ASSERT_STR_EQ(body, "Hello, yamux\n");
  }
  send_all(c->fd, GET("/nope"), strlen(GET("/nope")));
  ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 404);
  send_all(c->fd, GET("/bytes/5000000"), strlen(GET("/bytes/5000000")));
  ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 200);
  ASSERT_EQ(blen, 5000000);
  ASSERT(zeros);
  big = calloc(1, 2 << 20);
  ASSERT_NOT_NULL(big);
  {
    const char* h =
        "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n\r\n";
    send_all(c->fd, h, strlen(h));
    send_all(c->fd, big, 2 << 20);
  }
  free(big);
  ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 200);
  ASSERT_STR_EQ(body, "received 2097152 bytes\n");

  /* Half-close: the client's FIN travels to the server, which answers what
   * it got and closes its side; the client then reads EOF. */
  send_all(c->fd, GET("/"), strlen(GET("/")));
  ASSERT_EQ(shutdown(c->fd, SHUT_WR), 0);
  ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 200);
  ASSERT_STR_EQ(body, "Hello, yamux\n");
  expect_eof(c);
  close(c->fd);

  /* Connection: close: the server closes after the response. */
  conn_open(c, port);
  {
    const char* h = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send_all(c->fd, h, strlen(h));
  }
  ASSERT_EQ(read_response(c, body, sizeof(body), &blen, &zeros), 200);
  ASSERT_STR_EQ(body, "Hello, yamux\n");
  expect_eof(c);
  close(c->fd);
  free(c);

  /* 32 connections at once. */
  many = malloc(32 * sizeof(*many));
  ASSERT_NOT_NULL(many);
  for (i = 0; i < 32; i++) conn_open(&many[i], port);
  for (i = 0; i < 32; i++)
    send_all(many[i].fd, GET("/bytes/100000"), strlen(GET("/bytes/100000")));
  for (i = 31; i >= 0; i--) {
    ASSERT_EQ(read_response(&many[i], body, sizeof(body), &blen, &zeros), 200);
    ASSERT_EQ(blen, 100000);
    close(many[i].fd);
  }
  free(many);
}

static void run_http_stdio(const char* mode) {
  char path[4096];
  char* argv[5] = {path, "--listen", "127.0.0.1:0", NULL, NULL};
  char line[256];
  char* p;
  int out, port;
  pid_t pid;
  snprintf(path, sizeof(path), "%s/examples/http-stdio", test_build_dir());
  argv[3] = (char*)mode;
  pid = spawn_piped(argv, &out);
  read_line(out, line, sizeof(line));
  p = strstr(line, "http://127.0.0.1:");
  ASSERT_NOT_NULL(p);
  port = atoi(p + 17);
  ASSERT_GT(port, 0);
  http_checks(port);
  /* SIGTERM: clean shutdown, child included, exit status 0. */
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(exit_status_of(pid), 0);
  close(out);
}

TEST(examples_http_stdio_serves_through_the_child) {
  run_http_stdio(NULL);
}

TEST(examples_http_stdio_direct) {
  run_http_stdio("--direct");
}

/* ---- rpc ----------------------------------------------------------------- */

/* Runs cmd, captures up to cap-1 bytes of its stdout; returns its exit
 * status. */
static int run_capture(const char* cmd, char* out, size_t cap) {
  FILE* f = popen(cmd, "r");
  size_t n = 0, k;
  int st;
  ASSERT_NOT_NULL(f);
  while (n + 1 < cap && (k = fread(out + n, 1, cap - 1 - n, f)) > 0) n += k;
  out[n] = '\0';
  st = pclose(f);
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

TEST_TIMEOUT(examples_rpc_calls_and_timeouts, 120) {
  char out[4096];
  const char* p;
  int resets, cancelled, sleeping;
  /* Calls succeed and are verified; each slow call times out on the client,
   * which resets its stream with the deadline code; the server sees the
   * reset (ECONNRESET + code 0x44) of every slow call it received and
   * cancels its work. */
  ASSERT_EQ(run_capture("\"$YAMUX_TEST_BUILD_DIR\"/examples/rpc --calls 3000 "
                        "--concurrency 200 --slow 4",
                        out, sizeof(out)),
            0);
  ASSERT_NOT_NULL(strstr(out, "rpc: 3000 calls ok, 0 failed"));
  ASSERT_NOT_NULL(strstr(out, "4 of 4 slow calls timed out"));
  p = strstr(out, "server saw ");
  ASSERT_NOT_NULL(p);
  ASSERT_EQ(sscanf(p,
                   "server saw %d resets (last code 0x44), cancelled %d of "
                   "%d sleeping calls, answered 3000",
                   &resets, &cancelled, &sleeping),
            3);
  /* Started from the first completion with a 200 ms deadline, the slow
   * requests reach the server in practice (the program tolerates a request
   * that never left: a loaded sanitizer run). */
  ASSERT_GE(sleeping, 1);
  ASSERT_EQ(resets, sleeping);
  ASSERT_EQ(cancelled, sleeping);
}
/* ---- go-talk ------------------------------------------------------------- */

TEST_TIMEOUT(examples_go_talk_with_hashicorp_yamux, 180) {
  char out[4096];
  char* p;
  if (system("command -v go >/dev/null 2>&1") != 0) SKIP("go is not installed");
  /* Built with the module cache or the proxy; no Go module, no test. */
  if (system("GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build"
             " -o interop/bin/go-talk ./interop/go-talk >/dev/null 2>&1") != 0)
    SKIP(
        "interop/go-talk does not build (no hashicorp/yamux module, or go "
        "run under valgrind)");
  ASSERT_EQ(run_capture("\"$YAMUX_TEST_BUILD_DIR\"/examples/go-talk "
                        "interop/bin/go-talk",
                        out, sizeof(out)),
            0);
  ASSERT_NOT_NULL(strstr(out, ": hello from go (hashicorp/yamux), pid "));
  ASSERT_NOT_NULL(strstr(out, "go-talk: upper -> HELLO FROM C\n"));
  ASSERT_NOT_NULL(strstr(out,
                         "go-talk: hash of 1048576 bytes: go says "
                         "1048576 "));
  ASSERT_NOT_NULL(strstr(out,
                         "go-talk: callback -> callbacks ok 3: pong 0, "
                         "pong 1, pong 2\n"));
  /* The Go side opened 4 streams: even ids. */
  for (p = out; (p = strstr(p, "go opened stream ")) != NULL; p++)
    ASSERT_EQ(atoi(p + 17) % 2, 0);
  ASSERT_NOT_NULL(strstr(out, "go-talk: child exited with status 0\n"));
}
