/* yxbench: the workloads on raw libuv, without multiplexing: the reference
 * ceiling. Every stream becomes a TCP connection (W3: 8,192 connects; W4:
 * 64; W5: one per request; W7: two) or, over pipes, a pipe pair (W7p: the
 * child's fds 0/1 for bulk, 3/4 for ping-pong). The bulk writer keeps
 * -depth uv_write requests of one chunk each outstanding.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>

#include "bench.h"

/* One connection (a TCP handle or a pipe pair) and its workload state. */
typedef struct rreq_s {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t uwreq;
  uv_stream_t* urx; /* where this connection reads and writes */
  uv_stream_t* utx;
  bench_conn_t c;
} rreq_t;

#define RREQ(conn) ((rreq_t*)((char*)(conn)-offsetof(rreq_t, c)))

static pool_t req_pool = {sizeof(rreq_t), NULL};

static uv_tcp_t raw_tcp;
static uv_pipe_t raw_pipe_rx, raw_pipe_tx;
static uv_stream_t* raw_rx; /* the bulk connection (W1, W2, W7's A) */
static uv_stream_t* raw_tx;
static uv_write_t uackreq;

static void raw_close_all(void) {
  if (!uv_is_closing((uv_handle_t*)raw_rx))
    uv_close((uv_handle_t*)raw_rx, on_handle_closed);
  if (raw_tx != raw_rx && !uv_is_closing((uv_handle_t*)raw_tx))
    uv_close((uv_handle_t*)raw_tx, on_handle_closed);
}

static void r_closed(uv_handle_t* h) {
  pool_put(&req_pool, h->data);
}

/* Closes a connection (one TCP handle or a pipe pair) and frees r. */
static void r_close(rreq_t* r) {
  if (r->urx == r->utx) {
    if (!uv_is_closing((uv_handle_t*)r->urx))
      uv_close((uv_handle_t*)r->urx, r_closed);
    return;
  }
  if (!uv_is_closing((uv_handle_t*)r->utx)) {
    uv_close((uv_handle_t*)r->urx, NULL);
    uv_close((uv_handle_t*)r->utx, r_closed);
  }
}

/* r's streams are rx and tx (the same for TCP); reads go to read_cb. */
static void r_start(rreq_t* r, uv_stream_t* rx, uv_stream_t* tx,
                    uv_read_cb read_cb) {
  r->urx = rx;
  r->utx = tx;
  rx->data = r;
  tx->data = r;
  check_uv(uv_read_start(rx, raw_alloc, read_cb), "read_start");
}

/* ---- bulk writer (W1, W2, W7's connection A) ---------------------------- */

static uv_write_t uwrites[MAX_DEPTH];
static slots_t bslots;
static unsigned int uinflight;
static int bulk_stop;
static uv_shutdown_t rbshut;

static void rb_written(uv_write_t* req, int status);

/* Keeps -depth writes of one chunk in flight until -size is sent (W7: until
 * told to stop). */
static void rb_pump(void) {
  while (!bulk_stop && bsent < opt_size && uinflight < opt_depth) {
    uint64_t n = opt_size - bsent < opt_chunk ? opt_size - bsent : opt_chunk;
    uv_buf_t b = uv_buf_init(pattern, (unsigned int)n);
    uv_write_t* req = &uwrites[slot_take(&bslots)];
    check_uv(uv_write(req, raw_tx, &b, 1, rb_written), "write");
    uinflight++;
    bsent += n;
  }
}

/* W7: A is done: EOF to the server (pipes have no shutdown(2): close). */
static void r7_end_a(void) {
  if (transport == TR_TCP)
    check_uv(uv_shutdown(&rbshut, raw_tx, NULL), "shutdown");
  else
    uv_close((uv_handle_t*)raw_tx, on_handle_closed);
}

