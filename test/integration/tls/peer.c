/* tls-peer: one end of a yamux session over TLS on TCP, built on
 * libyamux-tls, for test/integration/test-tls.c and the TLS benchmark.
 * interop/tls-peer is the Go end (crypto/tls + hashicorp/yamux) with the same
 * flags, so that either side of every test can be either program.
 *
 *   tls-peer gencerts DIR
 *       writes a test PKI: ca.pem, other-ca.pem (a CA nobody trusts),
 *       server.pem/server-key.pem (DNS server.test and localhost, IP
 *       127.0.0.1), client.pem/client-key.pem, and rogue-server.pem,
 *       rogue-client.pem (+ -key.pem) signed by other-ca. Test keys only.
 *
 *   tls-peer (--listen PORT | --connect PORT) [options] MODE
 *       --listen prints "PORT <n>" on stdout once listening on 127.0.0.1
 *       (PORT 0: any) and serves one connection.
 *       --tls-role client|server   default: --connect is the client
 *       --yamux-role client|server default: the TLS role
 *       --cert F --key F --ca F --servername NAME --no-verify
 *       --require-client-cert
 *       --bytes N (bulk, w1, sink)  --streams N --size N (streams)
 *       --handshake-timeout MS  --ciphersuites LIST (TLS 1.3, OpenSSL's
 *       names: TLS_AES_128_GCM_SHA256 is what Go picks)
 *   MODE: echo     accept streams, echo each one back, half-close after
 *                  the peer's FIN
 *         bulk     open one stream, send --bytes of a seeded pattern while
 *                  reading the echo, check every byte
 *         streams  open --streams streams at once, each sends --size bytes
 *                  of its own pattern and checks its echo
 *         w1       W1 (bench/WORKLOADS.md): one stream, --bytes in 64 KiB
 *                  writes, timed until the sink's 1-byte ack; prints a
 *                  RESULT line
 *         sink     accept one stream, discard, ack after --bytes
 *
 * Exit status: 0 done (an accepting mode: the peer closed cleanly), 3 the
 * TLS layer failed (one line "TLS error: ..." on stderr), 1 anything else.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yamux-tls.h"

#define CHUNK 65536
#define DEPTH 4
#define ECHO_HIGH (1024 * 1024)
#define EXIT_TLS 3

static const char* opt_listen;
static const char* opt_connect;
static yamux_tls_role_t opt_tls_role;
static yamux_role_t opt_yamux_role;
static const char* opt_cert;
static const char* opt_key;
static const char* opt_ca;
static const char* opt_servername;
static int opt_no_verify;
static int opt_require;
static uint64_t opt_bytes = 64ull << 20;
static unsigned int opt_streams = 500;
static uint64_t opt_size = 65536;
static const char* mode;
static uint64_t opt_hs_timeout = 10000;
static const char* opt_ciphersuites;

static uv_loop_t* loop;
static yamux_tls_ctx_t* ctx;
static yamux_session_t session;
static int session_inited;
static int session_closing;
static uv_tcp_t listener;
static uv_connect_t connect_req;
static int exit_code = 1;
static int finished; /* the mode's work is done: exit 0 on close */

