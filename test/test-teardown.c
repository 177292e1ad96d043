/* Teardown: a session closed (or its transport failing) with every kind of
 * request pending completes each callback exactly once with the documented
 * status, then the session close callback, and leaves no memory. Plus
 * re-entrancy: closing a stream or the session from inside callbacks. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

/* Every callback bumps this, so the order of events can be checked. */
static int seq;
static int seq_at_session_close;
static int session_closes;

typedef struct {
  yamux_write_t req;
  int count;
  int status;
  int seq;
} wreq_t;

static void on_wreq(yamux_write_t* r, int status) {
  wreq_t* w = (wreq_t*)r;
  w->count++;
  w->status = status;
  w->seq = ++seq;
}

static int wreq(wreq_t* w, yamux_stream_t* h, const void* data, size_t n) {
  uv_buf_t b = uv_buf_init((char*)data, (unsigned int)n);
  memset(w, 0, sizeof(*w));
  return yamux_write(&w->req, h, &b, 1, on_wreq);
}

typedef struct {
  yamux_ping_t req;
  int count;
  int status;
} preq_t;

static void on_preq(yamux_ping_t* r, int status, uint64_t rtt) {
  preq_t* p = (preq_t*)r;
  (void)rtt;
  p->count++;
  p->status = status;
  seq++;
}

static void on_session_close(yamux_session_t* s) {
  tside_of(s)->close_count++;
  session_closes++;
  seq_at_session_close = ++seq;
}

enum { M_CLOSE, M_SEND_FAIL, M_FEED_ERROR, M_FEED_EOF };

static char big[512 * 1024];

/* Sets up a client session with every kind of pending request, then ends it
 * the way `mode` says, and checks every callback. */
