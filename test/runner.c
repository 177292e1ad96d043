/* Test runner: runs each registered test in a forked child with a timeout.
 *
 *   run-tests [--list] [--no-fork] [-v] [--allow-empty] [substr...]
 *   run-tests --helper NAME [args...]
 *
 * Tests run one after the other (some are heavy; the machine has 2 cores).
 * A child's stdout and stderr go to a temporary file that is shown only when
 * the test fails. YAMUX_TEST_TIMEOUT_SCALE=N multiplies every timeout (for
 * sanitizer and valgrind runs). The last line is "N passed, N failed,
 * N skipped"; the exit code is non-zero if any test failed or none matched
 * (--allow-empty: a filter matching nothing here is fine, as when `make
 * test TESTS=...` runs both tiers).
 * YAMUX_TEST_NO_SKIP=1 (CI) turns every skip into a failure.
 *
 * The runner exports YAMUX_TEST_BUILD_DIR (unless already set): the build
 * tree it was built in (the parent of its test/ directory), so that each
 * configuration's suite runs that configuration's examples and yamux command.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

#define MAX_TESTS 4096
#define MAX_HELPERS 256
#define SKIP_EXIT_CODE 77

typedef struct {
  const char* name;
  task_test_fn fn;
  unsigned int timeout_s;
  const char* file;
} test_entry_t;

typedef struct {
  const char* name;
  task_helper_fn fn;
} helper_entry_t;

static test_entry_t tests[MAX_TESTS];
static unsigned int ntests;
static helper_entry_t helpers[MAX_HELPERS];
static unsigned int nhelpers;

int helper_argc;
char** helper_argv;
void (*task_fail_hook)(void);

/* Registration runs from constructors, before main(): on overflow there is
 * no one to report to but stderr. */
void task_register_test(const char* name, task_test_fn fn,
                        unsigned int timeout_s, const char* file) {
  if (ntests == MAX_TESTS) {
    fprintf(stderr, "runner: too many tests (raise MAX_TESTS)\n");
    abort();
  }
  tests[ntests].name = name;
  tests[ntests].fn = fn;
  tests[ntests].timeout_s = timeout_s;
  tests[ntests].file = file;
  ntests++;
}

void task_register_helper(const char* name, task_helper_fn fn) {
  if (nhelpers == MAX_HELPERS) {
    fprintf(stderr, "runner: too many helpers (raise MAX_HELPERS)\n");
    abort();
  }
  helpers[nhelpers].name = name;
  helpers[nhelpers].fn = fn;
  nhelpers++;
}

const char* test_exe_path(void) {
  static char path[4096];
  ssize_t n;

  if (path[0] != '\0') return path;
  n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) {
    fprintf(stderr, "runner: readlink(/proc/self/exe): %s\n", strerror(errno));
    abort();
  }
  path[n] = '\0';
  /* The runner was relinked while running (a parallel `make`): use the new
   * binary at the same path rather than a name that does not exist. */
  if ((size_t)n > sizeof(" (deleted)") - 1 &&
      strcmp(path + n - (sizeof(" (deleted)") - 1), " (deleted)") == 0)
    path[n - (sizeof(" (deleted)") - 1)] = '\0';
  return path;
}

const char* test_build_dir(void) {
  static char dir[4096];
  char exe[4096];
  char cwd[4096];
  const char* env;
  const char* d;
  size_t n;

  if (dir[0] != '\0') return dir;
  env = getenv("YAMUX_TEST_BUILD_DIR");
  if (env != NULL && env[0] != '\0') {
    snprintf(dir, sizeof(dir), "%s", env);
    return dir;
  }
  /* <tree>/<build dir>/test/run-tests: two levels up from the executable. */
  snprintf(exe, sizeof(exe), "%s", test_exe_path());
  d = dirname(dirname(exe));
  /* Relative to the working directory when inside it: shorter in messages
   * and the same as the paths the Makefile uses. */
  if (getcwd(cwd, sizeof(cwd)) != NULL) {
    n = strlen(cwd);
    if (strncmp(d, cwd, n) == 0 && d[n] == '/' && d[n + 1] != '\0') d += n + 1;
  }
  snprintf(dir, sizeof(dir), "%s", d);
  return dir;
}

