# The README's first command: build everything, then show the library doing
# its real job (see examples/demo.c).
.PHONY: demo
DEMO_ARGS ?=
demo: lib examples
	build/examples/demo $(DEMO_ARGS)
