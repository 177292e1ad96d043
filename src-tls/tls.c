/* libyamux-tls: a yamux session over OpenSSL on libuv streams.
 *
 * A driver like src/uv-driver.c, built on the public custom-transport
 * functions of yamux.h only, with OpenSSL between the engine and the socket:
 *
 *  - read: ciphertext from the socket lands in rx_buf; OpenSSL reads it from
 *    there through a BIO of ours (no copy into a memory BIO), decrypts into
 *    a plaintext batch, and the batch is fed to the engine.
 *  - write: the engine's gather list is encrypted entry by entry: a large
 *    entry (a Data body) goes to SSL_write() where it lies; runs of small
 *    ones (frame headers, window updates, small bodies) are gathered into one
 *    record first, so that a 12-byte header does not cost a record of its
 *    own unless a large body follows. Records land in `fill`; the engine's
 *    bytes count as written once encrypted, so its write callbacks do not
 *    wait for the socket. `fill` goes out with uv_try_write(), and what the
 *    kernel does not take is handed to uv_write() from a second buffer
 *    (`fly`) so that OpenSSL can go on encrypting (and answering the peer)
 *    meanwhile. Encryption pauses while TLS_TX_HIGH bytes wait, and reading
 *    while TLS_RX_PAUSE do (records OpenSSL writes as it reads).
 *  - wake, time, close: as in the libuv driver (a prepare handle with an idle
 *    handle, one timer, half-close and linger), plus the handshake deadline
 *    and the close_notify alert.
 *
 * The driver's state is the transport's data
 * (yamux_session_get_transport_data()).
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamux-tls.h"

/* Ciphertext read buffer. At least two records, so that a partial record
 * carried over always leaves room for the next read. */
#define TLS_RX_SIZE 65536
/* Plaintext fed to the engine per call (several records). */
#define TLS_PLAIN_SIZE 65536
/* The largest record body, and the size of the gathering buffer. */
#define TLS_RECORD 16384
/* Entries smaller than this are gathered into one record with their
 * neighbours (one copy); larger ones are encrypted in place. */
#define TLS_SMALL 4096
/* Plaintext encrypted per round before the result is written. */
#define TLS_BATCH (256 * 1024)
/* Encryption pauses while this much ciphertext waits for the socket. */
#define TLS_TX_HIGH (512 * 1024)
/* Reading pauses while this much does, until it is down to TLS_TX_HIGH:
 * records OpenSSL writes while it reads (a KeyUpdate reply, an alert) are
 * not held back by TLS_TX_HIGH, and a peer that sends what asks for them
 * and never reads would otherwise make `fill` grow without bound. Above
 * what encryption alone can queue (`fill` below TLS_TX_HIGH plus a batch,
 * `fly` as much): two sessions sending bulk to each other must never both
 * stop reading. */
#define TLS_RX_PAUSE (4 * TLS_TX_HIGH)
#define TLS_MAX_BUFS 1024
/* Rounds of encrypt + write per dispatch before the next loop turn. */
#define TLS_ROUNDS 16
#define TLS_RUN_ROUNDS 8
/* After our half-close, how long to wait for the peer's EOF (a close with
 * unread data would make the kernel send RST over our last records). */
#define TLS_LINGER_MS 1000
/* After a failed write, how long the read side has to report why. */
#define TLS_TX_ERROR_MS 200

#define CONTAINER_OF(ptr, type, member) \
  ((type*)((char*)(ptr)-offsetof(type, member)))

struct yamux_tls_ctx_s {
  SSL_CTX* ssl_ctx;
  int verify;
  int require_client_cert;
  uint64_t handshake_timeout_ms;
};

typedef struct obuf_s {
  char* base;
  size_t len; /* bytes held */
  size_t off; /* bytes already written */
  size_t cap;
} obuf_t;

