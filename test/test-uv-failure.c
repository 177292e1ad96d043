/* The libuv driver when things go wrong: transport EOF, reset and child
 * death in the middle of transfers, a peer that stops answering pings, and
 * a reader that stops reading while the peer keeps writing. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "task.h"
#include "test-uv-util.h"

/* ---- a raw peer: reads and discards -------------------------------------- */

typedef struct {
  uv_stream_t* rx;    /* what it reads from */
  uv_handle_t* other; /* a second handle closed with it (or NULL) */
  uint64_t bytes;
  uint64_t trigger; /* call on_trigger once this many bytes were read */
  void (*on_trigger)(void);
  int triggered;
  int eof;
  char buf[65536];
} raw_t;

static raw_t raw;

static void raw_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  (void)h;
  (void)size;
  *buf = uv_buf_init(raw.buf, sizeof(raw.buf));
}

static void raw_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  (void)buf;
  if (nread > 0) {
    raw.bytes += (uint64_t)nread;
    if (!raw.triggered && raw.trigger != 0 && raw.bytes >= raw.trigger &&
        raw.on_trigger != NULL) {
      raw.triggered = 1;
      raw.on_trigger();
    }
    return;
  }
  if (nread == 0) return;
  /* The session closed its side: close ours. */
  raw.eof = 1;
  uv_read_stop(s);
  if (!uv_is_closing((uv_handle_t*)s)) uv_close((uv_handle_t*)s, NULL);
  if (raw.other != NULL && !uv_is_closing(raw.other)) uv_close(raw.other, NULL);
}

static void raw_start(uv_stream_t* rx, uv_handle_t* other) {
  memset(&raw, 0, sizeof(raw));
  raw.rx = rx;
  raw.other = other;
  ASSERT_OK(uv_read_start(rx, raw_alloc, raw_read));
}

/* ---- EOF in the middle of a transfer --------------------------------------
 */

static uv_pipe_t raw_pipe;
static uv_shutdown_t raw_shutdown_req;

static void raw_shutdown_cb(uv_shutdown_t* req, int status) {
  (void)req;
  ASSERT_OK(status);
}

static void shutdown_raw(void) {
  ASSERT_OK(
      uv_shutdown(&raw_shutdown_req, (uv_stream_t*)&raw_pipe, raw_shutdown_cb));
}

/* The peer never ACKs (connects stay pending), reads 200 KiB, then sends
 * EOF: every write, shutdown and connect completes exactly once. */
TEST(uv_eof_mid_transfer) {
  uv_loop_t loop;
  uvt_session_t client;
  uv_os_sock_t fds[2];
  uvt_gen_t gen;
  uint64_t sizes[10];
  unsigned int i;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  ASSERT_OK(uv_socketpair(SOCK_STREAM, 0, fds, 0, 0));
  ASSERT_OK(uv_pipe_init(&loop, &client.session.io[0].pipe, 0));
  ASSERT_OK(uv_pipe_open(&client.session.io[0].pipe, fds[0]));
  ASSERT_OK(uv_pipe_init(&loop, &raw_pipe, 0));
  ASSERT_OK(uv_pipe_open(&raw_pipe, fds[1]));
  ASSERT_OK(yamux_session_start_uv(&loop, &client.session, 1, uvt_on_end));
  raw_start((uv_stream_t*)&raw_pipe, NULL);
  raw.trigger = 200 * 1024;
  raw.on_trigger = shutdown_raw;

  for (i = 0; i < 10; i++) sizes[i] = 1 << 20;
  memset(&gen, 0, sizeof(gen));
  gen.expect_errors = 1;
  uvt_gen_start(&gen, &client, 10, sizes, 65536, 8);
  uvt_loop_finish(&loop);

  ASSERT_EQ(client.end_count, 1);
  ASSERT_EQ(client.end_status, UV_EOF);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(gen.connected, 0);
  ASSERT_EQ(gen.connect_done, 10);
  ASSERT_GT(gen.write_errors, 0);
  ASSERT_GE(raw.bytes, 200 * 1024);
  uvt_gen_check_done(&gen);
}

/* ---- reset over TCP -------------------------------------------------------
 */

static uv_tcp_t raw_server;
static uv_tcp_t raw_tcp;

static void reset_raw(void) {
  ASSERT_OK(uv_tcp_close_reset(&raw_tcp, NULL));
}

