// SPDX-License-Identifier: GPL-2.0
//! The ivshmem client-server wire format (QEMU `docs/specs/ivshmem-spec.rst`).
//!
//! The connection is one-way, server to client. Every message is one 8-byte
//! little-endian signed number, optionally accompanied by one file
//! descriptor passed with `SCM_RIGHTS`:
//!
//! | value            | fd        | meaning                                       |
//! |------------------|-----------|-----------------------------------------------|
//! | `0` (first)      | none      | protocol version                              |
//! | own id (second)  | none      | the id the server gave this client            |
//! | `-1`             | shm       | the shared memory                             |
//! | other id         | eventfd   | ring that peer on the next vector (0, 1, ...) |
//! | own id           | eventfd   | this client's own vector (0, 1, ...)          |
//! | other id         | none      | that peer has gone                            |
//!
//! A message is sent with one `sendmsg()`, so the descriptor travels with
//! the message's first byte; [`recv`] reassembles the 8 bytes if the stream
//! splits them and refuses a message that carries more than one descriptor.

use nix::cmsg_space;
use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The protocol version this implementation speaks (QEMU 2.5 and later).
pub const PROTOCOL_VERSION: i64 = 0;
/// Peer ids are 16 bits: the Doorbell register carries them in bits 31:16.
pub const MAX_PEER_ID: i64 = 0xffff;
/// The number QEMU's server uses for the shared-memory message.
pub const SHM_MESSAGE: i64 = -1;
/// The most vectors per client the server hands out: QEMU's server stops
/// at 64 (`IVSHMEM_SERVER_MAX_VECTORS`), and so does ours, so that the two
/// accept the same command lines.
pub const MAX_VECTORS: u32 = 64;

/// One message as received: the number and the descriptor that came with it.
#[derive(Debug)]
pub struct Message {
    /// The 8-byte little-endian signed number.
    pub value: i64,
    /// The descriptor passed with it, if any (owned: closed on drop).
    pub fd: Option<OwnedFd>,
}

/// The most descriptors Linux passes in one message (`SCM_MAX_FD` in
/// `include/net/scm.h`); a `sendmsg` with more fails with `EINVAL`.
const SCM_MAX_FD: usize = 253;

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Sends one message. `MSG_NOSIGNAL`: a closed peer is an `EPIPE` error,
/// never a `SIGPIPE`. On a non-blocking socket a full send buffer is
/// [`io::ErrorKind::WouldBlock`]; a partial send (which a UNIX stream does
/// not do for 8 bytes, but is checked) is an error, since the stream can no
/// longer be resynchronised.
pub fn send(sock: BorrowedFd<'_>, value: i64, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let bytes = value.to_le_bytes();
    let iov = [IoSlice::new(&bytes)];
    let raw: [RawFd; 1] = [fd.map_or(-1, |f| f.as_raw_fd())];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if fd.is_some() { &cmsg } else { &[] };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(8) => return Ok(()),
            Ok(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short send ({n} of 8 bytes)"),
                ))
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno_io(e)),
        }
    }
}

/// Receives one message; `Ok(None)` at a clean end of stream (between
/// messages). An end of stream inside a message, or a message with more
/// than one descriptor (or truncated control data), is
/// [`io::ErrorKind::InvalidData`]; any descriptors that came with it are
/// closed.
///
/// On a non-blocking socket, [`io::ErrorKind::WouldBlock`] is returned only
/// when no byte of the message had arrived; once a message has started it
/// is read to its end.
pub fn recv(sock: BorrowedFd<'_>) -> io::Result<Option<Message>> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    let mut fds: Vec<OwnedFd> = Vec::new();
    while got < 8 {
        // Room for as many descriptors as the kernel passes in one message
        // (SCM_MAX_FD), so a misbehaving sender's extras are received and
        // closed: on truncation the kernel has installed descriptors that
        // nix no longer lets us see (`cmsgs()` fails), and they would leak.
        let mut space = cmsg_space!([RawFd; SCM_MAX_FD]);
        let n = {
            let mut iov = [IoSliceMut::new(&mut buf[got..])];
            let msg = match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => m,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) if got > 0 => {
                    wait_readable(sock)?;
                    continue;
                }
                Err(e) => return Err(errno_io(e)),
            };
            // Truncated control data: only if this process is out of
            // descriptors (the kernel then drops the rest).
            let cmsgs = msg.cmsgs().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "descriptors lost: control data truncated (out of descriptors?)",
                )
            })?;
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    for r in raw {
                        // SAFETY: `r` was just installed in this process by
                        // SCM_RIGHTS; nothing else refers to it, so taking
                        // ownership (and closing it on drop) is sound.
                        fds.push(unsafe { OwnedFd::from_raw_fd(r) });
                    }
                }
            }
            msg.bytes
        };
        if n == 0 {
            if got == 0 && fds.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("connection closed inside a message ({got} of 8 bytes)"),
            ));
        }
        got += n;
    }
    if fds.len() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "message {} came with {} descriptors",
                i64::from_le_bytes(buf),
                fds.len()
            ),
        ));
    }
    Ok(Some(Message {
        value: i64::from_le_bytes(buf),
        fd: fds.pop(),
    }))
}