static void teardown_everything(int mode) {
  yamux_config_t cfg;
  tpeer_t p;
  tstream_t a, b, c, d, e, f;
  wreq_t w1, w2, w3, w4;
  preq_t p1, p2;
  const uv_buf_t* bufs;
  unsigned int n;
  int req_status, read_status, inflight_status;
  int seq_snapshot;

  seq = 0;
  session_closes = 0;
  tpattern_fill(big, sizeof(big), 0);
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.max_window = cfg.initial_window;
  tpeer_init(&p, YAMUX_CLIENT, &cfg);

  /* a, b, d: opened and ACKed; c: never ACKed (connect pending). */
  tstream_init(&a, &p.side.session);
  tstream_init(&b, &p.side.session);
  tstream_init(&c, &p.side.session);
  tstream_init(&d, &p.side.session);
  ASSERT_OK(tstream_open(&a));
  ASSERT_OK(tstream_open(&b));
  ASSERT_OK(tstream_open(&c));
  ASSERT_OK(tstream_open(&d));
  ASSERT_OK(tstream_read_start(&a));
  ASSERT_OK(tstream_read_start(&b));
  tpeer_pump(&p);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 1, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 3, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, 7, 0, NULL, 0));
  /* Inbound: 2 accepted, not reading, data buffered; 4 accepted and
   * reading; 6 and 8 never accepted, with data waiting. */
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2, 0, NULL, 0));
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 4, 0, NULL, 0));
  ASSERT_OK(tstream_accept(&e, &p.side.session));
  ASSERT_OK(tstream_accept(&f, &p.side.session));
  ASSERT_EQ(e.handle.id, 2);
  ASSERT_EQ(f.handle.id, 4);
  ASSERT_OK(tstream_read_start(&f));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 2, 5000, NULL, 5000));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 6, 1000, NULL, 1000));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 8, 1000, NULL, 1000));
  tpeer_pump(&p);
  ASSERT_EQ(p.side.end_count, 0);
  {
    yamux_session_stats_t st;
    ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
    ASSERT_EQ(st.streams_pending_accept, 2);
    ASSERT_EQ(st.buffered_bytes, 7000);
    ASSERT_EQ(st.streams_open, 8);
  }

  /* w1 and w4 are gathered (in the transport's hands, not yet written);
   * p1 is sent and unanswered. */
  ASSERT_OK(wreq(&w1, &a.handle, big, 100000));
  ASSERT_OK(wreq(&w4, &d.handle, big, 20000));
  memset(&p1, 0, sizeof(p1));
  ASSERT_OK(yamux_ping(&p1.req, &p.side.session, on_preq));
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GT(n, 0);
  /* Queued behind: w2 on a, w3 and a shutdown on b, ping p2, d closing. */
  ASSERT_OK(wreq(&w2, &a.handle, big, 1000));
  ASSERT_OK(wreq(&w3, &b.handle, big, 1000));
  ASSERT_OK(tstream_shutdown(&b));
  memset(&p2, 0, sizeof(p2));
  ASSERT_OK(yamux_ping(&p2.req, &p.side.session, on_preq));
  tstream_close(&d);
  ASSERT_EQ(seq, 0);

  switch (mode) {
    case M_CLOSE:
      yamux_session_close(&p.side.session, on_session_close);
      req_status = UV_ECANCELED;
      read_status = UV_ECONNABORTED;
      inflight_status = 0;
      break;
    case M_SEND_FAIL:
      yamux_session_send_done(&p.side.session, 0, UV_EPIPE, p.now_ns);
      ASSERT_EQ(p.side.end_count, 1);
      ASSERT_EQ(p.side.end_status, UV_EPIPE);
      req_status = UV_EPIPE;
      read_status = UV_ECONNABORTED; /* not the stream's own error */
      inflight_status = UV_EPIPE;
      break;
    case M_FEED_ERROR:
      yamux_session_feed_error(&p.side.session, UV_EIO, p.now_ns);
      ASSERT_EQ(p.side.end_count, 1);
      ASSERT_EQ(p.side.end_status, UV_EIO);
      req_status = UV_EIO;
      read_status = UV_ECONNABORTED;
      inflight_status = 1; /* any error: the bytes may never be written */
      break;
    default:
      yamux_session_feed_error(&p.side.session, UV_EOF, p.now_ns);
      ASSERT_EQ(p.side.end_count, 1);
      ASSERT_EQ(p.side.end_status, UV_EOF);
      req_status = UV_ECONNABORTED;
      read_status = UV_ECONNABORTED;
      inflight_status = 0;
      break;
  }
  if (mode != M_CLOSE) {
    /* The end is reported; requests fail; the app closes afterwards. */
    tpeer_pump(&p);
    ASSERT_EQ(a.read_errors, 1);
    yamux_session_close(&p.side.session, on_session_close);
  }
  tpeer_close(&p);
  ASSERT_EQ(session_closes, 1);

  /* Every callback exactly once, with the documented status. */
  ASSERT_EQ(w1.count, 1);
  if (inflight_status == 1)
    ASSERT_LT(w1.status, 0);
  else
    ASSERT_EQ(w1.status, inflight_status);
  ASSERT_EQ(w4.count, 1);
  if (inflight_status == 1)
    ASSERT_LT(w4.status, 0);
  else
    ASSERT_EQ(w4.status, inflight_status);
  ASSERT_EQ(w2.count, 1);
  ASSERT_EQ(w2.status, req_status);
  ASSERT_EQ(w3.count, 1);
  ASSERT_EQ(w3.status, req_status);
  ASSERT_EQ(b.shutdown_count, 1);
  ASSERT_EQ(b.shutdown_status, req_status);
  ASSERT_EQ(c.connect_count, 1);
  ASSERT_EQ(c.connect_status, req_status);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  ASSERT_EQ(p1.count, 1);
  ASSERT_EQ(p1.status, req_status);
  ASSERT_EQ(p2.count, 1);
  ASSERT_EQ(p2.status, req_status);
  ASSERT_EQ(a.read_errors, 1);
  ASSERT_EQ(a.read_error, read_status);
  ASSERT_EQ(b.read_errors, 1);
  ASSERT_EQ(b.read_error, read_status);
  ASSERT_EQ(a.eof + b.eof, 0);
  ASSERT_EQ(c.read_errors, 0); /* not reading: nothing */
  ASSERT_EQ(d.close_count, 1);
  ASSERT_EQ(f.read_errors, 1);
  ASSERT_EQ(f.read_error, read_status);
  ASSERT_EQ(e.read_errors + e.nreads, 0);
  ASSERT_EQ(a.close_count + b.close_count + c.close_count + e.close_count +
                f.close_count,
            0);
  /* ...and all before the session's close callback, nothing after. */
  ASSERT_EQ(seq, seq_at_session_close);
  seq_snapshot = seq;
  ASSERT_GT(seq_snapshot, 0);

  /* On the wire: in a graceful close, the in-flight bytes, then Go
   * Away(0) last; never the cancelled writes. */
  if (mode == M_CLOSE || mode == M_FEED_EOF) {
    const tframe_t* fr;
    size_t sent_a = 0;
    int goaway = 0;
    while ((fr = tpeer_next_frame(&p)) != NULL) {
      ASSERT_EQ(goaway, 0);
      if (fr->type == T_DATA && fr->id == 1) sent_a += fr->length;
      if (fr->type == T_DATA) ASSERT_NE(fr->id, 3);
      if (fr->type == T_GOAWAY) {
        ASSERT_EQ(fr->length, 0);
        goaway = 1;
      }
    }
    ASSERT_EQ(sent_a, 100000);
    ASSERT_EQ(goaway, 1);
  }
  tbuf_free(&a.rx);
  tbuf_free(&b.rx);
  tbuf_free(&f.rx);
  tpeer_free(&p);
}