static void raw_on_connection(uv_stream_t* server, int status) {
  ASSERT_OK(status);
  ASSERT_OK(uv_accept(server, (uv_stream_t*)&raw_tcp));
  raw_start((uv_stream_t*)&raw_tcp, NULL);
  raw.trigger = 200 * 1024;
  raw.on_trigger = reset_raw;
  uv_close((uv_handle_t*)server, NULL);
}

static void client_on_connect(uv_connect_t* req, int status) {
  yamux_session_t* session;

  ASSERT_OK(status);
  session = (yamux_session_t*)req->data;
  ASSERT_OK(yamux_session_start_uv(req->handle->loop, session, 1, uvt_on_end));
}

TEST(uv_tcp_reset_mid_transfer) {
  uv_loop_t loop;
  uvt_session_t client;
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  uv_connect_t creq;
  uvt_gen_t gen;
  uint64_t sizes[10];
  unsigned int i;
  int len;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_init(&loop, &raw_server));
  ASSERT_OK(uv_tcp_init(&loop, &raw_tcp));
  ASSERT_OK(uv_tcp_bind(&raw_server, (struct sockaddr*)&addr, 0));
  ASSERT_OK(uv_listen((uv_stream_t*)&raw_server, 1, raw_on_connection));
  len = sizeof(name);
  ASSERT_OK(uv_tcp_getsockname(&raw_server, (struct sockaddr*)&name, &len));
  ASSERT_OK(uv_tcp_init(&loop, &client.session.io[0].tcp));
  creq.data = &client.session;
  ASSERT_OK(uv_tcp_connect(&creq, &client.session.io[0].tcp,
                           (struct sockaddr*)&name, client_on_connect));

  /* Queued before the session starts: they go out once it does. */
  for (i = 0; i < 10; i++) sizes[i] = 1 << 20;
  memset(&gen, 0, sizeof(gen));
  gen.expect_errors = 1;
  uvt_gen_start(&gen, &client, 10, sizes, 65536, 8);
  uvt_loop_finish(&loop);

  ASSERT_EQ(client.end_count, 1);
  ASSERT(client.end_status == UV_ECONNRESET || client.end_status == UV_EPIPE);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(gen.connect_done, 10);
  ASSERT_GT(gen.write_errors, 0);
  uvt_gen_check_done(&gen);
}

/* ---- child death ----------------------------------------------------------
 */

static uv_process_t kill_proc;
static int kill_sent;
static int kill_exit_count;
static int kill_term_signal;

static void on_kill_exit(uv_process_t* proc, int64_t status, int sig) {
  (void)status;
  kill_exit_count++;
  kill_term_signal = sig;
  uv_close((uv_handle_t*)proc, NULL);
}

static void kill_on_progress(uvt_gen_t* g) {
  if (!kill_sent && g->bytes_received > (1 << 20)) {
    kill_sent = 1;
    ASSERT_OK(uv_process_kill(&kill_proc, SIGKILL));
  }
}

TEST(uv_spawn_child_killed) {
  uv_loop_t loop;
  uvt_session_t client;
  uv_process_options_t opts;
  char* args[4];
  uvt_gen_t gen;
  uint64_t sizes[8];
  unsigned int i;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  uvt_session_init(&client, YAMUX_CLIENT, NULL);
  args[0] = (char*)test_exe_path();
  args[1] = "--helper";
  args[2] = "uv_echo_stdio";
  args[3] = NULL;
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  opts.exit_cb = on_kill_exit;
  ASSERT_OK(yamux_session_spawn(&loop, &client.session, &kill_proc, &opts,
                                uvt_on_end));

  for (i = 0; i < 8; i++) sizes[i] = 16 << 20;
  memset(&gen, 0, sizeof(gen));
  gen.expect_errors = 1;
  gen.on_progress = kill_on_progress;
  uvt_gen_start(&gen, &client, 8, sizes, 65536, 4);
  uvt_loop_finish(&loop);

  ASSERT_EQ(kill_sent, 1);
  ASSERT_EQ(kill_exit_count, 1);
  ASSERT_EQ(kill_term_signal, SIGKILL);
  ASSERT_EQ(client.end_count, 1);
  ASSERT(client.end_status == UV_EOF || client.end_status == UV_ECONNRESET ||
         client.end_status == UV_EPIPE);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_EQ(gen.verified, 0);
  ASSERT_EQ(gen.connect_done, 8);
  uvt_gen_check_done(&gen);
}

