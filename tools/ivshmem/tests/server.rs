// SPDX-License-Identifier: GPL-2.0
//! The server and the peer library against each other and against raw
//! clients that misbehave: connect, many peers, a peer that dies, a server
//! restart, malformed input, a client that stops reading.

mod common;

use ivshmem::peer::{Error, Event, Peer};
use ivshmem::proto;
use ivshmem::server::{Config, Server};
use ivshmem::shm::ShmSource;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const T: Option<Duration> = Some(Duration::from_secs(5));

fn tmpdir(tag: &str) -> PathBuf {
    common::tmpdir("test", tag)
}

/// A server on a thread; dropping `stop` ends it.
struct Running {
    sock: PathBuf,
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(tag: &str, vectors: u32, size: u64) -> Running {
        let dir = tmpdir(tag);
        let cfg = Config {
            socket: dir.join("sock"),
            shm: ShmSource::Dir(dir.clone()),
            size,
            vectors,
            verbose: false,
        };
        let mut s = Server::new(&cfg).unwrap();
        let (tx, rx) = UnixStream::pair().unwrap();
        let thread = std::thread::spawn(move || {
            s.run(rx.as_fd()).unwrap();
        });
        Running {
            sock: cfg.socket,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    fn peer(&self, vectors: u32) -> Peer {
        Peer::connect(&self.sock, vectors).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `p`'s state shows `want` happened (events are state: a
/// batch may carry several).
fn expect_event(p: &mut Peer, want: Event) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let holds = |p: &Peer| match &want {
        Event::PeerVector { peer, vector } => p
            .peers()
            .iter()
            .any(|(id, n)| id == peer && *n > *vector as usize),
        Event::PeerLeft(peer) => !p.peers().iter().any(|(id, _)| id == peer),
        Event::OwnVector(v) => p.vectors() > *v as usize,
        Event::ServerGone => p.server_gone(),
    };
    while !holds(p) {
        assert!(
            Instant::now() < deadline,
            "peer {} never saw {want:?}; it knows {:?}",
            p.id(),
            p.peers()
        );
        p.wait_event(Duration::from_millis(200)).unwrap();
    }
}

/// Every one of `p`'s vectors: how many rings are pending (consumed).
fn pending(p: &mut Peer) -> Vec<u64> {
    (0..p.vectors() as u32)
        .map(|v| {
            p.wait(&[v], Some(Duration::ZERO))
                .unwrap()
                .first()
                .map_or(0, |x| x.1)
        })
        .collect()
}

#[test]
fn first_client_gets_id_0_the_memory_and_its_vectors() {
    let s = Running::start("first", 3, 3 << 20);
    let p = s.peer(3);
    assert_eq!(p.id(), 0);
    assert_eq!(p.vectors(), 3);
    assert_eq!(
        p.shm_size().unwrap(),
        4 << 20,
        "rounded up to a power of two"
    );
    assert!(p.peers().is_empty());
}

#[test]
fn a_ring_moves_exactly_the_vector_rung_and_memory_is_shared() {
    let s = Running::start("ring", 4, 1 << 20);
    let mut a = s.peer(4);
    let mut b = s.peer(4);
    assert_eq!(
        b.peers(),
        vec![(a.id(), 4)],
        "b learns of a during its handshake"
    );
    for v in 0..4 {
        expect_event(
            &mut a,
            Event::PeerVector {
                peer: b.id(),
                vector: v,
            },
        );
    }
    for k in 0..4u32 {
        a.ring(b.id(), k).unwrap();
        a.ring(b.id(), k).unwrap();
        let mut want = vec![0; 4];
        want[k as usize] = 2;
        assert_eq!(pending(&mut b), want, "ring on vector {k}");
        assert_eq!(pending(&mut a), vec![0; 4], "nothing on the ringer");
    }
    b.ring(a.id(), 3).unwrap();
    assert_eq!(a.wait(&[0, 1, 2, 3], T).unwrap(), vec![(3, 1)]);

    let (ma, mb) = (a.map().unwrap(), b.map().unwrap());
    ma.write(4096, b"hello from a").unwrap();
    let mut buf = [0u8; 12];
    mb.read(4096, &mut buf).unwrap();
    assert_eq!(&buf, b"hello from a");
    assert!(mb.read((1 << 20) - 4, &mut buf).is_err(), "past the end");
}

#[test]
fn errors_for_unknown_peer_and_vector() {
    let s = Running::start("errors", 2, 1 << 20);
    let mut a = s.peer(2);
    let b = s.peer(2);
    expect_event(
        &mut a,
        Event::PeerVector {
            peer: b.id(),
            vector: 1,
        },
    );
    assert!(matches!(a.ring(77, 0), Err(Error::UnknownPeer(77))));
    assert!(matches!(
        a.ring(b.id(), 2),
        Err(Error::NoVector {
            vector: 2,
            have: 2,
            ..
        })
    ));
    assert!(matches!(
        a.wait(&[5], T),
        Err(Error::NoVector { vector: 5, .. })
    ));
    assert!(a.ring(b.id(), 1).is_ok());
}

#[test]
fn many_peers_all_connected_to_all() {
    raise_nofile();
    const N: usize = 32;
    let s = Running::start("many", 3, 1 << 20);
    let mut peers: Vec<Peer> = (0..N).map(|_| s.peer(3)).collect();
    let ids: Vec<u16> = peers.iter().map(|p| p.id()).collect();
    assert_eq!(
        ids,
        (0..N as u16).collect::<Vec<_>>(),
        "ids in order from 0"
    );
    // Everyone learns of everyone, each with 3 vectors.
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in peers.iter_mut() {
        while p.peers().len() < N - 1 || p.peers().iter().any(|(_, n)| *n < 3) {
            assert!(
                Instant::now() < deadline,
                "peer {} knows only {:?}",
                p.id(),
                p.peers()
            );
            p.wait_event(Duration::from_millis(100)).unwrap();
        }
    }
    // A ring from i to (i * 7 + 3) % N on vector i % 3 arrives there only.
    for i in 0..N {
        let to = (i * 7 + 3) % N;
        if to == i {
            continue;
        }
        peers[i].ring(ids[to], (i % 3) as u32).unwrap();
        let mut want = vec![0; 3];
        want[i % 3] = 1;
        assert_eq!(pending(&mut peers[to]), want, "{i} -> {to}");
    }
    for p in peers.iter_mut() {
        assert_eq!(pending(p), vec![0; 3], "stray ring on {}", p.id());
    }
}

#[test]
fn a_dead_peer_is_announced_and_its_id_not_reused_at_once() {
    let s = Running::start("dead", 1, 1 << 20);
    let mut a = s.peer(1);
    let b = s.peer(1);
    let mut c = s.peer(1);
    let bid = b.id();
    expect_event(
        &mut a,
        Event::PeerVector {
            peer: c.id(),
            vector: 0,
        },
    );
    drop(b); // process death looks the same: the socket closes
    expect_event(&mut a, Event::PeerLeft(bid));
    expect_event(&mut c, Event::PeerLeft(bid));
    assert!(!a.peers().iter().any(|(id, _)| *id == bid));
    assert!(matches!(a.ring(bid, 0), Err(Error::UnknownPeer(_))));
    // The next client gets a fresh id, not the departed one.
    let d = s.peer(1);
    assert_eq!(d.id(), 3);
    assert_eq!(d.peers(), vec![(0, 1), (2, 1)]);
}

#[test]
fn garbage_from_a_client_disconnects_it_and_the_server_goes_on() {
    let s = Running::start("garbage", 1, 1 << 20);
    let mut a = s.peer(1);
    let mut raw = UnixStream::connect(&s.sock).unwrap();
    // Read its handshake (version, id, shm, a's vector, its own vector).
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(proto::recv(raw.as_fd()).unwrap().unwrap().value);
    }
    let rid = got[1] as u16;
    assert_eq!(
        got,
        vec![0, i64::from(rid), -1, i64::from(a.id()), i64::from(rid)]
    );
    expect_event(
        &mut a,
        Event::PeerVector {
            peer: rid,
            vector: 0,
        },
    );
    raw.write_all(b"not part of the protocol").unwrap();
    expect_event(&mut a, Event::PeerLeft(rid));
    // The server closed it.
    raw.set_read_timeout(T).unwrap();
    match proto::recv(raw.as_fd()) {
        Ok(None) => {}
        // Closed with our garbage unread: the kernel resets the stream.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        r => panic!("the server did not close the connection: {r:?}"),
    }
    // And still serves.
    let b = s.peer(1);
    assert_eq!(b.peers(), vec![(a.id(), 1)]);
}

#[test]
fn half_finished_connections_do_not_disturb() {
    let s = Running::start("half", 2, 1 << 20);
    let mut a = s.peer(2);
    for _ in 0..20 {
        drop(UnixStream::connect(&s.sock).unwrap()); // gone before its handshake is read
    }
    let b = s.peer(2);
    assert_eq!(b.peers(), vec![(a.id(), 2)], "no ghost peers");
    // a was told of each, and of each departure.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.peers() != vec![(b.id(), 2)] {
        assert!(Instant::now() < deadline, "a sees {:?}", a.peers());
        a.wait_event(Duration::from_millis(100)).unwrap();
    }
}

#[test]
fn a_client_that_stops_reading_is_dropped_not_waited_for() {
    let s = Running::start("lazy", 1, 1 << 20);
    let lazy = UnixStream::connect(&s.sock).unwrap(); // never reads
    let mut a = s.peer(1);
    // Churn: each arrival and departure is one message (with a descriptor)
    // to the lazy client; its socket buffer fills within a few hundred.
    let t0 = Instant::now();
    for _ in 0..3000 {
        drop(s.peer(1));
        a.process().unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "the server stalled on the lazy client"
    );
    // The lazy client (id 0) is gone from everyone's view.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.peers().iter().any(|(id, _)| *id == 0) {
        assert!(
            Instant::now() < deadline,
            "lazy client still announced: {:?}",
            a.peers()
        );
        a.wait_event(Duration::from_millis(100)).unwrap();
    }
    drop(lazy);
}

