# The examples' extras (see examples/go-talk.c). Included by the Makefile.
#
#   make go-talk        build interop/bin/go-talk (the hashicorp/yamux side
#                       of examples/go-talk.c) and run the example
#   make install        also installs the echo peer as bin/yamux-echo

GO ?= go
GO_TALK := interop/bin/go-talk
GO_TALK_SRCS := $(wildcard interop/go-talk/*.go) go.mod go.sum

.PHONY: go-talk go-talk-build

go-talk-build: $(GO_TALK)

$(GO_TALK): $(GO_TALK_SRCS)
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ ./interop/go-talk

go-talk: $(GO_TALK) $(O)/examples/go-talk
	$(O)/examples/go-talk $(GO_TALK)

# The echo peer is installed as bin/yamux-echo: examples/hello.c (the
# README's first program) finds it there when built from an installed copy.
BINDIR ?= $(PREFIX)/bin
.PHONY: install-examples uninstall-examples
install: install-examples
install-examples: $(O)/examples/echo
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(O)/examples/echo $(DESTDIR)$(BINDIR)/yamux-echo

uninstall: uninstall-examples
uninstall-examples:
	rm -f $(DESTDIR)$(BINDIR)/yamux-echo