TEST(teardown_close_with_everything_pending) {
  teardown_everything(M_CLOSE);
}

TEST(teardown_send_failure_with_everything_pending) {
  teardown_everything(M_SEND_FAIL);
}

TEST(teardown_feed_error_with_everything_pending) {
  teardown_everything(M_FEED_ERROR);
}

TEST(teardown_feed_eof_with_everything_pending) {
  teardown_everything(M_FEED_EOF);
}

/* With more than 256 streams, teardown visits them in address order from
 * a list it allocates; without memory for that list it walks the table.
 * Either way every reader hears of the end once, with UV_ECONNABORTED, the
 * peer gets Go Away(0), and nothing is left allocated (tpeer_close checks).
 * A protocol error ends the session the same way. */
enum { TD_MANY = 1000 };

static void teardown_many(int fail_allocs, int by_protocol_error) {
  tpeer_t p;
  yamux_config_t cfg;
  tstream_t* t = calloc(TD_MANY, sizeof(*t));
  uint32_t i;

  ASSERT_NOT_NULL(t);
  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  cfg.accept_backlog = TD_MANY;
  tpeer_init(&p, YAMUX_SERVER, &cfg);
  for (i = 0; i < TD_MANY; i++) {
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 2 * i + 1, 0, NULL, 0));
    ASSERT_OK(tstream_accept(&t[i], &p.side.session));
    ASSERT_OK(tstream_read_start(&t[i]));
  }
  tpeer_pump(&p);
  p.next = p.out.n;
  if (fail_allocs) {
    p.side.mem.fail_at = p.side.mem.attempts + 1;
    p.side.mem.fail_sticky = 1;
  }
  if (by_protocol_error) {
    /* Data beyond the window on the last stream. */
    ASSERT_EQ(tpeer_send_frame(&p, T_DATA, 0, 2 * TD_MANY - 1, T_WINDOW + 1,
                               NULL, T_WINDOW + 1),
              YAMUX_EPROTO);
    tpeer_expect(&p, T_GOAWAY, 0, 0, 1);
    ASSERT_EQ(p.side.end_count, 1);
    ASSERT_EQ(p.side.end_status, YAMUX_EPROTO);
  }
  tpeer_close(&p);
  if (!by_protocol_error) tpeer_expect(&p, T_GOAWAY, 0, 0, 0);
  for (i = 0; i < TD_MANY; i++) {
    ASSERT_EQ(t[i].read_errors, 1);
    ASSERT_EQ(t[i].read_error,
              by_protocol_error ? YAMUX_EPROTO : UV_ECONNABORTED);
    ASSERT_EQ(t[i].eof, 0);
    tbuf_free(&t[i].rx);
  }
  if (fail_allocs)
    ASSERT_GT(p.side.mem.nfailed, 0);
  else
    ASSERT_EQ(p.side.mem.nfailed, 0);
  tpeer_free(&p);
  free(t);
}

TEST(teardown_many_streams_in_address_order) {
  teardown_many(0, 0);
}

TEST(teardown_many_streams_without_memory) {
  teardown_many(1, 0);
}

TEST(teardown_many_streams_protocol_error) {
  teardown_many(0, 1);
}

/* ---- re-entrancy --------------------------------------------------------- */

typedef struct {
  yamux_stream_t h;
  int reads;
  int errors;
  int closes;
  int action; /* what to do from the first read_cb */
} rstream_t;

enum { A_CLOSE_STREAM, A_RESET_STREAM, A_CLOSE_SESSION };

static void rs_alloc(yamux_stream_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  buf->base = malloc(suggested);
  ASSERT_NOT_NULL(buf->base);
  buf->len = suggested;
}

static void rs_close_cb(yamux_stream_t* h) {
  rstream_t* r = h->data;
  r->closes++;
  seq++;
}

