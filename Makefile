# libyamux build (GNU make).
#
#   make                 build/libyamux.a, build/libyamux.so, examples, tests
#   make test            run the suite, then again under ASan+UBSan
#   make check           the sanitizer run only
#   make valgrind        the suite under valgrind memcheck
#   make install         PREFIX=/usr/local DESTDIR=
#   make format          clang-format-14 in place; format-check verifies
#
# `make test TESTS="frames protocol"` passes substring filters to the runner.
# Other makefiles may add targets in mk/<name>.mk (included at the end).

CC ?= cc
AR ?= ar
PKG_CONFIG ?= pkg-config
CLANG_FORMAT ?= clang-format-14
VALGRIND ?= valgrind
PYTHON ?= python3

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

# One build tree per configuration: build/ (release), build-asan/ (sanitizers)
# and build-valgrind/ are the same rules with other values of O and SAN.
O ?= build
SAN ?=

VERSION := $(shell sed -n 's/^\#define YAMUX_VERSION_STRING "\(.*\)"/\1/p' \
             include/yamux.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SOMINOR := $(word 2,$(subst ., ,$(VERSION)))
# The soname changes whenever the ABI may break: with the major version from
# 1.0 on; while it is 0, with every minor release (libyamux.so.0.MINOR). 0.1.x
# keeps libyamux.so.0, the soname 0.1.0 shipped with (abi/README.md).
SOVERSION := $(if $(filter 0,$(SOMAJOR)),$\
  $(if $(filter 1,$(SOMINOR)),0,0.$(SOMINOR)),$(SOMAJOR))
SONAME := libyamux.so.$(SOVERSION)

# libuv's flags are looked up when a recipe first needs them, after the
# $(O)/.libuv-ok check below has run (and installed libuv if it could), so
# that a fresh machine gets the right flags in the same make invocation.
# The $(eval) caches each answer for the rest of the run.
UV_CFLAGS = $(eval UV_CFLAGS := $(shell $(PKG_CONFIG) --cflags libuv))$(UV_CFLAGS)
UV_LIBS = $(eval UV_LIBS := $(shell $(PKG_CONFIG) --libs libuv))$(UV_LIBS)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes
OPT ?= -O2 -g
ifeq ($(SAN),asan)
OPT := -O1 -g
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
SAN_DEFS := -DYAMUX_NO_POOL
else ifeq ($(SAN),valgrind)
OPT := -O1 -g
SAN_DEFS := -DYAMUX_NO_POOL
else ifeq ($(SAN),tsan)
OPT := -O1 -g
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
SAN_DEFS := -DYAMUX_NO_POOL
endif

BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) -fvisibility=hidden $(OPT) \
              $(SAN_FLAGS) $(SAN_DEFS) -Iinclude -Isrc $(UV_CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) -fPIC -MMD -MP $(CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS = $(SAN_FLAGS) $(LDFLAGS)

LIB_SRCS := $(sort $(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(O)/src/%.o)
# Two tiers, as nghttp2 keeps tests/ and integration-tests/: test/*.c are
# the library's tests (scripted peers on virtual time, sessions over real
# transports in this process and its helper children), test/integration/*.c
# run whole programs (the examples, the yamux command, install, packaging,
# TLS, Wireshark). Both link the runner and the shared helpers.
TEST_SUPPORT := test/runner.c test/helpers.c test/test-uv-util.c \
                test/linksim.c
TEST_SRCS := $(sort $(wildcard test/*.c))
TEST_OBJS := $(TEST_SRCS:test/%.c=$(O)/test/%.o)
INTEG_SRCS := $(sort $(wildcard test/integration/*.c))
INTEG_OBJS := $(INTEG_SRCS:test/integration/%.c=$(O)/test/integration/%.o) \
              $(TEST_SUPPORT:test/%.c=$(O)/test/%.o)
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(O)/examples/%)

STATIC_LIB := $(O)/libyamux.a
SHARED_LIB := $(O)/libyamux.so
RUN_TESTS := $(O)/test/run-tests
RUN_INTEG := $(O)/test/run-integration
LIBUV_OK := $(O)/.libuv-ok

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Children are traced (the tests run the examples and the yamux command),
# except the system's and the toolchains' programs some tests start (go,
# curl, python3, mktemp, the shell): their own reports are not ours.
VALGRIND_FLAGS := --tool=memcheck --leak-check=full --error-exitcode=1 \
                  --errors-for-leak-kinds=definite,indirect \
                  --trace-children=yes --quiet \
                  --trace-children-skip='/usr/*,/bin/*,/sbin/*,*/.pyenv/*,*/go/bin/*,*/.cargo/*,*/interop/bin/*,interop/bin/*'

.PHONY: all lib examples tests objs test check valgrind install uninstall \
        clean format format-check deps deps-best-effort tsan docs docs-check \
        test-all test-unit test-integration
.DEFAULT_GOAL := all

all: lib examples tests
lib: $(STATIC_LIB) $(SHARED_LIB)
examples: $(EXAMPLES)
tests: $(RUN_TESTS) $(RUN_INTEG)
# Compile everything without linking (useful while a part is missing).
objs: $(LIB_OBJS) $(TEST_OBJS)

# libuv: checked once per build tree, before the first compile. Nothing
# here installs anything: `make deps` (tools/install-deps.sh) does.
$(LIBUV_OK):
	@mkdir -p $(@D)
	@if ! command -v $(PKG_CONFIG) >/dev/null 2>&1 || \
	   ! $(PKG_CONFIG) --atleast-version=1.44 libuv; then \
	  echo "libyamux needs libuv >= 1.44 and pkg-config: run make deps" \
	       "(as root), or install libuv1-dev (Debian/Ubuntu) or libuv-devel" >&2; \
	  exit 1; \
	fi
	@touch $@

# Installs the Debian packages the build and the tests use (as root).
deps:
	tools/install-deps.sh

# The README's commands install what they can first (root, or sudo without
# a password), so that a fresh machine needs nothing else.
deps-best-effort:
	@tools/install-deps.sh --best-effort

$(O)/src/%.o: src/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/test/%.o: test/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itest -c $< -o $@

$(O)/test/integration/%.o: test/integration/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itest -c $< -o $@

$(O)/examples/%.o: examples/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# The .so carries $(SONAME); inside the build tree that name points at it.
$(SHARED_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) $(ALL_LDFLAGS) \
	  -o $@ $^ $(UV_LIBS)
	ln -sf libyamux.so $(O)/$(SONAME)

$(EXAMPLES): $(O)/examples/%: $(O)/examples/%.o $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(UV_LIBS) -lm -lpthread

$(RUN_TESTS): $(TEST_OBJS) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJS) $(STATIC_LIB) $(UV_LIBS) \
	  -lm -lpthread

$(RUN_INTEG): $(INTEG_OBJS) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(INTEG_OBJS) $(STATIC_LIB) $(UV_LIBS) \
	  -lm -lpthread

# `make test` installs what it can first (make deps: as root, or with sudo
# without a password), then runs both tiers, then both again under ASan and
# UBSan (`check`). Every run happens; the target fails if any failed. The
# tests run the examples and the yamux command of the runner's own build
# tree (test_build_dir() in test/task.h), so each run builds `all` there.
# TESTS="name ..." filters both tiers.
test:
	@tools/install-deps.sh --best-effort
	@$(MAKE) --no-print-directory test-all

test-all: $(RUN_TESTS) $(RUN_INTEG) all
	@status=0; \
	$(RUN_TESTS) --allow-empty $(TESTS) || status=1; \
	$(RUN_INTEG) --allow-empty $(TESTS) || status=1; \
	$(MAKE) --no-print-directory check || status=1; \
	exit $$status

test-unit: $(RUN_TESTS) all
	$(RUN_TESTS) $(TESTS)

test-integration: $(RUN_INTEG) all
	$(RUN_INTEG) $(TESTS)

check: examples
	@$(MAKE) --no-print-directory O=build-asan SAN=asan all
	@status=0; \
	$(ASAN_ENV) YAMUX_TEST_TIMEOUT_SCALE=3 YAMUX_TEST_NO_SKIP= \
	  build-asan/test/run-tests --allow-empty $(TESTS) || status=1; \
	$(ASAN_ENV) YAMUX_TEST_TIMEOUT_SCALE=3 YAMUX_TEST_NO_SKIP= \
	  build-asan/test/run-integration --allow-empty $(TESTS) || status=1; \
	exit $$status

# ThreadSanitizer over what uses threads: the mailboxes and the multi-loop
# example (a server and a client on two loops each).
tsan:
	@$(MAKE) --no-print-directory O=build-tsan SAN=tsan all
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  YAMUX_TEST_TIMEOUT_SCALE=5 build-tsan/test/run-tests mailbox
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  YAMUX_TEST_TIMEOUT_SCALE=5 build-tsan/test/run-integration multiloop

valgrind: examples
	@$(MAKE) --no-print-directory O=build-valgrind SAN=valgrind all
	@status=0; \
	YAMUX_TEST_TIMEOUT_SCALE=10 $(VALGRIND) $(VALGRIND_FLAGS) \
	  build-valgrind/test/run-tests --allow-empty $(TESTS) || status=1; \
	YAMUX_TEST_TIMEOUT_SCALE=10 $(VALGRIND) $(VALGRIND_FLAGS) \
	  build-valgrind/test/run-integration --allow-empty $(TESTS) || \
	  status=1; \
	exit $$status

# The pkg-config file is written at install time, so it always names the
# PREFIX/LIBDIR of this install.
install: lib
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/*.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libyamux.a
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libyamux.so.$(VERSION)
	ln -sf libyamux.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libyamux.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    libyamux.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libyamux.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(wildcard include/*.h)))
	rm -f $(DESTDIR)$(LIBDIR)/libyamux.a $(DESTDIR)$(LIBDIR)/libyamux.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libyamux.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/libyamux.pc

clean:
	rm -rf build build-asan build-valgrind build-tsan

FORMAT_FILES = $(wildcard src/*.c src/*.h include/*.h test/*.c test/*.h \
                 test/integration/*.c test/fuzz/*.c test/fuzz/*.h \
                 test/faults/*.c examples/*.c examples/*.h tools/*.c \
                 tools/*.h bench/*.c bench/*.h interop/c/*.c)

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

# The API reference (doc/api.md) is generated from the public headers.
docs:
	$(PYTHON) tools/mkapiref.py

docs-check:
	$(PYTHON) tools/mkapiref.py --check

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(INTEG_OBJS:.o=.d) \
         $(EXAMPLES:=.d)

# Extra targets (demo, bench, interop, ...) live in mk/<name>.mk.
-include mk/*.mk
