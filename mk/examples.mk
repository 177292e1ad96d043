# The examples' extras (see examples/go-talk.c). Included by the Makefile.
#
#   make go-talk        build interop/bin/go-talk (the hashicorp/yamux side
#                       of examples/go-talk.c) and run the example

GO ?= go
GO_TALK := interop/bin/go-talk
GO_TALK_SRCS := interop/go-talk/main.go interop/go-talk/go.mod \
                interop/go-talk/go.sum

.PHONY: go-talk go-talk-build

go-talk-build: $(GO_TALK)

$(GO_TALK): $(GO_TALK_SRCS)
	@mkdir -p $(@D)
	cd interop/go-talk && GOTOOLCHAIN=local $(GO) build -o ../bin/go-talk .

go-talk: $(GO_TALK) build/examples/go-talk
	build/examples/go-talk $(GO_TALK)