typedef struct tls_s {
  yamux_session_t* session;
  uv_loop_t* loop;
  uv_stream_t* rx;
  uv_stream_t* tx;
  SSL* ssl;
  unsigned int ready : 1;       /* our handles are initialized */
  unsigned int wake : 1;        /* the engine asked for yamux_session_run() */
  unsigned int in_dispatch : 1; /* inside one of our libuv callbacks */
  unsigned int hs_started : 1;  /* the first handshake step ran */
  unsigned int hs_done : 1;
  unsigned int failed : 1;    /* TLS failed: encrypt and decrypt no more */
  unsigned int ended : 1;     /* the session ended: decrypt no more */
  unsigned int writing : 1;   /* `fly` is in a uv_write() */
  unsigned int rx_done : 1;   /* EOF or error read */
  unsigned int rx_paused : 1; /* reading stopped: TLS_RX_PAUSE waits */
  unsigned int tx_dead : 1;   /* a write failed */
  unsigned int closing : 1;   /* the close hook ran */
  unsigned int closing_all : 1;
  uint64_t armed;       /* expiry the timer is armed for */
  uint64_t hs_deadline; /* UINT64_MAX: none */
  uint64_t tx_deadline; /* a write failed: end by then; UINT64_MAX: none */
  int tx_err;
  unsigned int pending; /* close callbacks to wait for */
  obuf_t fill;          /* records being produced */
  obuf_t fly;           /* records in a uv_write() */
  obuf_t last;          /* records written by the close */
  size_t rx_off;        /* rx_buf[rx_off, rx_len) is unread ciphertext */
  size_t rx_len;
  size_t stage_len;
  uv_timer_t timer;
  uv_prepare_t prepare;
  uv_idle_t idle;
  uv_write_t wreq;
  uv_write_t creq;
  uv_shutdown_t sreq;
  char err[256];
  char rx_buf[TLS_RX_SIZE];
  char plain[TLS_PLAIN_SIZE];
  char stage[TLS_RECORD];
} tls_t;

static void after_dispatch(tls_t* d);
static void close_all(tls_t* d);
static void kick(tls_t* d);

/* The driver's state is the transport's data. */
static tls_t* driver_of(const yamux_session_t* s) {
  return yamux_session_get_transport_data(s);
}

/* ---- errors ---------------------------------------------------------------
 */

/* One line for the error OpenSSL just reported. A failed certificate check
 * says which check failed, not only that one did. */
static void describe_ssl_error(SSL* ssl, char* out, size_t len,
                               const char* what) {
  unsigned long e;
  unsigned long first;
  const char* reason;
  long vr;

  first = 0;
  while ((e = ERR_get_error()) != 0)
    if (first == 0) first = e;
  vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (first != 0 && ERR_GET_LIB(first) == ERR_LIB_SSL &&
      ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
      vr != X509_V_OK) {
    snprintf(out, len, "%s: certificate verify failed: %s", what,
             X509_verify_cert_error_string(vr));
    return;
  }
  reason = first != 0 ? ERR_reason_error_string(first) : NULL;
#ifdef ERR_SYSTEM_ERROR
  if (first != 0 && ERR_SYSTEM_ERROR(first))
    reason = strerror((int)ERR_GET_REASON(first));
#endif
  if (reason != NULL)
    snprintf(out, len, "%s: %s", what, reason);
  else if (first != 0)
    snprintf(out, len, "%s: OpenSSL error %lx", what, first);
  else
    snprintf(out, len, "%s", what);
}

/* The TLS layer failed: the session ends with YAMUX_ETLS. The alert OpenSSL
 * queued for the peer (if any) is still sent. */
static void fail_tls(tls_t* d, const char* text) {
  if (d->failed) {
    ERR_clear_error();
    return;
  }
  d->failed = 1;
  if (d->err[0] == '\0') snprintf(d->err, sizeof(d->err), "%s", text);
  ERR_clear_error();
  if (!d->ended) {
    d->ended = 1;
    yamux_session_feed_error(d->session, YAMUX_ETLS, uv_hrtime());
  }
}

static void fail_ssl(tls_t* d, const char* what) {
  char text[sizeof(d->err)];

  describe_ssl_error(d->ssl, text, sizeof(text), what);
  fail_tls(d, text);
}

/* ---- our BIO --------------------------------------------------------------
 * Reads serve the ciphertext in rx_buf; writes append records to `fill`. */

static BIO_METHOD* bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int obuf_reserve(obuf_t* b, size_t more) {
  size_t cap;
  char* p;

  if (b->len + more <= b->cap) return 0;
  cap = b->cap ? b->cap : 65536;
  while (cap < b->len + more) cap *= 2;
  p = realloc(b->base, cap);
  if (p == NULL) return -1;
  b->base = p;
  b->cap = cap;
  return 0;
}

static int bio_write(BIO* bio, const char* data, int len) {
  tls_t* d = BIO_get_data(bio);

  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  if (obuf_reserve(&d->fill, (size_t)len) < 0) return -1;
  memcpy(d->fill.base + d->fill.len, data, (size_t)len);
  d->fill.len += (size_t)len;
  return len;
}

