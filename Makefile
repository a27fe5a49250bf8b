# EphemeralML — top-level entry points. The build itself is CMake; this file only sequences it.
#   make run    set up and run the whole pipeline end to end on the simulated enclave
#               (`make run ARGS=--kms` or `make run-kms`: with a topology key sealed by a local KMS)
#   make test   install deps, build, check formatting, run every test (and once under ASan+UBSan),
#               check that the build is reproducible, and cross-build the aarch64 (Graviton) eml
#               and check it under qemu-user

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_AARCH64 ?= build-aarch64
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
# Where downloaded test data and reference tools live (outside the clone, shared by clones).
export EML_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/eml

.PHONY: all deps build run run-kms test test-unit test-asan format format-check bench fuzz soak testdata clean \
	repro-check test-aarch64

all: build

deps:
	@./scripts/install-deps

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

testdata: build
	@./scripts/fetch-testdata $(BUILD)

run: deps build testdata
	@./scripts/run-demo $(BUILD)/eml $(ARGS)

run-kms: deps build testdata
	@./scripts/run-demo $(BUILD)/eml --kms

format-check:
	@./scripts/format-check

format:
	@./scripts/format-check --fix

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j 1

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEML_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	# The plain pass runs every property with >= 100 cases; this pass hunts memory errors, so a
	# smaller number of cases (EML_ASAN_PROP_ITERS) keeps it within CI's time.
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		EML_PROP_ITERS=$${EML_ASAN_PROP_ITERS:-10} ctest --output-on-failure -j 1

# The same source gives the same eml bytes (two builds at different paths; docs/DEPLOY.md).
repro-check:
	@./scripts/repro-check

# The aarch64 (Graviton) eml: cross build + checks under qemu-user, about 35 s (docs/DEPLOY.md).
test-aarch64: deps
	@./deploy/aarch64/build-and-check --build $(BUILD_AARCH64)

test: deps build testdata format-check test-unit test-asan repro-check test-aarch64
	@echo "make test: all suites passed"

bench: deps build testdata
	@./scripts/bench $(BUILD)

# libFuzzer targets, one after the other: FUZZ_SECONDS per target (default 60), FUZZ_TARGETS subset.
fuzz: deps
	@./scripts/fuzz

# The full load test (64 clients x 200 requests through one host and enclave; make test runs a
# reduced one). Figures are printed and recorded in docs/RELIABILITY.md.
soak: deps build testdata
	cd $(BUILD) && EML_LOAD_CLIENTS=$${EML_LOAD_CLIENTS:-64} EML_LOAD_REQUESTS=$${EML_LOAD_REQUESTS:-200} \
		ctest -R '^test_load$$' --output-on-failure -V

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_AARCH64) build-fuzz
