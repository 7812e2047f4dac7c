// SPDX-License-Identifier: GPL-2.0
/* The virtio bindings' C shims, this module's own copy. */
#include "../../virtio/bindings/virtio_shim.c"
