# ft_malloc — see README.md.
ifeq ($(HOSTTYPE),)
HOSTTYPE := $(shell uname -m)_$(shell uname -s)
endif

NAME    := libft_malloc_$(HOSTTYPE).so
LINK    := libft_malloc.so
CARGO   ?= cargo
# A target directory of its own: `cargo build --release` and `cargo test --release` (no C
# symbols) write target/release/libft_malloc.so, which must never be copied as the library.
LIBDIR  := target/lib
BUILT   := $(LIBDIR)/release/libft_malloc.so
SOURCES := $(wildcard src/*.rs) Cargo.toml

.PHONY: all clean fclean re test test-rust test-c test-42 test-programs test-report test-outside stress fuzz run lint demo bench bench-quick bench-scaling

all: $(NAME) $(LINK)

$(BUILT): $(SOURCES)
	$(CARGO) build --release --features standalone --target-dir $(LIBDIR)
	@touch $@

# Copy then rename: overwriting a loaded .so in place crashes the programs using it.
$(NAME): $(BUILT)
	cp $(BUILT) $(NAME).tmp && mv -f $(NAME).tmp $(NAME)

# The link follows HOSTTYPE: a stamp holding the library's name is rewritten when that name
# changes (`make; HOSTTYPE=Testing make; make` points the link back), and the library is
# touched with the link, since make dates a link by the file it points to.
LINK_STAMP := $(LIBDIR)/link-target
$(shell mkdir -p $(LIBDIR) && { [ "$$(cat $(LINK_STAMP) 2>/dev/null)" = "$(NAME)" ] || echo "$(NAME)" > $(LINK_STAMP); })

$(LINK): $(NAME) $(LINK_STAMP)
	ln -sf $(NAME) $(LINK)
	@touch $(NAME)

# clean: the build's objects (cargo's target directory) and the tests' builds; fclean: the
# libraries too.
clean:
	rm -rf tests/build
	$(CARGO) clean

fclean: clean
	rm -f libft_malloc_*.so $(LINK)

# In sequence, also under `make -j`.
re:
	$(MAKE) fclean
	$(MAKE) all

# Builds the allocator and runs a real program on it, then shows that program's zones.
run: all
	@echo "== python3 (PYTHONMALLOC=malloc) running on ft_malloc =="
	LD_PRELOAD=$(CURDIR)/$(LINK) PYTHONMALLOC=malloc python3 -c 'import json; d = {str(i): [i] * 3 for i in range(20000)}; print("python3 on ft_malloc:", len(json.dumps(d)), "bytes of JSON")'
	@echo "== the zones of a small C program (tests/42/test5.c) =="
	@mkdir -p tests/build
	gcc -O1 -fno-builtin -Wno-unused-result -o tests/build/test5 tests/42/test5.c -L. -lft_malloc -Wl,-rpath,$(CURDIR)
	./tests/build/test5

test: all test-rust test-c test-42 test-programs test-report test-outside lint
	@echo "ALL TESTS PASSED"

# Debug (overflow checks, no LTO: a dependent crate links the way users build), release, and
# release with the C symbols exported (the whole test process then runs on ft_malloc).
test-rust:
	$(CARGO) test
	$(CARGO) test --release
	$(CARGO) test --release --features override

test-c: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/c/run.sh

test-42: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/42/run.sh

test-report: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/report/run.sh

# Test suites nobody here wrote: CPython's regression tests (PYTHONMALLOC=malloc, compared with
# glibc), redis-server under redis-benchmark, and glibc's own malloc tests.
test-outside: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/outside/run.sh

# Minutes of multi-threaded random operations with every block's content checked
# (STRESS_SECONDS=n to change; also a run under FT_MALLOC_CHECK=3 FT_MALLOC_GUARD=1).
stress: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/stress/run.sh

# Coverage-guided fuzzing (libFuzzer via cargo-fuzz) of random operation sequences checked
# against a shadow model (fuzz/fuzz_targets/ops.rs). cargo-fuzz passes -Z flags: on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it. FUZZ_SECONDS=n to change the duration.
FUZZ_SECONDS ?= 300
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p fuzz/corpus/ops
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run ops fuzz/corpus/ops -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096

# A real program on the allocator, and the picture of its heap at exit.
demo: all
	FT_MALLOC_REPORT=$(CURDIR)/heap-report.html LD_PRELOAD=$(CURDIR)/$(LINK) PYTHONMALLOC=malloc \
		python3 -c 'import json, random; random.seed(1); d = {i: [str(random.random())] * random.randint(1, 9) for i in range(30000)}; [d.pop(k) for k in random.sample(sorted(d), 15000)]; print("python3 on ft_malloc:", len(json.dumps(d)), "bytes of JSON")'
	@test -s heap-report.html && echo "wrote $(CURDIR)/heap-report.html (open it in a browser)"

test-programs: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash tests/programs/run.sh

# Side-by-side benchmarks against glibc, jemalloc, mimalloc and tcmalloc (Debian packages
# libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4; valgrind for the hot-path counts).
bench: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash bench/run.sh
	bash bench/rust/run.sh
	{ echo; echo "## Rust global allocators (bench/rust)"; echo; \
	  sed -n '3,$$p' bench/rust/results.md | sed 's/^## /### /'; } >> bench/results.md
	if [ -f bench/results-scaling.md ]; then \
	  { echo; cat bench/results-scaling.md; } >> bench/results.md; fi

bench-quick: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash bench/run.sh --quick

# Thread scaling (larson-like, producer/consumer and medium buffers at 1..16 threads, five allocators):
# bench/results-scaling.md, which `make bench` copies into bench/results.md. Meant for a
# machine with 16 cores or more.
bench-scaling: all
	FT_MALLOC_SO=$(CURDIR)/$(LINK) bash bench/scaling.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --features override -- -D warnings
	$(CARGO) clippy --release --features standalone -- -D warnings
