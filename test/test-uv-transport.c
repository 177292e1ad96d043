/* The libuv driver over real transports: socket pairs, pipes, TCP, and a
 * child process's stdio; bulk and many-stream transfers verified by hash. */
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "test-uv-util.h"

typedef enum { T_SOCKETPAIR, T_PIPES, T_TCP } transport_t;

/* Client and echo server in one loop over `transport`; stream i sends
 * sizes[i] bytes. */
static void run_echo(transport_t transport, unsigned int n,
                     const uint64_t* sizes, size_t chunk) {
  uv_loop_t loop;
  uvt_session_t client;
  uvt_session_t server;
  uvt_gen_t gen;
  uint64_t total;
  unsigned int i;
  int duplex;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  uvt_session_init(&server, YAMUX_SERVER, NULL);
  duplex = 1;
  switch (transport) {
    case T_SOCKETPAIR:
      uvt_socketpair(&loop, &client, &server);
      break;
    case T_PIPES:
      uvt_pipes(&loop, &client, &server);
      duplex = 0;
      break;
    case T_TCP:
      uvt_tcp(&loop, &client, &server);
      break;
  }
  ASSERT_OK(yamux_session_start_uv(&loop, &client.session, duplex, uvt_on_end));
  ASSERT_OK(yamux_session_start_uv(&loop, &server.session, duplex, uvt_on_end));
  ASSERT_PTR_EQ(client.session.loop, &loop);
  uvt_echo_listen(&server);

  memset(&gen, 0, sizeof(gen));
  gen.close_when_done = 1;
  uvt_gen_start(&gen, &client, n, sizes, chunk, 4);
  uvt_loop_finish(&loop);

  total = 0;
  for (i = 0; i < n; i++) total += sizes[i];
  ASSERT_EQ(gen.verified, n);
  ASSERT_EQ(gen.closed, n);
  ASSERT_EQ(gen.bytes_received, total);
  ASSERT_EQ(server.echo_bytes, total);
  ASSERT_EQ(server.echo_accepted, n);
  ASSERT_EQ(server.echo_closed, n);
  uvt_gen_check_done(&gen);
  /* The client closed first: no end callback for it. The server read the
   * client's Go Away(0), then EOF. */
  ASSERT_EQ(client.end_count, 0);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(server.end_count, 1);
  ASSERT_EQ(server.end_status, UV_EOF);
  ASSERT_EQ(server.goaway_count, 1);
  ASSERT_EQ(server.goaway_code, 0);
  ASSERT_EQ(server.close_count, 1);
}

static uint64_t* random_sizes(unsigned int n, uint64_t max, uint64_t seed) {
  uint64_t* sizes;
  unsigned int i;

  sizes = malloc(sizeof(*sizes) * n);
  ASSERT_NOT_NULL(sizes);
  for (i = 0; i < n; i++) {
    sizes[i] = uvt_rand(&seed) % (max + 1);
    if (i % 97 == 0) sizes[i] = 0; /* a few empty streams: FIN only */
  }
  return sizes;
}

TEST(uv_socketpair_echo) {
  uint64_t* sizes;

  sizes = random_sizes(50, 300000, 1);
  run_echo(T_SOCKETPAIR, 50, sizes, 16384);
  free(sizes);
}

TEST(uv_pipes_echo) {
  uint64_t* sizes;

  sizes = random_sizes(50, 300000, 2);
  run_echo(T_PIPES, 50, sizes, 16384);
  free(sizes);
}

TEST(uv_tcp_echo) {
  uint64_t* sizes;

  sizes = random_sizes(50, 300000, 3);
  run_echo(T_TCP, 50, sizes, 16384);
  free(sizes);
}

TEST(uv_bulk_one_stream) {
  uint64_t size;

  /* 256 MiB each way through one stream (32 MiB under ASan). */
  size = UVT_SLOW ? 32ull << 20 : 256ull << 20;
  run_echo(T_SOCKETPAIR, 1, &size, 256 * 1024);
}

TEST(uv_tcp_bulk_one_stream) {
  uint64_t size;

  size = UVT_SLOW ? 16ull << 20 : 64ull << 20;
  run_echo(T_TCP, 1, &size, 256 * 1024);
}

TEST(uv_many_streams) {
  uint64_t* sizes;
  unsigned int i;

  /* 1,000 concurrent streams (more than max_unacked_opens and the accept
   * backlog), random sizes up to 128 KiB, a few of 1 MiB. */
  sizes = random_sizes(1000, 128 * 1024, 4);
  for (i = 0; i < 1000; i += 100) sizes[i + 1] = 1 << 20;
  run_echo(T_SOCKETPAIR, 1000, sizes, 32768);
  free(sizes);
}

/* ---- over a child process's stdio ---------------------------------------- */

/* The child: an echo server over its own stdin/stdout. Exits 0 if the
 * session ended with the parent's EOF. */
