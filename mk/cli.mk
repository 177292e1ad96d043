# The `yamux` command (tools/*.c: the core in tools/yamux.c, UDP flows in
# tools/yamux-udp.c; man page tools/yamux.1). Included by the Makefile.
#
#   make                     also builds $(O)/yamux
#   make install             also installs bin/yamux and share/man/man1/yamux.1
#   make interop-yamux-cli   libyamux's yamux against nwtgck/yamux-cli (Go)

BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CLI := $(O)/yamux
CLI_SRCS := $(sort $(wildcard tools/*.c))
CLI_OBJS := $(CLI_SRCS:tools/%.c=$(O)/tools/%.o)

.PHONY: cli cli-asan install-cli uninstall-cli interop-yamux-cli

all: $(CLI)
cli: $(CLI)
# The suite runs the command of its own build tree (test/integration/test-cli.c:
# build/yamux, and build-asan/yamux in the sanitizer half, which builds
# `all` there).
test check valgrind: $(CLI)
cli-asan:
	@$(MAKE) --no-print-directory O=build-asan SAN=asan build-asan/yamux

$(O)/tools/%.o: tools/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CLI): $(CLI_OBJS) $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJS) $(CLI_EXTRA_LIBS) $(STATIC_LIB) \
	  $(UV_LIBS) -lm -lpthread

install: install-cli
install-cli: $(CLI)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/yamux
	install -m 644 tools/yamux.1 $(DESTDIR)$(MANDIR)/man1/yamux.1

uninstall: uninstall-cli
uninstall-cli:
	rm -f $(DESTDIR)$(BINDIR)/yamux $(DESTDIR)$(MANDIR)/man1/yamux.1

# The yamux-cli check (issue 7): HTTP, Unix-socket and UDP traffic through
# libyamux's yamux and the Go yamux-cli, in both roles.
YAMUX_CLI_GO := interop/bin/yamux-cli
interop-yamux-cli: $(CLI)
	interop/yamux-cli-check.sh $(CLI)

-include $(CLI_OBJS:.o=.d)