static void fail(int code, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void close_session(void);

static void fail(int code, const char* fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  fprintf(stderr, "tls-peer: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (exit_code == 1 || exit_code == 0) exit_code = code;
  finished = 0;
  close_session();
}

/* ---- pattern ----------------------------------------------------------------
 * Stream i's bytes: xorshift64* from seed i+1, 8 bytes per step. */

typedef struct gen_s {
  uint64_t state;
  unsigned char word[8];
  unsigned int used; /* bytes of word consumed */
} gen_t;

static void gen_init(gen_t* g, uint64_t seed) {
  g->state = seed * 0x9e3779b97f4a7c15ull + 1;
  g->used = 8;
}

static void gen_fill(gen_t* g, unsigned char* out, size_t n) {
  uint64_t x;
  unsigned int i;

  while (n > 0) {
    if (g->used == 8) {
      g->state ^= g->state >> 12;
      g->state ^= g->state << 25;
      g->state ^= g->state >> 27;
      x = g->state * 0x2545f4914f6cdd1dull;
      for (i = 0; i < 8; i++) g->word[i] = (unsigned char)(x >> (8 * i));
      g->used = 0;
    }
    *out++ = g->word[g->used++];
    n--;
  }
}

/* ---- session ----------------------------------------------------------------
 */

static void echo_free_all(void);

static void on_closed(yamux_session_t* s) {
  (void)s;
  echo_free_all();
  if (finished && exit_code == 1) exit_code = 0;
}

static void close_session(void) {
  if (!uv_is_closing((uv_handle_t*)&listener) && listener.loop != NULL)
    uv_close((uv_handle_t*)&listener, NULL);
  if (session_closing) return;
  session_closing = 1;
  if (session_inited) yamux_session_close(&session, on_closed);
}

static void on_end(yamux_session_t* s, int status) {
  const char* why;

  if (status == YAMUX_ETLS) {
    why = yamux_tls_error(s);
    fprintf(stderr, "TLS error: %s\n", why != NULL ? why : "(no text)");
    exit_code = EXIT_TLS;
    finished = 0;
  } else if (status == UV_EOF &&
             (strcmp(mode, "echo") == 0 || strcmp(mode, "sink") == 0)) {
    finished = 1; /* the peer is done with us */
  } else if (!finished) {
    fail(1, "session ended: %s", yamux_strerror(status));
  }
  close_session();
}

/* ---- echo -------------------------------------------------------------------
 */

typedef struct echo_s {
  yamux_stream_t stream;
  struct echo_s* next;
  struct echo_s* prev;
  yamux_shutdown_t sreq;
  int eof;
  unsigned int writes;
} echo_t;

typedef struct ewrite_s {
  yamux_write_t req;
  echo_t* e;
  char data[];
} ewrite_t;

/* Accepted streams; the ones still open when the session closes are
 * released with it (their handles need no close of their own). */
static echo_t echoes = {.next = &echoes, .prev = &echoes};

static void echo_free(echo_t* e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  free(e);
}

static void echo_closed(yamux_stream_t* st) {
  echo_free(st->data);
}

static void echo_free_all(void) {
  while (echoes.next != &echoes) echo_free(echoes.next);
}

static void echo_maybe_done(echo_t* e) {
  if (e->eof && e->writes == 0 && !yamux_is_closing(&e->stream))
    yamux_close(&e->stream, echo_closed);
}

static void echo_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf);

static void echo_alloc(yamux_stream_t* st, size_t size, uv_buf_t* buf) {
  ewrite_t* w;

  (void)st;
  if (size > CHUNK) size = CHUNK;
  w = malloc(sizeof(*w) + size);
  *buf = uv_buf_init(w != NULL ? w->data : NULL, w != NULL ? size : 0);
}

static void echo_written(yamux_write_t* req, int status) {
  ewrite_t* w = (ewrite_t*)req;
  echo_t* e = w->e;

  free(w);
  e->writes--;
  if (status < 0) return;
  if (!e->eof && yamux_stream_get_write_queue_size(&e->stream) < ECHO_HIGH / 4)
    yamux_read_start(&e->stream, echo_alloc, echo_read);
  echo_maybe_done(e);
}

static void echo_shut(yamux_shutdown_t* req, int status) {
  (void)status;
  echo_maybe_done(req->data);
}

static void echo_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  echo_t* e = st->data;
  ewrite_t* w = buf->base != NULL
                    ? (ewrite_t*)(buf->base - offsetof(ewrite_t, data))
                    : NULL;
  uv_buf_t out;

  if (n <= 0) {
    free(w);
    if (n == 0) return;
    e->eof = 1;
    if (n == UV_EOF) {
      e->sreq.data = e;
      if (yamux_shutdown(&e->sreq, st, echo_shut) == 0) return;
    }
    echo_maybe_done(e);
    return;
  }
  w->e = e;
  out = uv_buf_init(w->data, (unsigned int)n);
  if (yamux_write(&w->req, st, &out, 1, echo_written) != 0) {
    free(w);
    return;
  }
  e->writes++;
  if (yamux_stream_get_write_queue_size(st) > ECHO_HIGH) yamux_read_stop(st);
}

