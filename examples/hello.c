/* hello: the smallest useful libyamux program (the README's first program).
 *
 * What it shows: starting a client session over a child process's stdio,
 * opening a stream, writing, reading the reply to EOF, closing everything.
 * The child is libyamux's echo peer, so the reply is the message itself.
 *
 * Run: hello [path/to/echo]. Without an argument it runs the source tree's
 * build/examples/echo if there is one, else `yamux-echo` from PATH (which
 * `make install` installs beside the library).
 */
#include <stdio.h>
#include <unistd.h>
#include <yamux.h>

static yamux_session_t session;
static yamux_stream_t stream;
static uv_process_t child;
static char buf[256];

static void on_alloc(yamux_stream_t* s, size_t n, uv_buf_t* b) {
  (void)s, (void)n;
  *b = uv_buf_init(buf, sizeof(buf));
}

static void on_read(yamux_stream_t* s, ssize_t n, const uv_buf_t* b) {
  if (n > 0) printf("%.*s", (int)n, b->base);
  if (n < 0) { /* UV_EOF: the echo finished; anything else: an error */
    yamux_close(s, NULL);
    yamux_session_close(&session, NULL);
  }
}

static void on_exit_cb(uv_process_t* p, int64_t status, int sig) {
  (void)status, (void)sig;
  uv_close((uv_handle_t*)p, NULL);
}

int main(int argc, char** argv) {
  char* args[] = {argc > 1 ? argv[1]
                  : access("build/examples/echo", X_OK) == 0
                      ? "build/examples/echo"
                      : "yamux-echo",
                  NULL};
  uv_process_options_t opts = {
      .file = args[0], .args = args, .exit_cb = on_exit_cb};
  uv_buf_t msg = uv_buf_init("hello, yamux\n", 13);
  static yamux_write_t wreq;
  int rc;

  if ((rc = yamux_session_init(&session, YAMUX_CLIENT, NULL)) != 0 ||
      (rc = yamux_session_spawn(uv_default_loop(), &session, &child, &opts,
                                NULL)) != 0 ||
      (rc = yamux_stream_init(&session, &stream)) != 0 ||
      (rc = yamux_stream_open(NULL, &stream, NULL)) != 0 ||
      (rc = yamux_write(&wreq, &stream, &msg, 1, NULL)) != 0 ||
      (rc = yamux_shutdown(NULL, &stream, NULL)) != 0 ||
      (rc = yamux_read_start(&stream, on_alloc, on_read)) != 0) {
    fprintf(stderr, "hello: %s\n", yamux_strerror(rc));
    return 1;
  }
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  return uv_loop_close(uv_default_loop()) == 0 ? 0 : 1;
}