static int bio_read(BIO* bio, char* out, int len) {
  tls_t* d = BIO_get_data(bio);
  size_t avail;
  size_t n;

  BIO_clear_retry_flags(bio);
  avail = d->rx_len - d->rx_off;
  if (avail == 0) {
    /* End of file is never passed to OpenSSL: the driver handles it. */
    BIO_set_retry_read(bio);
    return -1;
  }
  n = (size_t)len < avail ? (size_t)len : avail;
  memcpy(out, d->rx_buf + d->rx_off, n);
  d->rx_off += n;
  return (int)n;
}

static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr) {
  tls_t* d = BIO_get_data(bio);

  (void)num;
  (void)ptr;
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return d != NULL ? (long)(d->rx_len - d->rx_off) : 0;
    case BIO_CTRL_WPENDING:
      return 0;
    default:
      return 0;
  }
}

static int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static void bio_method_init(void) {
  BIO_METHOD* m;

  m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "yamux-tls");
  if (m == NULL) return;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  bio_method = m;
}

/* ---- context --------------------------------------------------------------
 */

void yamux_tls_config_init(yamux_tls_config_t* cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof(*cfg));
  cfg->verify = 1;
  cfg->handshake_timeout_ms = 10000;
}

static int accept_any(int ok, X509_STORE_CTX* store) {
  (void)ok;
  (void)store;
  return 1;
}

static int ctx_fail(SSL_CTX* c, char* errbuf, size_t errlen, const char* what,
                    const char* file) {
  char text[256];

  describe_ssl_error(NULL, text, sizeof(text), what);
  if (errbuf != NULL && errlen > 0)
    snprintf(errbuf, errlen, "%s: %s", file, text);
  SSL_CTX_free(c);
  return YAMUX_ETLS;
}

int yamux_tls_ctx_new(yamux_tls_ctx_t** ctx, const yamux_tls_config_t* cfg,
                      char* errbuf, size_t errlen) {
  yamux_tls_ctx_t* t;
  SSL_CTX* c;
  const char* key;
  STACK_OF(X509_NAME) * names;

  if (errbuf != NULL && errlen > 0) errbuf[0] = '\0';
  if (ctx == NULL || cfg == NULL) return UV_EINVAL;
  *ctx = NULL;
  if (cfg->key_file != NULL && cfg->cert_file == NULL) return UV_EINVAL;
  ERR_clear_error();
  c = SSL_CTX_new(TLS_method());
  if (c == NULL) return UV_ENOMEM;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* A server resumes sessions only within this context. Without one,
   * OpenSSL fails every resumed handshake of a server that verifies its
   * clients (a Go client with a ClientSessionCache reconnecting). */
  SSL_CTX_set_session_id_context(c, (const unsigned char*)"libyamux", 8);
  if (cfg->cert_file != NULL) {
    key = cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
    if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1)
      return ctx_fail(c, errbuf, errlen, "cannot load the certificate",
                      cfg->cert_file);
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)
      return ctx_fail(c, errbuf, errlen,
                      cfg->key_file != NULL
                          ? "cannot load the private key"
                          : "no private key in it (and no key file given)",
                      key);
    if (SSL_CTX_check_private_key(c) != 1)
      return ctx_fail(c, errbuf, errlen,
                      "the private key does not match the certificate", key);
  }
  if (cfg->ca_file != NULL) {
    if (SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1)
      return ctx_fail(c, errbuf, errlen, "cannot load the CA certificates",
                      cfg->ca_file);
    /* A server names the CAs it accepts in its certificate request, as Go's
     * ClientCAs does: clients pick their certificate by it. */
    names = SSL_load_client_CA_file(cfg->ca_file);
    if (names != NULL) SSL_CTX_set_client_CA_list(c, names);
  } else if (cfg->verify) {
    SSL_CTX_set_default_verify_paths(c);
  }
  ERR_clear_error();

  t = calloc(1, sizeof(*t));
  if (t == NULL) {
    SSL_CTX_free(c);
    return UV_ENOMEM;
  }
  t->ssl_ctx = c;
  t->verify = cfg->verify != 0;
  t->require_client_cert = cfg->require_client_cert != 0;
  t->handshake_timeout_ms = cfg->handshake_timeout_ms;
  *ctx = t;
  return 0;
}

void yamux_tls_ctx_free(yamux_tls_ctx_t* ctx) {
  if (ctx == NULL) return;
  SSL_CTX_free(ctx->ssl_ctx); /* sessions hold their own references */
  free(ctx);
}

