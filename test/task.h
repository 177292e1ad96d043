/* Test framework: self-registering tests, each run in its own process.
 *
 *   #include "task.h"
 *   TEST(name) { ... }                   registers test "name" (timeout 60 s)
 *   TEST_TIMEOUT(name, seconds) { ... }  same with another timeout
 *   HELPER(name) { ...; return 0; }      child-process entry point:
 *                                        run-tests --helper name [args...]
 *
 * A failing ASSERT prints file:line, the expression and both values to
 * stderr and aborts the test process. run-tests forks one child per test,
 * kills it on timeout, prints one result line per test and, last,
 * "N passed, N failed, N skipped".
 */
#ifndef YAMUX_TEST_TASK_H
#define YAMUX_TEST_TASK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_DEFAULT_TIMEOUT 60

typedef void (*task_test_fn)(void);
typedef int (*task_helper_fn)(void);

void task_register_test(const char* name, task_test_fn fn,
                        unsigned int timeout_s, const char* file);
void task_register_helper(const char* name, task_helper_fn fn);

/* The extra arguments of `run-tests --helper NAME args...` (args only). */
extern int helper_argc;
extern char** helper_argv;

/* Absolute path of the runner executable (to spawn helpers). */
const char* test_exe_path(void);

/* The build tree whose examples and yamux command the tests run: the one the
 * runner was built in (e.g. "build" or "build-asan", relative to the working
 * directory when inside it), or $YAMUX_TEST_BUILD_DIR. The runner exports it
 * as YAMUX_TEST_BUILD_DIR, so shell commands may say
 * "\"$YAMUX_TEST_BUILD_DIR\"/examples/echo". */
const char* test_build_dir(void);

/* Called (if set) before an ASSERT aborts, to print extra context. */
extern void (*task_fail_hook)(void);

#define TEST_TIMEOUT(name, seconds)                                     \
  static void test_##name(void);                                        \
  __attribute__((constructor)) static void test_register_##name(void) { \
    task_register_test(#name, test_##name, (seconds), __FILE__);        \
  }                                                                     \
  static void test_##name(void)

#define TEST(name) TEST_TIMEOUT(name, TEST_DEFAULT_TIMEOUT)

#define HELPER(name)                                                      \
  static int helper_##name(void);                                         \
  __attribute__((constructor)) static void helper_register_##name(void) { \
    task_register_helper(#name, helper_##name);                           \
  }                                                                       \
  static int helper_##name(void)

/* Ends the current test as skipped with a reason: reported as skipped and
 * counted apart, never as passed. */
#define SKIP(reason) task_skip(__FILE__, __LINE__, (reason))
void task_skip(const char* file, int line, const char* reason)
    __attribute__((noreturn));

/* ---- assertions --------------------------------------------------------- */

void task_fail(const char* file, int line, const char* fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
int task_int_cmp(int sa, unsigned long long a, int sb, unsigned long long b);
void task_int_fail(const char* file, int line, const char* ea, const char* op,
                   const char* eb, int sa, unsigned long long a, int sb,
                   unsigned long long b) __attribute__((noreturn));
void task_mem_fail(const char* file, int line, const char* ea, const char* eb,
                   const void* a, const void* b, size_t n)
    __attribute__((noreturn));

/* 1 if the expression's type is a signed integer type (or not an integer). */
#define TASK_SIGNED(x)                                                  \
  _Generic((x), _Bool : 0, unsigned char : 0, unsigned short : 0,       \
           unsigned int : 0, unsigned long : 0, unsigned long long : 0, \
           default : 1)

/* Compares integers of any types by value (a negative signed value is below
 * any unsigned value), evaluating each operand once. */
#define TASK_ASSERT_INT(a, op, b)                                       \
  do {                                                                  \
    int sa_ = TASK_SIGNED(a);                                           \
    int sb_ = TASK_SIGNED(b);                                           \
    unsigned long long a_ = (unsigned long long)(a);                    \
    unsigned long long b_ = (unsigned long long)(b);                    \
    if (!(task_int_cmp(sa_, a_, sb_, b_) op 0))                         \
      task_int_fail(__FILE__, __LINE__, #a, #op, #b, sa_, a_, sb_, b_); \
  } while (0)

#define ASSERT(expr)                                                           \
  do {                                                                         \
    if (!(expr)) task_fail(__FILE__, __LINE__, "assertion failed: %s", #expr); \
  } while (0)

#define ASSERT_EQ(a, b) TASK_ASSERT_INT(a, ==, b)
#define ASSERT_NE(a, b) TASK_ASSERT_INT(a, !=, b)
#define ASSERT_LT(a, b) TASK_ASSERT_INT(a, <, b)
#define ASSERT_LE(a, b) TASK_ASSERT_INT(a, <=, b)
#define ASSERT_GT(a, b) TASK_ASSERT_INT(a, >, b)
#define ASSERT_GE(a, b) TASK_ASSERT_INT(a, >=, b)
#define ASSERT_OK(a) TASK_ASSERT_INT(a, ==, 0)

#define ASSERT_PTR_EQ(a, b)                                                  \
  do {                                                                       \
    const void* a_ = (const void*)(a);                                       \
    const void* b_ = (const void*)(b);                                       \
    if (a_ != b_)                                                            \
      task_fail(__FILE__, __LINE__, "assertion failed: %s == %s (%p == %p)", \
                #a, #b, a_, b_);                                             \
  } while (0)

#define ASSERT_PTR_NE(a, b)                                                  \
  do {                                                                       \
    const void* a_ = (const void*)(a);                                       \
    const void* b_ = (const void*)(b);                                       \
    if (a_ == b_)                                                            \
      task_fail(__FILE__, __LINE__, "assertion failed: %s != %s (%p != %p)", \
                #a, #b, a_, b_);                                             \
  } while (0)

#define ASSERT_NULL(a) ASSERT_PTR_EQ(a, NULL)
#define ASSERT_NOT_NULL(a) ASSERT_PTR_NE(a, NULL)

#define ASSERT_MEM_EQ(a, b, n)                               \
  do {                                                       \
    const void* a_ = (a);                                    \
    const void* b_ = (b);                                    \
    size_t n_ = (n);                                         \
    if (n_ != 0 && memcmp(a_, b_, n_) != 0)                  \
      task_mem_fail(__FILE__, __LINE__, #a, #b, a_, b_, n_); \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                              \
  do {                                                                   \
    const char* a_ = (a);                                                \
    const char* b_ = (b);                                                \
    if (a_ == NULL || b_ == NULL ? a_ != b_ : strcmp(a_, b_) != 0)       \
      task_fail(__FILE__, __LINE__,                                      \
                "assertion failed: %s == %s (\"%s\" == \"%s\")", #a, #b, \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
  } while (0)

#endif /* YAMUX_TEST_TASK_H */
