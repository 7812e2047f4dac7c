// SPDX-License-Identifier: GPL-2.0
/* The virtio and blk-mq bindings' C shims, this module's own copy. */
#include "../virtio/bindings/virtio_shim.c"
#include "../virtio/bindings/blk_shim.c"
