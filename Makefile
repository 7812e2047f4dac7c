# SPDX-License-Identifier: GPL-2.0
#
# Rust virtio drivers for Debian's stock 7.3 kernels.
#
#   make setup              fetch and prepare toolchain + kernels (cached)
#   make [ARCH=x86_64|arm64] build every module and selftest (both arches by default)
#   make check              host tests + VM selftests on both arches
#   make run   [ARCH=...]   boot the stock kernel with our modules loaded
#                           (DEBUG=1: the debug kernel, KUnit suite included)
#   make shell [ARCH=...]   a shell in that VM
#   make CLIPPY=1           build with clippy lints
#   make mutants            mutation testing of the vring core (cargo-mutants)
#   make deb [ARCH=...]     Debian packages (prebuilt modules, DKMS, tools) in build/deb/
#
# Everything fetched/built outside the checkout lives in $(VRS_CACHE)
# (default ~/.cache/virtio-rs); module objects go to build/<arch>/.

ARCHES := $(if $(ARCH),$(ARCH),x86_64 arm64)
VM := tools/testing/vm
export CLIPPY

.PHONY: all modules selftests setup check check-host check-vm run shell clean help mutants deb

all: modules

modules:
	@for a in $(ARCHES); do $(VM)/build.sh $$a || exit 1; done

setup:
	@$(VM)/setup.sh

check:
	@$(VM)/check.sh $(ARCHES)

check-host:
	@$(VM)/check.sh --host-only

mutants:
	@tools/testing/mutants/mutants.sh

deb:
	@tools/packaging/deb.sh $(ARCHES)

run:
	@$(VM)/run.sh $(if $(DEBUG),--debug) $(or $(ARCH),$(if $(DEBUG),arm64,x86_64))

shell:
	@$(VM)/run.sh --shell $(if $(DEBUG),--debug) $(or $(ARCH),$(if $(DEBUG),arm64,x86_64))

clean:
	rm -rf build

help:
	@sed -n '3,17p' Makefile
