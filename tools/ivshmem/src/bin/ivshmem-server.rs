// SPDX-License-Identifier: GPL-2.0
//! ivshmem-server: QEMU's ivshmem protocol server, with the command line of
//! QEMU's `contrib/ivshmem-server` (a drop-in for it).

use ivshmem::getopt::getopt;
use ivshmem::proto::MAX_VECTORS;
use ivshmem::server::{Config, Server};
use ivshmem::shm::{parse_size, ShmSource};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;
use std::process::ExitCode;

const DEFAULT_PID_FILE: &str = "/var/run/ivshmem-server.pid";
const DEFAULT_SOCKET: &str = "/tmp/ivshmem_socket";
const DEFAULT_SHM: &str = "ivshmem";
const DEFAULT_SIZE: u64 = 4 << 20;
const DEFAULT_VECTORS: u32 = 1;

fn usage(prog: &str) -> String {
    format!(
        "Usage: {prog} [OPTION]...\n\
         \x20 -h: show this help\n\
         \x20 -v: verbose mode\n\
         \x20 -F: foreground mode (default is to daemonize)\n\
         \x20 -p <pid-file>: path to the PID file (used in daemon mode only)\n\
         \x20    default {DEFAULT_PID_FILE}\n\
         \x20 -S <unix-socket-path>: path to the unix socket to listen to\n\
         \x20    default {DEFAULT_SOCKET}\n\
         \x20 -M <shm-name>: POSIX shared memory object to use\n\
         \x20    default {DEFAULT_SHM}\n\
         \x20 -m <dir-name>: where to create shared memory\n\
         \x20 -l <size>: size of shared memory in bytes\n\
         \x20    suffixes K, M and G can be used, e.g. 1K means 1024\n\
         \x20    default {DEFAULT_SIZE}\n\
         \x20 -n <nvectors>: number of vectors\n\
         \x20    default {DEFAULT_VECTORS}\n"
    )
}

fn fail(prog: &str, msg: &str) -> ExitCode {
    eprintln!("{msg}");
    eprintln!("Try '{prog} -h' for more information.");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .map_or("ivshmem-server", |s| s.as_str())
        .to_string();
    let (opts, rest) = match getopt(&argv[1..], "hvFp:S:m:M:l:n:") {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{prog}: {e}");
            print!("{}", usage(&prog));
            return ExitCode::from(1);
        }
    };
    if let Some(op) = rest.first() {
        return fail(&prog, &format!("unexpected operand '{op}'"));
    }
    let mut cfg = Config {
        socket: DEFAULT_SOCKET.into(),
        shm: ShmSource::Posix(DEFAULT_SHM.into()),
        size: DEFAULT_SIZE,
        vectors: DEFAULT_VECTORS,
        verbose: false,
    };
    let (mut foreground, mut pid_file) = (false, DEFAULT_PID_FILE.to_string());
    for (c, arg) in opts {
        let arg = arg.unwrap_or_default();
        match c {
            'h' => {
                print!("{}", usage(&prog));
                return ExitCode::SUCCESS;
            }
            'v' => cfg.verbose = true,
            'F' => foreground = true,
            'p' => pid_file = arg,
            'S' => cfg.socket = arg.into(),
            'M' => cfg.shm = ShmSource::Posix(arg),
            'm' => cfg.shm = ShmSource::Dir(arg.into()),
            'l' => match parse_size(&arg) {
                Ok(s) => cfg.size = s,
                Err(e) => return fail(&prog, &format!("shm_size: {e}")),
            },
            'n' => match parse_uint(&arg) {
                Some(n) => cfg.vectors = n,
                None => return fail(&prog, "cannot parse n_vectors"),
            },
            _ => unreachable!(),
        }
    }
    if cfg.vectors > MAX_VECTORS {
        return fail(
            &prog,
            &format!("too many requested vectors (max is {MAX_VECTORS})"),
        );
    }
    if cfg.verbose && !foreground {
        return fail(&prog, "cannot use verbose in daemon mode");
    }

    // Each client costs 1 + vectors descriptors here, and descriptors in
    // flight count against the limit as well: use all the hard limit allows.
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        if soft < hard {
            let _ = nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                hard,
                hard,
            );
        }
    }

    // SIGINT/SIGTERM end the loop through a signalfd: the server then
    // tells every client, removes its socket and exits 0.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    if let Err(e) = mask.thread_block() {
        eprintln!("cannot block signals: {e}");
        return ExitCode::from(1);
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("signalfd: {e}");
            return ExitCode::from(1);
        }
    };
    let mut server = match Server::new(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            return ExitCode::from(1);
        }
    };
    let mut written_pid = None;
    if !foreground {
        // Like QEMU's server: keep the working directory and the standard
        // descriptors (errors stay visible), write the pid file after the fork.
        if let Err(e) = nix::unistd::daemon(true, true) {
            eprintln!("cannot daemonize: {e}");
            return ExitCode::from(1);
        }
        if let Err(e) = std::fs::write(&pid_file, format!("{}\n", std::process::id())) {
            eprintln!("cannot write pid file: {e}");
            return ExitCode::from(1);
        }
        written_pid = Some(pid_file);
    }
    let r = server.run(sfd.as_fd());
    drop(server);
    if let Some(p) = written_pid {
        let _ = std::fs::remove_file(p);
    }
    match r {
        Ok(()) => {
            println!("server disconnected");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server loop: {e}");
            ExitCode::from(1)
        }
    }
}

/// Like QEMU's `parse_uint_full(s, &v, 0)`: decimal, 0x hex or 0 octal.
fn parse_uint(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    u32::from_str_radix(digits, radix)
        .ok()
        .filter(|_| !digits.starts_with('+'))
}
