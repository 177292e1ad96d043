/* The Wireshark dissector (tools/wireshark/yamux.lua) shows the frames real
 * libyamux <-> hashicorp/yamux sessions sent, field for field
 * (test/integration/wireshark-check.sh and test/integration/wireshark/check.py
 * do the work; tshark, python3 and, for the live capture, root and tcpdump are
 * needed: the tests skip without them). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

/* This checks tools and packaging, not the library's memory use: the
 * sanitizer and valgrind passes of the suite leave it to the release pass. */
static int sanitizer_pass(void) {
  const char* preload = getenv("LD_PRELOAD");
  return getenv("ASAN_OPTIONS") != NULL ||
         (preload != NULL && strstr(preload, "vgpreload") != NULL);
}

/* Runs the script in a mode; its output is shown only when it fails. */
static void wireshark_check(const char* mode) {
  char log[] = "/tmp/yamux-wireshark-log.XXXXXX";
  char cmd[256];
  char line[512];
  FILE* f;
  int fd;
  int st;

  if (sanitizer_pass()) SKIP("runs in the release pass of the suite");
  fd = mkstemp(log);
  ASSERT_GE(fd, 0);
  close(fd);
  snprintf(cmd, sizeof(cmd),
           "sh test/integration/wireshark-check.sh %s >%s 2>&1", mode, log);
  st = system(cmd);
  ASSERT(WIFEXITED(st));
  f = fopen(log, "r");
  ASSERT_NOT_NULL(f);
  if (WEXITSTATUS(st) == 77) {
    char reason[512] = "tshark, python3, tcpdump or root is missing";
    if (fgets(line, sizeof(line), f) != NULL) {
      line[strcspn(line, "\n")] = '\0';
      snprintf(reason, sizeof(reason), "%s", line);
    }
    fclose(f);
    unlink(log);
    SKIP(reason);
  }
  if (WEXITSTATUS(st) != 0)
    while (fgets(line, sizeof(line), f) != NULL) fputs(line, stderr);
  fclose(f);
  unlink(log);
  ASSERT_EQ(WEXITSTATUS(st), 0);
}

/* test/integration/wireshark/session.pcap.gz, recorded once with
 * `test/integration/wireshark-check.sh record`; also checks that broken copies
 * of the dissector fail. */
TEST_TIMEOUT(wireshark_dissector_checked_in_capture, 180) {
  wireshark_check("file");
}

/* A capture made now: tcpdump on the loopback while interop/bin/go-peer
 * runs scenarios against build/examples/echo in both roles, compared with
 * the Go peer's own record of its transport bytes too. */
TEST_TIMEOUT(wireshark_dissector_live_capture, 300) {
  wireshark_check("live");
}
