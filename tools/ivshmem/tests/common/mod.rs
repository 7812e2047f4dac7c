// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses a part

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fresh, empty directory `ivshmem-<kind>-<pid>-<tag>-<n>` in the temp dir.
pub fn tmpdir(kind: &str, tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ivshmem-{kind}-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` every 20 ms until it holds; panics after `secs` seconds.
pub fn wait_for(mut f: impl FnMut() -> bool, what: &str, secs: u64) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