/* ---- assertion support -------------------------------------------------- */

static void run_fail_hook(void) {
  void (*hook)(void) = task_fail_hook;

  /* A failing assertion inside the hook must not recurse. */
  task_fail_hook = NULL;
  if (hook != NULL) hook();
}

void task_fail(const char* file, int line, const char* fmt, ...) {
  va_list ap;

  fprintf(stderr, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  run_fail_hook();
  fflush(stderr);
  abort();
}

void task_skip(const char* file, int line, const char* reason) {
  fflush(stdout);
  fprintf(stderr, "SKIP %s:%d: %s\n", file, line, reason);
  fflush(stderr);
  /* _exit: the test's resources are deliberately abandoned; no leak report. */
  _exit(SKIP_EXIT_CODE);
}

int task_int_cmp(int sa, unsigned long long a, int sb, unsigned long long b) {
  int aneg = sa && (long long)a < 0;
  int bneg = sb && (long long)b < 0;

  if (aneg != bneg) return aneg ? -1 : 1;
  if (aneg)
    return (long long)a < (long long)b ? -1 : (long long)a > (long long)b;
  return a < b ? -1 : a > b;
}

static void format_int(char* buf, size_t size, int s, unsigned long long v) {
  if (s)
    snprintf(buf, size, "%lld", (long long)v);
  else
    snprintf(buf, size, "%llu", v);
}

void task_int_fail(const char* file, int line, const char* ea, const char* op,
                   const char* eb, int sa, unsigned long long a, int sb,
                   unsigned long long b) {
  char as[32];
  char bs[32];

  format_int(as, sizeof(as), sa, a);
  format_int(bs, sizeof(bs), sb, b);
  task_fail(file, line, "assertion failed: %s %s %s (%s %s %s)", ea, op, eb, as,
            op, bs);
}

static void dump_bytes(const char* label, const unsigned char* p, size_t n,
                       size_t from) {
  size_t i;
  size_t end = from + 32 < n ? from + 32 : n;

  fprintf(stderr, "  %s[%zu..%zu):", label, from, end);
  for (i = from; i < end; i++) fprintf(stderr, " %02x", p[i]);
  fputc('\n', stderr);
}

void task_mem_fail(const char* file, int line, const char* ea, const char* eb,
                   const void* a, const void* b, size_t n) {
  const unsigned char* pa = a;
  const unsigned char* pb = b;
  size_t i;
  size_t from;

  for (i = 0; i < n && pa[i] == pb[i]; i++) {
  }
  from = i >= 8 ? i - 8 : 0;
  fprintf(stderr,
          "%s:%d: assertion failed: memcmp(%s, %s, %zu) == 0 "
          "(first difference at offset %zu)\n",
          file, line, ea, eb, n, i);
  dump_bytes(ea, pa, n, from);
  dump_bytes(eb, pb, n, from);
  fflush(stderr);
  run_fail_hook();
  fflush(stderr);
  abort();
}

/* ---- running ------------------------------------------------------------ */

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int matches(const char* name, int nfilters, char** filters) {
  int i;

  if (nfilters == 0) return 1;
  for (i = 0; i < nfilters; i++)
    if (strstr(name, filters[i]) != NULL) return 1;
  return 0;
}

static unsigned int timeout_scale(void) {
  const char* s = getenv("YAMUX_TEST_TIMEOUT_SCALE");
  long v;

  if (s == NULL) return 1;
  v = strtol(s, NULL, 10);
  return v >= 1 && v <= 1000 ? (unsigned int)v : 1;
}

/* Copies the captured output of a failed test to stdout, indented. */
static void show_output(FILE* out) {
  char line[1024];
  int bol = 1;

  fflush(out);
  rewind(out);
  while (fgets(line, sizeof(line), out) != NULL) {
    if (bol) fputs("  | ", stdout);
    fputs(line, stdout);
    bol = line[strlen(line) - 1] == '\n';
  }
  if (!bol) fputc('\n', stdout);
}

/* The last non-empty line of the captured output (the reason of a SKIP). */
static void last_line(FILE* out, char* buf, size_t size) {
  char line[512];

  buf[0] = '\0';
  fflush(out);
  rewind(out);
  while (fgets(line, sizeof(line), out) != NULL) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    line[n] = '\0';
    if (n > 0) snprintf(buf, size, "%s", line);
  }
}

