/* Private to libyamux: the sans-I/O engine's state, shared by session.c,
 * stream.c and sched.c. Nothing here does I/O or reads a clock. */
#ifndef YAMUX_INTERNAL_H
#define YAMUX_INTERNAL_H

#include "common.h"
#include "frame.h"
#include "map.h"

/* Gather-list capacity of one output batch while the session is busy. Each
 * Data frame takes one entry for its header plus one per buffer slice. */
#define YAMUX__BATCH_IOV 256
/* ... and while it is quiet (pings, a short exchange): kept inline, so that
 * an idle session holds no batch memory (sched.c). */
#define YAMUX__BATCH_SMALL 8
/* Data bytes per batch: bounds how long control frames queued behind a batch
 * in flight wait (a pong behind 256 KiB is ~0.1 ms on loopback). */
#define YAMUX__BATCH_DATA_BYTES (256u * 1024u)
/* Outbound RSTs for SYNs we refused without creating a stream. */
#define YAMUX__REFUSE_RING 1024
/* Peer stream ids remembered for reuse detection (see ids_used). */
#define YAMUX__ID_WINDOW 4096
/* Stream records kept for reuse per session (a stream-per-request load
 * then allocates nothing per stream). Build with -DYAMUX_NO_POOL to send
 * every record to the allocator, so sanitizers see each one. */
#define YAMUX__POOL_MAX 1024
/* Smallest receive-buffer chunk: small frames pack into chunks so a peer
 * sending 1-byte frames cannot make per-frame allocations. */
#define YAMUX__RX_CHUNK_MIN 4096u

/* A deadline that starts at the next drive (see drive_begin). */
#define YAMUX__UNARMED (UINT64_MAX - 1)

/* Prepares a request's private fields; its data field is the caller's and
 * is left alone, as libuv does. */
#define YAMUX__REQ_INIT(req, type, cb) \
  do {                                 \
    (req)->status_ = 0;                \
    (req)->type_ = (type);             \
    (req)->cb_ = (cb);                 \
    yamux__queue_init(&(req)->queue_); \
  } while (0)

/* Request types (yamux_*_t.type_). */
enum {
  YAMUX__REQ_WRITE = 1,
  YAMUX__REQ_SHUTDOWN,
  YAMUX__REQ_CONNECT,
  YAMUX__REQ_PING
};

/* Stream record state bits (yamux__strm_t.state), and what each implies.
 * Opening: LOCAL streams go SYN_WAIT -> SYN_PENDING -> SYN_SENT -> ACKED;
 * inbound ones wait in accept_q until ACCEPTED, then ACK_PENDING until the
 * ACK leaves. Closing: each direction ends with a FIN or either side's
 * RST; the record is released once terminal (see stream.c). */