static void on_echo_conn(yamux_session_t* s, int status) {
  echo_t* e;

  (void)status;
  for (;;) {
    e = calloc(1, sizeof(*e));
    if (e == NULL) return;
    e->stream.data = e;
    yamux_stream_init(s, &e->stream);
    if (yamux_accept(s, &e->stream) != 0) {
      free(e);
      return;
    }
    e->next = &echoes;
    e->prev = echoes.prev;
    e->prev->next = e;
    echoes.prev = e;
    yamux_read_start(&e->stream, echo_alloc, echo_read);
  }
}

/* ---- bulk and streams -------------------------------------------------------
 */

typedef struct ostream_s {
  yamux_stream_t stream;
  yamux_connect_t creq;
  yamux_shutdown_t sreq;
  yamux_write_t wreq[DEPTH];
  unsigned char* wbuf[DEPTH];
  int wbusy[DEPTH];
  gen_t tx;
  gen_t rx;
  uint64_t total;
  uint64_t sent;
  uint64_t received;
  int shut;
  int done;
} ostream_t;

static ostream_t* ostreams;
static unsigned int nostreams;
static unsigned int ndone;
static unsigned char* expect_buf;

static void os_pump(ostream_t* o);

static void os_written(yamux_write_t* req, int status) {
  ostream_t* o = req->data;
  unsigned int i = (unsigned int)(req - o->wreq);

  o->wbusy[i] = 0;
  if (status < 0) {
    if (!session_closing)
      fail(1, "stream %u: write: %s", o->stream.id, yamux_strerror(status));
    return;
  }
  os_pump(o);
}

static void os_pump(ostream_t* o) {
  unsigned int i;
  uint64_t n;
  uv_buf_t b;

  for (i = 0; i < DEPTH && o->sent < o->total; i++) {
    if (o->wbusy[i]) continue;
    n = o->total - o->sent < CHUNK ? o->total - o->sent : CHUNK;
    gen_fill(&o->tx, o->wbuf[i], n);
    b = uv_buf_init((char*)o->wbuf[i], (unsigned int)n);
    o->wreq[i].data = o;
    if (yamux_write(&o->wreq[i], &o->stream, &b, 1, os_written) != 0) {
      fail(1, "write refused");
      return;
    }
    o->wbusy[i] = 1;
    o->sent += n;
  }
  if (o->sent == o->total && !o->shut) {
    o->shut = 1;
    yamux_shutdown(&o->sreq, &o->stream, NULL);
  }
}

static void os_closed(yamux_stream_t* st) {
  (void)st;
}

static void os_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  ostream_t* o = st->data;

  if (n == 0) return;
  if (n < 0) {
    if (n != UV_EOF) {
      if (!session_closing)
        fail(1, "stream %u: read: %s", st->id, yamux_strerror((int)n));
      return;
    }
    if (o->received != o->total) {
      fail(1, "stream %u: EOF after %" PRIu64 " of %" PRIu64 " bytes", st->id,
           o->received, o->total);
      return;
    }
    o->done = 1;
    yamux_close(st, os_closed);
    if (++ndone == nostreams) {
      finished = 1;
      printf("ok %s: %u stream(s), %" PRIu64 " bytes each, echo verified\n",
             mode, nostreams, o->total);
      fflush(stdout);
      close_session();
    }
    return;
  }
  if (o->received + (uint64_t)n > o->total) {
    fail(1, "stream %u: more bytes than sent", st->id);
    return;
  }
  gen_fill(&o->rx, expect_buf, (size_t)n);
  if (memcmp(expect_buf, buf->base, (size_t)n) != 0) {
    fail(1, "stream %u: echo differs near byte %" PRIu64, st->id, o->received);
    return;
  }
  o->received += (uint64_t)n;
}