SSL_CTX* yamux_tls_ctx_ssl_ctx(yamux_tls_ctx_t* ctx) {
  return ctx != NULL ? ctx->ssl_ctx : NULL;
}

/* ---- time -----------------------------------------------------------------
 */

static void on_timer(uv_timer_t* timer) {
  tls_t* d = CONTAINER_OF(timer, tls_t, timer);
  uint64_t now;

  if (d->closing) {
    close_all(d); /* the linger time is over */
    return;
  }
  d->armed = UINT64_MAX;
  d->in_dispatch = 1;
  now = uv_hrtime();
  if (!d->hs_done && now >= d->hs_deadline) {
    d->hs_deadline = UINT64_MAX;
    fail_tls(d, "TLS handshake timed out");
  }
  if (now >= d->tx_deadline) {
    d->tx_deadline = UINT64_MAX;
    if (!d->ended) {
      d->ended = 1;
      yamux_session_feed_error(d->session, d->tx_err, now);
    }
  }
  if (!d->closing) yamux_session_handle_expiry(d->session, now);
  after_dispatch(d);
}

static void arm_timer(tls_t* d) {
  uint64_t expiry;
  uint64_t now;
  uint64_t ms;

  expiry = yamux_session_expiry(d->session);
  if (!d->hs_done && d->hs_deadline < expiry) expiry = d->hs_deadline;
  if (d->tx_deadline < expiry) expiry = d->tx_deadline;
  if (expiry == d->armed) return;
  d->armed = expiry;
  if (expiry == UINT64_MAX) {
    uv_timer_stop(&d->timer);
    return;
  }
  now = uv_hrtime();
  ms = expiry > now ? (expiry - now + 999999) / 1000000 : 0;
  uv_timer_start(&d->timer, on_timer, ms, 0);
}

/* ---- write path -----------------------------------------------------------
 */

