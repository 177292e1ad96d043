# The README's first command: build the library and the demo program, then
# show the library doing its real job (see examples/demo.c): the demo spawns
# itself as a child and carries thousands of verified request/response
# exchanges over ONE yamux session on the child's stdin/stdout.
.PHONY: demo
DEMO_ARGS ?=
demo:
	@tools/install-deps.sh --best-effort
	@echo "demo: building libyamux ($(O)/libyamux.a) and the demo program" \
	      "($(O)/examples/demo)"
	@$(MAKE) --no-print-directory $(STATIC_LIB) $(O)/examples/demo
	$(O)/examples/demo $(DEMO_ARGS)