static void start_openers(unsigned int count, uint64_t bytes) {
  unsigned int i;
  unsigned int j;
  ostream_t* o;

  nostreams = count;
  ostreams = calloc(count, sizeof(*ostreams));
  expect_buf = malloc(CHUNK * 2);
  if (ostreams == NULL || expect_buf == NULL) {
    fail(1, "out of memory");
    return;
  }
  for (i = 0; i < count; i++) {
    o = &ostreams[i];
    o->stream.data = o;
    o->total = bytes;
    gen_init(&o->tx, i + 1);
    gen_init(&o->rx, i + 1);
    for (j = 0; j < DEPTH; j++) o->wbuf[j] = malloc(CHUNK);
    yamux_stream_init(&session, &o->stream);
    if (yamux_stream_open(&o->creq, &o->stream, NULL) != 0) {
      fail(1, "open refused");
      return;
    }
    /* The read buffer is the session's (zero copy). */
    yamux_read_start(&o->stream, NULL, os_read);
    os_pump(o);
  }
}

static void free_openers(void) {
  unsigned int i;
  unsigned int j;

  for (i = 0; ostreams != NULL && i < nostreams; i++)
    for (j = 0; j < DEPTH; j++) free(ostreams[i].wbuf[j]);
  free(ostreams);
  free(expect_buf);
}

/* ---- w1 and sink ------------------------------------------------------------
 */

static yamux_stream_t w1_stream;
static yamux_connect_t w1_creq;
static yamux_write_t w1_wreq[DEPTH];
static int w1_busy[DEPTH];
static uint64_t w1_sent;
static uint64_t w1_start;
static char w1_pattern[CHUNK];

static void w1_pump(void);

static void w1_written(yamux_write_t* req, int status) {
  w1_busy[req - w1_wreq] = 0;
  if (status < 0) {
    if (!session_closing) fail(1, "write: %s", yamux_strerror(status));
    return;
  }
  w1_pump();
}

static void w1_pump(void) {
  unsigned int i;
  uint64_t n;
  uv_buf_t b;

  for (i = 0; i < DEPTH && w1_sent < opt_bytes; i++) {
    if (w1_busy[i]) continue;
    n = opt_bytes - w1_sent < CHUNK ? opt_bytes - w1_sent : CHUNK;
    b = uv_buf_init(w1_pattern, (unsigned int)n);
    if (yamux_write(&w1_wreq[i], &w1_stream, &b, 1, w1_written) != 0) {
      fail(1, "write refused");
      return;
    }
    w1_busy[i] = 1;
    w1_sent += n;
  }
}

static void w1_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  double secs;

  (void)st;
  (void)buf;
  if (n == 0 || finished) return;
  if (n != 1 || w1_sent != opt_bytes) {
    fail(1, "bad ack: %s", n < 0 ? yamux_strerror((int)n) : "size");
    return;
  }
  secs = (double)(uv_hrtime() - w1_start) / 1e9;
  printf("RESULT impl=libyamux-tls w=W1 transport=tcp+tls size=%" PRIu64
         " chunk=%d secs=%.6f mibps=%.1f tls=%s cipher=%s\n",
         opt_bytes, CHUNK, secs, (double)opt_bytes / secs / 1048576.0,
         SSL_get_version(yamux_tls_get_ssl(&session)),
         SSL_get_cipher_name(yamux_tls_get_ssl(&session)));
  fflush(stdout);
  finished = 1;
  close_session();
}

static void w1_opened(yamux_connect_t* req, int status) {
  (void)req;
  if (status < 0) {
    if (!session_closing) fail(1, "open: %s", yamux_strerror(status));
    return;
  }
  w1_start = uv_hrtime();
  w1_pump();
}

static void start_w1(void) {
  memset(w1_pattern, 'x', sizeof(w1_pattern));
  yamux_stream_init(&session, &w1_stream);
  if (yamux_stream_open(&w1_creq, &w1_stream, w1_opened) != 0) {
    fail(1, "open refused");
    return;
  }
  yamux_read_start(&w1_stream, NULL, w1_read);
}

static yamux_stream_t sink_stream;
static yamux_write_t sink_ack;
static uint64_t sink_got;
static char ack_byte = 'A';

