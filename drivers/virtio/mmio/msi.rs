// SPDX-License-Identifier: GPL-2.0

//! Message signalled interrupts for the transport
//! (`Documentation/virtio/mmio-msi.rst`): the vector plan made when the
//! driver's queues are found, the device's vector registers, and the
//! handler of each vector.
//!
//! `find_vqs` calls [`Transport::queues_plan`](crate::virtio::Transport)
//! first: one vector for configuration changes plus one per queue with a
//! callback when the device has that many, otherwise one for configuration
//! changes and one shared by the queues; the vectors are allocated from the
//! platform MSI domain there. Each queue's vector goes to `QueueMsiVec`
//! before its `QueueReady`. `queues_ready` requests a handler per vector,
//! programs each vector's message, maps configuration changes and writes
//! `ENABLE`. If anything fails the transport frees the vectors and requests
//! its wired interrupt instead, saying why.

use crate::{
    platform_msi::{cpu_possible, Message, VectorIrqs, Vectors},
    regs,
    virtio::{DeviceRef, QueuePlan},
    Core, Regs,
};
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    cpu::CpuId,
    cpumask::CpumaskVar,
    device::Bound,
    fmt,
    io::Io,
    irq::{self, IrqReturn},
    platform,
    prelude::*,
    str::CString,
    sync::Arc,
};

/// How the queues share vectors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Vector 0 for configuration changes, one per queue with a callback.
    PerQueue,
    /// Vector 0 for configuration changes, vector 1 for every queue.
    Shared,
}

/// Vector 0 always signals configuration changes.
pub(crate) const CONFIG_VECTOR: u32 = 0;

/// What one vector signals.
#[derive(Clone, Copy)]
enum Kind {
    Config,
    Queue(u16),
    Queues,
}

/// The handler of one vector.
pub(crate) struct VectorHandler<'a> {
    core: Arc<Core<'a>>,
    dev: DeviceRef,
    irq: u32,
    vector: u32,
    kind: Kind,
}

impl irq::Handler for VectorHandler<'_> {
    fn handle(&self) -> IrqReturn {
        let c = &self.core;
        c.stats.interrupts.fetch_add(1, Relaxed);
        c.stats.vector_interrupt(self.vector);
        let work = match self.kind {
            Kind::Config => {
                c.stats.config.fetch_add(1, Relaxed);
                self.dev.config_changed();
                true
            }
            // SAFETY: vector handlers are requested in `queues_ready` and
            // freed in `queues_end` (`Msi` is dropped there).
            Kind::Queue(index) => unsafe { self.dev.vring_interrupt_queue(self.irq, index) },
            // SAFETY: as above.
            Kind::Queues => unsafe { self.dev.vring_interrupt_all(self.irq) },
        };
        if work {
            IrqReturn::Handled
        } else {
            IrqReturn::None
        }
    }
}

/// The vectors of one `find_vqs` .. `del_vqs` period.
pub(crate) struct Msi<'a> {
    pub(crate) mode: Mode,
    /// The vector of each queue (by queue index), `MSI_NO_VECTOR` for
    /// queues without a callback.
    queue_vec: KVec<u32>,
    /// Names in `/proc/interrupts`, by vector; moved into the requests.
    names: KVec<Option<CString>>,
    /// Spread the queue vectors over the CPUs (the driver passed an
    /// `irq_affinity`).
    spread: bool,
    /// The device refused a `QueueMsiVec` while the queues were set up.
    pub(crate) refused: bool,
    /// `ENABLE` written and seen in `MsiState`.
    pub(crate) enabled: bool,
    /// The message programmed into each vector.
    programmed: KVec<Message>,
    pub(crate) irqs: VectorIrqs<'a, VectorHandler<'a>>,
}

/// Why the transport did not use MSI for a `find_vqs`.
pub(crate) struct Fallback(pub(crate) &'static str, pub(crate) Error);

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.0, self.1)
    }
}