static int ssl_write_all(tls_t* d, const char* p, size_t len) {
  int r;

  while (len > 0) {
    r = SSL_write(d->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r <= 0) {
      fail_ssl(d, "TLS write failed");
      return -1;
    }
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static int stage_flush(tls_t* d) {
  size_t n = d->stage_len;

  d->stage_len = 0;
  return n > 0 ? ssl_write_all(d, d->stage, n) : 0;
}

/* Encrypts up to TLS_BATCH bytes of the engine's gather list into `fill`
 * and tells the engine they are written. Returns 1 if it took any. */
static int encrypt_some(tls_t* d) {
  const uv_buf_t* bufs;
  unsigned int n;
  unsigned int i;
  size_t taken;
  size_t len;
  size_t room;
  const char* p;
  uint64_t now;

  now = uv_hrtime();
  n = yamux_session_send_buffers(d->session, &bufs, TLS_MAX_BUFS, now);
  if (n == 0) return 0;
  ERR_clear_error();
  taken = 0;
  d->stage_len = 0;
  for (i = 0; i < n && taken < TLS_BATCH; i++) {
    p = bufs[i].base;
    len = bufs[i].len;
    if (len > TLS_BATCH - taken) len = TLS_BATCH - taken;
    if (len < TLS_SMALL) {
      room = sizeof(d->stage) - d->stage_len;
      if (len > room && stage_flush(d) < 0) return 0;
      memcpy(d->stage + d->stage_len, p, len);
      d->stage_len += len;
    } else {
      if (stage_flush(d) < 0 || ssl_write_all(d, p, len) < 0) return 0;
    }
    taken += len;
  }
  if (stage_flush(d) < 0) return 0;
  yamux_session_send_done(d->session, taken, 0, uv_hrtime());
  return 1;
}

/* A write failed. The peer's reason (an alert before its reset: a refused
 * certificate) may be waiting unread: the read side reports it, or the
 * reset, from its next callback; the write error ends the session only if
 * the read side has said nothing a moment later. */
static void tx_failed(tls_t* d, int status) {
  d->tx_dead = 1;
  if (d->ended || d->tx_deadline != UINT64_MAX) return;
  d->tx_err = status;
  d->tx_deadline = uv_hrtime() + (uint64_t)TLS_TX_ERROR_MS * 1000000;
}

static void on_write(uv_write_t* req, int status) {
  tls_t* d = CONTAINER_OF(req, tls_t, wreq);

  d->writing = 0;
  d->fly.len = d->fly.off = 0;
  if (d->closing) return;
  d->in_dispatch = 1;
  if (status < 0) tx_failed(d, status);
  after_dispatch(d);
}

/* Writes what `fill` holds: uv_try_write(), then the rest from `fly`.
 * Returns 1 if the kernel took everything. */
static int send_fill(tls_t* d) {
  obuf_t tmp;
  uv_buf_t buf;
  int r;

  buf = uv_buf_init(d->fill.base + d->fill.off,
                    (unsigned int)(d->fill.len - d->fill.off));
  r = uv_try_write(d->tx, &buf, 1);
  if (r == UV_EAGAIN || r == UV_ENOSYS) r = 0;
  if (r >= 0 && (size_t)r == buf.len) {
    d->fill.len = d->fill.off = 0;
    return 1;
  }
  if (r >= 0) {
    d->fill.off += (size_t)r;
    buf.base += r;
    buf.len -= (unsigned int)r;
    /* The rest goes out from `fly`; OpenSSL writes into the other buffer. */
    tmp = d->fly;
    d->fly = d->fill;
    d->fill = tmp;
    d->fill.len = d->fill.off = 0;
    r = uv_write(&d->wreq, d->tx, &buf, 1, on_write);
    if (r == 0) {
      d->writing = 1;
      return 0;
    }
  }
  tx_failed(d, r);
  return 0;
}

/* Encrypts and writes until the engine has nothing more, the socket is
 * busy with enough queued, or the round budget is spent. */
static void flush(tls_t* d) {
  unsigned int round;
  int progress;

  for (round = 0; round < TLS_ROUNDS; round++) {
    progress = 0;
    if (d->closing || d->tx_dead) return;
    if (d->hs_done && !d->failed && d->fill.len < TLS_TX_HIGH)
      progress = encrypt_some(d);
    if (d->closing || d->tx_dead) return;
    if (!d->writing && d->fill.len > d->fill.off) {
      if (send_fill(d)) progress = 1;
    }
    if (!progress) return;
  }
  if (!d->closing && !d->tx_dead) d->wake = 1;
}

/* ---- read path ------------------------------------------------------------
 */

static int handshake(tls_t* d) {
  int r;

  ERR_clear_error();
  r = SSL_do_handshake(d->ssl);
  if (r == 1) {
    d->hs_done = 1;
    d->hs_deadline = UINT64_MAX;
    /* TLS 1.2 renegotiation is refused, as Go refuses it: mid-stream it
     * makes SSL_write() wait for a handshake to read, which a write path
     * that never blocks on reading cannot do. Set per connection once TLS
     * 1.2 is known: OpenSSL 3.0 handles TLS 1.3 KeyUpdates differently
     * with the option set (a peer's updates stalled). */
    if (SSL_version(d->ssl) < TLS1_3_VERSION)
      SSL_set_options(d->ssl, SSL_OP_NO_RENEGOTIATION);
    return 0;
  }
  if (SSL_get_error(d->ssl, r) == SSL_ERROR_WANT_READ) return 0;
  fail_ssl(d, "TLS handshake failed");
  return -1;
}

static void feed(tls_t* d, size_t n) {
  if (n == 0 || d->ended || d->closing) return;
  if (yamux_session_feed(d->session, d->plain, n, uv_hrtime()) < 0)
    d->ended = 1;
}

/* Runs OpenSSL over the ciphertext in rx_buf. */
static void decrypt(tls_t* d) {
  size_t have;
  int r;
  int e;

  if (!d->hs_done && !d->failed) handshake(d);
  have = 0;
  /* A successful SSL_read() leaves the error queue empty: one clear will do
   * for the batch. */
  ERR_clear_error();
  while (d->hs_done && !d->failed && !d->ended && !d->closing) {
    r = SSL_read(d->ssl, d->plain + have, (int)(sizeof(d->plain) - have));
    if (r > 0) {
      have += (size_t)r;
      if (have == sizeof(d->plain)) {
        feed(d, have);
        have = 0;
      }
      continue;
    }
    e = SSL_get_error(d->ssl, r);
    /* Data decrypted before an alert or close_notify is delivered first. */
    feed(d, have);
    have = 0;
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      /* The peer's close_notify: as a transport EOF. */
      if (!d->ended && !d->closing) {
        d->ended = 1;
        yamux_session_feed_error(d->session, UV_EOF, uv_hrtime());
      }
      break;
    }
    fail_ssl(d, "TLS connection failed");
    break;
  }
  feed(d, have);
  /* Keep a partial record for the next read; drop what can no longer be
   * read. */
  if (d->failed || d->ended || d->closing) d->rx_off = d->rx_len;
  if (d->rx_off == d->rx_len) {
    d->rx_off = d->rx_len = 0;
  } else if (d->rx_off > 0) {
    memmove(d->rx_buf, d->rx_buf + d->rx_off, d->rx_len - d->rx_off);
    d->rx_len -= d->rx_off;
    d->rx_off = 0;
  }
}

static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  yamux_session_t* s = CONTAINER_OF(handle, yamux_session_t, io);
  tls_t* d = driver_of(s);

  (void)suggested;
  if (d == NULL || d->rx_len == sizeof(d->rx_buf)) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(d->rx_buf + d->rx_len,
                     (unsigned int)(sizeof(d->rx_buf) - d->rx_len));
}