static void sink_read(yamux_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  uv_buf_t b;

  (void)buf;
  if (n <= 0) return;
  sink_got += (uint64_t)n;
  if (sink_got == opt_bytes) {
    b = uv_buf_init(&ack_byte, 1);
    yamux_write(&sink_ack, st, &b, 1, NULL);
  }
}

static void on_sink_conn(yamux_session_t* s, int status) {
  (void)status;
  if (sink_stream.session != NULL) return;
  yamux_stream_init(s, &sink_stream);
  if (yamux_accept(s, &sink_stream) == 0)
    yamux_read_start(&sink_stream, NULL, sink_read);
}

/* ---- connection -------------------------------------------------------------
 */

static void start_session(void) {
  int r;

  uv_tcp_nodelay(&session.io[0].tcp, 1);
  r = yamux_session_start_tls(loop, &session, 1, ctx, opt_tls_role,
                              opt_servername, on_end);
  if (r != 0) {
    fprintf(stderr, "tls-peer: start: %s\n", yamux_strerror(r));
    uv_close(&session.io[0].handle, NULL);
    yamux_session_close(&session, NULL);
    session_closing = 1;
    return;
  }
  if (strcmp(mode, "echo") == 0) {
    yamux_session_listen(&session, on_echo_conn);
  } else if (strcmp(mode, "sink") == 0) {
    yamux_session_listen(&session, on_sink_conn);
  } else if (strcmp(mode, "bulk") == 0) {
    start_openers(1, opt_bytes);
  } else if (strcmp(mode, "streams") == 0) {
    start_openers(opt_streams, opt_size);
  } else {
    start_w1();
  }
}

static void on_connection(uv_stream_t* server, int status) {
  if (status < 0 || session.io[0].handle.loop != NULL) return;
  uv_tcp_init(loop, &session.io[0].tcp);
  if (uv_accept(server, &session.io[0].stream) != 0) {
    fail(1, "accept failed");
    return;
  }
  uv_close((uv_handle_t*)server, NULL);
  start_session();
}

static void on_connect(uv_connect_t* req, int status) {
  (void)req;
  if (status < 0) {
    fprintf(stderr, "tls-peer: connect: %s\n", uv_strerror(status));
    uv_close(&session.io[0].handle, NULL);
    yamux_session_close(&session, NULL);
    session_closing = 1;
    return;
  }
  start_session();
}

/* ---- certificates -----------------------------------------------------------
 */

static EVP_PKEY* new_key(void) {
  return EVP_EC_gen("P-256");
}

static int add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX v3;
  X509_EXTENSION* ext;

  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (ext == NULL) return -1;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return 0;
}

/* A certificate for `key` named `cn`, signed by issuer/issuer_key (itself
 * when NULL). kind: 0 CA, 1 server, 2 client. */
static X509* make_cert(EVP_PKEY* key, const char* cn, X509* issuer,
                       EVP_PKEY* issuer_key, int kind) {
  X509* c = X509_new();
  X509_NAME* name = X509_NAME_new();
  unsigned char serial[16];
  BIGNUM* bn;

  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  bn = BN_bin2bn(serial, sizeof(serial), NULL);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  X509_set_version(c, 2);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 7L * 24 * 3600);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char*)cn,
                             -1, -1, 0);
  X509_set_subject_name(c, name);
  X509_set_issuer_name(c,
                       issuer != NULL ? X509_get_subject_name(issuer) : name);
  X509_NAME_free(name);
  X509_set_pubkey(c, key);
  if (issuer == NULL) issuer = c;
  if (kind == 0) {
    add_ext(c, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(c, issuer, NID_subject_key_identifier, "hash");
  } else {
    add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c, issuer, NID_key_usage, "critical,digitalSignature");
    add_ext(c, issuer, NID_ext_key_usage,
            kind == 1 ? "serverAuth" : "clientAuth");
    add_ext(c, issuer, NID_authority_key_identifier, "keyid");
    if (kind == 1)
      add_ext(c, issuer, NID_subject_alt_name,
              "DNS:server.test,DNS:localhost,IP:127.0.0.1");
    else
      add_ext(c, issuer, NID_subject_alt_name, "DNS:client.test");
  }
  X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha256());
  return c;
}

