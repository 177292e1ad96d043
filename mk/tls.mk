# libyamux-tls: a yamux session over TLS with OpenSSL (include/yamux-tls.h,
# src-tls/, doc/tls.md). Optional, and separate: libyamux itself never links
# OpenSSL. Built when pkg-config finds OpenSSL (Debian: libssl-dev) unless
# YAMUX_TLS=0. Included by the Makefile.
#
#   make                 also builds $(O)/libyamux-tls.a and .so, the TLS
#                        test peer $(O)/tls/tls-peer, the Go peer
#                        interop/bin/tls-peer (when go is found), and the
#                        yamux command with --tls
#   make install         also installs libyamux-tls and libyamux-tls.pc
#   make tls-bench       W1 over TLS: libyamux-tls against hashicorp/yamux
#                        over crypto/tls (bench/tls.sh; TLS_BENCH_ARGS)
#
# The tests (test/integration/test-tls.c, test/integration/test-cli.c's TLS cases) run these
# programs; they skip when OpenSSL or go is missing.

YAMUX_TLS ?= auto
GO ?= go
TLS_GO_PEER := interop/bin/tls-peer
TLS_GO_SRCS := $(wildcard interop/tls-peer/*.go) go.mod go.sum
TLS_HAVE_GO := $(shell command -v $(GO) 2>/dev/null)

ifneq ($(YAMUX_TLS),0)
TLS_OPENSSL := $(shell $(PKG_CONFIG) --exists openssl 2>/dev/null && echo 1)
endif

.PHONY: tls tls-asan tls-go-peer tls-bench install-tls uninstall-tls

tls-go-peer: $(if $(TLS_HAVE_GO),$(TLS_GO_PEER))

# go build fetches hashicorp/yamux through GOPROXY on a fresh machine.
$(TLS_GO_PEER): $(TLS_GO_SRCS)
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ ./interop/tls-peer

test check valgrind: tls-go-peer

ifeq ($(TLS_OPENSSL),1)
SSL_CFLAGS := $(shell $(PKG_CONFIG) --cflags openssl)
SSL_LIBS := $(shell $(PKG_CONFIG) --libs openssl)
TLS_SRCS := $(sort $(wildcard src-tls/*.c))
TLS_OBJS := $(TLS_SRCS:src-tls/%.c=$(O)/src-tls/%.o)
TLS_STATIC_LIB := $(O)/libyamux-tls.a
TLS_SHARED_LIB := $(O)/libyamux-tls.so
TLS_PEER := $(O)/tls/tls-peer
TLS_HOSTILE := $(O)/tls/tls-hostile

all: tls
tls: $(TLS_STATIC_LIB) $(TLS_SHARED_LIB) $(TLS_PEER) $(TLS_HOSTILE)
test check valgrind: tls
check: tls-asan
tls-asan:
	@$(MAKE) --no-print-directory O=build-asan SAN=asan \
	  build-asan/tls/tls-peer build-asan/tls/tls-hostile
ASAN_ENV += YAMUX_TLS_PEER=build-asan/tls/tls-peer \
            YAMUX_TLS_HOSTILE=build-asan/tls/tls-hostile

$(O)/src-tls/%.o: src-tls/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SSL_CFLAGS) -c $< -o $@

$(TLS_STATIC_LIB): $(TLS_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(TLS_SHARED_LIB): $(TLS_OBJS) $(SHARED_LIB)
	$(CC) -shared -Wl,-soname,libyamux-tls.so.$(SOMAJOR) $(ALL_LDFLAGS) \
	  -o $@ $(TLS_OBJS) -L$(O) -lyamux $(SSL_LIBS) $(UV_LIBS) -lpthread
	ln -sf libyamux-tls.so $(O)/libyamux-tls.so.$(SOMAJOR)

$(O)/tls/%.o: test/integration/tls/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SSL_CFLAGS) -c $< -o $@

$(TLS_PEER): $(O)/tls/peer.o $(TLS_STATIC_LIB) $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TLS_STATIC_LIB) $(STATIC_LIB) \
	  $(SSL_LIBS) $(UV_LIBS) -lm -lpthread

$(TLS_HOSTILE): $(O)/tls/hostile.o $(TLS_STATIC_LIB) $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TLS_STATIC_LIB) $(STATIC_LIB) \
	  $(SSL_LIBS) $(UV_LIBS) -lm -lpthread

# The yamux command gets --tls (tools/yamux-tls.c) and links libyamux-tls.
$(O)/tools/%.o: override CPPFLAGS += -DYAMUX_CLI_TLS $(SSL_CFLAGS)
$(CLI): $(TLS_STATIC_LIB)
CLI_EXTRA_LIBS = $(TLS_STATIC_LIB) $(SSL_LIBS)

tls-bench: $(TLS_PEER) tls-go-peer
	bench/tls.sh $(TLS_BENCH_ARGS)

install: install-tls
install-tls: $(TLS_STATIC_LIB) $(TLS_SHARED_LIB)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(TLS_STATIC_LIB) $(DESTDIR)$(LIBDIR)/libyamux-tls.a
	install -m 755 $(TLS_SHARED_LIB) \
	  $(DESTDIR)$(LIBDIR)/libyamux-tls.so.$(VERSION)
	ln -sf libyamux-tls.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/libyamux-tls.so.$(SOMAJOR)
	ln -sf libyamux-tls.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libyamux-tls.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    src-tls/libyamux-tls.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/libyamux-tls.pc

-include $(TLS_OBJS:.o=.d) $(O)/tls/peer.d
else
tls tls-asan:
	@echo "libyamux-tls not built: OpenSSL not found (install libssl-dev)"
tls-bench:
	@echo "tls-bench needs OpenSSL (libssl-dev)" >&2; exit 1
endif

uninstall: uninstall-tls
uninstall-tls:
	rm -f $(DESTDIR)$(LIBDIR)/libyamux-tls.a \
	      $(DESTDIR)$(LIBDIR)/libyamux-tls.so \
	      $(DESTDIR)$(LIBDIR)/libyamux-tls.so.$(SOMAJOR) \
	      $(DESTDIR)$(LIBDIR)/libyamux-tls.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/libyamux-tls.pc

FORMAT_FILES += $(wildcard src-tls/*.c test/integration/tls/*.c)
