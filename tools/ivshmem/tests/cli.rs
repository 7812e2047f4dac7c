// SPDX-License-Identifier: GPL-2.0
//! The two programs as a user runs them: QEMU's option syntax, exit codes
//! and messages, signals, daemon mode, descriptors returned when peers go.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const SERVER: &str = env!("CARGO_BIN_EXE_ivshmem-server");
const PEER: &str = env!("CARGO_BIN_EXE_ivshmem-peer");

fn tmpdir(tag: &str) -> PathBuf {
    common::tmpdir("cli", tag)
}

struct Srv {
    child: Option<Child>,
    sock: PathBuf,
}

impl Srv {
    fn start(dir: &Path, args: &[&str]) -> Srv {
        let sock = dir.join("sock");
        let child = Command::new(SERVER)
            .args([
                "-F",
                "-S",
                sock.to_str().unwrap(),
                "-m",
                dir.to_str().unwrap(),
            ])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(|| sock.exists(), "the server's socket");
        Srv {
            child: Some(child),
            sock,
        }
    }

    fn peer(&self, args: &[&str]) -> Output {
        Command::new(PEER)
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap()
    }

    fn peer_bg(&self, args: &[&str]) -> Child {
        Command::new(PEER)
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.as_ref().unwrap().id()))
            .unwrap()
            .count()
    }

    fn term(mut self) -> Output {
        let c = self.child.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::SIGTERM,
        )
        .unwrap();
        c.wait_with_output().unwrap()
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(f: impl FnMut() -> bool, what: &str) {
    common::wait_for(f, what, 10)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn dump_ring_wait_read_write() {
    let dir = tmpdir("basic");
    let s = Srv::start(&dir, &["-l", "1M", "-n", "2"]);
    let o = s.peer(&["-n", "2", "dump"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "id 0\nshm 1048576 bytes\nvectors 2\n"
    );

    let mut w = s.peer_bg(&["-n", "2", "wait", "1", "-t", "20"]);
    // Its id: the first line, once it is connected.
    let mut out = std::io::BufReader::new(w.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let id: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(line, format!("peer {id} waiting on vector(s) 1\n"));
    let o = s.peer(&["-n", "2", "ring", &id.to_string(), "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(w.wait().unwrap().success());
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "vector 1: 1\n");

    let o = s.peer(&["write", "0x100", "shared bytes"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = s.peer(&["read", "0x100", "12"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "00000100: 73 68 61 72 65 64 20 62 79 74 65 73\n"
    );
}

#[test]
fn clear_errors_and_exit_codes() {
    let dir = tmpdir("errors");
    let s = Srv::start(&dir, &["-l", "1M", "-n", "2"]);
    let o = s.peer(&["ring", "99", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no peer with id 99 is connected"),
        "{}",
        text(&o)
    );
    let mut w = s.peer_bg(&["-n", "2", "wait", "0", "-t", "10"]);
    // Its id, once it is connected: "peer N waiting on vector(s) 0".
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(w.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let other = line.split_whitespace().nth(1).unwrap().to_string();
    let o = s.peer(&["-n", "2", "ring", &other, "5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&format!("peer {other} has no vector 5 (2 connected)")),
        "{}",
        text(&o)
    );
    let _ = w.kill();
    let _ = w.wait();
    let o = s.peer(&["wait", "0", "-t", "0.3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("timed out after 0 of 1 rings"));
    let o = s.peer(&["read", "0", "99999999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("beyond the shared memory"),
        "{}",
        text(&o)
    );
    for bad in [
        &["ring", "x", "0"][..],
        &["frobnicate"],
        &["wait"],
        &["read", "0"],
    ] {
        let o = s.peer(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    let o = Command::new(PEER)
        .args(["-S", "/nonexistent/sock", "dump"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("connect /nonexistent/sock"),
        "{}",
        text(&o)
    );
}

#[test]
fn server_options_like_qemu() {
    let dir = tmpdir("opts");
    let sock = dir.join("s");
    let run = |args: &[&str]| Command::new(SERVER).args(args).output().unwrap();
    let o = run(&["-F", "-S", sock.to_str().unwrap(), "-n", "65"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("too many requested vectors (max is 64)"),
        "{}",
        text(&o)
    );
    let o = run(&["-v", "-S", sock.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("cannot use verbose in daemon mode"));
    let o = run(&["-F", "-l", "12Q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("invalid size suffix"), "{}", text(&o));
    let o = run(&["-F", "-n", "two"]);
    assert!(text(&o).contains("cannot parse n_vectors"));
    let o = run(&["-x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("invalid option -- 'x'") && text(&o).contains("Usage:"));
    let o = run(&["-h"]);
    assert!(o.status.success() && text(&o).contains("-M <shm-name>"));
    let o = run(&[
        "-F",
        "-S",
        "/nonexistent/dir/sock",
        "-m",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("cannot bind /nonexistent/dir/sock"),
        "{}",
        text(&o)
    );
}

#[test]
fn peers_leaving_give_back_every_descriptor() {
    let dir = tmpdir("fds");
    let s = Srv::start(&dir, &["-l", "1M", "-n", "4"]);
    let base = s.fds();
    let mut kids: Vec<Child> = (0..8)
        .map(|_| s.peer_bg(&["-n", "4", "wait", "0", "-t", "30"]))
        .collect();
    wait_for(|| s.fds() == base + 8 * 5, "8 clients with 4 eventfds each");
    for k in kids.iter_mut() {
        k.kill().unwrap(); // death, not a clean exit
        k.wait().unwrap();
    }
    wait_for(
        || s.fds() == base,
        "the server to close what the dead peers held",
    );
}

#[test]
fn sigterm_tells_the_clients_and_removes_the_socket() {
    let dir = tmpdir("term");
    let s = Srv::start(&dir, &["-n", "1"]);
    let mut m = s.peer_bg(&["monitor", "-t", "20"]);
    let mut out = std::io::BufReader::new(m.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "id 0\n");
    let o = s.peer(&["dump"]); // comes and goes
    assert!(o.status.success());
    for want in ["peer 1 vector 0 connected\n", "peer 1 left\n"] {
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, want);
    }
    let sock = s.sock.clone();
    let o = s.term();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("server disconnected"));
    assert!(!sock.exists());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "server gone\n");
    assert!(m.wait().unwrap().success());
}

#[test]
fn daemon_mode_writes_and_removes_its_pid_file() {
    let dir = tmpdir("daemon");
    let (sock, pidf) = (dir.join("sock"), dir.join("pid"));
    let st = Command::new(SERVER)
        .args([
            "-S",
            sock.to_str().unwrap(),
            "-p",
            pidf.to_str().unwrap(),
            "-m",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "the parent returns once the daemon is up");
    wait_for(
        || std::fs::read_to_string(&pidf).is_ok_and(|s| s.ends_with('\n')),
        "the pid file",
    );
    let pid: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let o = Command::new(PEER)
        .args(["-S", sock.to_str().unwrap(), "dump"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM).unwrap();
    wait_for(
        || !pidf.exists() && !sock.exists(),
        "the daemon to clean up",
    );
}

#[test]
fn ping_pong_between_two_host_peers() {
    let dir = tmpdir("pingpong");
    let s = Srv::start(&dir, &["-l", "1M", "-n", "1"]);
    let mut pong = s.peer_bg(&["pong", "-c", "300", "-t", "60"]);
    let mut pout = std::io::BufReader::new(pong.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut pout, &mut line).unwrap();
    assert_eq!(line, "pong: peer 0 ready\n");
    let o = s.peer(&["ping", "-c", "300", "-t", "60"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.starts_with("ping: 300 round trips with peer 0 in "),
        "{out}"
    );
    assert!(pong.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut pout, &mut rest).unwrap();
    assert_eq!(rest, "pong: answered 300 pings from peer 1\n");
    // Without a pong peer, ping says so and times out.
    let dir2 = tmpdir("pingpong-none");
    let s2 = Srv::start(&dir2, &["-l", "1M", "-n", "1"]);
    let o = s2.peer(&["ping", "-c", "1", "-t", "0.5"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no pong peer is ready"));
}

/// Out of descriptors, a new client is refused (its connection closed
/// during setup), the server neither spins nor hangs the client nor drops
/// the clients it has, and serves again once descriptors are free. A run
/// of consecutive limits, so that descriptors run out at each point of a
/// client's setup: an eventfd, a descriptor duplicated for a queued
/// message. (`accept()` itself, the spare descriptor's path, cannot be made
/// to run out this way: a set-up client always leaves the slot its setup
/// needed for a moment.)
#[test]
fn out_of_descriptors_clients_are_refused_not_hung() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    // Served: the connection stays open after the greeting; refused: it
    // is closed; anything else (a hang before the greeting) fails.
    let served = |c: &mut UnixStream, what: &str| -> bool {
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let (mut got, mut b) = (0, [0u8; 512]);
        loop {
            match c.read(&mut b) {
                Ok(0) => return false,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && got >= 40 => return true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("{what}: {got} bytes, then nothing (hung?)")
                }
                Err(e) => panic!("{what}: {e}"),
            }
        }
    };
    let mut log = String::new();
    for limit in 14..=22 {
        let dir = tmpdir(&format!("emfile{limit}"));
        let sock = dir.join("sock");
        // bash, not sh: it closes every inherited descriptor above 2 (a
        // test harness leaves some open), so the server's descriptor
        // numbers, and where each limit runs out, do not depend on who
        // runs the test. ulimit -n sets the hard limit: no raising it.
        let child = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "for f in /proc/$$/fd/*; do n=${{f##*/}}; \
                 if [ $n -gt 2 ]; then eval \"exec $n>&-\"; fi; done; \
                 ulimit -n {limit} && exec {SERVER} -F -S {} -m {} -l 1M -n 2",
                sock.display(),
                dir.display()
            ))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let srv = Srv {
            child: Some(child),
            sock: sock.clone(),
        };
        wait_for(|| sock.exists(), "the server's socket");
        let mut kept = Vec::new();
        let mut refused = 0;
        for k in 0..12 {
            let mut c = UnixStream::connect(&sock).unwrap();
            if served(&mut c, &format!("limit {limit}, client {k}")) {
                kept.push(c);
            } else {
                refused += 1;
            }
        }
        assert!(
            !kept.is_empty() && refused > 0,
            "limit {limit}: {} served, {refused} refused",
            kept.len()
        );
        // The clients it kept are still served: none was closed.
        for (k, c) in kept.iter_mut().enumerate() {
            c.set_nonblocking(true).unwrap();
            let mut b = [0u8; 512];
            loop {
                match c.read(&mut b) {
                    Ok(0) => panic!("limit {limit}: served client {k} was closed"),
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("limit {limit}: served client {k}: {e}"),
                }
            }
        }
        drop(kept);
        // Once the server has closed what they held, a client is served.
        let mut ok = false;
        for _ in 0..30 {
            if served(&mut UnixStream::connect(&sock).unwrap(), "after") {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ok, "limit {limit}: no client served after the others left");
        let out = srv.term();
        assert_eq!(out.status.code(), Some(0), "limit {limit}");
        log += &String::from_utf8_lossy(&out.stderr);
    }
    assert!(
        log.contains("cannot create an eventfd for a new client: EMFILE"),
        "{log}"
    );
}