static void rb_written(uv_write_t* req, int status) {
  if (status < 0) {
    io_error("write", uv_strerror(status));
    return;
  }
  uinflight--;
  bdone += opt_chunk;
  slot_give(&bslots, (int)(req - uwrites));
  if (bulk_stop && uinflight == 0)
    r7_end_a();
  else
    rb_pump();
}

/* raw_rx/raw_tx are connected: replies go to read_cb; writing starts. */
static void rb_start(uv_read_cb read_cb) {
  slots_init(&bslots);
  check_uv(uv_read_start(raw_rx, raw_alloc, read_cb), "read_start");
  rb_pump();
}

/* ---- bulk (W1, W2, W8) -------------------------------------------------- */

/* W8 starts with one untimed 1-byte round trip: its time is the link's
 * round-trip time (the driver checks it against the proxy's toxics). */
static int probing;
static uint64_t t_probe;

static void rb_read_ack(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) die("ack read: %s", uv_strerror((int)n));
  if (probing) {
    if (n != 1) die("unexpected probe reply");
    probe_rtt_ms = (double)(uv_hrtime() - t_probe) / 1e6;
    probing = 0;
    t_start = uv_hrtime();
    rb_pump();
    return;
  }
  if (n != 1 || bsent != opt_size) die("unexpected ack");
  t_end = uv_hrtime();
  done = 1;
  raw_close_all();
}

static void rb_client_start(void) {
  if (wan) {
    uv_buf_t b = uv_buf_init(&ackbyte, 1);
    probing = 1;
    slots_init(&bslots);
    check_uv(uv_read_start(raw_rx, raw_alloc, rb_read_ack), "read_start");
    t_probe = uv_hrtime();
    check_uv(uv_write(&uackreq, raw_tx, &b, 1, NULL), "probe write");
    return;
  }
  t_start = uv_hrtime(); /* rb_start writes at once */
  rb_start(rb_read_ack);
}

static void rb_ack(void) {
  uv_buf_t b = uv_buf_init(&ackbyte, 1);
  check_uv(uv_write(&uackreq, raw_tx, &b, 1, NULL), "ack write");
}

static void rb_srv_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    raw_close_all();
    return;
  }
  if (wan && !probing) { /* the probe: answer it, count the rest */
    probing = 1;
    rb_ack();
    if (--n == 0) return;
  }
  if (bulk_received((uint64_t)n)) rb_ack();
}

/* ---- W3 and W5: one TCP connection per stream or request ---------------- */

static struct sockaddr_in peer_addr;

/* Connects a new connection to peer_addr. */
static rreq_t* r_connect(uv_connect_cb cb) {
  rreq_t* r = pool_get(&req_pool);
  check_uv(uv_tcp_init(loop, &r->tcp), "tcp_init");
  r->tcp.data = r;
  r->creq.data = r;
  check_uv(
      uv_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr*)&peer_addr, cb),
      "connect");
  return r;
}

static void r_ignore_written(uv_write_t* req, int status) {
  (void)req;
  (void)status;
}

/* Connected: write the -msg request and read the answer with cb. */
static void r_send_request(uv_connect_t* creq, int status, uv_read_cb cb) {
  rreq_t* r = creq->data;
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  check_uv(uv_write(&r->uwreq, (uv_stream_t*)&r->tcp, &b, 1, r_ignore_written),
           "write");
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, cb), "read_start");
}

static void r_client_done(void) {
  t_end = uv_hrtime();
  done = 1;
}

static void r5_start(void);

static void r5_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rreq_t* r = s->data;
  (void)buf;
  if (n > 0) {
    r->c.got += (uint64_t)n;
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF) die("request read: %s", uv_strerror((int)n));
  if (r->c.got != opt_resp) die("response of %" PRIu64 " bytes", r->c.got);
  completed++;
  uv_close((uv_handle_t*)s, r_closed);
  if (started < opt_count) {
    r5_start();
  } else if (completed == opt_count) {
    r_client_done();
  }
}

static void r5_connected(uv_connect_t* creq, int status) {
  r_send_request(creq, status, r5_read);
}

