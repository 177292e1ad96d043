/* The yamux command's --tls: the session runs over libyamux-tls on our
 * stdin/stdout (pipes or sockets: `ncat -l -e`, socat, inetd, systemd
 * sockets) or on the stdio of the --exec command (a socket pair), as
 * socat's and ncat's TLS options do for a plain byte stream.
 *
 * The TLS role follows the yamux role: the listening side (-l, yamux client)
 * is the TLS client and checks the server's certificate against --ca (or
 * the system's store) and --servername; the dialing side (yamux server) is
 * the TLS server, shows --cert, and with --ca requires client certificates
 * from that CA (mutual TLS). --no-verify turns the checks off.
 *
 * Built without OpenSSL (no YAMUX_CLI_TLS), --tls is refused with a message.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct cli_tls_opts tls_opt;

static int any_tls_option(void) {
  return tls_opt.no_verify || tls_opt.cert != NULL || tls_opt.key != NULL ||
         tls_opt.ca != NULL || tls_opt.servername != NULL;
}

#ifndef YAMUX_CLI_TLS

int cli_tls_check(void) {
  if (!tls_opt.on && !any_tls_option()) return 0;
  fprintf(stderr, "yamux: --tls: this yamux was built without TLS (OpenSSL)\n");
  return -1;
}

int cli_tls_init(void) {
  return -1;
}

int cli_tls_start(yamux_session_t* s, uv_process_t* child,
                  const uv_process_options_t* po, yamux_session_end_cb end_cb) {
  (void)s;
  (void)child;
  (void)po;
  (void)end_cb;
  return -1;
}

void cli_tls_session_ended(yamux_session_t* s, int status) {
  (void)s;
  (void)status;
}

const char* cli_tls_strerror(int status) {
  (void)status;
  return NULL;
}

void cli_tls_closed(void) {}

void cli_tls_free(void) {}

#else

#include "yamux-tls.h"

static yamux_tls_ctx_t* ctx;
static char failure[300];
static int on_stdio; /* fds 0 and 1 carry the session */

static int usage_error(const char* msg) {
  fprintf(stderr, "yamux: %s\nTry 'yamux --help' for more information.\n", msg);
  return -1;
}

int cli_tls_check(void) {
  if (!tls_opt.on) {
    if (any_tls_option())
      return usage_error(
          "--cert, --key, --ca, --servername and --no-verify need --tls");
    return 0;
  }
  if (tls_opt.key != NULL && tls_opt.cert == NULL)
    return usage_error("--key needs --cert");
  if (!opt_listen && tls_opt.cert == NULL)
    return usage_error(
        "--tls: the dialing side is the TLS server and needs --cert");
  if (opt_listen && !tls_opt.no_verify && tls_opt.servername == NULL)
    return usage_error(
        "--tls: -l checks the server's certificate: give --servername NAME "
        "(the name it must carry), or --no-verify");
  return 0;
}

int cli_tls_init(void) {
  yamux_tls_config_t cfg;
  char err[300];
  int r;

  yamux_tls_config_init(&cfg);
  cfg.cert_file = tls_opt.cert;
  cfg.key_file = tls_opt.key;
  cfg.ca_file = tls_opt.ca;
  cfg.verify = !tls_opt.no_verify;
  cfg.require_client_cert =
      !opt_listen && tls_opt.ca != NULL && !tls_opt.no_verify;
  r = yamux_tls_ctx_new(&ctx, &cfg, err, sizeof(err));
  if (r == 0) return 0;
  say(0, "--tls: %s", r == YAMUX_ETLS ? err : errstr(r));
  return -1;
}

/* Wraps fd (a pipe or socket) in io. */
static int open_fd(yamux_uv_io_t* io, int fd, uv_handle_type type) {
  int r;

  if (type == UV_TCP) {
    uv_tcp_init(loop, &io->tcp);
    r = uv_tcp_open(&io->tcp, fd);
  } else {
    uv_pipe_init(loop, &io->pipe, 0);
    r = uv_pipe_open(&io->pipe, fd);
  }
  if (r < 0) uv_close(&io->handle, NULL);
  return r;
}

