/* yamux_session_start_stdio() over regular files, and examples/echo driven
 * over its stdio by a libyamux client. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "task.h"
#include "test-uv-util.h"

static int64_t exit_status;
static int term_signal;
static int exit_count;

static void on_child_exit(uv_process_t* proc, int64_t status, int sig) {
  exit_status = status;
  term_signal = sig;
  exit_count++;
  uv_close((uv_handle_t*)proc, NULL);
}

/* The child's stdin is a file of frames, its stdout another file: the
 * session reads the file to its end, echoes, and writes its Go Away(0). */
TEST(uv_stdio_files) {
  char in_path[] = "/tmp/yamux-uv-in-XXXXXX";
  char out_path[] = "/tmp/yamux-uv-out-XXXXXX";
  uv_loop_t loop;
  uv_process_t proc;
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  char* args[5];
  tbuf_t in;
  tbuf_t echoed;
  tframes_t frames;
  uint8_t* out;
  struct stat st;
  size_t i;
  int fin;
  int in_fd;
  int out_fd;

  memset(&in, 0, sizeof(in));
  memset(&echoed, 0, sizeof(echoed));
  memset(&frames, 0, sizeof(frames));
  tframe_put(&in, T_WU, F_SYN, 1, 0, NULL, 0);
  tframe_put(&in, T_DATA, 0, 1, 11, "hello world", 11);
  tframe_put(&in, T_WU, F_FIN, 1, 0, NULL, 0);
  in_fd = mkstemp(in_path);
  ASSERT_GE(in_fd, 0);
  ASSERT_EQ(write(in_fd, in.data, in.len), (ssize_t)in.len);
  ASSERT_EQ(lseek(in_fd, 0, SEEK_SET), 0);
  out_fd = mkstemp(out_path);
  ASSERT_GE(out_fd, 0);

  ASSERT_OK(uv_loop_init(&loop));
  args[0] = (char*)test_exe_path();
  args[1] = "--helper";
  args[2] = "uv_echo_stdio";
  args[3] = "lenient";
  args[4] = NULL;
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  opts.exit_cb = on_child_exit;
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = in_fd;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out_fd;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  ASSERT_OK(uv_spawn(&loop, &proc, &opts));
  uvt_loop_finish(&loop);
  ASSERT_EQ(exit_count, 1);
  ASSERT_EQ(term_signal, 0);
  ASSERT_EQ(exit_status, 0);

  ASSERT_OK(fstat(out_fd, &st));
  out = malloc((size_t)st.st_size + 1);
  ASSERT_NOT_NULL(out);
  ASSERT_EQ(pread(out_fd, out, (size_t)st.st_size, 0), st.st_size);
  ASSERT_EQ(tframes_decode(&frames, out, (size_t)st.st_size),
            (size_t)st.st_size);
  /* ACK, the echo, FIN on stream 1; the Go Away(0) last. */
  fin = 0;
  for (i = 0; i < frames.n; i++) {
    if (frames.v[i].id != 1) continue;
    if (frames.v[i].type == T_DATA)
      tbuf_append(&echoed, frames.v[i].body, frames.v[i].length);
    if (frames.v[i].flags & F_FIN) fin = 1;
  }
  ASSERT_EQ(echoed.len, 11);
  ASSERT_MEM_EQ(echoed.data, "hello world", 11);
  ASSERT_EQ(fin, 1);
  ASSERT_GE(frames.n, 2);
  ASSERT_EQ(frames.v[0].id, 1);
  ASSERT(frames.v[0].flags & F_ACK);
  ASSERT_EQ(frames.v[frames.n - 1].type, T_GOAWAY);
  ASSERT_EQ(frames.v[frames.n - 1].length, 0);

  tframes_free(&frames);
  tbuf_free(&in);
  tbuf_free(&echoed);
  free(out);
  close(in_fd);
  close(out_fd);
  unlink(in_path);
  unlink(out_path);
}

/* examples/echo --stdio as the child: 200 streams echoed and verified, then
 * our close makes it exit 0. */