HELPER(uv_echo_stdio) {
  uv_loop_t loop;
  uvt_session_t server;
  int r;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&server, YAMUX_SERVER, NULL);
  r = yamux_session_start_stdio(&loop, &server.session, uvt_on_end);
  ASSERT_OK(r);
  uvt_echo_listen(&server);
  uvt_loop_finish(&loop);
  uvt_echo_free_all(&server); /* what the closed session left behind */
  if (server.end_status != UV_EOF) {
    fprintf(stderr, "child: session ended with %s\n",
            yamux_err_name(server.end_status));
    return 1;
  }
  if (helper_argc > 0 && strcmp(helper_argv[0], "lenient") == 0)
    return 0; /* input from a file: EOF may cut streams short */
  return server.echo_accepted == server.echo_closed ? 0 : 2;
}

static int64_t exit_status;
static int term_signal;
static int exit_count;

static void on_child_exit(uv_process_t* proc, int64_t status, int signal) {
  exit_status = status;
  term_signal = signal;
  exit_count++;
  uv_close((uv_handle_t*)proc, NULL);
}

static void spawn_echo(uv_loop_t* loop, uvt_session_t* client,
                       uv_process_t* proc) {
  uv_process_options_t opts;
  char* args[4];

  args[0] = (char*)test_exe_path();
  args[1] = "--helper";
  args[2] = "uv_echo_stdio";
  args[3] = NULL;
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  opts.exit_cb = on_child_exit;
  exit_count = 0;
  ASSERT_OK(
      yamux_session_spawn(loop, &client->session, proc, &opts, uvt_on_end));
}

static void run_spawn_echo(unsigned int n, const uint64_t* sizes,
                           size_t chunk) {
  uv_loop_t loop;
  uv_process_t proc;
  uvt_session_t client;
  uvt_gen_t gen;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  spawn_echo(&loop, &client, &proc);
  memset(&gen, 0, sizeof(gen));
  gen.close_when_done = 1;
  uvt_gen_start(&gen, &client, n, sizes, chunk, 4);
  uvt_loop_finish(&loop);

  ASSERT_EQ(gen.verified, n);
  ASSERT_EQ(gen.closed, n);
  uvt_gen_check_done(&gen);
  ASSERT_EQ(client.end_count, 0);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(exit_count, 1);
  ASSERT_EQ(term_signal, 0);
  ASSERT_EQ(exit_status, 0);
}

TEST(uv_spawn_echo) {
  uint64_t* sizes;

  unsigned int i;

  sizes = random_sizes(1000, 64 * 1024, 5);
  for (i = 0; i < 1000; i++)
    sizes[i] += 1; /* empty streams are uv_many_streams' business */
  run_spawn_echo(1000, sizes, 16384);
  free(sizes);
}

TEST(uv_spawn_bulk) {
  uint64_t size;

  size = UVT_SLOW ? 16ull << 20 : 128ull << 20;
  run_spawn_echo(1, &size, 256 * 1024);
}

/* yamux_session_spawn() of a program that does not exist fails at once and
 * leaves nothing to close. */
TEST(uv_spawn_enoent) {
  uv_loop_t loop;
  uv_process_t proc;
  uv_process_options_t opts;
  uvt_session_t client;
  char* args[2];
  int r;

  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  args[0] = "/nonexistent/yamux-test-program";
  args[1] = NULL;
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  r = yamux_session_spawn(&loop, &client.session, &proc, &opts, uvt_on_end);
  ASSERT_EQ(r, UV_ENOENT);
  /* Nothing is left to close: libuv initializes the process handle even
   * when it fails, and the session closed it. The loop ends clean. */
  uvt_session_close(&client);
  uvt_loop_finish(&loop);
  ASSERT_EQ(client.close_count, 1);
}

/* Bad arguments are refused before anything is touched. */
TEST(uv_start_einval) {
  uv_loop_t loop;
  uvt_session_t a;
  uvt_session_t b;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&a, YAMUX_CLIENT, NULL);
  uvt_session_init(&b, YAMUX_SERVER, NULL);
  /* io[0] not initialized. */
  ASSERT_EQ(yamux_session_start_uv(&loop, &a.session, 1, uvt_on_end),
            UV_EINVAL);
  ASSERT_EQ(yamux_session_start_uv(NULL, &a.session, 1, uvt_on_end), UV_EINVAL);
  uvt_socketpair(&loop, &a, &b);
  ASSERT_OK(yamux_session_start_uv(&loop, &a.session, 1, uvt_on_end));
  /* Started twice. */
  ASSERT_EQ(yamux_session_start_uv(&loop, &a.session, 1, uvt_on_end),
            UV_EINVAL);
  uvt_session_close(&a);
  /* b never started: its handle is still ours. */
  uv_close(&b.session.io[0].handle, NULL);
  uvt_session_close(&b);
  uvt_loop_finish(&loop);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.close_count, 1);
}
