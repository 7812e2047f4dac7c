// SPDX-License-Identifier: GPL-2.0

//! Per-device counters, one debugfs file per device:
//! `/sys/kernel/debug/virtio_mmio_rs/<platform device>`.
//!
//! ```text
//! version: 2
//! device_id: 2
//! device_features: 0x130000000
//! interrupts: 412
//! spurious: 0
//! config_changes: 1
//! queue_setups: 1
//! queue_resets: 0
//! notifications: 0:398 1:0
//! irq_mode: msi-per-queue
//! vector_interrupts: 0:1 1:210 2:188
//! ```
//!
//! `irq_mode` is `wired`, `msi-per-queue` or `msi-shared` (since the last
//! `find_vqs`, `none` before); `vector_interrupts` counts each MSI vector
//! (vector 0: configuration changes) since the vectors were set up.
//!
//! The debugfs root lives in a global lock so that probe can reach it; the
//! module holds a [`Root`] from load to unload. That global is the only
//! `unsafe` here.

use core::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use kernel::{debugfs, fmt, prelude::*, sync::Arc};

/// Queues with their own notification counter; higher ones count on the
/// last.
pub(crate) const QUEUE_STATS: usize = 16;

/// MSI vectors with their own interrupt counter; higher ones count on the
/// last.
pub(crate) const VECTOR_STATS: usize = 17;

const MODE_NONE: u32 = 0;
const MODE_WIRED: u32 = 1;
const MODE_MSI_PER_QUEUE: u32 = 2;
const MODE_MSI_SHARED: u32 = 3;

/// What a device's debugfs file shows.
pub(crate) struct Stats {
    version: u32,
    device_id: u32,
    /// The features the device offered at probe.
    device_features: u64,
    /// Interrupts with a non-zero `InterruptStatus`.
    pub(crate) interrupts: AtomicU64,
    /// Interrupts on the (shared) line with nothing for this device.
    pub(crate) spurious: AtomicU64,
    /// Configuration change notifications.
    pub(crate) config: AtomicU64,
    /// Queue set-ups (`find_vqs`): driver probes and restores.
    pub(crate) queue_setups: AtomicU64,
    /// Completed per-queue resets (`QueueReset`).
    pub(crate) queue_resets: AtomicU64,
    /// Available-buffer notifications (`QueueNotify` writes) per queue.
    notifies: [AtomicU64; QUEUE_STATS],
    /// One past the highest queue index notified so far.
    queues: AtomicU32,
    /// How the queues are signalled (`MODE_*`).
    mode: AtomicU32,
    /// MSI vectors in use.
    nvec: AtomicU32,
    /// Interrupts per MSI vector.
    vectors: [AtomicU64; VECTOR_STATS],
}

