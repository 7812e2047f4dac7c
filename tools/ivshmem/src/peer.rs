// SPDX-License-Identifier: GPL-2.0
//! A client of an ivshmem server (ours or QEMU's): what an ivshmem-doorbell
//! device is to a guest, for a host process. It gets an id, the shared
//! memory, one eventfd per vector to wait on, and one per vector of every
//! other peer to ring it.
//!
//! ```no_run
//! use ivshmem::peer::Peer;
//! use std::time::Duration;
//! let mut p = Peer::connect("/tmp/ivshmem_socket".as_ref(), 1)?;
//! p.ring(0, 0)?;                                      // peer 0, vector 0
//! let got = p.wait(&[0], Some(Duration::from_secs(1)))?; // [(0, count)]
//! # Ok::<(), ivshmem::peer::Error>(())
//! ```
//!
//! The handshake has no end marker: after the shared memory the server
//! sends the other peers' eventfds and then this client's own, one per
//! vector, all in one burst. [`Peer::connect`] reads until it has the
//! vectors it was configured with, or until the burst has been quiet for a
//! short while (a server with fewer vectors: the rest stay unconnected, as
//! the spec says). Anything later (a peer arriving or leaving, a late
//! vector) is read by [`Peer::process`] and [`Peer::wait`].

use crate::proto::{self, Message, MAX_PEER_ID, PROTOCOL_VERSION, SHM_MESSAGE};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// What can go wrong for a peer.
#[derive(Debug)]
pub enum Error {
    /// A system call failed.
    Io(io::Error),
    /// The server said something the protocol does not allow; the
    /// connection should be closed.
    Protocol(String),
    /// No peer with this id is connected (as far as the server told us).
    UnknownPeer(u16),
    /// The peer (or this client, for waiting) has no such vector.
    NoVector {
        /// Whose vector: the peer rung, or this client's own id.
        peer: u16,
        /// The vector asked for.
        vector: u32,
        /// How many vectors that peer has connected.
        have: usize,
    },
    /// The server closed the connection. The eventfds and the shared memory
    /// already received keep working; no peer will be announced any more.
    ServerGone,
    /// Nothing came in time.
    TimedOut(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Protocol(s) => write!(f, "protocol error: {s}"),
            Error::UnknownPeer(p) => write!(f, "no peer with id {p} is connected"),
            Error::NoVector { peer, vector, have } => {
                write!(f, "peer {peer} has no vector {vector} ({have} connected)")
            }
            Error::ServerGone => write!(f, "the server closed the connection"),
            Error::TimedOut(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

fn errno(e: Errno) -> Error {
    Error::Io(io::Error::from_raw_os_error(e as i32))
}

/// Something the server told us after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A peer's vector became ringable (a new peer gets one per vector).
    PeerVector {
        /// The peer.
        peer: u16,
        /// Its vector (0, 1, ... in order).
        vector: u32,
    },
    /// A peer disconnected; its vectors are closed here.
    PeerLeft(u16),
    /// One of our own vectors arrived late (after [`Peer::connect`]).
    OwnVector(u32),
    /// The server closed the connection.
    ServerGone,
}

/// A connected client.
pub struct Peer {
    sock: UnixStream,
    id: u16,
    shm: OwnedFd,
    configured: usize,
    own: Vec<OwnedFd>,
    peers: BTreeMap<u16, Vec<OwnedFd>>,
    server_gone: bool,
    /// Events read but not yet returned by [`Peer::process`].
    queued: Vec<Event>,
}

/// How long [`Peer::connect`] waits for the server's first messages.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the handshake burst may pause before it is taken as complete.
pub const SETTLE: Duration = Duration::from_millis(500);

impl Peer {
    /// Connects to the server at `path` as a peer with `vectors` vectors
    /// (like the `vectors` property of QEMU's ivshmem-doorbell).
    pub fn connect(path: &Path, vectors: u32) -> Result<Peer, Error> {
        Self::connect_with(path, vectors, CONNECT_TIMEOUT, SETTLE)
    }

    /// [`Peer::connect`] with explicit timeouts: `timeout` for the version,
    /// id and shared memory, `settle` for the pause that ends the burst.
    pub fn connect_with(
        path: &Path,
        vectors: u32,
        timeout: Duration,
        settle: Duration,
    ) -> Result<Peer, Error> {
        let sock = UnixStream::connect(path).map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("connect {}: {e}", path.display()),
            ))
        })?;
        sock.set_nonblocking(true)?;
        let deadline = Instant::now() + timeout;
        let next = |what: &'static str| -> Result<Message, Error> {
            match recv_until(sock.as_fd(), deadline)? {
                Some(m) => Ok(m),
                None if Instant::now() >= deadline => Err(Error::TimedOut(what)),
                None => Err(Error::ServerGone),
            }
        };
        let v = next("the protocol version")?;
        if v.value != PROTOCOL_VERSION || v.fd.is_some() {
            return Err(Error::Protocol(format!(
                "unsupported protocol version {}",
                v.value
            )));
        }
        let id = next("our id")?;
        if !(0..=MAX_PEER_ID).contains(&id.value) || id.fd.is_some() {
            return Err(Error::Protocol(format!("bad id message {}", id.value)));
        }
        let shm = next("the shared memory")?;
        let shm = match (shm.value, shm.fd) {
            (SHM_MESSAGE, Some(fd)) => fd,
            (v, _) => {
                return Err(Error::Protocol(format!(
                    "expected the shared memory (-1 with a descriptor), got {v}"
                )))
            }
        };
        let mut p = Peer {
            sock,
            id: id.value as u16,
            shm,
            configured: vectors as usize,
            own: Vec::new(),
            peers: BTreeMap::new(),
            server_gone: false,
            queued: Vec::new(),
        };
        while p.own.len() < p.configured {
            match recv_until(p.sock.as_fd(), Instant::now() + settle)? {
                Some(m) => {
                    p.handle(m)?;
                }
                None if p.sock_closed() => break,
                None => break, // quiet: the server has fewer vectors
            }
        }
        Ok(p)
    }

    fn sock_closed(&self) -> bool {
        matches!(peek_eof(self.sock.as_fd()), Ok(true))
    }

    /// Our id (the guest's IVPosition).
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The shared memory's descriptor (mmap it, or use [`Peer::map`]).
    pub fn shm(&self) -> BorrowedFd<'_> {
        self.shm.as_fd()
    }

    /// The shared memory's size in bytes.
    pub fn shm_size(&self) -> io::Result<u64> {
        Ok(
            nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&self.shm))
                .map_err(io::Error::from)?
                .st_size as u64,
        )
    }

    /// Maps the whole shared memory read-write.
    pub fn map(&self) -> io::Result<crate::ShmMap> {
        crate::ShmMap::new(self.shm.as_fd(), self.shm_size()?)
    }

    /// How many of our own vectors are connected.
    pub fn vectors(&self) -> usize {
        self.own.len()
    }

    /// The connected peers and how many vectors each has, by id.
    pub fn peers(&self) -> Vec<(u16, usize)> {
        self.peers.iter().map(|(id, v)| (*id, v.len())).collect()
    }

    /// Whether the server has closed the connection.
    pub fn server_gone(&self) -> bool {
        self.server_gone
    }

    /// Our vector `vector`'s eventfd, to wait on with poll/epoll (read it
    /// to consume the count), or `None` if not connected.
    pub fn vector_fd(&self, vector: u32) -> Option<BorrowedFd<'_>> {
        self.own.get(vector as usize).map(|f| f.as_fd())
    }

    /// The server socket, readable when [`Peer::process`] has news.
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Rings `peer` on `vector`: the peer's device raises that MSI-X
    /// vector (a guest) or its eventfd becomes readable (a host peer).
    pub fn ring(&self, peer: u16, vector: u32) -> Result<(), Error> {
        let fds = self.peers.get(&peer).ok_or(Error::UnknownPeer(peer))?;
        let fd = fds.get(vector as usize).ok_or(Error::NoVector {
            peer,
            vector,
            have: fds.len(),
        })?;
        write_u64(fd.as_fd(), 1)
    }

    /// Rings our own vector (loopback; what a guest does by writing its own
    /// id to the Doorbell register).
    pub fn ring_self(&self, vector: u32) -> Result<(), Error> {
        let fd = self.own.get(vector as usize).ok_or(Error::NoVector {
            peer: self.id,
            vector,
            have: self.own.len(),
        })?;
        write_u64(fd.as_fd(), 1)
    }

    fn handle(&mut self, m: Message) -> Result<Option<Event>, Error> {
        let Message { value, fd } = m;
        if !(0..=MAX_PEER_ID).contains(&value) {
            return Err(Error::Protocol(format!("unexpected message {value}")));
        }
        let id = value as u16;
        Ok(match (id == self.id, fd) {
            (true, Some(fd)) => {
                if self.own.len() < self.configured {
                    self.own.push(fd);
                    Some(Event::OwnVector(self.own.len() as u32 - 1))
                } else {
                    None // more vectors than configured: closed (spec)
                }
            }
            (true, None) => {
                return Err(Error::Protocol(format!(
                    "our own id {id} announced as gone"
                )))
            }
            (false, Some(fd)) => {
                let v = self.peers.entry(id).or_default();
                if v.len() < self.configured {
                    v.push(fd);
                    Some(Event::PeerVector {
                        peer: id,
                        vector: v.len() as u32 - 1,
                    })
                } else {
                    None
                }
            }
            (false, None) => {
                self.peers.remove(&id);
                Some(Event::PeerLeft(id))
            }
        })
    }

    /// Reads whatever the server has sent, without blocking, and returns
    /// it with anything [`Peer::wait`] read meanwhile, in order.
    pub fn process(&mut self) -> Result<Vec<Event>, Error> {
        self.pump()?;
        Ok(std::mem::take(&mut self.queued))
    }

    /// Reads the server's messages into the state and the event queue.
    fn pump(&mut self) -> Result<(), Error> {
        if self.server_gone {
            return Ok(());
        }
        loop {
            match proto::recv(self.sock.as_fd()) {
                Ok(Some(m)) => {
                    if let Some(e) = self.handle(m)? {
                        self.queued.push(e);
                    }
                }
                Ok(None) => {
                    self.server_gone = true;
                    self.queued.push(Event::ServerGone);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(Error::Protocol(e.to_string()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until one of our `vectors` is rung, or `timeout` passes
    /// (`None`: forever); returns each rung vector with how many rings it
    /// collected (eventfd counts add up: rings between two waits merge).
    /// Messages from the server are read meanwhile: the state (see
    /// [`Peer::peers`]) follows them at once, and their events wait for the
    /// next [`Peer::process`]. An empty result means the timeout passed.
    pub fn wait(
        &mut self,
        vectors: &[u32],
        timeout: Option<Duration>,
    ) -> Result<Vec<(u32, u64)>, Error> {
        for &v in vectors {
            if v as usize >= self.own.len() {
                return Err(Error::NoVector {
                    peer: self.id,
                    vector: v,
                    have: self.own.len(),
                });
            }
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut got = Vec::new();
            let sock_ready;
            {
                let mut fds: Vec<PollFd<'_>> = vectors
                    .iter()
                    .map(|&v| PollFd::new(self.own[v as usize].as_fd(), PollFlags::POLLIN))
                    .collect();
                if !self.server_gone {
                    fds.push(PollFd::new(self.sock.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, poll_timeout(deadline)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(errno(e)),
                }
                for (i, &v) in vectors.iter().enumerate() {
                    if fds[i]
                        .revents()
                        .is_some_and(|r| r.contains(PollFlags::POLLIN))
                    {
                        if let Some(n) = read_u64(self.own[v as usize].as_fd())? {
                            got.push((v, n));
                        }
                    }
                }
                sock_ready = !self.server_gone
                    && fds[vectors.len()].revents().is_some_and(|r| !r.is_empty());
            }
            if sock_ready {
                self.pump()?;
            }
            if !got.is_empty() {
                return Ok(got);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(got);
            }
        }
    }

    /// Waits for the server to say something (a peer arriving or leaving),
    /// up to `timeout`.
    pub fn wait_event(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let ev = self.process()?;
            if !ev.is_empty() || self.server_gone {
                return Ok(ev);
            }
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(Some(deadline))) {
                Ok(0) => return Ok(Vec::new()),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(errno(e)),
            }
        }
    }
}

fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            // Round up, so a short remaining time does not spin at 0 ms.
            PollTimeout::try_from(ms.saturating_add(1).min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX)
        }
    }
}

/// One message, waiting for it until `deadline`; `None` on timeout or at
/// the end of the stream.
fn recv_until(sock: BorrowedFd<'_>, deadline: Instant) -> Result<Option<Message>, Error> {
    loop {
        match proto::recv(sock) {
            Ok(m) => return Ok(m),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Error::Protocol(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        let mut fds = [PollFd::new(sock, PollFlags::POLLIN)];
        match poll(&mut fds, poll_timeout(Some(deadline))) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(errno(e)),
        }
    }
}

fn peek_eof(sock: BorrowedFd<'_>) -> io::Result<bool> {
    let mut b = [0u8; 1];
    match nix::sys::socket::recv(
        std::os::fd::AsRawFd::as_raw_fd(&sock),
        &mut b,
        nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(n) => Ok(n == 0),
        Err(Errno::EAGAIN) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Adds `v` to an eventfd (a ring).
pub(crate) fn write_u64(fd: BorrowedFd<'_>, v: u64) -> Result<(), Error> {
    loop {
        match nix::unistd::write(fd, &v.to_ne_bytes()) {
            Ok(8) => return Ok(()),
            Ok(n) => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("eventfd write of {n} bytes"),
                )))
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
}

/// Reads an eventfd's count (resetting it); `None` if it was zero (someone
/// else consumed it, or the descriptor is non-blocking and idle).
pub(crate) fn read_u64(fd: BorrowedFd<'_>) -> Result<Option<u64>, Error> {
    let mut b = [0u8; 8];
    loop {
        // A received eventfd may be blocking; only read what poll said is there.
        let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut p, PollTimeout::ZERO) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut b) {
            Ok(8) => return Ok(Some(u64::from_ne_bytes(b))),
            Ok(n) => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("eventfd read of {n} bytes"),
                )))
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(errno(e)),
        }
    }
}