static int same_socket(int a, int b) {
  struct stat sa;
  struct stat sb;

  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return 0;
  return S_ISSOCK(sa.st_mode) && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

static int start_stdio(yamux_session_t* s, yamux_session_end_cb end_cb) {
  uv_handle_type t0 = uv_guess_handle(0);
  uv_handle_type t1 = uv_guess_handle(1);
  int duplex;
  int r;

  if ((t0 != UV_TCP && t0 != UV_NAMED_PIPE) ||
      (t1 != UV_TCP && t1 != UV_NAMED_PIPE)) {
    say(0, "--tls: stdin and stdout must be pipes or sockets");
    return -1;
  }
  duplex = same_socket(0, 1);
  r = open_fd(&s->io[0], 0, t0);
  if (r == 0 && !duplex) {
    r = open_fd(&s->io[1], 1, t1);
    if (r < 0) uv_close(&s->io[0].handle, NULL);
  }
  if (r == 0) {
    r = yamux_session_start_tls(
        loop, s, duplex, ctx, opt_listen ? YAMUX_TLS_CLIENT : YAMUX_TLS_SERVER,
        tls_opt.servername, end_cb);
    if (r < 0) {
      uv_close(&s->io[0].handle, NULL);
      if (!duplex) uv_close(&s->io[1].handle, NULL);
    }
  }
  if (r < 0) {
    say(0, "stdin/stdout: %s", errstr(r));
    return -1;
  }
  on_stdio = 1;
  return 0;
}

/* The command gets one end of a socket pair as its stdin and stdout. */
static int start_exec(yamux_session_t* s, uv_process_t* child,
                      const uv_process_options_t* po,
                      yamux_session_end_cb end_cb) {
  uv_process_options_t opts = *po;
  uv_stdio_container_t stdio[3];
  uv_os_sock_t sv[2];
  int r;

  r = uv_socketpair(SOCK_STREAM, 0, sv, UV_NONBLOCK_PIPE, 0);
  if (r < 0) {
    say(0, "--exec: %s", errstr(r));
    return -1;
  }
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = sv[1];
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = sv[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  r = uv_spawn(loop, child, &opts);
  close(sv[1]);
  if (r < 0) {
    close(sv[0]);
    say(0, "--exec %s: %s", opts.args[2], errstr(r));
    return -1;
  }
  uv_pipe_init(loop, &s->io[0].pipe, 0);
  r = uv_pipe_open(&s->io[0].pipe, sv[0]);
  if (r == 0) {
    r = yamux_session_start_tls(
        loop, s, 1, ctx, opt_listen ? YAMUX_TLS_CLIENT : YAMUX_TLS_SERVER,
        tls_opt.servername, end_cb);
  } else {
    close(sv[0]);
  }
  if (r < 0) {
    /* The command runs with nobody on its stdio: stop it. Its exit
     * callback still reaps it. */
    uv_close(&s->io[0].handle, NULL);
    uv_process_kill(child, SIGTERM);
    say(0, "--exec: %s", errstr(r));
    return -1;
  }
  return 0;
}

int cli_tls_start(yamux_session_t* s, uv_process_t* child,
                  const uv_process_options_t* po, yamux_session_end_cb end_cb) {
  return po != NULL ? start_exec(s, child, po, end_cb) : start_stdio(s, end_cb);
}

void cli_tls_session_ended(yamux_session_t* s, int status) {
  const char* why;

  if (status != YAMUX_ETLS) return;
  why = yamux_tls_error(s);
  snprintf(failure, sizeof(failure), "%s", why != NULL ? why : "TLS failed");
}

const char* cli_tls_strerror(int status) {
  return status == YAMUX_ETLS && failure[0] != '\0' ? failure : NULL;
}

/* libuv never closes descriptors 0-2: put /dev/null in their place, so that
 * the session's pipe or socket is released while we finish the flows. */
void cli_tls_closed(void) {
  int fd;

  if (!on_stdio) return;
  on_stdio = 0;
  fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  dup2(fd, 0);
  dup2(fd, 1);
  if (fd > 1) close(fd);
}

void cli_tls_free(void) {
  yamux_tls_ctx_free(ctx);
  ctx = NULL;
}

#endif