/* ---- keepalive ------------------------------------------------------------
 */

/* The peer's end of the pipes reads and discards, and never writes: the
 * session ends with YAMUX_EKEEPALIVE after interval + timeout. */
TEST(uv_keepalive_dead_peer) {
  uv_loop_t loop;
  uvt_session_t client;
  yamux_config_t cfg;
  uv_file to_client[2];
  uv_file from_client[2];
  uv_pipe_t peer_rx;
  uv_pipe_t peer_tx;
  uint64_t t0;
  uint64_t elapsed_ms;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 50;
  cfg.keepalive_timeout_ms = 100;
  uvt_session_init(&client, YAMUX_CLIENT, &cfg);
  ASSERT_OK(uv_pipe(to_client, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  ASSERT_OK(uv_pipe(from_client, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE));
  ASSERT_OK(uv_pipe_init(&loop, &client.session.io[0].pipe, 0));
  ASSERT_OK(uv_pipe_open(&client.session.io[0].pipe, to_client[0]));
  ASSERT_OK(uv_pipe_init(&loop, &client.session.io[1].pipe, 0));
  ASSERT_OK(uv_pipe_open(&client.session.io[1].pipe, from_client[1]));
  ASSERT_OK(uv_pipe_init(&loop, &peer_rx, 0));
  ASSERT_OK(uv_pipe_open(&peer_rx, from_client[0]));
  ASSERT_OK(uv_pipe_init(&loop, &peer_tx, 0));
  ASSERT_OK(uv_pipe_open(&peer_tx, to_client[1]));
  ASSERT_OK(yamux_session_start_uv(&loop, &client.session, 0, uvt_on_end));
  /* When the session closes its write side, the peer closes both ends. */
  raw_start((uv_stream_t*)&peer_rx, (uv_handle_t*)&peer_tx);

  t0 = uv_hrtime();
  uvt_loop_finish(&loop);
  elapsed_ms = (uv_hrtime() - t0) / 1000000;

  ASSERT_EQ(client.end_count, 1);
  ASSERT_EQ(client.end_status, YAMUX_EKEEPALIVE);
  ASSERT_EQ(client.close_count, 1);
  ASSERT_GE(elapsed_ms, 140);
  ASSERT_LT(elapsed_ms, 2000);
  /* The ping (12 bytes) and the Go Away reached the peer. */
  ASSERT_GE(raw.bytes, 24);
  ASSERT_EQ(raw.eof, 1);
}

/* Both sides ping every 20 ms and answer: the session stays up. */
static uv_timer_t alive_timer;
static uvt_session_t alive_client;
static uvt_session_t alive_server;

static void alive_check(uv_timer_t* t) {
  yamux_session_stats_t cs;
  yamux_session_stats_t ss;

  ASSERT_OK(yamux_session_get_stats(&alive_client.session, &cs));
  ASSERT_OK(yamux_session_get_stats(&alive_server.session, &ss));
  ASSERT_GE(cs.pings_sent, 5);
  ASSERT_GE(ss.pings_sent, 5);
  ASSERT_GE(cs.pongs_sent, 5);
  ASSERT_GT(cs.rtt_ns, 0);
  ASSERT_EQ(alive_client.end_count, 0);
  ASSERT_EQ(alive_server.end_count, 0);
  uv_close((uv_handle_t*)t, NULL);
  uvt_session_close(&alive_client);
}

TEST(uv_keepalive_alive_peer) {
  uv_loop_t loop;
  yamux_config_t cfg;

  uvt_no_sigpipe();
  ASSERT_OK(uv_loop_init(&loop));
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 20;
  cfg.keepalive_timeout_ms = 200;
  uvt_session_init(&alive_client, YAMUX_CLIENT, &cfg);
  uvt_session_init(&alive_server, YAMUX_SERVER, &cfg);
  uvt_socketpair(&loop, &alive_client, &alive_server);
  ASSERT_OK(
      yamux_session_start_uv(&loop, &alive_client.session, 1, uvt_on_end));
  ASSERT_OK(
      yamux_session_start_uv(&loop, &alive_server.session, 1, uvt_on_end));
  ASSERT_OK(uv_timer_init(&loop, &alive_timer));
  ASSERT_OK(uv_timer_start(&alive_timer, alive_check, 300, 0));
  uvt_loop_finish(&loop);
  ASSERT_EQ(alive_client.close_count, 1);
  ASSERT_EQ(alive_server.end_status, UV_EOF);
  ASSERT_EQ(alive_server.close_count, 1);
}

/* ---- slow reader ----------------------------------------------------------
 */

#define SLOW_TOTAL (UVT_SLOW ? (4u << 20) : (16u << 20))
#define SLOW_CHUNK 65536

static struct {
  uvt_session_t client;
  uvt_session_t server;
  yamux_stream_t tx;
  yamux_stream_t rx;
  yamux_shutdown_t sreq;
  yamux_ping_t ping;
  yamux_write_t wreqs[SLOW_TOTAL / SLOW_CHUNK];
  uv_timer_t sampler;
  uv_timer_t resume;
  char* data;
  uint64_t tx_hash;
  uint64_t rx_hash;
  uint64_t received;
  uint32_t window; /* the most a stream may buffer */
  unsigned int writes_done;
  unsigned int samples;
  uint64_t max_buffered;
  uint64_t max_queued;
  int accepted;
  int pinged;
  int eof;
  int rx_closed;
  int tx_closed;
  int grow;
} slow;

static void slow_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf);

static void slow_alloc(yamux_stream_t* h, size_t size, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(size);
  ASSERT_NOT_NULL(buf->base);
  buf->len = size;
}

static void slow_resume(uv_timer_t* t) {
  (void)t;
  ASSERT_OK(yamux_read_start(&slow.rx, slow_alloc, slow_read));
}

static void slow_rx_closed(yamux_stream_t* h) {
  (void)h;
  slow.rx_closed = 1;
}

static void slow_tx_closed(yamux_stream_t* h) {
  (void)h;
  slow.tx_closed = 1;
}

static void slow_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    slow.rx_hash = fnv1a(slow.rx_hash, buf->base, (size_t)nread);
    slow.received += (uint64_t)nread;
    /* Read one chunk, then nothing for a millisecond: slower than the
     * writer, so the data waits in the reader's window. */
    ASSERT_OK(yamux_read_stop(h));
    ASSERT_OK(uv_timer_start(&slow.resume, slow_resume, 1, 0));
  }
  free(buf->base);
  if (nread == UV_EOF) {
    slow.eof = 1;
    yamux_close(h, slow_rx_closed);
    uv_close((uv_handle_t*)&slow.sampler, NULL);
    uv_close((uv_handle_t*)&slow.resume, NULL);
    /* Everything was read: the server ends the session (the client reads
     * Go Away(0), then EOF, and closes). */
    uvt_session_close(&slow.server);
  } else {
    ASSERT_GE(nread, 0);
  }
}

