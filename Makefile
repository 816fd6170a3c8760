# modelc -- thin driver over CMake. `make test` and `make demo` install what
# is missing (make deps), configure, build and run.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps configure test demo clean

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

demo: deps
	@$(MAKE) --no-print-directory build
	@sh tools/demo.sh $(BUILD)/modelc

clean:
	rm -rf $(BUILD)
