/* libyamux-tls: a yamux session over TLS (OpenSSL) on a libuv stream.
 *
 * An optional companion library (libyamux-tls, linked with -lyamux-tls
 * -lyamux -lssl -lcrypto); libyamux itself never needs OpenSSL. It runs the
 * session through yamux.h's custom-transport hook: OpenSSL encrypts into and
 * decrypts from memory (no socket BIO, no thread), and the connection is a
 * libuv stream the session owns, exactly as with yamux_session_start_uv().
 * This is what Consul, Nomad and frp run between their Go processes
 * (crypto/tls, often with client certificates, and hashicorp/yamux on top),
 * so a C program can join them.
 *
 *   yamux_tls_config_t cfg;
 *   yamux_tls_ctx_t* ctx;
 *   char err[256];
 *
 *   yamux_tls_config_init(&cfg);
 *   cfg.ca_file = "ca.pem";                 // trust anchors for the server
 *   cfg.cert_file = "client.pem";           // mutual TLS: our certificate
 *   cfg.key_file = "client-key.pem";
 *   if (yamux_tls_ctx_new(&ctx, &cfg, err, sizeof(err)) != 0) ...
 *
 *   yamux_session_init(&session, YAMUX_CLIENT, NULL);
 *   uv_tcp_init(loop, &session.io[0].tcp);
 *   ... uv_tcp_connect(), then in its callback:
 *   yamux_session_start_tls(loop, &session, 1, ctx, YAMUX_TLS_CLIENT,
 *                           "server.example", on_end);
 *
 * Streams may be opened and written at once: their frames wait until the
 * handshake is done. A failed handshake or certificate check ends the session
 * with YAMUX_ETLS (end_cb), and yamux_tls_error() says why.
 *
 * The conventions of yamux.h hold (callbacks, errors, threading, no output).
 */
#ifndef YAMUX_TLS_H
#define YAMUX_TLS_H

#include <openssl/ssl.h>

#include "yamux.h"