enum {
  YAMUX__S_LOCAL = 1u << 0, /* we opened it (our id parity) */
  /* The SYN waits for room in the ACK backlog (max_unacked_opens): link is
   * in syn_waitq; nothing of it may go out, not even an RST. */
  YAMUX__S_SYN_WAIT = 1u << 1,
  YAMUX__S_SYN_PENDING = 1u << 2, /* SYN to send; counted in unacked */
  /* The SYN left; counted in unacked until ACKED (or the stream failed). */
  YAMUX__S_SYN_SENT = 1u << 3,
  /* The peer took our SYN (ACK or any frame but RST); no longer counted in
   * unacked. Also set when a failed open stops counting. */
  YAMUX__S_ACKED = 1u << 4,
  YAMUX__S_ACK_PENDING = 1u << 5, /* inbound, ACCEPTED: the ACK to send */
  /* FIN goes after the queued writes; the shutdown request, if any, is the
   * last entry of `writes`. */
  YAMUX__S_FIN_PENDING = 1u << 6,
  YAMUX__S_FIN_SENT = 1u << 7,    /* we write no more; FIN_PENDING is clear */
  YAMUX__S_FIN_RCVD = 1u << 8,    /* the peer writes no more; Data after it is
                                   * answered with RST */
  YAMUX__S_RST_PENDING = 1u << 9, /* RST (code in rst_code) to send; implies
                                   * FAILED */
  YAMUX__S_RST_SENT = 1u << 10,   /* terminal */
  YAMUX__S_RST_RCVD = 1u << 11,   /* terminal; rst_code is the peer's */
  YAMUX__S_EOF_DELIVERED = 1u << 12, /* read_cb saw the final status */
  YAMUX__S_DETACHED = 1u << 14,      /* the handle let go: handle is NULL */
  /* Queued for freeing (free_list); in no other list and not in the table
   * for lookups (frames for it are dropped). Implies terminal. */
  YAMUX__S_RELEASED = 1u << 15,
  /* Inbound and out of accept_q (taken by yamux_accept(), or failed there);
   * no longer counted in accept_count. */
  YAMUX__S_ACCEPTED = 1u << 16,
  /* Ended locally (timeout, reset by us, session end): fail_status is what
   * the reader gets; writes fail; no more data is accepted. */
  YAMUX__S_FAILED = 1u << 17,
  /* link is in open_timers or linger_timers; t.deadline is in use (no
   * window tuning meanwhile). */
  YAMUX__S_ON_TIMER = 1u << 18,
  /* link is in deliverq or deliver_retryq: a delivery is due. */
  YAMUX__S_ON_DELIVERQ = 1u << 19,
  YAMUX__S_LINGER = 1u << 20, /* with ON_TIMER: the linger timer */
  /* The window just changed: the next tuning epoch only measures. */
  YAMUX__S_TUNE_SETTLE = 1u << 21,
  /* In its send round ahead of the streams with a backlog (a small write
   * on an idle stream); cleared once it is served. */
  YAMUX__S_SPARSE = 1u << 22,
  /* Its last Data frame was cut short by a full batch and it kept its turn
   * (at the head of its queue); cut again, it goes to the back of the
   * round. Cleared when a frame of it is not cut. */
  YAMUX__S_TURN_KEPT = 1u << 23
};

/* Bits 24-26 of the state hold the stream's send priority (urgency 0-7,
 * lower first; yamux_stream_set_priority()). */
#define YAMUX__S_PRIO_SHIFT 24
#define YAMUX__S_PRIO_MASK (7u << YAMUX__S_PRIO_SHIFT)
#define YAMUX__PRIO_LEVELS 8
#define YAMUX__PRIO_DEFAULT 3
#define YAMUX__STREAM_PRIO(st) \
  (((st)->state & YAMUX__S_PRIO_MASK) >> YAMUX__S_PRIO_SHIFT)

#define YAMUX__S_RESET \
  (YAMUX__S_RST_SENT | YAMUX__S_RST_RCVD | YAMUX__S_RST_PENDING)

/* Handle flags (yamux_stream_t.flags_). */
enum {
  YAMUX__H_LIVE = 1u << 0, /* opened or accepted */
  YAMUX__H_READING = 1u << 1,
  YAMUX__H_CLOSING = 1u << 2, /* yamux_close*() called */
  YAMUX__H_CLOSED = 1u << 3,  /* close callback delivered or released */
  YAMUX__H_SHUT = 1u << 4     /* yamux_shutdown() called */
};

typedef struct yamux__rxchunk {
  struct yamux__rxchunk* next;
  uint32_t off; /* first unread byte */
  uint32_t len; /* bytes filled */
  uint32_t cap;
  char data[];
} yamux__rxchunk_t;

/* Kept small: a session may hold 100,000 idle streams, and each costs this
 * record, one map slot and the caller's handle. Fields that are never live
 * at the same time share storage; see the size check below. */