static void run_example_echo(const char* role) {
  char path[4096];
  uv_loop_t loop;
  uv_process_t proc;
  uv_process_options_t opts;
  uvt_session_t client;
  uvt_gen_t gen;
  uint64_t sizes[200];
  uint64_t seed;
  char* args[4];
  unsigned int i;

  snprintf(path, sizeof(path), "%s/examples/echo", test_build_dir());
  if (access(path, X_OK) != 0)
    SKIP("examples/echo not built in the runner's build tree");

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client,
                   strcmp(role, "--client") == 0 ? YAMUX_SERVER : YAMUX_CLIENT,
                   NULL);
  args[0] = path;
  args[1] = (char*)role;
  args[2] = "--stdio";
  args[3] = NULL;
  memset(&opts, 0, sizeof(opts));
  opts.file = path;
  opts.args = args;
  opts.exit_cb = on_child_exit;
  exit_count = 0;
  ASSERT_OK(
      yamux_session_spawn(&loop, &client.session, &proc, &opts, uvt_on_end));
  seed = 7;
  for (i = 0; i < 200; i++) sizes[i] = 1 + uvt_rand(&seed) % 200000;
  sizes[0] = 8 << 20; /* one bulk stream beside the small ones */
  memset(&gen, 0, sizeof(gen));
  gen.close_when_done = 1;
  uvt_gen_start(&gen, &client, 200, sizes, 65536, 4);
  uvt_loop_finish(&loop);

  ASSERT_EQ(gen.verified, 200);
  uvt_gen_check_done(&gen);
  ASSERT_EQ(client.end_count, 0);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(exit_count, 1);
  ASSERT_EQ(term_signal, 0);
  ASSERT_EQ(exit_status, 0);
}

TEST(uv_example_echo_stdio) {
  run_example_echo("--server");
}

/* In --client mode the echo accepts our streams too (the role only sets
 * the parity of ids); we open them as the server. */
TEST(uv_example_echo_stdio_client_role) {
  run_example_echo("--client");
}

/* ---- the descriptors a stdio session leaves behind ----------------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

/* The child: a server session over its own stdin/stdout that closes when
 * it ends, then stays alive for helper_argv[0] milliseconds, so that what
 * the peer sees is what the closed session left, not the process exit. */
HELPER(uv_stdio_end_then_live) {
  uv_loop_t loop;
  uvt_session_t server;
  struct timespec ts;
  long ms = helper_argc > 0 ? atol(helper_argv[0]) : 0;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&server, YAMUX_SERVER, NULL);
  ASSERT_OK(yamux_session_start_stdio(&loop, &server.session, uvt_on_end));
  uvt_loop_finish(&loop);
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
  return 0;
}

static pid_t spawn_stdio_child(int in_fd, int out_fd) {
  char* args[5];
  pid_t pid;

  args[0] = (char*)test_exe_path();
  args[1] = "--helper";
  args[2] = "uv_stdio_end_then_live";
  args[3] = "5000";
  args[4] = NULL;
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd;
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    /* Only fds 0-2 may keep the transport open. */
    for (fd = 3; fd < 1024; fd++) close(fd);
    execv(args[0], args);
    _exit(127);
  }
  return pid;
}

/* Reads (and discards) from fd until EOF or an error; returns 0 on EOF,
 * the negative errno on an error, 1 when timeout_ms passed first. */
static int read_until_eof(int fd, int timeout_ms) {
  char buf[4096];
  struct pollfd pfd;
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;

  for (;;) {
    uint64_t now = uv_hrtime();
    ssize_t n;
    if (now >= deadline) return 1;
    pfd.fd = fd;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0) continue;
    n = read(fd, buf, sizeof(buf));
    if (n == 0) return 0;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return -errno;
  }
}

/* Writes to fd until the write fails; returns the negative errno, or 1 when
 * timeout_ms passed first (the reader still holds the descriptor). */
static int write_until_error(int fd, int timeout_ms) {
  static char buf[65536];
  struct pollfd pfd;
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;

  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  for (;;) {
    uint64_t now = uv_hrtime();
    if (now >= deadline) return 1;
    if (write(fd, buf, sizeof(buf)) < 0) {
      if (errno != EAGAIN && errno != EINTR) return -errno;
      pfd.fd = fd;
      pfd.events = POLLOUT;
      poll(&pfd, 1, 10);
    }
  }
}

static void expect_child_alive_then_stop(pid_t pid) {
  int status;
  ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0);
  kill(pid, SIGKILL);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
}