/// Blocks until `fd` is readable (used to finish a message on a
/// non-blocking socket).
fn wait_readable(fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut p, PollTimeout::NONE) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno_io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::eventfd::{EfdFlags, EventFd};
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn round_trip_with_and_without_fd() {
        let (a, b) = UnixStream::pair().unwrap();
        let ev = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).unwrap();
        send(a.as_fd(), 0, None).unwrap();
        send(a.as_fd(), -1, Some(ev.as_fd())).unwrap();
        send(a.as_fd(), 65535, None).unwrap();
        let m = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!((m.value, m.fd.is_none()), (0, true));
        let m = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(m.value, -1);
        // The received descriptor is the same eventfd: a write through it
        // is read back through the original.
        let fd = m.fd.unwrap();
        nix::unistd::write(&fd, &5u64.to_ne_bytes()).unwrap();
        assert_eq!(ev.read().unwrap(), 5);
        let m = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!((m.value, m.fd.is_none()), (65535, true));
        drop(a);
        assert!(recv(b.as_fd()).unwrap().is_none());
    }

    #[test]
    fn wire_bytes_are_little_endian() {
        let (a, b) = UnixStream::pair().unwrap();
        send(a.as_fd(), 0x0102_0304_0506_0708, None).unwrap();
        send(a.as_fd(), -2, None).unwrap();
        let mut raw = [0u8; 16];
        use std::io::Read;
        (&b).read_exact(&mut raw).unwrap();
        assert_eq!(raw[..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(raw[8..], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn split_message_is_reassembled() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let v = 4242i64.to_le_bytes();
        a.write_all(&v[..3]).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            a.write_all(&v[3..]).unwrap();
            a
        });
        assert_eq!(recv(b.as_fd()).unwrap().unwrap().value, 4242);
        drop(t.join());
    }

    #[test]
    fn eof_inside_a_message_is_an_error() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&[1, 2, 3]).unwrap();
        drop(a);
        let e = recv(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn two_fds_in_one_message_are_refused_and_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let e1 = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).unwrap();
        let e2 = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).unwrap();
        let raw = [e1.as_fd().as_raw_fd(), e2.as_fd().as_raw_fd()];
        let bytes = 7i64.to_le_bytes();
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let e = recv(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("2 descriptors"), "{e}");
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn nonblocking_message_once_started_is_read_to_its_end() {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let v = (-77i64).to_le_bytes();
        a.write_all(&v[..5]).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            a.write_all(&v[5..]).unwrap();
            a
        });
        // Not WouldBlock: five bytes are in, so recv waits for the rest.
        assert_eq!(recv(b.as_fd()).unwrap().unwrap().value, -77);
        drop(t.join());
    }

    #[test]
    fn many_fds_are_refused_and_all_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let evs: Vec<EventFd> = (0..SCM_MAX_FD)
            .map(|_| EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).unwrap())
            .collect();
        let raw: Vec<RawFd> = evs.iter().map(|e| e.as_fd().as_raw_fd()).collect();
        let bytes = 9i64.to_le_bytes();
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let before = open_fds();
        let e = recv(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("253 descriptors"), "{e}");
        // None of the 253 received descriptors is left open. (Other tests'
        // threads open descriptors too: allow for a few of theirs.)
        assert!(open_fds() < before + 16, "{before} -> {}", open_fds());
        // The stream stays in step: the next message reads normally.
        send(a.as_fd(), 10, None).unwrap();
        assert_eq!(recv(b.as_fd()).unwrap().unwrap().value, 10);
    }

    #[test]
    fn nonblocking_empty_socket_would_block() {
        let (_a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        assert_eq!(
            recv(b.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }
}