impl<'a> Msi<'a> {
    /// Decide the vectors for `queues` and allocate them. `available` is
    /// the device's `MsiVecNum`.
    pub(crate) fn plan(
        pdev: &'a platform::Device<Bound>,
        dev_name: &CStr,
        available: u32,
        queues: &[QueuePlan<'_>],
        spread: bool,
    ) -> Result<Self, Fallback> {
        let available = available.min(regs::MSI_MAX_VECTORS);
        let with_cb = queues.iter().filter(|q| q.callback).count();
        let per_queue = u32::try_from(with_cb)
            .ok()
            .and_then(|n| n.checked_add(1))
            .filter(|&n| n <= available);
        let (mode, nvec) = match per_queue {
            Some(n) => (Mode::PerQueue, n),
            None if available >= 2 => (Mode::Shared, 2),
            None => return Err(Fallback("fewer than 2 MSI vectors", EINVAL)),
        };
        let oom = |e: kernel::alloc::AllocError| Fallback("out of memory", e.into());
        let mut queue_vec = KVec::with_capacity(queues.len(), GFP_KERNEL).map_err(oom)?;
        let mut names = KVec::with_capacity(nvec as usize, GFP_KERNEL).map_err(oom)?;
        let name = |what: fmt::Arguments<'_>| {
            CString::try_from_fmt(fmt!("{}-{}", dev_name, what))
                .map_err(|e| Fallback("out of memory", e))
        };
        names
            .push(Some(name(fmt!("config"))?), GFP_KERNEL)
            .map_err(oom)?;
        if mode == Mode::Shared {
            names
                .push(Some(name(fmt!("virtqueues"))?), GFP_KERNEL)
                .map_err(oom)?;
        }
        let mut next = 1u32;
        for q in queues {
            let v = match (q.callback, mode) {
                (false, _) => regs::MSI_NO_VECTOR,
                (true, Mode::Shared) => 1,
                (true, Mode::PerQueue) => {
                    names
                        .push(Some(name(fmt!("{}", q.name))?), GFP_KERNEL)
                        .map_err(oom)?;
                    next += 1;
                    next - 1
                }
            };
            queue_vec.push(v, GFP_KERNEL).map_err(oom)?;
        }
        let vectors = Vectors::alloc(pdev, nvec)
            .map_err(|e| Fallback("no vectors from the platform MSI domain", e))?;
        Ok(Msi {
            mode,
            queue_vec,
            names,
            spread,
            refused: false,
            enabled: false,
            programmed: KVec::new(),
            irqs: VectorIrqs::new(vectors),
        })
    }

    /// The vector of queue `index` (`MSI_NO_VECTOR` if none).
    pub(crate) fn queue_vector(&self, index: u16) -> u32 {
        self.queue_vec
            .get(usize::from(index))
            .copied()
            .unwrap_or(regs::MSI_NO_VECTOR)
    }

    /// The vector of queue `index` if it is the queue's own.
    pub(crate) fn own_vector(&self, index: u16) -> Option<u32> {
        match (self.mode, self.queue_vector(index)) {
            (Mode::PerQueue, v) if v != regs::MSI_NO_VECTOR => Some(v),
            _ => None,
        }
    }

    /// Request every vector's handler, program the device and enable MSI.
    /// `sel` is held (the selector lock) by the caller.
    pub(crate) fn start(
        &mut self,
        core: &Arc<Core<'a>>,
        r: &Regs<'_>,
        dev: &DeviceRef,
    ) -> Result<(), Fallback> {
        let nvec = self.irqs.len();
        for v in 0..nvec {
            let kind = if v == CONFIG_VECTOR {
                Kind::Config
            } else if self.mode == Mode::Shared {
                Kind::Queues
            } else {
                match self.queue_vec.iter().position(|&q| q == v) {
                    Some(i) => Kind::Queue(i as u16),
                    None => return Err(Fallback("vector without a queue", EINVAL)),
                }
            };
            let name = self
                .names
                .get_mut(v as usize)
                .and_then(Option::take)
                .ok_or(Fallback("vector without a name", EINVAL))?;
            let irq = self
                .irqs
                .vector_irq(v)
                .ok_or(Fallback("vector without an irq", EINVAL))?;
            let handler = VectorHandler {
                core: core.clone(),
                dev: dev.clone(),
                irq,
                vector: v,
                kind,
            };
            self.irqs
                .request(v, name, handler)
                .map_err(|e| Fallback("request_irq of a vector failed", e))?;
        }
        for v in 0..nvec {
            let m = self
                .irqs
                .message(v)
                .ok_or(Fallback("vector without a message", EINVAL))?;
            configure(r, v, m).map_err(|e| Fallback("device refused MsiVecSel", e))?;
            self.programmed
                .push(m, GFP_KERNEL)
                .map_err(|e| Fallback("out of memory", e.into()))?;
        }
        r.write32(CONFIG_VECTOR, regs::CONFIG_MSI_VEC);
        if r.read32(regs::CONFIG_MSI_VEC) != CONFIG_VECTOR {
            return Err(Fallback("device refused ConfigMsiVec", EIO));
        }
        if self.spread && self.mode == Mode::PerQueue {
            self.spread_affinity()
                .map_err(|e| Fallback("spreading the queue vectors failed", e))?;
        }
        r.write32(regs::MSI_CMD_ENABLE, regs::MSI_CMD);
        if r.read32(regs::MSI_STATE) & regs::MSI_STATE_ENABLED == 0 {
            return Err(Fallback("device did not enable MSI", EIO));
        }
        self.enabled = true;
        Ok(())
    }

