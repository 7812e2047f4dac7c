// SPDX-License-Identifier: GPL-2.0
//! The ivshmem server: hands each client an id, the shared memory and the
//! eventfds that connect it with every other client, and tells the others
//! when a client comes and goes (QEMU `docs/specs/ivshmem-spec.rst`).
//!
//! Differences from QEMU's `contrib/ivshmem-server`, none visible on the
//! wire:
//! - a client whose socket cannot take a message (it stopped reading and
//!   its buffer is full, or it is gone) is disconnected, and the others are
//!   told, instead of the message being dropped silently;
//! - ids are handed out round-robin over 0..=65535, skipping ids in use, so
//!   a departed client's id is not reused at once;
//! - a stale socket file left by a killed server is replaced; a socket a
//!   live server listens on is refused;
//! - running out of descriptors refuses the one client that could not be
//!   set up and keeps serving the others.

use crate::proto::{self, MAX_PEER_ID, MAX_VECTORS, PROTOCOL_VERSION, SHM_MESSAGE};
use crate::shm::{self, ShmSource};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// What the server is started with (the command line's options).
#[derive(Debug, Clone)]
pub struct Config {
    /// The UNIX socket to listen on (`-S`).
    pub socket: PathBuf,
    /// Where the shared memory comes from (`-M`, `-m`).
    pub shm: ShmSource,
    /// Its size in bytes before rounding up to a power of two (`-l`).
    pub size: u64,
    /// Vectors (eventfds) per client (`-n`), at most [`MAX_VECTORS`].
    pub vectors: u32,
    /// Log every event on stdout (`-v`).
    pub verbose: bool,
}

struct Client {
    sock: UnixStream,
    /// The client's own vectors: it waits on them, the others ring them.
    vectors: Vec<EventFd>,
}

/// A bound server; [`Server::run`] serves until told to stop.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's (device, inode): only that file is unlinked on
    /// drop, not one a newer server has put in its place.
    file_id: (u64, u64),
    shm: OwnedFd,
    vectors: u32,
    clients: BTreeMap<u16, Client>,
    next_id: u32,
    verbose: bool,
    /// Kept open so that, out of descriptors, a pending connection can
    /// still be accepted and closed instead of spinning on it.
    spare: Option<OwnedFd>,
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn spare_fd() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