static void slow_on_ping(yamux_ping_t* req, int status, uint64_t rtt) {
  (void)req;
  (void)rtt;
  /* The ping went through while the stream held a full window: the
   * transport is still read. Now read, slowly. */
  ASSERT_OK(status);
  slow.pinged = 1;
  ASSERT_OK(yamux_read_start(&slow.rx, slow_alloc, slow_read));
}

static void slow_sample(uv_timer_t* t) {
  yamux_session_stats_t ss;
  yamux_stream_stats_t st;

  (void)t;
  if (slow.eof) return;
  ASSERT_OK(yamux_session_get_stats(&slow.server.session, &ss));
  ASSERT_LE(ss.buffered_bytes, slow.window);
  if (ss.buffered_bytes > slow.max_buffered)
    slow.max_buffered = ss.buffered_bytes;
  if (slow.accepted && !slow.eof) {
    ASSERT_OK(yamux_stream_get_stats(&slow.rx, &st));
    ASSERT_LE(st.buffered_bytes, st.recv_window_max);
    ASSERT_LE(st.recv_window_max, slow.window);
  }
  ASSERT_OK(yamux_session_get_stats(&slow.client.session, &ss));
  if (ss.queued_bytes > slow.max_queued) slow.max_queued = ss.queued_bytes;
  /* After 100 ms of not reading, ask the peer for a ping. */
  if (++slow.samples == 20 && !slow.pinged)
    ASSERT_OK(yamux_ping(&slow.ping, &slow.server.session, slow_on_ping));
}