impl Stats {
    pub(crate) fn new(version: u32, device_id: u32, device_features: u64) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Stats {
                version,
                device_id,
                device_features,
                interrupts: AtomicU64::new(0),
                spurious: AtomicU64::new(0),
                config: AtomicU64::new(0),
                queue_setups: AtomicU64::new(0),
                queue_resets: AtomicU64::new(0),
                notifies: [const { AtomicU64::new(0) }; QUEUE_STATS],
                queues: AtomicU32::new(0),
                mode: AtomicU32::new(MODE_NONE),
                nvec: AtomicU32::new(0),
                vectors: [const { AtomicU64::new(0) }; VECTOR_STATS],
            },
            GFP_KERNEL,
        )?)
    }

    /// Count a notification of queue `index`.
    pub(crate) fn notified(&self, index: u16) {
        let slot = usize::from(index).min(QUEUE_STATS - 1);
        self.notifies[slot].fetch_add(1, Relaxed);
        // Read first: the read-modify-write is needed once per queue.
        let n = u32::from(index) + 1;
        if self.queues.load(Relaxed) < n {
            self.queues.fetch_max(n, Relaxed);
        }
    }

    /// Count an interrupt on MSI vector `vector`.
    pub(crate) fn vector_interrupt(&self, vector: u32) {
        let slot = (vector as usize).min(VECTOR_STATS - 1);
        self.vectors[slot].fetch_add(1, Relaxed);
    }

    /// The queues now use `nvec` MSI vectors; their counters restart.
    pub(crate) fn set_mode(&self, mode: crate::msi::Mode, nvec: u32) {
        for c in &self.vectors {
            c.store(0, Relaxed);
        }
        self.nvec.store(nvec, Relaxed);
        self.mode.store(
            match mode {
                crate::msi::Mode::PerQueue => MODE_MSI_PER_QUEUE,
                crate::msi::Mode::Shared => MODE_MSI_SHARED,
            },
            Relaxed,
        );
    }

    /// The queues now use the wired interrupt.
    pub(crate) fn set_wired(&self) {
        self.nvec.store(0, Relaxed);
        self.mode.store(MODE_WIRED, Relaxed);
    }

    fn show(s: &Arc<Stats>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version: {}", s.version)?;
        writeln!(f, "device_id: {}", s.device_id)?;
        writeln!(f, "device_features: {:#x}", s.device_features)?;
        writeln!(f, "interrupts: {}", s.interrupts.load(Relaxed))?;
        writeln!(f, "spurious: {}", s.spurious.load(Relaxed))?;
        writeln!(f, "config_changes: {}", s.config.load(Relaxed))?;
        writeln!(f, "queue_setups: {}", s.queue_setups.load(Relaxed))?;
        writeln!(f, "queue_resets: {}", s.queue_resets.load(Relaxed))?;
        write!(f, "notifications:")?;
        let n = (s.queues.load(Relaxed) as usize).min(QUEUE_STATS);
        for (i, c) in s.notifies[..n].iter().enumerate() {
            write!(f, " {}:{}", i, c.load(Relaxed))?;
        }
        writeln!(f)?;
        let mode = match s.mode.load(Relaxed) {
            MODE_WIRED => "wired",
            MODE_MSI_PER_QUEUE => "msi-per-queue",
            MODE_MSI_SHARED => "msi-shared",
            _ => "none",
        };
        writeln!(f, "irq_mode: {}", mode)?;
        write!(f, "vector_interrupts:")?;
        let n = (s.nvec.load(Relaxed) as usize).min(VECTOR_STATS);
        for (i, c) in s.vectors[..n].iter().enumerate() {
            write!(f, " {}:{}", i, c.load(Relaxed))?;
        }
        writeln!(f)
    }
}

/// A device's debugfs file; removed when dropped.
pub(crate) type StatsFile = Pin<KBox<debugfs::File<Arc<Stats>>>>;

kernel::sync::global_lock! {
    // SAFETY: initialised by `Root::create` (once, guarded by `ROOT_INIT`)
    // before any other use: module init calls it before registering the
    // driver, and `Root::file` and `Root::remove` are only reached after.
    unsafe(uninit) static ROOT: Mutex<Option<debugfs::Dir>> = None;
}

static ROOT_INIT: AtomicBool = AtomicBool::new(false);

/// The module's debugfs directory: created by [`Root::create`], removed
/// when this is dropped and the last device file is gone.
pub(crate) struct Root;

impl Root {
    /// Create `/sys/kernel/debug/<name>`. Call from module init, before
    /// the driver is registered.
    pub(crate) fn create(name: &'static CStr) -> Root {
        if ROOT_INIT.swap(true, AcqRel) {
            *ROOT.lock() = Some(debugfs::Dir::new(name));
            return Root;
        }
        // SAFETY: `ROOT_INIT` makes this the one and only `init` call; no
        // other use of `ROOT` can come before it, since the driver (the
        // only other user) is registered after this returns.
        unsafe { ROOT.init() };
        *ROOT.lock() = Some(debugfs::Dir::new(name));
        Root
    }

    /// A file named `name` showing `stats`, or `None` without debugfs.
    pub(crate) fn file(name: &CStr, stats: Arc<Stats>) -> Option<StatsFile> {
        if !ROOT_INIT.load(Acquire) {
            return None;
        }
        let root = ROOT.lock();
        let dir = root.as_ref()?;
        KBox::pin_init(
            dir.read_callback_file(name, stats, &Stats::show),
            GFP_KERNEL,
        )
        .ok()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // Drop the module's reference to the directory; it goes away when
        // the last device file does.
        drop(ROOT.lock().take());
    }
}
