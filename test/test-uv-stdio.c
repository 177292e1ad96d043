/* yamux_session_start_stdio() over regular files, and examples/echo driven
 * over its stdio by a libyamux client. */
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