static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  yamux_session_t* s = CONTAINER_OF(stream, yamux_session_t, io);
  tls_t* d = driver_of(s);

  (void)buf;
  if (d == NULL || nread == 0) return;
  if (nread < 0) {
    uv_read_stop(stream);
    d->rx_done = 1;
  }
  if (d->closing) {
    /* Lingering after our half-close: discard, finish on EOF. */
    if (nread < 0) close_all(d);
    return;
  }
  d->in_dispatch = 1;
  if (nread > 0) {
    d->rx_len += (size_t)nread;
    if (!d->failed && !d->ended)
      decrypt(d);
    else
      d->rx_off = d->rx_len = 0;
  } else if (!d->ended && !d->failed) {
    if (!d->hs_done) {
      if (nread == UV_EOF)
        fail_tls(d, "TLS handshake failed: the peer closed the connection");
      else
        fail_tls(d, "TLS handshake failed: connection error");
    } else {
      d->ended = 1;
      yamux_session_feed_error(s, (int)nread, uv_hrtime());
    }
  }
  after_dispatch(d);
}

/* ---- dispatch -------------------------------------------------------------
 */

static void on_idle(uv_idle_t* idle) {
  uv_idle_stop(idle);
}

/* Ciphertext produced and not yet taken by the kernel. */
static size_t tx_backlog(const tls_t* d) {
  return d->fill.len - d->fill.off + d->fly.len - d->fly.off;
}

/* Stops reading while the peer does not take what we write (see
 * TLS_RX_PAUSE), and starts again once it has taken enough. */
static void pace_reading(tls_t* d) {
  size_t backlog;

  if (d->rx_done || d->closing) return;
  backlog = tx_backlog(d);
  if (!d->rx_paused && backlog > TLS_RX_PAUSE) {
    uv_read_stop(d->rx);
    d->rx_paused = 1;
  } else if (d->rx_paused && backlog <= TLS_TX_HIGH) {
    if (uv_read_start(d->rx, on_alloc, on_read) == 0) d->rx_paused = 0;
  }
}

static void after_dispatch(tls_t* d) {
  unsigned int round;

  for (round = 0; round < TLS_RUN_ROUNDS; round++) {
    if (d->closing) break;
    /* A session closed during the handshake has nothing to wait for: its
     * frames could never go out. */
    if (!d->hs_done && !d->ended && yamux_session_is_closing(d->session)) {
      d->ended = 1;
      yamux_session_feed_error(d->session, UV_ECANCELED, uv_hrtime());
      if (d->closing) break;
    }
    if (d->wake) {
      d->wake = 0;
      yamux_session_run(d->session, uv_hrtime());
      if (d->closing) break;
    }
    flush(d);
    if (!d->wake) break;
  }
  d->in_dispatch = 0;
  if (d->closing) return;
  pace_reading(d);
  arm_timer(d);
  if (d->wake) kick(d);
}

static void on_prepare(uv_prepare_t* prepare) {
  tls_t* d = CONTAINER_OF(prepare, tls_t, prepare);

  d->in_dispatch = 1;
  if (!d->hs_started) {
    d->hs_started = 1;
    handshake(d); /* a client's hello */
  }
  after_dispatch(d);
  if (!d->closing && !d->wake) uv_prepare_stop(prepare);
}

static void kick(tls_t* d) {
  uv_prepare_start(&d->prepare, on_prepare);
  uv_idle_start(&d->idle, on_idle);
}

static void on_wake(yamux_session_t* s) {
  tls_t* d = driver_of(s);

  if (d == NULL) return;
  d->wake = 1;
  if (d->in_dispatch || !d->ready || d->closing) return;
  kick(d);
}

/* ---- close ----------------------------------------------------------------
 */