#ifdef __cplusplus
extern "C" {
#endif

/* YAMUX_ETLS (yamux.h's error map): the session's TLS failed: the
 * handshake (a certificate that does not verify, a name that does not
 * match, a missing client certificate, no common protocol version or
 * cipher, a handshake timeout), an alert from the peer, or a corrupt record.
 * yamux_tls_error() has the details. Reported through end_cb. */

typedef enum { YAMUX_TLS_CLIENT = 1, YAMUX_TLS_SERVER = 2 } yamux_tls_role_t;

/* Fill with yamux_tls_config_init(), then set what you need. The strings are
 * read by yamux_tls_ctx_new() only (the files are loaded there). */
typedef struct yamux_tls_config_s {
  /* Our certificate chain (PEM, leaf first). Servers need one; a client
   * sends it when the server asks for one (mutual TLS). NULL: none. */
  const char* cert_file;
  /* The private key of cert_file (PEM). NULL: read it from cert_file. */
  const char* key_file;
  /* Trust anchors (PEM, one or more certificates) that the peer's
   * certificate must chain to. NULL: the system's default store (clients;
   * a server that requires client certificates needs this). */
  const char* ca_file;
  /* 1 (default): check the peer's certificate. A client checks the server's
   * chain against ca_file and its name against the server_name given to
   * yamux_session_start_tls(); a server checks the client's certificate when
   * it requires one. 0: accept any certificate (tests only: anyone in the
   * middle can read and change the traffic). */
  int verify;
  /* Servers: ask for a client certificate and fail the handshake without a
   * valid one (mutual TLS, as Consul's verify_incoming). Default 0. */
  int require_client_cert;
  /* A handshake not finished this long after the start fails with
   * YAMUX_ETLS. Default 10000; 0 (or a value too large to count in
   * nanoseconds, such as UINT64_MAX) waits forever. */
  uint64_t handshake_timeout_ms;
} yamux_tls_config_t;

/* Fills cfg with the defaults above. */
YAMUX_EXTERN void yamux_tls_config_init(yamux_tls_config_t* cfg);

/* A TLS context: certificates and settings loaded once, for any number of
 * sessions in either role (OpenSSL's SSL_CTX). */
typedef struct yamux_tls_ctx_s yamux_tls_ctx_t;

/* Creates a context from `cfg`, reading its files. Protocol versions: TLS
 * 1.2 and 1.3; a TLS 1.2 renegotiation asked by the peer is refused (as Go
 * refuses it). Servers resume sessions (OpenSSL's session cache and
 * tickets), also when they require client certificates. Returns 0 (*ctx set),
 * UV_EINVAL (bad arguments), UV_ENOMEM, or YAMUX_ETLS when a file cannot be
 * loaded or the key does not match the certificate; then `errbuf` (may be NULL)
 * receives a one-line message. */
YAMUX_EXTERN int yamux_tls_ctx_new(yamux_tls_ctx_t** ctx,
                                   const yamux_tls_config_t* cfg, char* errbuf,
                                   size_t errlen);

/* Releases the caller's reference. Sessions started with the context keep
 * their own until they close, so this may be called at any time. */
YAMUX_EXTERN void yamux_tls_ctx_free(yamux_tls_ctx_t* ctx);

/* The OpenSSL context, to change what the config does not cover (cipher
 * lists, ALPN, a verify callback) before sessions start with it. */
YAMUX_EXTERN SSL_CTX* yamux_tls_ctx_ssl_ctx(yamux_tls_ctx_t* ctx);

/* Starts `session` (yamux_session_init() done, not started) over TLS on the
 * libuv stream handles in session->io, initialized and connected by the
 * caller as for yamux_session_start_uv(): io[0] alone (a TCP or Unix socket,
 * a duplex pipe) or, with `duplex` zero, io[0] for reading and io[1] for
 * writing. TTYs are refused. The TLS role is independent of the yamux role
 * (Consul's RPC client is both TLS client and yamux client). A client sends
 * `server_name` as SNI and, with verify on, requires the server's
 * certificate to carry it (a DNS name, or an IP address literal checked
 * against the certificate's IP addresses); servers pass NULL.
 *
 * The handshake starts at once; frames the session queues meanwhile wait for
 * it. Reading pauses while 2 MiB of our records waits for a peer that does
 * not read (records OpenSSL writes as it reads, such as answers to KeyUpdate
 * requests, would otherwise pile up without bound). From here on the session
 * owns the handles (it closes them when it closes) and holds a reference to
 * `ctx`. On close, queued frames and a TLS close_notify are sent before the
 * connection is half-closed.
 *
 * end_cb reports, besides yamux_session_start_uv()'s statuses, YAMUX_ETLS
 * (see yamux_tls_error()). A peer that closes after its close_notify, or
 * without one once the handshake is done, ends the session with UV_EOF.
 *
 * Returns 0, UV_EINVAL (bad arguments, handles not usable, session started
 * or closing, a verifying client without server_name), UV_ENOMEM, or the
 * error of uv_read_start(). On error the handles are still the caller's. */
YAMUX_EXTERN int yamux_session_start_tls(uv_loop_t* loop,
                                         yamux_session_t* session, int duplex,
                                         yamux_tls_ctx_t* ctx,
                                         yamux_tls_role_t role,
                                         const char* server_name,
                                         yamux_session_end_cb end_cb);

/* Why the session's TLS failed: one line such as "TLS handshake failed:
 * certificate verify failed: unable to get local issuer certificate", or
 * NULL if it did not fail (or the session is not a TLS session). Valid from
 * the end_cb that reported YAMUX_ETLS until yamux_session_close() is called:
 * copy it to keep it. */
YAMUX_EXTERN const char* yamux_tls_error(const yamux_session_t* session);

/* The session's OpenSSL connection (peer certificate, negotiated version and
 * cipher), or NULL if it is not a TLS session. Valid until
 * yamux_session_close() is called; the peer's certificate is known once the
 * handshake is done, which is before any stream of the peer is accepted or
 * any of ours is acknowledged. */
YAMUX_EXTERN SSL* yamux_tls_get_ssl(const yamux_session_t* session);

#ifdef __cplusplus
}
#endif
#endif /* YAMUX_TLS_H */