/* One socket on fds 0 and 1 (inetd style). The peer half-closes first: the
 * child's session ends with EOF, and the peer must read EOF while the
 * child lives on. */
TEST(uv_stdio_duplex_socket_closed_after_peer_eof) {
  int sv[2];
  pid_t pid;

  uvt_no_sigpipe();
  ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  pid = spawn_stdio_child(sv[1], sv[1]);
  close(sv[1]);
  ASSERT_OK(shutdown(sv[0], SHUT_WR));
  ASSERT_EQ(read_until_eof(sv[0], 3000), 0);
  expect_child_alive_then_stop(pid);
  close(sv[0]);
}

/* Separate stdin and stdout pipes. A protocol error ends the child's
 * session: the peer reads EOF on stdout and a write to stdin fails with
 * EPIPE, while the child lives on. */
TEST(uv_stdio_pipes_released_after_protocol_error) {
  int in[2], out[2];
  uint8_t bad[12] = {9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* version 9 */
  pid_t pid;

  uvt_no_sigpipe();
  ASSERT_OK(pipe(in));
  ASSERT_OK(pipe(out));
  pid = spawn_stdio_child(in[0], out[1]);
  close(in[0]);
  close(out[1]);
  ASSERT_EQ(write(in[1], bad, sizeof(bad)), (ssize_t)sizeof(bad));
  ASSERT_EQ(read_until_eof(out[0], 3000), 0);
  ASSERT_EQ(write_until_error(in[1], 3000), UV_EPIPE);
  expect_child_alive_then_stop(pid);
  close(in[1]);
  close(out[0]);
}

/* stdout a TCP socket, stdin a pipe: after the peer's EOF on stdin the
 * peer must read EOF on the socket while the child lives on. */
TEST(uv_stdio_tcp_stdout_closed_after_stdin_eof) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int lfd, cfd, afd, in[2];
  pid_t pid;

  uvt_no_sigpipe();
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(bind(lfd, (struct sockaddr*)&addr, sizeof(addr)));
  ASSERT_OK(listen(lfd, 1));
  ASSERT_OK(getsockname(lfd, (struct sockaddr*)&addr, &len));
  cfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_OK(connect(cfd, (struct sockaddr*)&addr, sizeof(addr)));
  afd = accept(lfd, NULL, NULL);
  ASSERT_GE(afd, 0);
  ASSERT_OK(pipe(in));
  pid = spawn_stdio_child(in[0], afd);
  close(in[0]);
  close(afd);
  close(in[1]); /* EOF on the child's stdin */
  ASSERT_EQ(read_until_eof(cfd, 3000), 0);
  expect_child_alive_then_stop(pid);
  close(cfd);
  close(lfd);
}

static void free_session(yamux_session_t* session) {
  free(session); /* its memory may be reused from the close callback on */
}

/* In a child: fds 0 and 1 as given, start_stdio must fail with UV_EBADF
 * before opening anything (no handle left closing in the session's memory,
 * which the close callback may free at once). Exit status: 0 when so. */
static int start_stdio_refused(int in_fd, int out_fd) {
  uv_loop_t loop;
  yamux_session_t* session;
  int r;

  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0) return 10;
  if (uv_loop_init(&loop) != 0) return 11;
  session = malloc(sizeof(*session));
  if (session == NULL || yamux_session_init(session, YAMUX_SERVER, NULL) != 0)
    return 12;
  r = yamux_session_start_stdio(&loop, session, NULL);
  if (r != UV_EBADF) return 13;
  if (uv_loop_alive(&loop)) return 14; /* a handle is still closing */
  yamux_session_close(session, free_session);
  if (uv_run(&loop, UV_RUN_DEFAULT) != 0) return 15;
  if (uv_loop_close(&loop) != 0) return 16;
  return 0;
}

static void expect_start_stdio_refused(int in_fd, int out_fd) {
  int status;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(start_stdio_refused(in_fd, out_fd));
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* fd 0 the write end of a pipe (`prog 0>&1 | x`), or fd 1 a read end: the
 * start fails cleanly with UV_EBADF. */
TEST(uv_stdio_wrong_direction_refused) {
  int p[2];

  ASSERT_OK(pipe(p));
  expect_start_stdio_refused(p[1], p[1]);
  expect_start_stdio_refused(p[0], p[0]);
  close(p[0]);
  close(p[1]);
}