#[test]
fn long_setup_bursts_are_queued_not_dropped() {
    // 12 clients of 64 vectors: the last one's setup is 3 + 11 * 64 + 64
    // messages with a descriptor each, more than a socket buffer holds.
    raise_nofile();
    let s = Running::start("burst", 64, 1 << 20);
    let mut peers: Vec<Peer> = (0..12).map(|_| s.peer(64)).collect();
    let last = peers.last().unwrap();
    assert_eq!(last.vectors(), 64);
    assert_eq!(last.peers().len(), 11);
    assert!(
        last.peers().iter().all(|(_, n)| *n == 64),
        "{:?}",
        last.peers()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in peers.iter_mut() {
        while p.peers().len() < 11 || p.peers().iter().any(|(_, n)| *n < 64) {
            assert!(
                Instant::now() < deadline,
                "peer {} knows {:?}",
                p.id(),
                p.peers()
            );
            p.wait_event(Duration::from_millis(100)).unwrap();
        }
    }
    peers[0].ring(peers[11].id(), 63).unwrap();
    assert_eq!(peers[11].wait(&[62, 63], T).unwrap(), vec![(63, 1)]);
}

#[test]
fn more_or_fewer_vectors_than_the_server() {
    let s = Running::start("vectors", 2, 1 << 20);
    let mut big = Peer::connect_with(
        &s.sock,
        4,
        Duration::from_secs(5),
        Duration::from_millis(200),
    )
    .unwrap();
    assert_eq!(big.vectors(), 2, "the rest stay unconnected");
    let small = s.peer(1);
    assert_eq!(small.vectors(), 1);
    assert_eq!(
        small.peers(),
        vec![(big.id(), 1)],
        "extra descriptors closed"
    );
    expect_event(
        &mut big,
        Event::PeerVector {
            peer: small.id(),
            vector: 1,
        },
    );
    small.ring(big.id(), 0).unwrap();
    assert_eq!(big.wait(&[0, 1], T).unwrap(), vec![(0, 1)]);
    assert!(matches!(
        small.ring(big.id(), 1),
        Err(Error::NoVector { .. })
    ));
}

#[test]
fn server_stop_tells_everyone_and_a_new_server_takes_the_socket() {
    let mut s = Running::start("restart", 1, 1 << 20);
    let mut a = s.peer(1);
    let mut b = s.peer(1);
    expect_event(
        &mut a,
        Event::PeerVector {
            peer: b.id(),
            vector: 0,
        },
    );
    s.stop();
    assert!(!s.sock.exists(), "socket file removed");
    expect_event(&mut b, Event::PeerLeft(a.id()));
    expect_event(&mut b, Event::ServerGone);
    expect_event(&mut a, Event::ServerGone);
    // The spec: clients may go on with what they have.
    a.ring(b.id(), 0).unwrap();
    assert_eq!(b.wait(&[0], T).unwrap(), vec![(0, 1)]);
    // A new server on the same path starts from id 0.
    let cfg = Config {
        socket: s.sock.clone(),
        shm: ShmSource::Dir(s.sock.parent().unwrap().into()),
        size: 1 << 20,
        vectors: 1,
        verbose: false,
    };
    let mut s2 = Server::new(&cfg).unwrap();
    let (tx, rx) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || s2.run(rx.as_fd()).unwrap());
    let c = Peer::connect(&cfg.socket, 1).unwrap();
    assert_eq!(c.id(), 0);
    drop(tx);
    t.join().unwrap();
}

#[test]
fn bind_refuses_a_live_socket_and_a_non_socket_but_replaces_a_stale_one() {
    let s = Running::start("bind", 1, 1 << 20);
    let dir = s.sock.parent().unwrap().to_path_buf();
    let cfg = |p: &Path| Config {
        socket: p.into(),
        shm: ShmSource::Dir(dir.clone()),
        size: 1 << 20,
        vectors: 1,
        verbose: false,
    };
    let e = Server::new(&cfg(&s.sock)).err().unwrap();
    assert!(e.to_string().contains("already listening"), "{e}");
    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Server::new(&cfg(&file)).err().unwrap();
    assert!(e.to_string().contains("not a socket"), "{e}");
    // A stale socket: bound, then its listener closed without unlinking.
    let stale = dir.join("stale");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let srv = Server::new(&cfg(&stale)).unwrap();
    drop(srv);
    assert!(!stale.exists());
    assert!(Server::new(&Config {
        vectors: 65,
        ..cfg(&dir.join("v"))
    })
    .is_err());
}

fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(65536), hard);
}
