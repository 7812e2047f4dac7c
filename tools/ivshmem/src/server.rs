// SPDX-License-Identifier: GPL-2.0
//! The ivshmem server: hands each client an id, the shared memory and the
//! eventfds that connect it with every other client, and tells the others
//! when a client comes and goes (QEMU `docs/specs/ivshmem-spec.rst`).
//!
//! Differences from QEMU's `contrib/ivshmem-server`, none visible on the
//! wire:
//! - messages a client's socket cannot take at once (a long setup burst,
//!   a slow reader) wait in a queue of its own, flushed when the socket
//!   drains; a client whose queue passes [`MAX_QUEUED`] messages has
//!   stopped reading and is disconnected (the others are told). QEMU's
//!   server drops such messages silently;
//! - a client that hangs up before its setup is sent is dropped; QEMU's
//!   server exits on it (its new-connection handler fails with EPIPE);
//! - ids go round-robin over 0..=65535 as in QEMU's server, skipping ids
//!   in use;
//! - the socket appears only once it listens (bound under a temporary name
//!   and renamed), so a client never finds the file but no listener; a
//!   stale socket file left by a killed server is replaced, one a live
//!   server listens on is refused;
//! - running out of descriptors refuses the one client that could not be
//!   set up and keeps serving the others.

use crate::proto::{self, MAX_PEER_ID, MAX_VECTORS, PROTOCOL_VERSION, SHM_MESSAGE};
use crate::shm::{self, ShmSource};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::collections::{BTreeMap, VecDeque};
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

/// Messages a client may have waiting before it counts as not reading.
pub const MAX_QUEUED: usize = 4096;

struct Client {
    sock: UnixStream,
    /// The client's own vectors: it waits on them, the others ring them.
    vectors: Vec<EventFd>,
    /// Messages its socket could not take yet, in order (descriptors
    /// duplicated: the original may be closed before the flush).
    out: VecDeque<(i64, Option<OwnedFd>)>,
}

impl Client {
    fn new(sock: UnixStream, vectors: Vec<EventFd>) -> Self {
        Client {
            sock,
            vectors,
            out: VecDeque::new(),
        }
    }

