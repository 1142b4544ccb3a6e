# The front door. On a fresh Debian 12 machine `make run` and `make test` are
# the only two commands a user needs: both install dependencies and build.
JOBS ?= 2
PRESET ?= default
BUILD := build/$(PRESET)

.PHONY: all deps build test run bench format lint clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: deps
	@bash scripts/test.sh

# run builds through scripts/run.sh: one progress line instead of the full
# build output (kept in .demo/build.log, its tail printed on failure).
run: deps
	@MLSPACE_RUN_BUILD=1 PRESET=$(PRESET) JOBS=$(JOBS) bash scripts/run.sh

bench: deps
	@bash scripts/bench.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

lint: build
	@bash scripts/lint.sh

clean:
	rm -rf build
