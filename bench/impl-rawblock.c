/* yxbench: raw blocking read(2)/write(2) loops, W1 and W2 only: a blocking
 * write loop of -chunk bytes and a blocking read loop with a 64 KiB
 * buffer. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static int rbl_client(int argc, char** argv) {
  int tx, rx;
  char ack;
  ssize_t n;

  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    spawn_tcp_child(argc, argv, &addr);
    tx = rx = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tx < 0) die("socket: %s", strerror(errno));
    if (connect(tx, (const struct sockaddr*)&addr, sizeof(addr)) != 0)
      die("connect: %s", strerror(errno));
    set_nodelay_fd(tx);
  } else if (transport == TR_PIPE) {
    spawn_pipe_child(argc, argv, &tx, &rx);
  } else {
    die("raw_block has no socketpair variant");
    return 1;
  }
  t_start = uv_hrtime();
  while (bsent < opt_size) {
    uint64_t k = opt_size - bsent < opt_chunk ? opt_size - bsent : opt_chunk;
    write_all(tx, pattern, (size_t)k);
    bsent += k;
  }
  do n = read(rx, &ack, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) die("ack read: %s", n == 0 ? "EOF" : strerror(errno));
  t_end = uv_hrtime();
  close(tx);
  if (rx != tx) close(rx);
  reap_child();
  print_result();
  return uv_loop_close(loop) == 0 ? 0 : 1;
}

static int rbl_server(void) {
  int rx = 0, tx = 1, lfd = -1;
  ssize_t n;

  if (transport == TR_TCP) {
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket: %s", strerror(errno));
    sockaddr_loopback(&addr, 0);
    if (bind(lfd, (const struct sockaddr*)&addr, sizeof(addr)) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr*)&addr, &len) != 0)
      die("listen: %s", strerror(errno));
    print_port(ntohs(addr.sin_port));
    rx = tx = accept(lfd, NULL, NULL);
    if (rx < 0) die("accept: %s", strerror(errno));
    close(lfd);
    set_nodelay_fd(rx);
  }
  for (;;) {
    n = read(rx, rxbuf, sizeof(rxbuf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read: %s", n == 0 ? "EOF" : strerror(errno));
    if (bulk_received((uint64_t)n)) break;
  }
  write_all(tx, &ackbyte, 1);
  /* Wait for the client's close. */
  while ((n = read(rx, rxbuf, sizeof(rxbuf))) != 0)
    if (n < 0 && errno != EINTR) break;
  return 0;
}

const bench_impl_t bench_raw_block = {"raw_block", rbl_client, rbl_server,
                                      NULL};
