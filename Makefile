# modelc -- thin driver over CMake. `make test` and `make demo` install what
# is missing (make deps), configure, build and run.
# SANITIZE=address,undefined builds a separate tree (build-address-undefined)
# with those sanitizers; `make test SANITIZE=...` runs the whole suite in it.
# `make fuzz SECONDS=N` builds the libFuzzer targets (build-fuzz, clang-19)
# and runs each for N seconds (tests/fuzz/README.md); the plain `make test`
# ends with a 10-second run of each when clang-19 is installed.
SANITIZE ?=
comma := ,
ifneq ($(SANITIZE),)
BUILD ?= build-$(subst $(comma),-,$(SANITIZE))
CMAKE_FLAGS ?= -DMODELC_SANITIZE=$(SANITIZE)
endif
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
SECONDS ?= 60

.PHONY: all build deps configure test fuzz demo clean

all: build

deps:
	@sh tools/deps.sh

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: $(BUILD)/Makefile

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
ifeq ($(SANITIZE),)
	@if command -v clang-19 >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz SECONDS=10; \
	else echo "fuzz: skipped (clang-19 is not installed)"; fi
endif

fuzz:
	@JOBS=$(JOBS) sh tests/fuzz/run.sh $(SECONDS)

demo: deps
	@$(MAKE) --no-print-directory build
	@sh tools/demo.sh $(BUILD)/modelc

clean:
	rm -rf $(BUILD)
