/* The yamux command's shared declarations: the flow record and what the core
 * (tools/yamux.c: options, session, TCP and Unix flows) and the UDP flows
 * (tools/yamux-udp.c: datagram framing, per-source flows, expiry) use of
 * each other. */
#ifndef YAMUX_TOOLS_CLI_H
#define YAMUX_TOOLS_CLI_H

#include <netdb.h>
#include <stdint.h>

#include "yamux.h"

#define CHUNK 65536
/* Stop reading one side when the other side's write queue holds this many
 * bytes; read again below LOW_WATER. */
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)

enum { K_TCP, K_UNIX, K_UDP };
enum { S_RUNNING, S_ENDED, S_CLOSING, S_CLOSED };
enum { CLOSE_CLEAN, CLOSE_RESET_STREAM, CLOSE_RESET_SOCK };

/* A read buffer that becomes a write request: the request sits in front of
 * the data, so one allocation carries a chunk from read to write callback. */
typedef struct block_s {
  union {
    yamux_write_t y;
    uv_write_t u;
    uv_udp_send_t d;
  } req;
  struct flow_s* flow;
} block_t;

#define BLOCK_DATA(b) ((char*)((b) + 1))
#define BLOCK_OF(base) ((block_t*)(void*)(base)-1)

typedef union {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_udp_t udp;
} sock_t;

/* One local connection (or UDP peer) and its stream. */
typedef struct flow_s {
  yamux_stream_t stream;
  sock_t sock; /* unused by UDP listen flows: they share the listener */
  yamux_connect_t open_req;
  yamux_shutdown_t fin_req;
  uv_shutdown_t shut_req;
  uv_connect_t conn_req;
  uv_getaddrinfo_t gai_req;
  struct addrinfo* ai_head;
  struct addrinfo* ai_next;
  struct flow_s* next;
  struct flow_s* prev;
  struct flow_s* hnext; /* UDP listen: hash chain by source address */
  struct sockaddr_storage peer;
  char name[64];
  unsigned long id;
  unsigned int pending;     /* requests whose callbacks are owed */
  unsigned int sock_writes; /* of which writes to the socket */
  int dial_err;
  int attempts;
  int stream_live, stream_closing, stream_closed;
  int sock_live, sock_closing, sock_closed;
  int sock_reading, stream_reading;
  int sock_eof;     /* local EOF read, or nothing more can go up (the
                       session ended) */
  int fin_done;     /* our FIN queued (or it never will be) */
  int stream_eof;   /* the peer's FIN read */
  int shut_started; /* uv_shutdown of the socket requested */
  int shut_done;
  int draining; /* the stream is dead: flush the socket, then close */
  int aborting; /* the stream ended without the peer's FIN: flush the
                   socket, then reset it */
  int cut;      /* counted in the unfinished connections */
  int closing;
  int hashed;
  int udp_paused; /* stream reading stopped for the UDP send queue */
  uint64_t last_active;
  /* UDP: a record being reassembled from the stream */
  unsigned char hdr[4];
  unsigned int hdr_have;
  block_t* rec;
  uint32_t rec_len;
  uint32_t rec_have;
} flow_t;

struct cli_stats {
  uint64_t flows;
  uint64_t dial_failures;
  uint64_t open_failures;
  uint64_t up_bytes;   /* local -> yamux */
  uint64_t down_bytes; /* yamux -> local */
  uint64_t udp_in;
  uint64_t udp_out;
  uint64_t udp_dropped;
  uint64_t udp_expired;
};

/* ---- the core (tools/yamux.c) ------------------------------------------ */

extern int opt_listen;
extern uv_loop_t* loop;
extern yamux_session_t session;
extern int session_state; /* S_* */
extern flow_t flows;      /* list head */
extern sock_t listener;
extern int listener_closed;
extern struct cli_stats st;

/* Level 0 always prints (errors), 1 with -v, 2 with -vv. */
void say(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
const char* errstr(int err);
void addr_name(const struct sockaddr* sa, char* out, size_t len);
size_t addr_len(const struct sockaddr* sa);
block_t* block_new(size_t size);
/* A new flow on the list, with neither its stream nor its socket live. */
flow_t* flow_new(void);
/* Ends the flow (how: CLOSE_*); it is freed once its handles have closed
 * and its requests have called back. */
void flow_close(flow_t* f, int how);
/* Frees a closing flow when nothing refers to it any more. */
void flow_maybe_free(flow_t* f);
/* Starts (or resumes) reading both sides of a connected flow. */
void start_copy(flow_t* f);
void on_stream_alloc(yamux_stream_t* stream, size_t size, uv_buf_t* buf);
void on_stream_write(yamux_write_t* req, int status);

/* ---- UDP flows (tools/yamux-udp.c) ------------------------------------- */

/* --udp-timeout in milliseconds; 0: flows never expire. */
extern uint64_t udp_timeout_ms;

void on_udp_alloc(uv_handle_t* handle, size_t size, uv_buf_t* buf);
/* A connected flow's socket (dial side): one datagram, one record. */
void on_udp_flow_read(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                      const struct sockaddr* addr, unsigned flags);
/* The listener (listen side): finds or opens the source address's flow. */
void on_udp_listener_read(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                          const struct sockaddr* addr, unsigned flags);
/* The stream's records, each sent as one datagram. */
void on_udp_stream_read(yamux_stream_t* stream, ssize_t nread,
                        const uv_buf_t* buf);
/* Takes the flow out of the source address table (it gets no more
 * datagrams); a no-op for other flows. */
void udp_flow_unhash(flow_t* f);
/* The flow is being freed: forgets its send-queue pause. */
void udp_flow_released(flow_t* f);
/* Starts (and stops) expiring idle flows every udp_timeout_ms. */
void udp_expiry_start(void);
void udp_expiry_stop(void);

/* ---- TLS (tools/yamux-tls.c) -------------------------------------------- */

/* --tls and its options (set while parsing the command line). */
struct cli_tls_opts {
  int on;
  int no_verify;
  const char* cert;
  const char* key;
  const char* ca;
  const char* servername;
};
extern struct cli_tls_opts tls_opt;

/* After parsing: 0, or a usage message was printed (exit status 2). */
int cli_tls_check(void);
/* Loads the certificates; 0, or -1 after a message. */
int cli_tls_init(void);
/* Runs the session over TLS on our stdin/stdout (po NULL) or on the stdio
 * of the command that po describes (spawned into `child`). 0, or -1 after a
 * message (then no child is left running and the session is not started). */
int cli_tls_start(yamux_session_t* s, uv_process_t* child,
                  const uv_process_options_t* po, yamux_session_end_cb end_cb);
/* From the end callback: keeps the text of a TLS failure for errstr(). */
void cli_tls_session_ended(yamux_session_t* s, int status);
/* The text of a TLS failure status, or NULL for any other status. */
const char* cli_tls_strerror(int status);
/* The session closed: our stdin/stdout are released as the libuv driver
 * releases them (a peer reading them sees the end at once). */
void cli_tls_closed(void);
void cli_tls_free(void);

#endif