typedef struct yamux__strm {
  struct yamux__sess* sess;
  yamux_stream_t* handle; /* NULL before accept and after close */
  /* Received bytes waiting for the reader: a circular list held by its last
   * chunk (whose next is the first), NULL when empty. */
  yamux__rxchunk_t* rx_tail;
  yamux_connect_t* connect_req;
  uint32_t id;
  uint32_t state;
  uint32_t send_window;     /* credit the peer gave us */
  uint32_t recv_window;     /* credit we gave that the peer has not used */
  uint32_t recv_window_max; /* current window size (auto-tuned) */
  uint32_t credit_pending;  /* read by the app, not yet returned */
  uint32_t buffered;        /* received, waiting for the app */
  /* The code of the peer's RST (RST_RCVD) or of ours (RST_PENDING/SENT):
   * a stream never has both. */
  uint32_t rst_code;
  int16_t fail_status;    /* read_cb status when FAILED: UV_* or YAMUX_E* */
  uint16_t inflight_reqs; /* write requests with bytes in the gather list */
  uint32_t rate_ref;      /* window tuning: recent read rate, bytes/2^20 ns */
  uint64_t write_queued;  /* bytes of queued writes not yet gathered */
  /* A stream on a timer list (S_ON_TIMER: opening or closing) has a
   * deadline; one that is not may be tuning its window. */
  union {
    uint64_t deadline; /* open or linger deadline */
    struct {
      uint32_t
          start; /* now in units of 2^14 ns, wrapping, bit 0 set; 0: none */
      uint32_t bytes; /* read since start */
    } epoch;          /* the read-rate measurement of window tuning */
  } t;
  uint64_t bytes_sent;
  uint64_t bytes_received;
  /* yamux_write_t not fully gathered, then the yamux_shutdown_t if any. */
  yamux__queue_t writes;
  yamux__queue_t ctrl_link; /* session.ctrlq: control frame to send */
  yamux__queue_t send_link; /* session.sendq: data and credit to send */
  /* In at most one of: accept_q (inbound, not accepted), syn_waitq (SYN
   * waiting for room), deliverq (S_ON_DELIVERQ), open_timers or
   * linger_timers (S_ON_TIMER); once released, next links free_list. */
  yamux__queue_t link;
} yamux__strm_t;

/* glibc hands out 176-byte chunks for 161..168 bytes: a record of at most
 * 168 bytes, a 56-byte handle and a map slot stay under 256 bytes per idle
 * stream (bench W6). */
#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(yamux__strm_t) <= 168, "stream record grew");
_Static_assert(sizeof(yamux_stream_t) <= 56, "stream handle grew");
#endif
_Static_assert(YAMUX__BATCH_IOV <= UINT16_MAX, "inflight_reqs is 16 bits");

/* Session flags (yamux__sess_t.flags). */
enum {
  /* yamux_session_start_*() ran: the transport hooks may be called. */
  YAMUX__SESS_STARTED = 1u << 0,
  /* yamux_session_close() was called: no new work is accepted; implies
   * INPUT_DEAD. The transport is closed once the batch is flushed (or
   * TX_DEAD), then the session is freed. */
  YAMUX__SESS_CLOSING = 1u << 1,
  /* The session ended by itself (session_end: EOF, transport error,
   * protocol error, keepalive, the peer's error Go Away); end_status says
   * why; implies INPUT_DEAD; every stream and request has failed. */
  YAMUX__SESS_ENDED = 1u << 2,
  /* end_cb ran (or CLOSING came first and it never will). */
  YAMUX__SESS_END_REPORTED = 1u << 3,
  /* The transport cannot write (a write failed, or the close timeout gave
   * up): nothing more is gathered. */
  YAMUX__SESS_TX_DEAD = 1u << 4,
  /* The transport's close hook was called; TRANSPORT_CLOSED follows when
   * it calls yamux_session_transport_closed(). */
  YAMUX__SESS_TRANSPORT_CLOSING = 1u << 5,
  YAMUX__SESS_TRANSPORT_CLOSED = 1u << 6,
  /* The wake hook was called and yamux_session_run() has not run since. */
  YAMUX__SESS_WOKEN = 1u << 7,
  /* Received bytes are ignored: after ENDED or CLOSING. The sticky error
   * state of the parser: a handler that ends the session sets it and the
   * parse loop stops. */
  YAMUX__SESS_INPUT_DEAD = 1u << 8,
  /* A keepalive (or window-tuning RTT) ping is to be gathered. */
  YAMUX__SESS_KEEPALIVE_DUE = 1u << 9,
  /* That ping is on its way; its pong is a liveness and RTT sample. */
  YAMUX__SESS_KEEPALIVE_INFLIGHT = 1u << 10,
  /* The transport holds [head, tail) of the batch: send_buffers() returned
   * it and send_done() has not been called. Nothing in the batch moves. */
  YAMUX__SESS_LENT = 1u << 11,
  /* The last write was short: the transport is lent at most one Data
   * frame's worth until a write completes in full (sched.c). */
  YAMUX__SESS_BACKED_UP = 1u << 12
};