static void r5_start(void) {
  started++;
  r_connect(r5_connected);
}

static void r5_client_start(void) {
  uint64_t i;
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams && started < opt_count; i++) r5_start();
}

static void rs5_written(uv_write_t* req, int status) {
  (void)status;
  uv_close((uv_handle_t*)req->handle, r_closed);
}

static void rs5_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rreq_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    uv_close((uv_handle_t*)s, r_closed);
    return;
  }
  r->c.got += (uint64_t)n;
  if (r->c.got > opt_msg) die("request too long");
  if (r->c.got == opt_msg) {
    uv_buf_t b = uv_buf_init(respbuf, (unsigned int)opt_resp);
    uv_read_stop(s);
    served++;
    check_uv(uv_write(&r->uwreq, s, &b, 1, rs5_written), "write");
  }
}

static uint64_t accepted;

static void rs5_conn(uv_stream_t* server, int status) {
  rreq_t* r = pool_get(&req_pool);
  tcp_accept(server, status, &r->tcp);
  r->tcp.data = r;
  check_uv(uv_read_start((uv_stream_t*)&r->tcp, raw_alloc, rs5_read),
           "read_start");
  if (++accepted == opt_count)
    uv_close((uv_handle_t*)&listener, on_handle_closed);
}

static void r3_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rreq_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) die("echo read: %s", uv_strerror((int)n));
  if (!echo_read(&r->c, (size_t)n)) return;
  uv_close((uv_handle_t*)s, r_closed);
  if (++completed == opt_streams) r_client_done();
}

static void r3_connected(uv_connect_t* creq, int status) {
  r_send_request(creq, status, r3_read);
}

static void r3_client_start(void) {
  uint64_t i;
  t_start = uv_hrtime();
  for (i = 0; i < opt_streams; i++) r_connect(r3_connected);
}

/* ---- echo server (W3, W4, W7) ------------------------------------------- */

static uv_pipe_t pp_pipe_rx, pp_pipe_tx; /* W7p: the ping-pong pipe pair */

static void re_written(uv_write_t* req, int status) {
  (void)status;
  ebuf_put(req->data);
}

static void re_ack_written(uv_write_t* req, int status) {
  (void)status;
  r_close(req->data);
}

static void re_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rreq_t* r = s->data;
  if (n > 0) {
    ebuf_t* e;
    uv_write_t* w;
    uv_buf_t b;
    if (r->c.bulk) {
      brecv += (uint64_t)n;
      return;
    }
    e = ebuf_get(buf->base, (size_t)n);
    w = ebuf_req(e);
    w->data = e;
    b = uv_buf_init(e->data, (unsigned int)n);
    check_uv(uv_write(w, r->utx, &b, 1, re_written), "echo write");
    return;
  }
  if (n == 0) return;
  if (n == UV_EOF && r->c.bulk) { /* W7: we have read all of A: say so */
    uv_buf_t b = uv_buf_init(&ackbyte, 1);
    uv_read_stop(s);
    r->uwreq.data = r;
    check_uv(uv_write(&r->uwreq, r->utx, &b, 1, re_ack_written), "ack");
    return;
  }
  r_close(r);
}

static void re_start(rreq_t* r, uv_stream_t* rx, uv_stream_t* tx) {
  r->c.bulk = bench_next_is_bulk();
  r_start(r, rx, tx, re_read);
}

static void re_conn(uv_stream_t* server, int status) {
  rreq_t* r = pool_get(&req_pool);
  uint64_t expect = wkind == WL_HOL ? 2 : opt_streams;
  tcp_accept(server, status, &r->tcp);
  re_start(r, (uv_stream_t*)&r->tcp, (uv_stream_t*)&r->tcp);
  if (nconns == expect) uv_close((uv_handle_t*)&listener, on_handle_closed);
}

