// SPDX-License-Identifier: GPL-2.0

//! virtio-mmio register layout (virtio spec 4.2.2, "MMIO Device Register
//! Layout"; legacy registers from 4.2.4, "Legacy interface").
//!
//! Offsets that `include/uapi/linux/virtio_mmio.h` also defines are checked
//! against it at compile time.

use crate::virtio::sys;

/// 0x74726976, "virt" in little endian.
pub(crate) const MAGIC: u32 = 0x7472_6976;

pub(crate) const MAGIC_VALUE: usize = 0x000;
pub(crate) const VERSION: usize = 0x004;
pub(crate) const DEVICE_ID: usize = 0x008;
pub(crate) const VENDOR_ID: usize = 0x00c;
pub(crate) const DEVICE_FEATURES: usize = 0x010;
pub(crate) const DEVICE_FEATURES_SEL: usize = 0x014;
pub(crate) const DRIVER_FEATURES: usize = 0x020;
pub(crate) const DRIVER_FEATURES_SEL: usize = 0x024;
/// Legacy only.
pub(crate) const GUEST_PAGE_SIZE: usize = 0x028;
pub(crate) const QUEUE_SEL: usize = 0x030;
pub(crate) const QUEUE_NUM_MAX: usize = 0x034;
pub(crate) const QUEUE_NUM: usize = 0x038;
/// Legacy only.
pub(crate) const QUEUE_ALIGN: usize = 0x03c;
/// Legacy only.
pub(crate) const QUEUE_PFN: usize = 0x040;
pub(crate) const QUEUE_READY: usize = 0x044;
pub(crate) const QUEUE_NOTIFY: usize = 0x050;
pub(crate) const INTERRUPT_STATUS: usize = 0x060;
pub(crate) const INTERRUPT_ACK: usize = 0x064;
pub(crate) const STATUS: usize = 0x070;
pub(crate) const QUEUE_DESC_LOW: usize = 0x080;
pub(crate) const QUEUE_DESC_HIGH: usize = 0x084;
pub(crate) const QUEUE_DRIVER_LOW: usize = 0x090;
pub(crate) const QUEUE_DRIVER_HIGH: usize = 0x094;
pub(crate) const QUEUE_DEVICE_LOW: usize = 0x0a0;
pub(crate) const QUEUE_DEVICE_HIGH: usize = 0x0a4;
pub(crate) const SHM_SEL: usize = 0x0ac;
pub(crate) const SHM_LEN_LOW: usize = 0x0b0;
pub(crate) const SHM_LEN_HIGH: usize = 0x0b4;
pub(crate) const SHM_BASE_LOW: usize = 0x0b8;
pub(crate) const SHM_BASE_HIGH: usize = 0x0bc;
/// Version 2, with `VIRTIO_F_RING_RESET` (not in the uapi header).
pub(crate) const QUEUE_RESET: usize = 0x0c0;
pub(crate) const CONFIG_GENERATION: usize = 0x0fc;

// The MSI extension (Documentation/virtio/mmio-msi.rst), with
// `VIRTIO_F_MMIO_MSI`; checked against include/uapi/linux/virtio_mmio_msi.h.
/// Feature bit: the device has the MSI registers.
pub(crate) const F_MMIO_MSI: u32 = 42;
pub(crate) const MSI_VEC_NUM: usize = 0x0d0;
pub(crate) const MSI_STATE: usize = 0x0d4;
pub(crate) const MSI_CMD: usize = 0x0d8;
pub(crate) const MSI_VEC_SEL: usize = 0x0dc;
pub(crate) const MSI_ADDR_LOW: usize = 0x0e0;
pub(crate) const MSI_ADDR_HIGH: usize = 0x0e4;
pub(crate) const MSI_DATA: usize = 0x0e8;
pub(crate) const QUEUE_MSI_VEC: usize = 0x0ec;
pub(crate) const CONFIG_MSI_VEC: usize = 0x0f0;
pub(crate) const MSI_CMD_ENABLE: u32 = 1;
pub(crate) const MSI_CMD_DISABLE: u32 = 2;
pub(crate) const MSI_CMD_CONFIGURE: u32 = 3;
pub(crate) const MSI_CMD_MASK: u32 = 4;
pub(crate) const MSI_CMD_UNMASK: u32 = 5;
pub(crate) const MSI_STATE_ENABLED: u32 = 1 << 0;
/// Read by the selftests (through the uapi header), not by the driver;
/// here for the compile-time check.
#[allow(dead_code)]
pub(crate) const MSI_STATE_MASKED: u32 = 1 << 1;
#[allow(dead_code)]
pub(crate) const MSI_STATE_PENDING: u32 = 1 << 2;
/// No vector: the event is not notified while MSI is on.
pub(crate) const MSI_NO_VECTOR: u32 = 0xffff_ffff;
pub(crate) const MSI_MAX_VECTORS: u32 = 2048;
/// Start of the device-specific configuration space.
pub(crate) const CONFIG: usize = 0x100;

/// `InterruptStatus` bit: a used buffer notification.
pub(crate) const INT_VRING: u32 = 1 << 0;
/// `InterruptStatus` bit: a configuration change notification.
pub(crate) const INT_CONFIG: u32 = 1 << 1;

/// The control registers: what every device has below `CONFIG`.
pub(crate) const REGS_SIZE: usize = CONFIG;