static void finish(tls_t* d) {
  yamux_session_t* s = d->session;

  SSL_free(d->ssl);
  free(d->fill.base);
  free(d->fly.base);
  free(d->last.base);
  free(d);
  yamux_session_transport_closed(s);
}

static void closed(tls_t* d) {
  if (--d->pending == 0 && d->closing_all) finish(d);
}

static void on_io0_closed(uv_handle_t* h) {
  closed(driver_of(CONTAINER_OF(h, yamux_session_t, io[0])));
}

static void on_io1_closed(uv_handle_t* h) {
  closed(driver_of(CONTAINER_OF(h, yamux_session_t, io[1])));
}

static void on_timer_closed(uv_handle_t* h) {
  closed(CONTAINER_OF(h, tls_t, timer));
}

static void on_prepare_closed(uv_handle_t* h) {
  closed(CONTAINER_OF(h, tls_t, prepare));
}

static void on_idle_closed(uv_handle_t* h) {
  closed(CONTAINER_OF(h, tls_t, idle));
}

static void close_handle(tls_t* d, uv_handle_t* h, uv_close_cb cb) {
  if (uv_is_closing(h)) return;
  d->pending++;
  uv_close(h, cb);
}

static void close_all(tls_t* d) {
  yamux_session_t* s = d->session;

  if (d->closing_all) return;
  d->closing_all = 1;
  d->pending++; /* held until every close is issued */
  uv_timer_stop(&d->timer);
  close_handle(d, (uv_handle_t*)&d->timer, on_timer_closed);
  close_handle(d, (uv_handle_t*)&d->prepare, on_prepare_closed);
  close_handle(d, (uv_handle_t*)&d->idle, on_idle_closed);
  close_handle(d, &s->io[0].handle, on_io0_closed);
  if (d->tx != d->rx) close_handle(d, &s->io[1].handle, on_io1_closed);
  closed(d);
}

static void on_last_write(uv_write_t* req, int status) {
  (void)req;
  (void)status;
}

static void on_shutdown(uv_shutdown_t* req, int status) {
  tls_t* d = CONTAINER_OF(req, tls_t, sreq);

  if (d->closing_all) return;
  /* Without a duplex stream or after a failure nobody reads our EOF. */
  if (status < 0 || d->rx_done || d->rx != d->tx) close_all(d);
}

/* The engine's close hook: send what is left (the records of the last
 * frames, our close_notify, an alert), half-close, wait for the peer's EOF
 * a short while, then close. */
static void on_transport_close(yamux_session_t* s) {
  tls_t* d = driver_of(s);
  uv_buf_t buf;
  int linger;

  d->closing = 1;
  d->wake = 0;
  uv_prepare_stop(&d->prepare);
  uv_idle_stop(&d->idle);
  uv_timer_stop(&d->timer);
  if (d->hs_done && !d->failed && !d->tx_dead) {
    ERR_clear_error();
    SSL_shutdown(d->ssl); /* queues our close_notify */
    ERR_clear_error();
  }
  linger = !d->tx_dead;
  if (linger && d->fill.len > d->fill.off) {
    /* libuv writes it after `fly`; the buffer is not touched again. */
    d->last = d->fill;
    memset(&d->fill, 0, sizeof(d->fill));
    buf = uv_buf_init(d->last.base + d->last.off,
                      (unsigned int)(d->last.len - d->last.off));
    if (uv_write(&d->creq, d->tx, &buf, 1, on_last_write) < 0) linger = 0;
  }
  if (linger && uv_shutdown(&d->sreq, d->tx, on_shutdown) < 0) linger = 0;
  /* The linger reads (and discards) until the peer's EOF. */
  if (linger && d->rx_paused && !d->rx_done) {
    if (uv_read_start(d->rx, on_alloc, on_read) < 0) linger = 0;
    d->rx_paused = 0;
  }
  if (!linger) {
    close_all(d);
    return;
  }
  uv_timer_start(&d->timer, on_timer, TLS_LINGER_MS, 0);
}

/* ---- start ----------------------------------------------------------------
 */

static int usable(uv_loop_t* loop, uv_handle_t* h, int want_read,
                  int want_write) {
  if (h->loop != loop || uv_is_closing(h)) return 0;
  if (h->type != UV_TCP && h->type != UV_NAMED_PIPE) return 0;
  if (want_read && !uv_is_readable((uv_stream_t*)h)) return 0;
  if (want_write && !uv_is_writable((uv_stream_t*)h)) return 0;
  return 1;
}