static int write_pem(const char* dir, const char* file, X509* cert,
                     EVP_PKEY* key) {
  char path[4096];
  FILE* f;
  int ok;

  snprintf(path, sizeof(path), "%s/%s", dir, file);
  f = fopen(path, "w");
  if (f == NULL) return -1;
  ok = cert != NULL ? PEM_write_X509(f, cert)
                    : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  return fclose(f) == 0 && ok ? 0 : -1;
}

static int gencerts(const char* dir) {
  EVP_PKEY* ca_key = new_key();
  EVP_PKEY* other_key = new_key();
  X509* ca = make_cert(ca_key, "yamux test CA", NULL, NULL, 0);
  X509* other = make_cert(other_key, "untrusted test CA", NULL, NULL, 0);
  static const struct {
    const char* name;
    int kind;
    int rogue;
  } leaves[] = {{"server", 1, 0},
                {"client", 2, 0},
                {"rogue-server", 1, 1},
                {"rogue-client", 2, 1}};
  char file[64];
  unsigned int i;
  int r = 0;

  mkdir(dir, 0755);
  r |= write_pem(dir, "ca.pem", ca, NULL);
  r |= write_pem(dir, "other-ca.pem", other, NULL);
  for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
    EVP_PKEY* k = new_key();
    X509* c = make_cert(k, leaves[i].kind == 1 ? "server.test" : "client.test",
                        leaves[i].rogue ? other : ca,
                        leaves[i].rogue ? other_key : ca_key, leaves[i].kind);
    snprintf(file, sizeof(file), "%s.pem", leaves[i].name);
    r |= write_pem(dir, file, c, NULL);
    snprintf(file, sizeof(file), "%s-key.pem", leaves[i].name);
    r |= write_pem(dir, file, NULL, k);
    X509_free(c);
    EVP_PKEY_free(k);
  }
  X509_free(ca);
  X509_free(other);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(other_key);
  if (r != 0) fprintf(stderr, "tls-peer: cannot write to %s\n", dir);
  return r != 0;
}

/* ---- main -------------------------------------------------------------------
 */

static int usage(const char* why) {
  fprintf(stderr,
          "tls-peer: %s\nusage: tls-peer gencerts DIR\n"
          "       tls-peer (--listen PORT | --connect PORT) [--tls-role R] "
          "[--yamux-role R]\n"
          "                [--cert F] [--key F] [--ca F] [--servername N] "
          "[--no-verify]\n"
          "                [--require-client-cert] [--bytes N] [--streams N] "
          "[--size N]\n"
          "                [--handshake-timeout MS] [--ciphersuites LIST]\n"
          "                echo|bulk|streams|w1|sink\n",
          why);
  return 2;
}

static int parse_role(const char* s, int* out) {
  if (strcmp(s, "client") == 0)
    *out = 1;
  else if (strcmp(s, "server") == 0)
    *out = 2;
  else
    return -1;
  return 0;
}