    /// Give each queue vector a share of the possible CPUs, each CPU to
    /// exactly one queue (as `irq_create_affinity_masks()` does for
    /// managed vectors, which the kernel does not export).
    fn spread_affinity(&self) -> Result {
        let possible = cpu_possible();
        let mut cpus = KVec::new();
        for id in 0..kernel::cpu::nr_cpu_ids() {
            if let Some(cpu) = CpuId::from_u32(id) {
                if possible.test(cpu) {
                    cpus.push(cpu, GFP_KERNEL)?;
                }
            }
        }
        let queues: KVec<u32> = {
            let mut v = KVec::new();
            for &q in self.queue_vec.iter() {
                if q != regs::MSI_NO_VECTOR {
                    v.push(q, GFP_KERNEL)?;
                }
            }
            v
        };
        if cpus.is_empty() || queues.is_empty() {
            return Ok(());
        }
        for (j, &vector) in queues.iter().enumerate() {
            let mut mask = CpumaskVar::new_zero(GFP_KERNEL)?;
            if queues.len() <= cpus.len() {
                for (i, &cpu) in cpus.iter().enumerate() {
                    if i % queues.len() == j {
                        mask.set(cpu);
                    }
                }
            } else {
                mask.set(cpus[j % cpus.len()]);
            }
            self.irqs.set_affinity(vector, Some(&mask))?;
        }
        Ok(())
    }

    /// Route queue `index`'s own vector to `cpus` (`set_vq_affinity`). If
    /// that changed the vector's message (not on a GICv3 ITS, where a move
    /// is an ITS command, but on controllers that encode the target CPU in
    /// the message), reprogram the vector masked, so that an event in
    /// between is held pending and delivered on unmask rather than sent to
    /// a stale address. `r` is the register window, the selector lock held.
    pub(crate) fn set_affinity(
        &mut self,
        r: &Regs<'_>,
        index: u16,
        cpus: Option<&kernel::cpumask::Cpumask>,
    ) -> Result {
        let Some(v) = self.own_vector(index) else {
            return Ok(());
        };
        self.irqs.set_affinity(v, cpus)?;
        let m = self.irqs.message(v).ok_or(EINVAL)?;
        let Some(old) = self.programmed.get_mut(v as usize) else {
            return Ok(());
        };
        if *old == m {
            return Ok(());
        }
        r.write32(v, regs::MSI_VEC_SEL);
        r.write32(regs::MSI_CMD_MASK, regs::MSI_CMD);
        let res = configure(r, v, m);
        r.write32(regs::MSI_CMD_UNMASK, regs::MSI_CMD);
        res?;
        *old = m;
        Ok(())
    }

    /// Write `DISABLE` if MSI is on and the device still takes it (no
    /// `DRIVER_OK`: after a reset the device has disabled MSI itself).
    pub(crate) fn disable(&mut self, r: &Regs<'_>) {
        if !self.enabled {
            return;
        }
        self.enabled = false;
        let status = r.read32(regs::STATUS);
        if status != 0 && status & crate::virtio::sys::VIRTIO_CONFIG_S_DRIVER_OK == 0 {
            r.write32(regs::MSI_CMD_DISABLE, regs::MSI_CMD);
        }
    }
}

/// Program vector `v` with message `m` (`MsiVecSel`, staged address and
/// data, `CONFIGURE`); `EIO` if the device refuses the selector.
fn configure(r: &Regs<'_>, v: u32, m: Message) -> Result {
    r.write32(v, regs::MSI_VEC_SEL);
    if r.read32(regs::MSI_VEC_SEL) != v {
        return Err(EIO);
    }
    r.write32(m.addr as u32, regs::MSI_ADDR_LOW);
    r.write32((m.addr >> 32) as u32, regs::MSI_ADDR_HIGH);
    r.write32(m.data, regs::MSI_DATA);
    r.write32(regs::MSI_CMD_CONFIGURE, regs::MSI_CMD);
    Ok(())
}