static void rs_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  rstream_t* r = h->data;
  free(buf->base);
  if (nread < 0) {
    r->errors++;
    return;
  }
  r->reads++;
  ASSERT_EQ(r->reads, 1); /* nothing after a close from inside */
  switch (r->action) {
    case A_CLOSE_STREAM:
      yamux_close(h, rs_close_cb);
      yamux_close(h, rs_close_cb); /* twice: a no-op */
      ASSERT(yamux_is_closing(h));
      break;
    case A_RESET_STREAM:
      yamux_close_reset(h, 9, rs_close_cb);
      break;
    default:
      yamux_session_close(h->session, on_session_close);
      ASSERT(yamux_session_is_closing(h->session));
      break;
  }
  ASSERT_EQ(r->closes, 0);
}

static void rs_accept(rstream_t* r, tpeer_t* p, int action) {
  memset(r, 0, sizeof(*r));
  ASSERT_OK(yamux_stream_init(&p->side.session, &r->h));
  r->h.data = r;
  r->action = action;
  ASSERT_OK(yamux_accept(&p->side.session, &r->h));
}

TEST(teardown_close_stream_inside_its_read_cb) {
  int action;

  for (action = A_CLOSE_STREAM; action <= A_RESET_STREAM; action++) {
    tpeer_t p;
    rstream_t r;
    yamux_session_stats_t st;
    int direct;

    /* Both delivery paths: buffered data (read started after it arrived)
     * and data handed straight from the feed. */
    for (direct = 0; direct < 2; direct++) {
      seq = 0;
      tpeer_init(&p, YAMUX_SERVER, NULL);
      ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
      rs_accept(&r, &p, action);
      tpeer_expect(&p, T_WU, F_ACK, 1, 0);
      if (direct) ASSERT_OK(yamux_read_start(&r.h, rs_alloc, rs_read));
      ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 10000, NULL, 10000));
      ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 10000, NULL, 10000));
      if (!direct) ASSERT_OK(yamux_read_start(&r.h, rs_alloc, rs_read));
      tpeer_pump(&p);
      ASSERT_EQ(r.reads, 1);
      ASSERT_EQ(r.errors, 0);
      ASSERT_EQ(r.closes, 1);
      if (action == A_CLOSE_STREAM)
        tpeer_expect(&p, T_WU, F_FIN, 1, TANY);
      else
        tpeer_expect(&p, T_WU, F_RST, 1, 9);
      /* More data for it is discarded. */
      ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_FIN, 1, 100, NULL, 100));
      tpeer_pump(&p);
      ASSERT_EQ(r.reads, 1);
      ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
      ASSERT_EQ(st.streams_open, 0);
      ASSERT_EQ(st.buffered_bytes, 0);
      ASSERT_EQ(p.side.end_count, 0);
      tpeer_close(&p);
      tpeer_free(&p);
    }
  }
}

TEST(teardown_close_session_inside_read_cb) {
  int direct;

  for (direct = 0; direct < 2; direct++) {
    tpeer_t p;
    rstream_t r;
    wreq_t w;

    seq = 0;
    session_closes = 0;
    tpeer_init(&p, YAMUX_SERVER, NULL);
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0));
    rs_accept(&r, &p, A_CLOSE_SESSION);
    tpeer_expect(&p, T_WU, F_ACK, 1, 0);
    ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, 1, 0, NULL, 0));
    ASSERT_OK(wreq(&w, &r.h, big, T_WINDOW + 10)); /* stays queued */
    tpeer_pump(&p);
    if (direct) ASSERT_OK(yamux_read_start(&r.h, rs_alloc, rs_read));
    ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 10000, NULL, 10000));
    ASSERT_OK(tpeer_send_frame(&p, T_DATA, 0, 1, 10000, NULL, 10000));
    if (!direct) ASSERT_OK(yamux_read_start(&r.h, rs_alloc, rs_read));
    tpeer_pump(&p);
    ASSERT(yamux_session_is_closing(&p.side.session));
    tpeer_close(&p); /* already closing: completes what the cb started */
    ASSERT_EQ(session_closes, 1);
    ASSERT_EQ(r.reads, 1);
    ASSERT_EQ(r.errors, 1); /* read_cb(UV_ECONNABORTED) */
    ASSERT_EQ(w.count, 1);
    ASSERT_EQ(w.status, UV_ECANCELED);
    ASSERT_EQ(r.closes, 0);
    ASSERT_EQ(seq, seq_at_session_close);
    tpeer_free(&p);
  }
}

static int conn_cbs;
static void on_conn_close_session(yamux_session_t* s, int status) {
  ASSERT_OK(status);
  conn_cbs++;
  yamux_session_close(s, on_session_close);
  /* Accepting from a closing session fails cleanly. */
  {
    yamux_stream_t h;
    ASSERT_OK(yamux_stream_init(s, &h));
    ASSERT_EQ(yamux_accept(s, &h), UV_EINVAL);
  }
}

