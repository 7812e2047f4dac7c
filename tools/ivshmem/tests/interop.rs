// SPDX-License-Identifier: GPL-2.0
//! Interoperability with QEMU's own programs, built from Debian's QEMU
//! source by tools/qemu/build.sh: the byte stream of our server against
//! QEMU's `contrib/ivshmem-server` for the same sequence of clients, our
//! peers on QEMU's server, QEMU's `contrib/ivshmem-client` on our server,
//! and QEMU's ivshmem-doorbell device connecting to our server.
//!
//! Ignored by default: they need `IVSHMEM_QEMU_BIN`, the directory holding
//! `ivshmem-server`, `ivshmem-client` and `qemu-system-x86_64`. `make
//! check` runs them (in the build chroot, where those binaries run) with
//! `--ignored`; without the variable they fail rather than pass on nothing.

mod common;

use ivshmem::peer::Peer;
use ivshmem::proto;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OURS: &str = env!("CARGO_BIN_EXE_ivshmem-server");

fn qemu_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("IVSHMEM_QEMU_BIN")
        .expect("IVSHMEM_QEMU_BIN must name the directory of QEMU's ivshmem-server/ivshmem-client");
    let p = Path::new(&dir).join(name);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

fn tmpdir(tag: &str) -> PathBuf {
    common::tmpdir("interop", tag)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(f: impl FnMut() -> bool, what: &str) {
    common::wait_for(f, what, 20)
}

/// A server (`prog`: ours or QEMU's) in the foreground on `dir/sock`.
fn server(prog: &Path, dir: &Path, vectors: u32) -> (Proc, PathBuf) {
    let sock = dir.join("sock");
    let child = Command::new(prog)
        .args([
            "-F",
            "-S",
            sock.to_str().unwrap(),
            "-m",
            dir.to_str().unwrap(),
            "-l",
            "1M",
        ])
        .args(["-n", &vectors.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Not probed by connecting: QEMU's server exits when a client hangs up
    // before its setup is sent (ivshmem_server_handle_new_conn() fails on
    // EPIPE and the loop ends); ours does not (tests/server.rs).
    wait_for(|| sock.exists(), "the server's socket");
    (Proc(child), sock)
}

/// What one raw client read: (value, came with a descriptor, what kind).
type Wire = Vec<(i64, bool, &'static str)>;

/// Reads exactly `n` messages (5 s at most), then checks that nothing
/// more is there.
fn read_n(s: &UnixStream, n: usize) -> Wire {
    let mut w = Wire::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while w.len() < n {
        match proto::recv(s.as_fd()) {
            Ok(Some(m)) => {
                let kind = match &m.fd {
                    None => "",
                    Some(fd) => fd_kind(fd),
                };
                w.push((m.value, m.fd.is_some(), kind));
            }
            Ok(None) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    s.set_nonblocking(true).unwrap();
    if let Ok(Some(m)) = proto::recv(s.as_fd()) {
        w.push((m.value, m.fd.is_some(), "unexpected"));
    }
    s.set_nonblocking(false).unwrap();
    w
}

fn fd_kind(fd: &std::os::fd::OwnedFd) -> &'static str {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    if info.contains("eventfd-count") {
        "eventfd"
    } else if link.to_string_lossy().contains("ivshmem.") {
        "shm"
    } else {
        "other"
    }
}

/// The same client sequence against a server; everything each client read.
fn scenario(prog: &Path, tag: &str) -> Vec<Wire> {
    let dir = tmpdir(tag);
    let (_srv, sock) = server(prog, &dir, 3);
    // The message counts the spec gives for 3 vectors.
    let a = UnixStream::connect(&sock).unwrap();
    let wa1 = read_n(&a, 3 + 3);
    let b = UnixStream::connect(&sock).unwrap();
    let wb = read_n(&b, 3 + 3 + 3);
    let wa2 = read_n(&a, 3);
    let c = UnixStream::connect(&sock).unwrap();
    let wc = read_n(&c, 3 + 3 + 3 + 3);
    drop(b);
    let wa3 = read_n(&a, 3 + 1);
    let wc2 = read_n(&c, 1);
    drop((a, c));
    vec![wa1, wb, wa2, wc, wa3, wc2]
}

#[test]
#[ignore = "needs IVSHMEM_QEMU_BIN (make check runs it)"]
fn our_server_sends_what_qemus_server_sends() {
    let theirs = scenario(&qemu_bin("ivshmem-server"), "wire-qemu");
    let ours = scenario(Path::new(OURS), "wire-ours");
    // Sanity: the scenario is what the spec says (ids 0, 1, 2).
    let own = |id: i64| vec![(id, true, "eventfd"); 3];
    let hello = |id: i64| vec![(0, false, ""), (id, false, ""), (-1, true, "shm")];
    let want = [
        [hello(0), own(0)].concat(),                 // a
        [hello(1), own(0), own(1)].concat(),         // b: a's vectors, its own
        own(1),                                      // a: b arrived
        [hello(2), own(0), own(1), own(2)].concat(), // c
        [own(2), vec![(1, false, "")]].concat(),     // a: c arrived, b left
        vec![(1, false, "")],                        // c: b left
    ];
    assert_eq!(theirs, want, "QEMU's server does not do what the spec says");
    assert_eq!(ours, theirs, "ours differs from QEMU's server");
}

#[test]
#[ignore = "needs IVSHMEM_QEMU_BIN (make check runs it)"]
fn our_peers_on_qemus_server() {
    let dir = tmpdir("peers-on-qemu");
    let (_srv, sock) = server(&qemu_bin("ivshmem-server"), &dir, 2);
    let mut a = Peer::connect(&sock, 2).unwrap();
    let mut b = Peer::connect(&sock, 2).unwrap();
    assert_eq!(b.peers(), vec![(a.id(), 2)]);
    wait_for(
        || {
            a.process().unwrap();
            a.peers() == vec![(b.id(), 2)]
        },
        "a to learn of b",
    );
    a.ring(b.id(), 1).unwrap();
    assert_eq!(
        b.wait(&[0, 1], Some(Duration::from_secs(5))).unwrap(),
        vec![(1, 1)]
    );
    assert_eq!(
        b.wait(&[0, 1], Some(Duration::ZERO)).unwrap(),
        vec![],
        "one ring, one vector"
    );
    b.ring(a.id(), 0).unwrap();
    assert_eq!(
        a.wait(&[0, 1], Some(Duration::from_secs(5))).unwrap(),
        vec![(0, 1)]
    );
    let (ma, mb) = (a.map().unwrap(), b.map().unwrap());
    mb.write(777, b"through QEMU's server").unwrap();
    let mut buf = [0u8; 21];
    ma.read(777, &mut buf).unwrap();
    assert_eq!(&buf, b"through QEMU's server");
    let bid = b.id();
    drop(b);
    wait_for(
        || {
            a.process().unwrap();
            a.peers().is_empty()
        },
        &format!("a to see {bid} leave"),
    );
}

/// QEMU's interactive client, stdout unbuffered, with a line reader.
struct QemuClient {
    proc: Proc,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl QemuClient {
    fn start(sock: &Path) -> QemuClient {
        let mut child = Command::new("stdbuf")
            .arg("-o0")
            .arg(qemu_bin("ivshmem-client"))
            .args(["-S", sock.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The prompt "cmd> " has no newline: split it off.
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                for part in l.split("cmd> ").filter(|p| !p.is_empty()) {
                    let _ = tx.send(part.to_string());
                }
            }
        });
        QemuClient {
            proc: Proc(child),
            lines,
            seen: Vec::new(),
        }
    }

    fn cmd(&mut self, c: &str) {
        let stdin = self.proc.0.stdin.as_mut().unwrap();
        stdin.write_all(format!("{c}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn expect(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(l.clone());
                if pred(&l) {
                    return l;
                }
            }
        }
        panic!(
            "QEMU's ivshmem-client never printed {what}; it printed {:?}",
            self.seen
        );
    }
}

#[test]
#[ignore = "needs IVSHMEM_QEMU_BIN (make check runs it)"]
fn qemus_client_on_our_server() {
    let dir = tmpdir("qemu-client-on-ours");
    let (_srv, sock) = server(Path::new(OURS), &dir, 2);
    let mut qc = QemuClient::start(&sock);
    qc.expect(
        |l| l.starts_with("listen on server socket"),
        "that it connected",
    );
    let mut p = Peer::connect(&sock, 2).unwrap();
    assert_eq!(
        p.peers().len(),
        1,
        "our peer sees QEMU's client: {:?}",
        p.peers()
    );
    let (qid, n) = p.peers()[0];
    assert_eq!(n, 2);
    // The client knows us too (once it has read the server's news: it
    // handles stdin before the socket, so dump until we are in it).
    let me = format!("peer_id = {}", p.id());
    let t = Instant::now();
    loop {
        qc.cmd("dump");
        std::thread::sleep(Duration::from_millis(200));
        while let Ok(l) = qc.lines.try_recv() {
            qc.seen.push(l);
        }
        if qc.seen.contains(&me) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "our id never in its dump: {:?}",
            qc.seen
        );
    }
    // We ring it on vector 1; it says so.
    p.ring(qid, 1).unwrap();
    qc.expect(
        |l| l.contains("receive notification") && l.contains("vector=1"),
        "the notification on vector 1",
    );
    // It rings us on vector 0, then on every vector.
    qc.cmd(&format!("int {} 0", p.id()));
    assert_eq!(
        p.wait(&[0, 1], Some(Duration::from_secs(5))).unwrap(),
        vec![(0, 1)]
    );
    qc.cmd(&format!("int {} all", p.id()));
    let t = Instant::now();
    let mut got = Vec::new();
    while got.len() < 2 && t.elapsed() < Duration::from_secs(5) {
        got.extend(p.wait(&[0, 1], Some(Duration::from_secs(1))).unwrap());
    }
    got.sort();
    assert_eq!(got, vec![(0, 1), (1, 1)]);
    // It goes: our server tells us.
    drop(qc);
    wait_for(
        || {
            p.process().unwrap();
            p.peers().is_empty()
        },
        "QEMU's client to be announced gone",
    );
}

#[test]
#[ignore = "needs IVSHMEM_QEMU_BIN (make check runs it)"]
fn qemus_ivshmem_doorbell_device_connects_to_our_server() {
    let dir = tmpdir("qemu-device");
    let (_srv, sock) = server(Path::new(OURS), &dir, 3);
    let mut p = Peer::connect(&sock, 3).unwrap();
    let qemu = Command::new(qemu_bin("qemu-system-x86_64"))
        .args([
            "-M",
            "q35",
            "-S",
            "-bios",
            "/usr/share/seabios/bios-256k.bin",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args(["-chardev", &format!("socket,path={},id=iv", sock.display())])
        .args(["-device", "ivshmem-doorbell,chardev=iv,vectors=3"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut qemu = Proc(qemu);
    wait_for(
        || {
            if let Some(st) = qemu.0.try_wait().unwrap() {
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(qemu.0.stderr.as_mut().unwrap(), &mut err);
                panic!("QEMU exited ({st}): {err}");
            }
            p.process().unwrap();
            p.peers().len() == 1 && p.peers()[0].1 == 3
        },
        "QEMU's device to join with 3 vectors",
    );
    let (qid, _) = p.peers()[0];
    // Ringing it is accepted (the paused guest cannot observe it here).
    p.ring(qid, 2).unwrap();
    assert!(
        qemu.0.try_wait().unwrap().is_none(),
        "QEMU is still running"
    );
    let _ = qemu.0.kill();
    let st = qemu.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(qemu.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!err.contains("ivshmem"), "QEMU complained: {err} ({st})");
    wait_for(
        || {
            p.process().unwrap();
            p.peers().is_empty()
        },
        "QEMU to be announced gone",
    );
}