static void slow_on_connection(yamux_session_t* s, int status) {
  ASSERT_OK(status);
  ASSERT_OK(yamux_stream_init(s, &slow.rx));
  ASSERT_OK(yamux_accept(s, &slow.rx));
  slow.accepted = 1;
  /* Not reading yet. */
}

static void slow_write_cb(yamux_write_t* req, int status) {
  (void)req;
  ASSERT_OK(status);
  slow.writes_done++;
}

static void slow_shutdown_cb(yamux_shutdown_t* req, int status) {
  (void)req;
  ASSERT_OK(status);
  yamux_close(&slow.tx, slow_tx_closed);
}

static void run_slow_reader(int grow) {
  uv_loop_t loop;
  yamux_config_t cfg;
  uv_buf_t buf;
  uint64_t seed;
  unsigned int i;
  size_t j;

  uvt_no_sigpipe();
  memset(&slow, 0, sizeof(slow));
  slow.grow = grow;
  ASSERT_OK(uv_loop_init(&loop));
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  if (!grow) cfg.max_window = cfg.initial_window;
  slow.window = cfg.max_window;
  uvt_session_init(&slow.client, YAMUX_CLIENT, &cfg);
  uvt_session_init(&slow.server, YAMUX_SERVER, &cfg);
  uvt_socketpair(&loop, &slow.client, &slow.server);
  ASSERT_OK(yamux_session_start_uv(&loop, &slow.client.session, 1, uvt_on_end));
  ASSERT_OK(yamux_session_start_uv(&loop, &slow.server.session, 1, uvt_on_end));
  ASSERT_OK(yamux_session_listen(&slow.server.session, slow_on_connection));
  ASSERT_OK(uv_timer_init(&loop, &slow.sampler));
  ASSERT_OK(uv_timer_init(&loop, &slow.resume));
  ASSERT_OK(uv_timer_start(&slow.sampler, slow_sample, 5, 5));

  /* The writer queues everything at once and keeps it queued. */
  slow.data = malloc(SLOW_TOTAL);
  ASSERT_NOT_NULL(slow.data);
  seed = 42;
  for (j = 0; j < SLOW_TOTAL; j += 8) {
    uint64_t v = uvt_rand(&seed);
    memcpy(slow.data + j, &v, 8);
  }
  slow.tx_hash = fnv1a(FNV_INIT, slow.data, SLOW_TOTAL);
  slow.rx_hash = FNV_INIT;
  ASSERT_OK(yamux_stream_init(&slow.client.session, &slow.tx));
  ASSERT_OK(yamux_stream_open(NULL, &slow.tx, NULL));
  for (i = 0; i < SLOW_TOTAL / SLOW_CHUNK; i++) {
    buf = uv_buf_init(slow.data + (size_t)i * SLOW_CHUNK, SLOW_CHUNK);
    ASSERT_OK(yamux_write(&slow.wreqs[i], &slow.tx, &buf, 1, slow_write_cb));
  }
  ASSERT_OK(yamux_shutdown(&slow.sreq, &slow.tx, slow_shutdown_cb));
  uvt_loop_finish(&loop);

  ASSERT_EQ(slow.received, SLOW_TOTAL);
  ASSERT_EQ(slow.rx_hash, slow.tx_hash);
  ASSERT_EQ(slow.writes_done, SLOW_TOTAL / SLOW_CHUNK);
  ASSERT_EQ(slow.pinged, 1);
  ASSERT_EQ(slow.rx_closed, 1);
  ASSERT_EQ(slow.tx_closed, 1);
  /* The reader held a full window while stalled, never more. */
  ASSERT_GT(slow.max_buffered, 0);
  ASSERT_LE(slow.max_buffered, slow.window);
  /* The rest waited on the writer's side, in the writer's own buffers. */
  ASSERT_GT(slow.max_queued, SLOW_TOTAL / 2);
  ASSERT_EQ(slow.client.close_count, 1);
  ASSERT_EQ(slow.client.end_status, UV_EOF);
  ASSERT_EQ(slow.server.close_count, 1);
  ASSERT_EQ(slow.server.end_count, 0);
  free(slow.data);
}

TEST(uv_slow_reader) {
  run_slow_reader(0);
}

TEST(uv_slow_reader_window_growth) {
  run_slow_reader(1);
}