TEST(teardown_close_session_inside_connection_cb) {
  tpeer_t p;
  const tframe_t* f;

  seq = 0;
  session_closes = 0;
  conn_cbs = 0;
  tpeer_init(&p, YAMUX_SERVER, NULL);
  ASSERT_OK(yamux_session_listen(&p.side.session, on_conn_close_session));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 1, 10, NULL, 10));
  ASSERT_OK(tpeer_send_frame(&p, T_DATA, F_SYN, 3, 10, NULL, 10));
  tpeer_close(&p);
  ASSERT_EQ(conn_cbs, 1); /* no more announcements once closing */
  ASSERT_EQ(session_closes, 1);
  /* No ACK ever went out; the session's Go Away(0) did. */
  while ((f = tpeer_next_frame(&p)) != NULL) ASSERT_NE(f->flags & F_ACK, F_ACK);
  ASSERT_EQ(p.out.n, 1);
  ASSERT_EQ(p.out.v[0].type, T_GOAWAY);
  tpeer_free(&p);
}

static yamux_session_t* close_from_write;
static int wcb_close_count;
static void on_write_close_session(yamux_write_t* r, int status) {
  on_wreq(r, status);
  if (++wcb_close_count == 1) {
    yamux_session_close(close_from_write, on_session_close);
    /* Further writes fail cleanly, without a callback. */
    ASSERT_EQ(yamux_write(r, r->stream, NULL, 0, on_wreq), YAMUX_ECLOSED);
  }
}

TEST(teardown_close_session_inside_write_cb) {
  tpeer_t p;
  tstream_t t;
  wreq_t w1, w2;
  uv_buf_t b;

  seq = 0;
  session_closes = 0;
  wcb_close_count = 0;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  close_from_write = &p.side.session;
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  ASSERT_OK(tstream_read_start(&t));
  memset(&w1, 0, sizeof(w1));
  memset(&w2, 0, sizeof(w2));
  b = uv_buf_init(big, 1000);
  ASSERT_OK(yamux_write(&w1.req, &t.handle, &b, 1, on_write_close_session));
  b = uv_buf_init(big, T_WINDOW); /* beyond the window: stays queued */
  ASSERT_OK(yamux_write(&w2.req, &t.handle, &b, 1, on_write_close_session));
  tpeer_pump(&p); /* w1 completes; its callback closes the session */
  ASSERT_EQ(w1.count, 1);
  tpeer_close(&p);
  ASSERT_EQ(session_closes, 1);
  ASSERT_EQ(w1.count, 1);
  ASSERT_EQ(w1.status, 0);
  ASSERT_EQ(w2.count, 1);
  ASSERT_EQ(w2.status, UV_ECANCELED);
  ASSERT_EQ(t.connect_count, 1);
  ASSERT_EQ(t.connect_status, UV_ECANCELED);
  ASSERT_EQ(t.read_errors, 1);
  ASSERT_EQ(t.read_error, UV_ECONNABORTED);
  ASSERT_EQ(seq, seq_at_session_close);
  tpeer_free(&p);
}

static void on_write_close_stream(yamux_write_t* r, int status) {
  on_wreq(r, status);
  yamux_close(r->stream, NULL);
}

TEST(teardown_close_stream_inside_write_cb) {
  tpeer_t p;
  tstream_t t;
  wreq_t w1, w2;
  uv_buf_t b;
  yamux_session_stats_t st;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  tstream_init(&t, &p.side.session);
  ASSERT_OK(tstream_open(&t));
  memset(&w1, 0, sizeof(w1));
  memset(&w2, 0, sizeof(w2));
  b = uv_buf_init(big, 1000);
  ASSERT_OK(yamux_write(&w1.req, &t.handle, &b, 1, on_write_close_stream));
  b = uv_buf_init(big, T_WINDOW);
  ASSERT_OK(yamux_write(&w2.req, &t.handle, &b, 1, on_write_close_stream));
  tpeer_pump(&p);
  ASSERT_EQ(w1.count, 1);
  ASSERT_EQ(w1.status, 0);
  /* w2 was partly gathered when the stream closed: it fails, once. */
  ASSERT_EQ(w2.count, 1);
  ASSERT_EQ(w2.status, UV_ECANCELED);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK | F_FIN, 1, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_OK(yamux_session_get_stats(&p.side.session, &st));
  ASSERT_EQ(st.streams_open, 0);
  tpeer_close(&p);
  tpeer_free(&p);
}