static int set_peer_name(SSL* ssl, const char* name) {
  unsigned char addr[16];

  if (inet_pton(AF_INET, name, addr) == 1 ||
      inet_pton(AF_INET6, name, addr) == 1) {
    /* No SNI for an address (RFC 6066); its certificate names it. */
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, name) == 1 &&
         SSL_set1_host(ssl, name) == 1;
}

int yamux_session_start_tls(uv_loop_t* loop, yamux_session_t* session,
                            int duplex, yamux_tls_ctx_t* ctx,
                            yamux_tls_role_t role, const char* server_name,
                            yamux_session_end_cb end_cb) {
  yamux_transport_t transport;
  uint64_t now;
  tls_t* d;
  BIO* bio;
  int mode;
  int r;

  if (loop == NULL || session == NULL || ctx == NULL) return UV_EINVAL;
  if (role != YAMUX_TLS_CLIENT && role != YAMUX_TLS_SERVER) return UV_EINVAL;
  if (role == YAMUX_TLS_CLIENT && ctx->verify && server_name == NULL)
    return UV_EINVAL;
  if (yamux_session_is_closing(session) || driver_of(session) != NULL)
    return UV_EINVAL;
  if (duplex ? !usable(loop, &session->io[0].handle, 1, 1)
             : !usable(loop, &session->io[0].handle, 1, 0) ||
                   !usable(loop, &session->io[1].handle, 0, 1))
    return UV_EINVAL;

  pthread_once(&bio_once, bio_method_init);
  if (bio_method == NULL) return UV_ENOMEM;
  d = malloc(sizeof(*d));
  if (d == NULL) return UV_ENOMEM;
  memset(d, 0, offsetof(tls_t, rx_buf));
  d->session = session;
  d->loop = loop;
  d->rx = &session->io[0].stream;
  d->tx = duplex ? d->rx : &session->io[1].stream;
  d->armed = UINT64_MAX;
  d->hs_deadline = UINT64_MAX;
  d->tx_deadline = UINT64_MAX;

  d->ssl = SSL_new(ctx->ssl_ctx);
  bio = BIO_new(bio_method);
  if (d->ssl == NULL || bio == NULL) {
    BIO_free(bio);
    r = UV_ENOMEM;
    goto fail;
  }
  BIO_set_data(bio, d);
  SSL_set_bio(d->ssl, bio, bio); /* one BIO both ways: takes our reference */
  if (role == YAMUX_TLS_CLIENT) {
    SSL_set_connect_state(d->ssl);
    if (server_name != NULL && !set_peer_name(d->ssl, server_name)) {
      r = UV_EINVAL;
      goto fail;
    }
    mode = ctx->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE;
    SSL_set_verify(d->ssl, mode, NULL);
  } else {
    SSL_set_accept_state(d->ssl);
    if (ctx->require_client_cert)
      SSL_set_verify(d->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     ctx->verify ? NULL : accept_any);
    else
      SSL_set_verify(d->ssl, SSL_VERIFY_NONE, NULL);
  }
  ERR_clear_error();

  r = uv_read_start(d->rx, on_alloc, on_read);
  if (r < 0) goto fail;
  transport.wake = on_wake;
  transport.close = on_transport_close;
  transport.data = d;
  session->loop = loop;
  now = uv_hrtime();
  r = yamux_session_start_custom(session, &transport, end_cb, now);
  if (r < 0) {
    session->loop = NULL;
    uv_read_stop(d->rx);
    goto fail;
  }
  /* A timeout too large to count in nanoseconds is no timeout. */
  if (ctx->handshake_timeout_ms > 0 &&
      ctx->handshake_timeout_ms < (UINT64_MAX - now) / 1000000)
    d->hs_deadline = now + ctx->handshake_timeout_ms * 1000000;
  uv_timer_init(loop, &d->timer);
  uv_prepare_init(loop, &d->prepare);
  uv_idle_init(loop, &d->idle);
  d->ready = 1;
  d->wake = 1;
  kick(d);
  return 0;

fail:
  SSL_free(d->ssl);
  free(d);
  return r;
}

const char* yamux_tls_error(const yamux_session_t* session) {
  tls_t* d = session != NULL ? driver_of(session) : NULL;

  return d != NULL && d->failed && d->err[0] != '\0' ? d->err : NULL;
}

SSL* yamux_tls_get_ssl(const yamux_session_t* session) {
  tls_t* d = session != NULL ? driver_of(session) : NULL;

  return d != NULL ? d->ssl : NULL;
}