/* W7p: A on fds 0/1, B on fds 3/4. */
static void re_pipes_start(void) {
  pipe_open_fd(&raw_pipe_rx, 0);
  pipe_open_fd(&raw_pipe_tx, 1);
  pipe_open_fd(&pp_pipe_rx, 3);
  pipe_open_fd(&pp_pipe_tx, 4);
  re_start(pool_get(&req_pool), (uv_stream_t*)&raw_pipe_rx,
           (uv_stream_t*)&raw_pipe_tx);
  re_start(pool_get(&req_pool), (uv_stream_t*)&pp_pipe_rx,
           (uv_stream_t*)&pp_pipe_tx);
}

/* ---- ping-pong (W4; W7's connection B) ---------------------------------- */

static void rpp_written(uv_write_t* req, int status) {
  if (status < 0) {
    io_error("write", uv_strerror(status));
    return;
  }
  pp_written(req->data);
}

static void rpp_write(bench_conn_t* c) {
  rreq_t* r = RREQ(c);
  uv_buf_t b = uv_buf_init(reqbuf, (unsigned int)opt_msg);
  c->wpending = 1;
  r->uwreq.data = c;
  check_uv(uv_write(&r->uwreq, r->utx, &b, 1, rpp_written), "write");
}

static void rpp_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  rreq_t* r = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    io_error("read", uv_strerror((int)n));
    return;
  }
  pp_read(&r->c, (size_t)n);
}

static void rpp_start(rreq_t* r, uv_stream_t* rx, uv_stream_t* tx) {
  r_start(r, rx, tx, rpp_read);
  pp_send(&r->c); /* the untimed round trip */
}

static void rpp_connected(uv_connect_t* creq, int status) {
  rreq_t* r = creq->data;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&r->tcp, 1), "nodelay");
  rpp_start(r, (uv_stream_t*)&r->tcp, (uv_stream_t*)&r->tcp);
}

static bench_conn_t* rpp_connect(void) {
  return &r_connect(rpp_connected)->c;
}

static void rpp_end(void) {
  uint64_t i;
  for (i = 0; i < pp_nstreams; i++) r_close(RREQ(pp_streams[i]));
  if (raw_rx != NULL) raw_close_all();
}

static void r4_client_start(void) {
  uint64_t i;
  pp_write = rpp_write;
  pp_end = rpp_end;
  pp_alloc(opt_streams);
  for (i = 0; i < opt_streams; i++) pp_streams[i] = rpp_connect();
}

/* ---- W7: bulk connection A + ping-pong connection B --------------------- */

static uv_timer_t rhol_timer;

static void r7_stop_bulk(void) {
  bulk_stop = 1;
  if (uinflight == 0) r7_end_a();
}

static void r7_bulk_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n == 0) return;
  if (n < 0) {
    if (pp_phase < PP_IDLE) io_error("bulk ack read", uv_strerror((int)n));
    return; /* from PP_IDLE on: the EOF after the ack */
  }
  if (n != 1 || pp_phase != PP_DRAIN) die("unexpected bulk ack");
  pp_bulk_acked();
}

static void r7_open_b(uv_timer_t* t) {
  rreq_t* r;
  uv_close((uv_handle_t*)t, NULL);
  if (transport == TR_TCP) {
    pp_streams[0] = rpp_connect();
    return;
  }
  pipe_open_fd(&pp_pipe_rx, extra_rx);
  pipe_open_fd(&pp_pipe_tx, extra_tx);
  r = pool_get(&req_pool);
  pp_streams[0] = &r->c;
  rpp_start(r, (uv_stream_t*)&pp_pipe_rx, (uv_stream_t*)&pp_pipe_tx);
}

/* raw_rx/raw_tx are A, connected. */
static void r7_client_start(void) {
  pp_write = rpp_write;
  pp_end = rpp_end;
  pp_stop_bulk = r7_stop_bulk;
  pp_alloc(1);
  rb_start(r7_bulk_read);
  check_uv(uv_timer_init(loop, &rhol_timer), "timer_init");
  check_uv(uv_timer_start(&rhol_timer, r7_open_b, opt_warmup, 0),
           "timer_start");
}

