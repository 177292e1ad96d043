/* CMake consumers: `make install` gives a CMake package, and a program built
 * out of tree with find_package(libyamux) links and runs, shared and static,
 * from a staged (DESTDIR) and from a multiarch install
 * (test/integration/test-cmake.sh does the work). */
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

TEST_TIMEOUT(install_cmake_find_package, 300) {
  char out[16384];
  char chunk[4096];
  size_t n = 0;
  size_t k;
  FILE* f;
  int st;

  if (sanitizer_pass()) SKIP("runs in the release pass of the suite");
  if (system("command -v make >/dev/null 2>&1") != 0)
    SKIP("make is not installed");
  f = popen("sh test/integration/test-cmake.sh 2>&1", "r");
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
  if (WEXITSTATUS(st) == 77) SKIP("cmake is not installed");
  if (WEXITSTATUS(st) != 0) fprintf(stderr, "%s", out);
  ASSERT_EQ(WEXITSTATUS(st), 0);
  ASSERT_NOT_NULL(strstr(out, "cmake test: ok"));
}