/* Waits for `pid` for at most timeout_ms. Returns 0 with *status set, or -1
 * on timeout. SIGCHLD is blocked in the parent, so sigtimedwait() sleeps
 * until a child changes state. */
static int wait_child(pid_t pid, uint64_t timeout_ms, int* status) {
  uint64_t deadline = now_ms() + timeout_ms;
  sigset_t set;

  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    struct timespec ts;
    uint64_t now;
    uint64_t left;
    pid_t r = waitpid(pid, status, WNOHANG);

    if (r == pid) return 0;
    if (r < 0 && errno != EINTR) {
      perror("runner: waitpid");
      abort();
    }
    now = now_ms();
    if (now >= deadline) return -1;
    left = deadline - now;
    /* Wake up at least every 100 ms in case a SIGCHLD was consumed. */
    if (left > 100) left = 100;
    ts.tv_sec = (time_t)(left / 1000);
    ts.tv_nsec = (long)(left % 1000) * 1000000;
    sigtimedwait(&set, NULL, &ts);
  }
}

enum { RESULT_PASS, RESULT_SKIP, RESULT_FAIL };

/* Runs one test; *outp receives the captured output (caller closes it). */
static int run_one(const test_entry_t* t, char* reason, size_t reason_size,
                   FILE** outp) {
  sigset_t set;
  sigset_t old;
  FILE* out;
  pid_t pid;
  int status;
  int result;
  uint64_t timeout_ms = (uint64_t)t->timeout_s * 1000 * timeout_scale();

  reason[0] = '\0';
  out = tmpfile();
  if (out == NULL) {
    perror("runner: tmpfile");
    abort();
  }
  fflush(stdout);
  fflush(stderr);

  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);

  pid = fork();
  if (pid < 0) {
    perror("runner: fork");
    abort();
  }
  if (pid == 0) {
    /* Own process group, so a timeout kills the helpers it spawned too. */
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(out), STDERR_FILENO);
    fclose(out);
    setvbuf(stdout, NULL, _IONBF, 0);
    t->fn();
    fflush(stdout);
    fflush(stderr);
    exit(0);
  }
  setpgid(pid, pid); /* Also from here: no race with the kill below. */

  if (wait_child(pid, timeout_ms, &status) != 0) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    snprintf(reason, reason_size, "timed out after %llu s",
             (unsigned long long)(timeout_ms / 1000));
    result = RESULT_FAIL;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    result = RESULT_PASS;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT_CODE) {
    last_line(out, reason, reason_size);
    if (strncmp(reason, "SKIP ", 5) == 0)
      memmove(reason, reason + 5, strlen(reason + 5) + 1);
    result = RESULT_SKIP;
  } else if (WIFEXITED(status)) {
    snprintf(reason, reason_size, "exited with status %d", WEXITSTATUS(status));
    result = RESULT_FAIL;
  } else if (WIFSIGNALED(status)) {
    snprintf(reason, reason_size, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
    result = RESULT_FAIL;
  } else {
    snprintf(reason, reason_size, "unknown wait status %d", status);
    result = RESULT_FAIL;
  }
  /* Helpers the test left behind must not outlive it. */
  kill(-pid, SIGKILL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  *outp = out;
  return result;
}

static int run_helper(int argc, char** argv) {
  unsigned int i;

  if (argc < 3) {
    fprintf(stderr, "usage: %s --helper NAME [args...]\n", argv[0]);
    return 2;
  }
  for (i = 0; i < nhelpers; i++) {
    if (strcmp(helpers[i].name, argv[2]) == 0) {
      helper_argc = argc - 3;
      helper_argv = argv + 3;
      return helpers[i].fn();
    }
  }
  fprintf(stderr, "runner: no helper named %s\n", argv[2]);
  return 2;
}

int main(int argc, char** argv) {
  unsigned int i;
  unsigned int passed = 0;
  unsigned int failed = 0;
  unsigned int skipped = 0;
  const char* no_skip_env = getenv("YAMUX_TEST_NO_SKIP");
  int no_skip = no_skip_env != NULL && strcmp(no_skip_env, "1") == 0;
  unsigned int matched = 0;
  int list = 0;
  int nofork = 0;
  int allow_empty = 0;
  int show = getenv("YAMUX_TEST_VERBOSE") != NULL;
  int nfilters = 0;
  char** filters;
  char reason[512];

  /* Before any test or helper runs: their shell commands and children
   * find the build tree in the environment. */
  if (setenv("YAMUX_TEST_BUILD_DIR", test_build_dir(), 1) != 0) {
    perror("runner: setenv");
    return 2;
  }
  if (argc >= 2 && strcmp(argv[1], "--helper") == 0)
    return run_helper(argc, argv);

  filters = calloc((size_t)argc, sizeof(*filters));
  if (filters == NULL) abort();
  for (i = 1; i < (unsigned int)argc; i++) {
    if (strcmp(argv[i], "--list") == 0)
      list = 1;
    else if (strcmp(argv[i], "--no-fork") == 0)
      nofork = 1;
    else if (strcmp(argv[i], "-v") == 0)
      show = 1;
    else if (strcmp(argv[i], "--allow-empty") == 0)
      allow_empty = 1;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf(
          "usage: %s [--list] [--no-fork] [-v] [--allow-empty] [substr...]\n"
          "       %s --helper NAME [args...]\n",
          argv[0], argv[0]);
      free(filters);
      return 0;
    } else
      filters[nfilters++] = argv[i];
  }

  if (list) {
    for (i = 0; i < ntests; i++)
      if (matches(tests[i].name, nfilters, filters))
        printf("%s\n", tests[i].name);
    free(filters);
    return 0;
  }

  /* --no-fork: run the first matching test in this process (for gdb). */
  if (nofork) {
    for (i = 0; i < ntests; i++) {
      if (matches(tests[i].name, nfilters, filters)) {
        fprintf(stderr, "running %s in-process\n", tests[i].name);
        tests[i].fn();
        free(filters);
        return 0;
      }
    }
    fprintf(stderr, "no test matches\n");
    free(filters);
    return 1;
  }

  setvbuf(stdout, NULL, _IOLBF, 0);
  for (i = 0; i < ntests; i++) {
    const test_entry_t* t = &tests[i];
    uint64_t start;
    uint64_t elapsed;
    FILE* out;
    int r;

    if (!matches(t->name, nfilters, filters)) continue;
    matched++;
    start = now_ms();
    r = run_one(t, reason, sizeof(reason), &out);
    elapsed = now_ms() - start;
    if (r == RESULT_PASS) {
      passed++;
      printf("ok %u - %s (%llu ms)\n", matched, t->name,
             (unsigned long long)elapsed);
    } else if (r == RESULT_SKIP && no_skip) {
      /* CI: a test that cannot run there is a failure of the set-up. */
      failed++;
      printf(
          "not ok %u - %s: skipped where skips are not allowed "
          "(YAMUX_TEST_NO_SKIP): %s (%llu ms) [%s]\n",
          matched, t->name, reason, (unsigned long long)elapsed, t->file);
    } else if (r == RESULT_SKIP) {
      skipped++;
      printf("ok %u - %s # SKIP %s (%llu ms)\n", matched, t->name, reason,
             (unsigned long long)elapsed);
    } else {
      failed++;
      printf("not ok %u - %s: %s (%llu ms) [%s]\n", matched, t->name, reason,
             (unsigned long long)elapsed, t->file);
    }
    if (r == RESULT_FAIL || show) show_output(out);
    fclose(out);
  }
  free(filters);
  if (matched == 0 && !allow_empty) fprintf(stderr, "no test matches\n");
  printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
  return failed > 0 || (matched == 0 && !allow_empty) ? 1 : 0;
}