const _: () = {
    macro_rules! same {
        ($($ours:ident = $uapi:ident),* $(,)?) => {
            $(assert!($ours == sys::$uapi as usize);)*
        };
    }
    same!(
        MAGIC_VALUE = VIRTIO_MMIO_MAGIC_VALUE,
        VERSION = VIRTIO_MMIO_VERSION,
        DEVICE_ID = VIRTIO_MMIO_DEVICE_ID,
        VENDOR_ID = VIRTIO_MMIO_VENDOR_ID,
        DEVICE_FEATURES = VIRTIO_MMIO_DEVICE_FEATURES,
        DEVICE_FEATURES_SEL = VIRTIO_MMIO_DEVICE_FEATURES_SEL,
        DRIVER_FEATURES = VIRTIO_MMIO_DRIVER_FEATURES,
        DRIVER_FEATURES_SEL = VIRTIO_MMIO_DRIVER_FEATURES_SEL,
        GUEST_PAGE_SIZE = VIRTIO_MMIO_GUEST_PAGE_SIZE,
        QUEUE_SEL = VIRTIO_MMIO_QUEUE_SEL,
        QUEUE_NUM_MAX = VIRTIO_MMIO_QUEUE_NUM_MAX,
        QUEUE_NUM = VIRTIO_MMIO_QUEUE_NUM,
        QUEUE_ALIGN = VIRTIO_MMIO_QUEUE_ALIGN,
        QUEUE_PFN = VIRTIO_MMIO_QUEUE_PFN,
        QUEUE_READY = VIRTIO_MMIO_QUEUE_READY,
        QUEUE_NOTIFY = VIRTIO_MMIO_QUEUE_NOTIFY,
        INTERRUPT_STATUS = VIRTIO_MMIO_INTERRUPT_STATUS,
        INTERRUPT_ACK = VIRTIO_MMIO_INTERRUPT_ACK,
        STATUS = VIRTIO_MMIO_STATUS,
        QUEUE_DESC_LOW = VIRTIO_MMIO_QUEUE_DESC_LOW,
        QUEUE_DESC_HIGH = VIRTIO_MMIO_QUEUE_DESC_HIGH,
        QUEUE_DRIVER_LOW = VIRTIO_MMIO_QUEUE_AVAIL_LOW,
        QUEUE_DRIVER_HIGH = VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
        QUEUE_DEVICE_LOW = VIRTIO_MMIO_QUEUE_USED_LOW,
        QUEUE_DEVICE_HIGH = VIRTIO_MMIO_QUEUE_USED_HIGH,
        SHM_SEL = VIRTIO_MMIO_SHM_SEL,
        SHM_LEN_LOW = VIRTIO_MMIO_SHM_LEN_LOW,
        SHM_LEN_HIGH = VIRTIO_MMIO_SHM_LEN_HIGH,
        SHM_BASE_LOW = VIRTIO_MMIO_SHM_BASE_LOW,
        SHM_BASE_HIGH = VIRTIO_MMIO_SHM_BASE_HIGH,
        CONFIG_GENERATION = VIRTIO_MMIO_CONFIG_GENERATION,
        CONFIG = VIRTIO_MMIO_CONFIG,
    );
    assert!(INT_VRING == sys::VIRTIO_MMIO_INT_VRING && INT_CONFIG == sys::VIRTIO_MMIO_INT_CONFIG);
    same!(
        MSI_VEC_NUM = VIRTIO_MMIO_MSI_VEC_NUM,
        MSI_STATE = VIRTIO_MMIO_MSI_STATE,
        MSI_CMD = VIRTIO_MMIO_MSI_CMD,
        MSI_VEC_SEL = VIRTIO_MMIO_MSI_VEC_SEL,
        MSI_ADDR_LOW = VIRTIO_MMIO_MSI_ADDR_LOW,
        MSI_ADDR_HIGH = VIRTIO_MMIO_MSI_ADDR_HIGH,
        MSI_DATA = VIRTIO_MMIO_MSI_DATA,
        QUEUE_MSI_VEC = VIRTIO_MMIO_QUEUE_MSI_VEC,
        CONFIG_MSI_VEC = VIRTIO_MMIO_CONFIG_MSI_VEC,
    );
    assert!(F_MMIO_MSI == sys::VIRTIO_F_MMIO_MSI);
    assert!(
        MSI_CMD_ENABLE == sys::VIRTIO_MMIO_MSI_CMD_ENABLE
            && MSI_CMD_DISABLE == sys::VIRTIO_MMIO_MSI_CMD_DISABLE
            && MSI_CMD_CONFIGURE == sys::VIRTIO_MMIO_MSI_CMD_CONFIGURE
            && MSI_CMD_MASK == sys::VIRTIO_MMIO_MSI_CMD_MASK
            && MSI_CMD_UNMASK == sys::VIRTIO_MMIO_MSI_CMD_UNMASK
    );
    assert!(
        MSI_STATE_ENABLED == sys::VIRTIO_MMIO_MSI_STATE_ENABLED
            && MSI_STATE_MASKED == sys::VIRTIO_MMIO_MSI_STATE_MASKED
            && MSI_STATE_PENDING == sys::VIRTIO_MMIO_MSI_STATE_PENDING
    );
    assert!(MSI_NO_VECTOR == sys::VIRTIO_MMIO_MSI_NO_VECTOR);
    assert!(MSI_MAX_VECTORS == sys::VIRTIO_MMIO_MSI_MAX_VECTORS);
    // The block sits between QueueReset and ConfigGeneration.
    assert!(MSI_VEC_NUM > QUEUE_RESET && CONFIG_MSI_VEC < CONFIG_GENERATION);
};