/* Go Away flags (yamux__sess_t.goaway_flags), as nghttp2's goaway_flags. */
enum {
  YAMUX__GOAWAY_QUEUED = 1u << 0, /* ours, not yet gathered */
  YAMUX__GOAWAY_SENT = 1u << 1,   /* ours is in the batch or on the wire */
  YAMUX__GOAWAY_RECV = 1u << 2    /* the peer's arrived */
};

/* Sets or clears `flag` in the word `word` as `cond` says. */
#define YAMUX__SET_FLAG(word, flag, cond) \
  do {                                    \
    if (cond)                             \
      (word) |= (flag);                   \
    else                                  \
      (word) &= ~(flag);                  \
  } while (0)

typedef struct yamux__sess {
  yamux_session_t* handle;
  yamux_config_t cfg;
  yamux_allocator_t mem;
  yamux_transport_t transport;
  yamux_session_end_cb end_cb;
  yamux_session_close_cb close_cb;
  yamux_connection_cb connection_cb;
  yamux_goaway_cb goaway_cb;

  uint64_t now;   /* the time of the current (or last) drive */
  uint32_t flags; /* YAMUX__SESS_* */
  int end_status; /* with ENDED: what end_cb reports */
  int depth;      /* drive/callback nesting: > 0 inside a drive */

  /* Stream ids. */
  uint32_t next_id;
  uint32_t last_peer_id;
  /* Which of the peer's last YAMUX__ID_WINDOW ids (below and at
   * last_peer_id) were opened: hashicorp/yamux sends SYNs out of id order
   * and rust-yamux sends a SYN with a stream's first frame, so a SYN below
   * the highest id is fine unless that id was used before. */
  uint64_t ids_used[YAMUX__ID_WINDOW / 64];
  uint32_t n_inbound; /* live inbound streams */
  uint32_t n_streams;
  uint32_t unacked; /* our SYNs sent and not ACKed */
  uint32_t accept_count;
  uint32_t announce_count;
  uint64_t grown_bytes; /* window growth above initial, all streams */
  yamux__map_t map;

  /* Inbound frame parser. */
  uint8_t hdr_buf[YAMUX__HDR_LEN];
  uint32_t hdr_len;
  yamux__frame_hdr_t cur;
  uint32_t body_left;
  yamux__strm_t* body_stream; /* NULL: discard the body */

  /* Queues. */
  yamux__queue_t ctrlq;
  yamux__queue_t sendq[YAMUX__PRIO_LEVELS];   /* by priority, round-robin */
  yamux__queue_t sparseq[YAMUX__PRIO_LEVELS]; /* S_SPARSE ones, served first */
  yamux__queue_t accept_q;
  yamux__queue_t syn_waitq;
  yamux__queue_t deliverq;
  yamux__queue_t deliver_retryq; /* readers that had no buffer: next drive */
  yamux__queue_t open_timers;
  yamux__queue_t linger_timers;
  yamux__queue_t done_reqs;       /* requests whose callback is due */
  yamux__queue_t deferred_reqs;   /* cancelled, due after earlier writes */
  yamux__queue_t closing_handles; /* yamux_stream_t whose close_cb is due */
  yamux__queue_t pings_todo;      /* yamux_ping_t to send */
  yamux__queue_t pings_sent;      /* yamux_ping_t waiting for the reply */
  yamux__strm_t* free_list;       /* released records to free */
  yamux__strm_t* pool;            /* freed records kept for reuse */
  uint32_t pool_count;

  /* Session-level control frames to send. */
  uint32_t* pongs; /* pongs_small, or max_queued_pongs on the heap */
  uint32_t pong_head, pong_count, pong_cap;
  uint32_t pongs_small[4];
  uint32_t* refuse_ring; /* YAMUX__REFUSE_RING ids, from the first refusal */
  uint32_t refuse_head, refuse_count;
  uint32_t goaway_flags; /* YAMUX__GOAWAY_* */
  uint32_t goaway_code;  /* ours, with QUEUED or SENT */
  uint32_t goaway_rx_code;

  /* Keepalive and RTT. */
  uint32_t next_opaque;
  uint64_t next_keepalive;     /* when to send the next keepalive ping */
  uint64_t keepalive_deadline; /* liveness deadline, UINT64_MAX if none */
  uint32_t keepalive_opaque;   /* with KEEPALIVE_INFLIGHT */
  uint64_t keepalive_sent_at;
  uint64_t rtt_ns;
  uint64_t rtt_min_ns;
  uint64_t rtt_sampled_at; /* when the last RTT sample arrived */
  uint64_t rtt_probed_at;  /* when window tuning last asked for a ping */
  uint64_t close_deadline;

  /* The output batch: [head, tail) is unsent (see LENT and BACKED_UP). */
  size_t lent_bytes; /* with LENT: bytes of the entries lent */
  uv_buf_t* iov;
  uint8_t (*hdrs)[YAMUX__HDR_LEN]; /* hdrs[i]: entry i's header bytes */
  yamux_write_t** owner;           /* the write request a slice ends */
  uint32_t head, tail;
  uint32_t cap;           /* YAMUX__BATCH_SMALL (inline) or _IOV (heap) */
  uint64_t batch_busy_at; /* when a gather last had Data to send */
  uv_buf_t small_iov[YAMUX__BATCH_SMALL];
  uint8_t small_hdrs[YAMUX__BATCH_SMALL][YAMUX__HDR_LEN];
  yamux_write_t* small_owner[YAMUX__BATCH_SMALL];

  yamux_session_stats_t stats;
} yamux__sess_t;