int main(int argc, char** argv) {
  yamux_tls_config_t cfg;
  yamux_config_t ycfg;
  struct sockaddr_in addr;
  char err[512];
  int tls_role = 0;
  int yamux_role = 0;
  int i;
  int r;

  if (argc == 3 && strcmp(argv[1], "gencerts") == 0) return gencerts(argv[2]);
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--no-verify") == 0) {
      opt_no_verify = 1;
    } else if (strcmp(a, "--require-client-cert") == 0) {
      opt_require = 1;
    } else if (a[0] == '-' && a[1] == '-') {
      if (v == NULL) return usage("an option lacks its value");
      i++;
      if (strcmp(a, "--listen") == 0)
        opt_listen = v;
      else if (strcmp(a, "--connect") == 0)
        opt_connect = v;
      else if (strcmp(a, "--tls-role") == 0 && parse_role(v, &tls_role) == 0)
        ;
      else if (strcmp(a, "--yamux-role") == 0 &&
               parse_role(v, &yamux_role) == 0)
        ;
      else if (strcmp(a, "--cert") == 0)
        opt_cert = v;
      else if (strcmp(a, "--key") == 0)
        opt_key = v;
      else if (strcmp(a, "--ca") == 0)
        opt_ca = v;
      else if (strcmp(a, "--servername") == 0)
        opt_servername = v;
      else if (strcmp(a, "--bytes") == 0)
        opt_bytes = strtoull(v, NULL, 10);
      else if (strcmp(a, "--streams") == 0)
        opt_streams = (unsigned int)strtoul(v, NULL, 10);
      else if (strcmp(a, "--size") == 0)
        opt_size = strtoull(v, NULL, 10);
      else if (strcmp(a, "--handshake-timeout") == 0)
        opt_hs_timeout = strtoull(v, NULL, 10);
      else if (strcmp(a, "--ciphersuites") == 0)
        opt_ciphersuites = v;
      else
        return usage("unknown option or value");
    } else if (mode == NULL) {
      mode = a;
    } else {
      return usage("too many arguments");
    }
  }
  if (mode == NULL || (strcmp(mode, "echo") != 0 && strcmp(mode, "bulk") != 0 &&
                       strcmp(mode, "streams") != 0 &&
                       strcmp(mode, "w1") != 0 && strcmp(mode, "sink") != 0))
    return usage("MODE is echo, bulk, streams, w1 or sink");
  if ((opt_listen == NULL) == (opt_connect == NULL))
    return usage("give --listen or --connect");
  if (tls_role == 0) tls_role = opt_connect != NULL ? 1 : 2;
  if (yamux_role == 0) yamux_role = tls_role;
  opt_tls_role = tls_role == 1 ? YAMUX_TLS_CLIENT : YAMUX_TLS_SERVER;
  opt_yamux_role = yamux_role == 1 ? YAMUX_CLIENT : YAMUX_SERVER;

  yamux_tls_config_init(&cfg);
  cfg.cert_file = opt_cert;
  cfg.key_file = opt_key;
  cfg.ca_file = opt_ca;
  cfg.verify = !opt_no_verify;
  cfg.require_client_cert = opt_require;
  cfg.handshake_timeout_ms = opt_hs_timeout;
  r = yamux_tls_ctx_new(&ctx, &cfg, err, sizeof(err));
  if (r != 0) {
    fprintf(stderr, "tls-peer: %s\n",
            r == YAMUX_ETLS ? err : yamux_strerror(r));
    return 1;
  }
  if (opt_ciphersuites != NULL &&
      SSL_CTX_set_ciphersuites(yamux_tls_ctx_ssl_ctx(ctx), opt_ciphersuites) !=
          1) {
    fprintf(stderr, "tls-peer: bad --ciphersuites\n");
    yamux_tls_ctx_free(ctx);
    return 2;
  }

  loop = uv_default_loop();
  yamux_config_init(&ycfg);
  if (yamux_session_init(&session, opt_yamux_role, &ycfg) != 0) return 1;
  session_inited = 1;
  uv_ip4_addr("127.0.0.1", atoi(opt_listen != NULL ? opt_listen : opt_connect),
              &addr);
  if (opt_listen != NULL) {
    int len = sizeof(addr);
    uv_tcp_init(loop, &listener);
    r = uv_tcp_bind(&listener, (const struct sockaddr*)&addr, 0);
    if (r == 0) r = uv_listen((uv_stream_t*)&listener, 8, on_connection);
    if (r != 0) {
      fprintf(stderr, "tls-peer: listen: %s\n", uv_strerror(r));
      return 1;
    }
    uv_tcp_getsockname(&listener, (struct sockaddr*)&addr, &len);
    printf("PORT %d\n", ntohs(addr.sin_port));
    fflush(stdout);
  } else {
    uv_tcp_init(loop, &session.io[0].tcp);
    uv_tcp_connect(&connect_req, &session.io[0].tcp,
                   (const struct sockaddr*)&addr, on_connect);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  close_session();
  uv_run(loop, UV_RUN_DEFAULT);
  yamux_tls_ctx_free(ctx);
  free_openers();
  if (uv_loop_close(loop) != 0) {
    fprintf(stderr, "tls-peer: handles left open\n");
    return 1;
  }
  return exit_code;
}
