/* The ABI check: this tree's libyamux.so against the last release's
 * recorded ABI (make abi-check), the check failing on deliberately broken
 * copies and passing once the soname moves with the break, and the soname
 * rule (test/integration/test-abi.sh does the work; skipped without
 * abidw/abidiff). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "task.h"

/* This checks tools and packaging, not the library's memory use: the
 * sanitizer and valgrind passes of the suite leave it to the release pass. */
static int sanitizer_pass(void) {
  const char* preload = getenv("LD_PRELOAD");
  return getenv("ASAN_OPTIONS") != NULL ||
         (preload != NULL && strstr(preload, "vgpreload") != NULL);
}

TEST_TIMEOUT(abi_check_against_last_release, 300) {
  char out[16384];
  char chunk[4096];
  size_t n = 0;
  size_t k;
  FILE* f;
  int st;

  if (sanitizer_pass()) SKIP("runs in the release pass of the suite");
  if (system("command -v make >/dev/null 2>&1") != 0)
    SKIP("make is not installed");
  f = popen("sh test/integration/test-abi.sh 2>&1", "r");
  ASSERT_NOT_NULL(f);
  /* Keeps the first 16 KiB, reads the rest so the script never blocks. */
  while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    size_t room = sizeof(out) - 1 - n;
    memcpy(out + n, chunk, k < room ? k : room);
    n += k < room ? k : room;
  }
  out[n] = '\0';
  st = pclose(f);
  ASSERT(WIFEXITED(st));
  if (WEXITSTATUS(st) == 77) SKIP("abidw or abidiff is not installed");
  if (WEXITSTATUS(st) != 0) fprintf(stderr, "%s", out);
  ASSERT_EQ(WEXITSTATUS(st), 0);
  ASSERT_NOT_NULL(strstr(out, "abi test: ok"));
}