/* Either side announced Go Away: no new streams either way. */
static inline int yamux__sess_going_away(const yamux__sess_t* s) {
  return s->goaway_flags != 0;
}

/* ---- session.c ------------------------------------------------------------
 *
 * Callbacks never run inside an API call: API functions queue work and call
 * yamux__sess_api_leave(); drive functions (feed, send_done, run, ...) run
 * the queued callbacks in yamux__sess_leave() when the outermost drive
 * ends (depth 0). */

/* Ends a drive level; at depth 0 runs everything due (end_cb, request
 * completions, deliveries, connection announcements, close callbacks),
 * frees released records, and closes the transport when CLOSING and
 * flushed. The session may be freed on return (check handle->internal_). */
void yamux__sess_leave(yamux__sess_t* s);
/* The end of an API call: outside a drive, asks the transport for a run()
 * (wake hook) if anything is due; inside one, does nothing (the drive's
 * leave will). Never runs a callback. */
void yamux__sess_api_leave(yamux__sess_t* s);
/* Calls the transport's wake hook once until the next yamux_session_run()
 * (sets WOKEN). Does nothing before the start or once the transport
 * closed. Never runs a library callback. */
void yamux__sess_wake(yamux__sess_t* s);
/* Queues a request (any yamux_*_t) for its callback with `status`, unless a
 * status was already recorded (the first error wins). The callback runs at
 * the next leave at depth 0. */
void yamux__sess_complete_req(yamux__sess_t* s, void* req, int status);
/* Formats and passes one line to cfg.log_cb if set and `level` is enabled.
 * Never writes to stdout or stderr. */
