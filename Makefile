# modelc -- thin driver over CMake. `make test` and `make demo` install what
# is missing (make deps), configure, build and run.
# SANITIZE=address,undefined builds a separate tree (build-address-undefined)
# with those sanitizers; `make test SANITIZE=...` runs the whole suite in it.
SANITIZE ?=
comma := ,
ifneq ($(SANITIZE),)
BUILD ?= build-$(subst $(comma),-,$(SANITIZE))
CMAKE_FLAGS ?= -DMODELC_SANITIZE=$(SANITIZE)
endif
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