impl Server {
    /// Opens the shared memory and binds the socket. A socket file left by
    /// a server that is no longer running is replaced; one that a server
    /// still listens on, or a path that is not a socket, is an error.
    pub fn new(cfg: &Config) -> io::Result<Server> {
        if cfg.vectors > MAX_VECTORS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("too many requested vectors (max is {MAX_VECTORS})"),
            ));
        }
        let shm = shm::open(&cfg.shm, cfg.size)?;
        let listener = bind(&cfg.socket)?;
        let md = std::fs::metadata(&cfg.socket)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: cfg.socket.clone(),
            file_id: (md.dev(), md.ino()),
            shm,
            vectors: cfg.vectors,
            clients: BTreeMap::new(),
            next_id: 0,
            verbose: cfg.verbose,
            spare: spare_fd(),
        })
    }

    /// The ids of the connected clients, in order.
    pub fn client_ids(&self) -> Vec<u16> {
        self.clients.keys().copied().collect()
    }

    /// The shared memory's descriptor.
    pub fn shm(&self) -> BorrowedFd<'_> {
        self.shm.as_fd()
    }

    fn log(&self, msg: impl AsRef<str>) {
        if self.verbose {
            println!("{}", msg.as_ref());
        }
    }

    /// Serves until `stop` becomes readable (an eventfd, a signalfd, a
    /// pipe), then disconnects every client (the others are told of each,
    /// as QEMU's server does) and returns.
    pub fn run(&mut self, stop: BorrowedFd<'_>) -> io::Result<()> {
        while !self.step(stop, PollTimeout::NONE)? {}
        self.shutdown();
        Ok(())
    }

    /// One round of the loop: waits up to `timeout` for a connection, a
    /// client's socket or `stop`, and handles what came. Returns whether
    /// `stop` is readable.
    pub fn step(&mut self, stop: BorrowedFd<'_>, timeout: PollTimeout) -> io::Result<bool> {
        let ids: Vec<u16> = self.client_ids();
        let (stopped, listen, ready) = {
            let mut fds = Vec::with_capacity(ids.len() + 2);
            fds.push(PollFd::new(stop, PollFlags::POLLIN));
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            for id in &ids {
                fds.push(PollFd::new(
                    self.clients[id].sock.as_fd(),
                    PollFlags::POLLIN,
                ));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(false),
                Err(e) => return Err(errno_io(e)),
            }
            let hit = |p: &PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
            let ready: Vec<u16> = ids
                .iter()
                .zip(&fds[2..])
                .filter(|(_, p)| hit(p))
                .map(|(id, _)| *id)
                .collect();
            (hit(&fds[0]), hit(&fds[1]), ready)
        };
        if stopped {
            return Ok(true);
        }
        // A client never sends anything: data or a hang-up both end it.
        for id in ready {
            let why = match self.clients.get(&id).map(|c| peek(&c.sock)) {
                Some(Ok(0)) => "disconnected".to_string(),
                Some(Ok(_)) => "sent data (the protocol is one-way)".to_string(),
                Some(Err(e)) => format!("socket error: {e}"),
                None => continue,
            };
            self.remove(id, &why);
        }
        if listen {
            self.accept_all();
        }
        Ok(false)
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => self.add(sock),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if [Some(Errno::EMFILE as i32), Some(Errno::ENFILE as i32)]
                        .contains(&e.raw_os_error()) =>
                {
                    eprintln!("ivshmem-server: cannot accept a client: {e}; refusing it");
                    // Free the spare, take the connection and close it, so
                    // it does not wake every poll.
                    self.spare = None;
                    drop(self.listener.accept());
                    self.spare = spare_fd();
                    return;
                }
                Err(e) => {
                    eprintln!("ivshmem-server: accept: {e}");
                    return;
                }
            }
        }
    }

    fn free_id(&mut self) -> Option<u16> {
        let n = MAX_PEER_ID as u32 + 1;
        for k in 0..n {
            let id = ((self.next_id + k) % n) as u16;
            if !self.clients.contains_key(&id) {
                self.next_id = (u32::from(id) + 1) % n;
                return Some(id);
            }
        }
        None
    }

    /// Sets up a new client: version, id, shm; then it is announced to the
    /// others (one eventfd per vector), they are announced to it, and it
    /// gets its own vectors.
    fn add(&mut self, sock: UnixStream) {
        let Some(id) = self.free_id() else {
            eprintln!("ivshmem-server: 65536 clients connected, refusing another");
            return;
        };
        let mut vectors = Vec::with_capacity(self.vectors as usize);
        for _ in 0..self.vectors {
            match EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK) {
                Ok(e) => vectors.push(e),
                Err(e) => {
                    eprintln!("ivshmem-server: cannot create an eventfd for a new client: {e}; refusing it");
                    return;
                }
            }
        }
        if let Err(e) = sock.set_nonblocking(true) {
            eprintln!("ivshmem-server: new client: {e}");
            return;
        }
        let init = proto::send(sock.as_fd(), PROTOCOL_VERSION, None)
            .and_then(|_| proto::send(sock.as_fd(), i64::from(id), None))
            .and_then(|_| proto::send(sock.as_fd(), SHM_MESSAGE, Some(self.shm.as_fd())));
        if let Err(e) = init {
            self.log(format!("new client (id {id} not given): cannot send: {e}"));
            return;
        }
        // Announce it to the others; one that cannot take it is dropped.
        let mut failed = Vec::new();
        for (&other, c) in &self.clients {
            for v in &vectors {
                if let Err(e) = proto::send(c.sock.as_fd(), i64::from(id), Some(v.as_fd())) {
                    failed.push((other, format!("cannot send: {e}")));
                    break;
                }
            }
        }
        // The others to it, then its own vectors.
        let mut ok = true;
        'others: for (&other, c) in &self.clients {
            if failed.iter().any(|(f, _)| *f == other) {
                continue;
            }
            for v in &c.vectors {
                if proto::send(sock.as_fd(), i64::from(other), Some(v.as_fd())).is_err() {
                    ok = false;
                    break 'others;
                }
            }
        }
        if ok {
            ok = vectors
                .iter()
                .all(|v| proto::send(sock.as_fd(), i64::from(id), Some(v.as_fd())).is_ok());
        }
        self.clients.insert(id, Client { sock, vectors });
        if ok {
            self.log(format!("new peer id = {id}"));
        } else {
            failed.push((id, "cannot send its setup".to_string()));
        }
        for (f, why) in failed {
            self.remove(f, &why);
        }
    }

    /// Drops a client: closes its socket and eventfds and tells every other
    /// client. One that cannot be told is dropped in turn.
    fn remove(&mut self, id: u16, why: &str) {
        let mut queue = vec![(id, why.to_string())];
        while let Some((id, why)) = queue.pop() {
            if self.clients.remove(&id).is_none() {
                continue;
            }
            self.log(format!("free peer {id}: {why}"));
            for (&other, c) in &self.clients {
                if let Err(e) = proto::send(c.sock.as_fd(), i64::from(id), None) {
                    if !queue.iter().any(|(q, _)| *q == other) {
                        queue.push((other, format!("cannot send: {e}")));
                    }
                }
            }
        }
    }

    /// Disconnects every client, in id order, telling the rest each time.
    pub fn shutdown(&mut self) {
        while let Some(&id) = self.clients.keys().next() {
            self.remove(id, "server stopping");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
        // Only our own socket file: a newer server may have replaced it.
        if let Ok(md) = std::fs::symlink_metadata(&self.path) {
            if (md.dev(), md.ino()) == self.file_id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// How many bytes a client sent (0: it hung up), without consuming them.
fn peek(sock: &UnixStream) -> io::Result<usize> {
    let mut b = [0u8; 1];
    match nix::sys::socket::recv(
        std::os::fd::AsRawFd::as_raw_fd(sock),
        &mut b,
        nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(n) => Ok(n),
        Err(Errno::EAGAIN) => Ok(1), // spurious wake-up: treat as data, never as EOF
        Err(e) => Err(errno_io(e)),
    }
}

fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: a server is already listening there", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ))
        }
        Err(_) => {}
    }
    UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))
}