void yamux__sess_log(yamux__sess_t* s, yamux_log_level_t level, const char* fmt,
                     ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The peer broke the protocol: logs `why`, queues Go Away(1) (unless a Go
 * Away was sent) and ends the session with YAMUX_EPROTO (ENDED,
 * INPUT_DEAD, every stream and request failed). Callbacks run later. */
void yamux__sess_protocol_error(yamux__sess_t* s, const char* why);
/* What a reader sees when the session ends under its stream: our YAMUX_E*
 * code, or UV_ECONNABORTED for a transport EOF or error. */
int yamux__sess_read_error_status(const yamux__sess_t* s);

/* ---- stream.c -------------------------------------------------------------
 *
 * A record lives from its SYN (sent or received) until it is terminal (both
 * FINs, or an RST either way, or FAILED with nothing left to send), has no
 * handle and no gather-list entries: then it is RELEASED (unlinked from
 * every list, on free_list) and freed at the end of the drive. */

/* Allocates a record (from the pool when it can) in `state` with the default
 * priority and windows, and adds it to the stream table. Returns NULL
 * (nothing changed) when out of memory. */
yamux__strm_t* yamux__strm_new(yamux__sess_t* s, uint32_t id, uint32_t state);
/* Releases the record if it is terminal, has no handle, no gather-list
 * entries and no control frame to send. */
void yamux__strm_maybe_release(yamux__strm_t* st);
/* Frees a record and its receive buffer (to the pool unless closing). A
 * handle still attached is marked closed. Never runs a callback. */
void yamux__strm_free(yamux__sess_t* s, yamux__strm_t* st);
/* Frees every pooled record. */
void yamux__strm_pool_free(yamux__sess_t* s);
/* A piece of a Data body for the stream: handed to a reading handle at once
 * when nothing older waits (read callbacks may run: inside a drive),
 * otherwise buffered and its delivery scheduled; discarded and credited
 * when the application closed the stream. Out of memory fails the stream
 * (RST). The window was checked by the caller. */
void yamux__strm_on_data(yamux__strm_t* st, const char* data, size_t len);
/* The peer's FIN: FIN_RCVD, the reader gets UV_EOF after its data, the
 * linger timer stops. May release the record. */
void yamux__strm_on_fin(yamux__strm_t* st);
/* The peer's RST with its code: RST_RCVD, buffered data dropped, the
 * connect fails (UV_ECONNREFUSED before the ACK, else UV_ECONNRESET),
 * requests fail, the reader gets UV_ECONNRESET. May release the record. */
void yamux__strm_on_rst(yamux__strm_t* st, uint32_t code);
/* An ACK (or any frame but RST) on a stream we opened: ACKED once, the
 * open timer stops, the connect completes with 0, and a SYN waiting for
 * room in the ACK backlog may go. Duplicates are ignored. */
void yamux__strm_on_ack(yamux__strm_t* st);
/* Delivers buffered data, then the final status (UV_EOF, or the failure),
 * to a reading handle. Runs read callbacks: only from settle (depth 1).
 * An empty buffer from alloc_cb puts the stream on deliver_retryq. */
void yamux__strm_deliver(yamux__strm_t* st);
/* Ends the stream locally: FAILED with `status` (the reader sees it after
 * buffered data, or UV_EOF if the peer's FIN came), requests fail, RST
 * queued if `send_rst` and the peer knows the stream, timers stop, it
 * leaves the accept backlog. May release the record. Idempotent. */
void yamux__strm_fail(yamux__strm_t* st, int status, int send_rst);
/* Completes every queued write and the shutdown with `status`; writes with
 * bytes in the gather list complete when those leave it. */
void yamux__strm_cancel_writes(yamux__strm_t* st, int status);
/* The stream's last bytes left the gather list: its cancelled requests
 * waiting on deferred_reqs complete now, in order. */
void yamux__strm_release_deferred(yamux__strm_t* st);
/* Puts the stream on the control queue (SYN, ACK, credit, FIN, RST to
 * send), unless released or its SYN waits for room. */
void yamux__strm_queue_ctrl(yamux__strm_t* st);
/* Puts the stream in its priority's send round if it has data and window,
 * and is not waiting, failed, reset or released. */
void yamux__strm_queue_send(yamux__strm_t* st);
/* Lets SYNs waiting for room go (up to max_unacked_opens), starting their
 * open timers; after a Go Away fails them with YAMUX_EGOAWAY instead. */
void yamux__strm_release_syn_waiters(yamux__sess_t* s);
/* The handle lets go of the record: after its yamux_close() once its
 * writes left the gather list (the close callback is queued), or at
 * session teardown (marked closed, no callback). May release the record. */
void yamux__strm_handle_closed(yamux__strm_t* st);
/* Stops the open or linger timer (ON_TIMER, LINGER cleared); the record's
 * deadline storage becomes the tuning epoch again. */
void yamux__strm_timer_remove(yamux__strm_t* st);
/* Starts a timer of `timeout_ms` on `list` (ON_TIMER): from now inside a
 * drive, else armed by the next drive (YAMUX__UNARMED). */
void yamux__strm_timer_insert(yamux__strm_t* st, yamux__queue_t* list,
                              uint64_t timeout_ms);

/* ---- tune.c (receive windows) ---------------------------------------------
 */

/* The application read `n` bytes (or they were discarded): they become
 * credit owed to the peer; the window may grow or shrink (tune.c's
 * comment); the stream is queued for control when enough credit is owed.
 * May queue a ping (KEEPALIVE_DUE) to measure the RTT. */
void yamux__tune_on_read(yamux__strm_t* st, uint32_t n);
/* How much owed credit makes a Window Update worth sending. */
uint32_t yamux__tune_credit_threshold(const yamux__strm_t* st);
/* The credit to put in the stream's next Window Update (0: not enough is
 * owed yet); counts it as given (recv_window). */
uint32_t yamux__tune_take_credit(yamux__strm_t* st);

/* ---- sched.c (the output batch) -------------------------------------------
 */

/* Fills the batch up to `max_bufs` entries past head: an error Go Away,
 * pongs, pings, refusals, per-stream control, a normal Go Away, then Data
 * by priority, round-robin. When not LENT it first compacts the batch and
 * takes back the Data frames the transport has not started. Changes stream
 * state for what it emits (SYN_SENT, FIN_SENT: shutdowns complete).
 * Returns the entries in the batch. */
unsigned int yamux__sched_gather(yamux__sess_t* s, unsigned int max_bufs);
/* How many entries from head to lend the transport: all, or one Data
 * frame's worth while BACKED_UP; at most max_bufs. */
unsigned int yamux__sched_lend(yamux__sess_t* s, unsigned int max_bufs);
/* Puts a stream into its priority's round: a sparse one (S_SPARSE) into
 * the sparse queue, served first; otherwise at the head (`front`: its turn
 * had come) or the tail of the round. The stream must not be queued. */
void yamux__sched_sendq_insert(yamux__sess_t* s, yamux__strm_t* st, int front);
/* The transport wrote `nbytes` from head: entries leave the batch, write
 * requests whose last byte left complete (queued), closing handles may let
 * go. */
void yamux__sched_consume(yamux__sess_t* s, size_t nbytes);
/* Every entry leaves the batch unwritten; their requests fail with
 * `status`. */
void yamux__sched_fail_batch(yamux__sess_t* s, int status);
/* Non-zero if anything is in the batch or waits to be gathered. */
int yamux__sched_want_write(const yamux__sess_t* s);
/* Points the batch at its inline storage (session init). */
void yamux__sched_init(yamux__sess_t* s);
/* Gives the heap batch back when it is empty, not lent, and the session
 * had no Data to send for a second; `force`: whenever it is empty and not
 * lent (teardown). */
void yamux__sched_trim(yamux__sess_t* s, int force);

#endif /* YAMUX_INTERNAL_H */