/* ---- transports --------------------------------------------------------- */

static uv_connect_t tcp_connect_req;

/* The bulk connection is ready. */
static void rb_ready(void) {
  if (wkind == WL_HOL)
    r7_client_start();
  else
    rb_client_start();
}

static void rb_tcp_connected(uv_connect_t* req, int status) {
  (void)req;
  check_uv(status, "connect");
  check_uv(uv_tcp_nodelay(&raw_tcp, 1), "nodelay");
  rb_ready();
}

/* W8: the same transfer on one connection, whatever -streams says. */
static void r_one_stream(void) {
  if (wkind == WL_BULK) opt_streams = 1;
}

static int r_client(int argc, char** argv) {
  r_one_stream();
  if (wkind == WL_SPR || wkind == WL_ECHO || wkind == WL_RPC) {
    spawn_tcp_child(argc, argv, &peer_addr);
    if (wkind == WL_SPR)
      r5_client_start();
    else if (wkind == WL_ECHO)
      r3_client_start();
    else
      r4_client_start();
  } else if (transport == TR_TCP) {
    spawn_tcp_child(argc, argv, &peer_addr);
    check_uv(uv_tcp_init(loop, &raw_tcp), "tcp_init");
    raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
    check_uv(
        uv_tcp_connect(&tcp_connect_req, &raw_tcp,
                       (const struct sockaddr*)&peer_addr, rb_tcp_connected),
        "connect");
  } else if (transport == TR_PIPE) {
    int tx, rx;
    spawn_pipe_child(argc, argv, &tx, &rx);
    pipe_open_fd(&raw_pipe_rx, rx);
    pipe_open_fd(&raw_pipe_tx, tx);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    rb_ready();
  } else {
    /* uv_spawn's own UV_CREATE_PIPE: AF_UNIX socketpairs. */
    uv_stdio_container_t stdio[3];
    check_uv(uv_pipe_init(loop, &raw_pipe_rx, 0), "pipe_init");
    check_uv(uv_pipe_init(loop, &raw_pipe_tx, 0), "pipe_init");
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t*)&raw_pipe_tx;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t*)&raw_pipe_rx;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    spawn_child(argc, argv, stdio);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    rb_client_start();
  }
  reap_child();
  if (!done) die("not done");
  pool_free(&req_pool);
  print_result();
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static void rb_srv_tcp_conn(uv_stream_t* server, int status) {
  tcp_accept(server, status, &raw_tcp);
  uv_close((uv_handle_t*)&listener, on_handle_closed);
  raw_rx = raw_tx = (uv_stream_t*)&raw_tcp;
  check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
}

static int r_server(void) {
  int rc;
  r_one_stream();
  ebuf_req_size = sizeof(uv_write_t);
  if (wkind == WL_SPR) {
    uv_listen_tcp(rs5_conn);
  } else if (wkind == WL_ECHO || wkind == WL_RPC ||
             (wkind == WL_HOL && transport == TR_TCP)) {
    uv_listen_tcp(re_conn);
  } else if (wkind == WL_HOL) {
    re_pipes_start();
  } else if (transport == TR_TCP) {
    uv_listen_tcp(rb_srv_tcp_conn);
  } else {
    pipe_open_fd(&raw_pipe_rx, 0);
    pipe_open_fd(&raw_pipe_tx, 1);
    raw_rx = (uv_stream_t*)&raw_pipe_rx;
    raw_tx = (uv_stream_t*)&raw_pipe_tx;
    check_uv(uv_read_start(raw_rx, raw_alloc, rb_srv_read), "read_start");
  }
  rc = server_run();
  pool_free(&req_pool);
  return rc;
}

const bench_impl_t bench_raw_uv = {"raw_uv", r_client, r_server, NULL};