    /// Sends a message, or queues it behind earlier ones; an error means
    /// the client must go.
    fn send(&mut self, value: i64, fd: Option<BorrowedFd<'_>>) -> Result<(), String> {
        if self.out.is_empty() {
            match proto::send(self.sock.as_fd(), value, fd) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("cannot send: {e}")),
            }
        }
        if self.out.len() >= MAX_QUEUED {
            return Err(format!("stopped reading ({MAX_QUEUED} messages waiting)"));
        }
        let fd = match fd.map(|f| f.try_clone_to_owned()).transpose() {
            Ok(f) => f,
            Err(e) => return Err(format!("cannot queue a descriptor: {e}")),
        };
        self.out.push_back((value, fd));
        Ok(())
    }

    /// Sends what the queue holds until the socket is full again.
    fn flush(&mut self) -> Result<(), String> {
        while let Some((value, fd)) = self.out.front() {
            match proto::send(self.sock.as_fd(), *value, fd.as_ref().map(|f| f.as_fd())) {
                Ok(()) => {
                    self.out.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(format!("cannot send: {e}")),
            }
        }
        Ok(())
    }
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
        let (stopped, listen, ready, writable) = {
            let mut fds = Vec::with_capacity(ids.len() + 2);
            fds.push(PollFd::new(stop, PollFlags::POLLIN));
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            for id in &ids {
                let c = &self.clients[id];
                let mut ev = PollFlags::POLLIN;
                if !c.out.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(c.sock.as_fd(), ev));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(false),
                Err(e) => return Err(errno_io(e)),
            }
            let hit = |p: &PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
            let has = |p: &PollFd<'_>, f: PollFlags| p.revents().is_some_and(|r| r.intersects(f));
            let input = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
            let pick = |f: PollFlags| -> Vec<u16> {
                ids.iter()
                    .zip(&fds[2..])
                    .filter(|(_, p)| has(p, f))
                    .map(|(id, _)| *id)
                    .collect()
            };
            (
                hit(&fds[0]),
                hit(&fds[1]),
                pick(input),
                pick(PollFlags::POLLOUT),
            )
        };
        if stopped {
            return Ok(true);
        }
        for id in writable {
            if let Some(Err(why)) = self.clients.get_mut(&id).map(|c| c.flush()) {
                self.remove(id, &why);
            }
        }
        // A client never sends anything: data or a hang-up both end it.
        for id in ready {
            let why = match self.clients.get(&id).map(|c| peek(&c.sock)) {
                Some(Ok(Some(0))) => "disconnected".to_string(),
                Some(Ok(Some(_))) => "sent data (the protocol is one-way)".to_string(),
                Some(Ok(None)) => continue, // spurious wake-up
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
    /// gets its own vectors. What its socket cannot take at once is queued.
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
        let mut new = Client::new(sock, vectors);
        let init = new
            .send(PROTOCOL_VERSION, None)
            .and_then(|_| new.send(i64::from(id), None))
            .and_then(|_| new.send(SHM_MESSAGE, Some(self.shm.as_fd())));
        if let Err(e) = init {
            self.log(format!("new client (id {id} not given): {e}"));
            return;
        }
        // Announce it to the others; one that cannot take it is dropped.
        let mut failed = Vec::new();
        for (&other, c) in self.clients.iter_mut() {
            for v in &new.vectors {
                if let Err(e) = c.send(i64::from(id), Some(v.as_fd())) {
                    failed.push((other, e));
                    break;
                }
            }
        }
        // The others to it, then its own vectors.
        let mut result = Ok(());
        'others: for (&other, c) in &self.clients {
            if failed.iter().any(|(f, _)| *f == other) {
                continue;
            }
            for v in &c.vectors {
                result = new.send(i64::from(other), Some(v.as_fd()));
                if result.is_err() {
                    break 'others;
                }
            }
        }
        if result.is_ok() {
            for k in 0..new.vectors.len() {
                let fd = match new.vectors[k].as_fd().try_clone_to_owned() {
                    Ok(fd) => fd,
                    Err(e) => {
                        result = Err(format!("cannot duplicate a descriptor: {e}"));
                        break;
                    }
                };
                result = new.send(i64::from(id), Some(fd.as_fd()));
                if result.is_err() {
                    break;
                }
            }
        }
        self.clients.insert(id, new);
        match result {
            Ok(()) => self.log(format!("new peer id = {id}")),
            Err(e) => failed.push((id, format!("its setup: {e}"))),
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
            for (&other, c) in self.clients.iter_mut() {
                if let Err(e) = c.send(i64::from(id), None) {
                    if !queue.iter().any(|(q, _)| *q == other) {
                        queue.push((other, e));
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

/// How many bytes a client sent (`Some(0)`: it hung up), without
/// consuming them; `None` if nothing is there (a spurious wake-up).
fn peek(sock: &UnixStream) -> io::Result<Option<usize>> {
    let mut b = [0u8; 1];
    match nix::sys::socket::recv(
        std::os::fd::AsRawFd::as_raw_fd(sock),
        &mut b,
        nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(n) => Ok(Some(n)),
        Err(Errno::EAGAIN) => Ok(None),
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
    // Bound and listening under a temporary name, then renamed: a client
    // never finds the socket file without a listener behind it.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let l = UnixListener::bind(&tmp)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot bind {}: {e}", path.display()),
        ));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u16 = MAX_PEER_ID as u16;

    fn server(tag: &str) -> (Server, PathBuf) {
        let dir = std::env::temp_dir().join(format!("ivshmem-unit-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Config {
            socket: dir.join("sock"),
            shm: ShmSource::Dir(dir.clone()),
            size: 4096,
            vectors: 1,
            verbose: false,
        };
        (Server::new(&cfg).unwrap(), dir)
    }

    fn client() -> Client {
        Client::new(UnixStream::pair().unwrap().0, Vec::new())
    }

    /// Ids are handed out in order, skip the ones in use, and wrap from
    /// the largest id (65535) to 0, like QEMU's server.
    #[test]
    fn ids_skip_used_ones_and_wrap_after_the_largest() {
        let (mut s, dir) = server("ids");
        assert_eq!(s.free_id(), Some(0));
        assert_eq!(s.free_id(), Some(1));
        s.clients.insert(2, client());
        s.clients.insert(3, client());
        assert_eq!(s.free_id(), Some(4));
        s.next_id = u32::from(MAX) - 1;
        s.clients.insert(MAX, client());
        assert_eq!(s.free_id(), Some(MAX - 1));
        // 65535 is taken: wrap to 0, which is free again.
        assert_eq!(s.free_id(), Some(0));
        s.clients.insert(0, client());
        s.clients.insert(1, client());
        s.next_id = u32::from(MAX);
        // 65535, 0..=3 taken: 4.
        assert_eq!(s.free_id(), Some(4));
        assert_eq!(s.next_id, 5);
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
