/* The example programs do what their comments say (run from the source
 * tree, as `make test` does; the runner's build tree is
 * $YAMUX_TEST_BUILD_DIR). */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "task.h"

/* Runs cmd, captures up to cap-1 bytes of its stdout; returns its exit
 * status. */
static int run(const char* cmd, char* out, size_t cap) {
  FILE* f = popen(cmd, "r");
  size_t n = 0, k;
  int st;
  ASSERT_NOT_NULL(f);
  while (n + 1 < cap && (k = fread(out + n, 1, cap - 1 - n, f)) > 0) n += k;
  out[n] = '\0';
  st = pclose(f);
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

TEST(examples_hello_echoes_through_a_child) {
  char out[256];
  ASSERT_EQ(run("\"$YAMUX_TEST_BUILD_DIR\"/examples/hello "
                "\"$YAMUX_TEST_BUILD_DIR\"/examples/echo",
                out, sizeof(out)),
            0);
  ASSERT_STR_EQ(out, "hello, yamux\n");
}

TEST_TIMEOUT(examples_demo_verifies_every_exchange, 120) {
  char out[4096];
  ASSERT_EQ(run("\"$YAMUX_TEST_BUILD_DIR\"/examples/demo --requests 3000 "
                "--concurrency 300",
                out, sizeof(out)),
            0);
  ASSERT_NOT_NULL(strstr(out, "3000 exchanges done"));
  ASSERT_NOT_NULL(strstr(out, "verification: 0 failed, 3000 ok"));
  ASSERT_NOT_NULL(strstr(out, "child exited with status 0"));
}

/* examples/multiloop.c: a server on two loops (SO_REUSEPORT) and a client
 * on two others, 200 sessions, streams both ways with every byte verified,
 * the server loops stopped by mail from the main thread, every loop closed
 * (`make tsan` runs it under ThreadSanitizer). */
TEST(multiloop_example) {
  char cmd[8192], line[512];
  FILE* f;
  int ok = 0, status;

  snprintf(cmd, sizeof(cmd),
           "%s/examples/multiloop --threads 2 --sessions 200 2>&1",
           test_build_dir());
  f = popen(cmd, "r");
  ASSERT_NOT_NULL(f);
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "multiloop: ok: 200 sessions, 600 streams", 40) == 0)
      ok = 1;
  status = pclose(f);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(ok, 1);
}
