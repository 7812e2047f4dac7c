// SPDX-License-Identifier: GPL-2.0
//! ivshmem-peer: a host peer on an ivshmem server (ours or QEMU's), to
//! ring guests and other peers, wait for their rings, and look at the
//! shared memory.

use ivshmem::getopt::getopt;
use ivshmem::peer::{Error, Event, Peer};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: ivshmem-peer [-S <socket>] [-n <vectors>] COMMAND [ARGS]
  -S <socket>   the server's UNIX socket (default /tmp/ivshmem_socket)
  -n <vectors>  vectors this peer takes (default 1)
Commands:
  dump                          our id, the shared memory, the peers and their vectors
  ring <peer> <vector> [<n>]    ring a peer's vector (n times, default 1)
  wait <vector>[,<vector>...] [-t <secs>] [-c <rings>]
                                wait for rings on our vectors, print each
                                (\"vector V: N\"); until <rings> are counted
                                (default 1); exit 3 on timeout
  monitor [-t <secs>]           print peers coming and going, and rings,
                                until the timeout or the server goes
  ping [-c <rounds>] [-t <secs>] ping-pong with a pong peer (samples/ivshmem's
                                protocol, at shared memory offset 4096): print
                                round trips per second
  pong [-c <rounds>] [-t <secs>] answer that many pings (default 1000)
  read <offset> <length>        print shared memory bytes in hex
  write <offset> <text>         write text (bytes) into the shared memory
Exit status: 0 done, 1 error, 2 usage, 3 timed out.
";

fn usage_err(msg: &str) -> ExitCode {
    eprintln!("ivshmem-peer: {msg}");
    eprint!("{USAGE}");
    ExitCode::from(2)
}

/// Why a command did not run: a bad command line (exit 2, with the usage)
/// or a peer error (exit 1).
enum Fail {
    Usage(String),
    Peer(Error),
}

impl<E: Into<Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Peer(e.into())
    }
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Usage(msg.into()))
}

/// A number, decimal or 0x hex.
fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Fail> {
    let parsed = if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
            .ok()
            .and_then(|v| v.to_string().parse().ok())
    } else {
        s.parse().ok()
    };
    parsed.map_or_else(|| usage(format!("bad {what} '{s}'")), Ok)
}

/// Seconds: finite, above 0 (`min_exclusive`) or at least 0.
fn secs(s: &str, min_exclusive: bool) -> Result<Duration, Fail> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (v > 0.0 || (!min_exclusive && v == 0.0)) => {
            Ok(Duration::from_secs_f64(v))
        }
        _ => usage(format!("bad timeout '{s}'")),
    }
}

/// A command's options (getopt `spec`); no operands may follow them.
fn flags(args: &[String], spec: &str, cmd: &str) -> Result<Vec<(char, String)>, Fail> {
    let (opts, extra) = getopt(args, spec).map_err(Fail::Usage)?;
    if !extra.is_empty() {
        return usage(format!("{cmd}: extra arguments"));
    }
    Ok(opts
        .into_iter()
        .map(|(c, a)| (c, a.unwrap_or_default()))
        .collect())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (opts, rest) = match getopt(&argv, "hS:n:") {
        Ok(x) => x,
        Err(e) => return usage_err(&e),
    };
    let (mut sock, mut vectors) = ("/tmp/ivshmem_socket".to_string(), 1u32);
    for (c, a) in opts {
        match (c, a) {
            ('h', _) => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            ('S', Some(a)) => sock = a,
            ('n', Some(a)) => match num(&a, "vector count") {
                Ok(n) => vectors = n,
                Err(Fail::Usage(m)) => return usage_err(&m),
                Err(Fail::Peer(_)) => unreachable!(),
            },
            _ => unreachable!(),
        }
    }
    let Some((cmd, args)) = rest.split_first() else {
        return usage_err("no command");
    };
    match run(&sock, vectors, cmd, args) {
        Ok(code) => code,
        Err(Fail::Usage(m)) => usage_err(&m),
        Err(Fail::Peer(e)) => {
            eprintln!("ivshmem-peer: {e}");
            ExitCode::from(1)
        }
    }
}

fn connect(sock: &str, vectors: u32) -> Result<Peer, Error> {
    Peer::connect(sock.as_ref(), vectors)
}

fn run(sock: &str, vectors: u32, cmd: &str, args: &[String]) -> Result<ExitCode, Fail> {
    let out = std::io::stdout();
    match (cmd, args) {
        ("dump", []) => {
            let p = connect(sock, vectors)?;
            let mut o = out.lock();
            let _ = writeln!(o, "id {}", p.id());
            let _ = writeln!(o, "shm {} bytes", p.shm_size()?);
            let _ = writeln!(o, "vectors {}", p.vectors());
            for (id, n) in p.peers() {
                let _ = writeln!(o, "peer {id} vectors {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ("ring", [peer, vector, more @ ..]) if more.len() <= 1 => {
            let peer: u16 = num(peer, "peer id")?;
            let vector: u32 = num(vector, "vector")?;
            let n: u64 = more.first().map_or(Ok(1), |s| num(s, "count"))?;
            let p = connect(sock, vectors)?;
            for _ in 0..n {
                p.ring(peer, vector)?;
            }
            println!("rang peer {peer} vector {vector} x{n}");
            Ok(ExitCode::SUCCESS)
        }
        ("wait", [list, flags_ @ ..]) => {
            let mut which = Vec::new();
            for v in list.split(',') {
                which.push(num::<u32>(v, "vector")?);
            }
            let (mut limit, mut want) = (None, 1u64);
            for (c, a) in flags(flags_, "t:c:", "wait")? {
                match c {
                    't' => limit = Some(secs(&a, false)?),
                    _ => want = num(&a, "count")?,
                }
            }
            let mut p = connect(sock, vectors)?;
            println!("peer {} waiting on vector(s) {list}", p.id());
            let _ = out.lock().flush();
            let deadline = limit.map(|s| Instant::now() + s);
            let mut total = 0;
            while total < want {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let got = p.wait(&which, left)?;
                if got.is_empty() {
                    eprintln!("ivshmem-peer: timed out after {total} of {want} rings");
                    return Ok(ExitCode::from(3));
                }
                for (v, n) in got {
                    println!("vector {v}: {n}");
                    total += n;
                }
                let _ = out.lock().flush();
            }
            Ok(ExitCode::SUCCESS)
        }
        ("monitor", flags_) => {
            let mut limit = None;
            for (_, a) in flags(flags_, "t:", "monitor")? {
                limit = Some(secs(&a, false)?);
            }
            let mut p = connect(sock, vectors)?;
            println!("id {}", p.id());
            for (id, n) in p.peers() {
                println!("peer {id} vectors {n}");
            }
            let _ = out.lock().flush();
            let deadline = limit.map(|s| Instant::now() + s);
            let all: Vec<u32> = (0..p.vectors() as u32).collect();
            loop {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left.is_some_and(|l| l.is_zero()) {
                    return Ok(ExitCode::SUCCESS);
                }
                let slice = left
                    .unwrap_or(Duration::from_secs(3600))
                    .min(Duration::from_millis(200));
                let events = if all.is_empty() {
                    p.wait_event(slice)?
                } else {
                    for (v, n) in p.wait(&all, Some(slice))? {
                        println!("vector {v}: {n}");
                    }
                    p.process()?
                };
                for e in events {
                    match e {
                        Event::PeerVector { peer, vector } => {
                            println!("peer {peer} vector {vector} connected")
                        }
                        Event::PeerLeft(peer) => println!("peer {peer} left"),
                        Event::OwnVector(v) => println!("own vector {v} connected"),
                        Event::ServerGone => {
                            println!("server gone");
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
                let _ = out.lock().flush();
            }
        }
        (role @ ("ping" | "pong"), flags_) => {
            let (mut rounds, mut limit) = (1000u64, Duration::from_secs(600));
            for (c, a) in flags(flags_, "c:t:", "ping/pong")? {
                match c {
                    'c' => rounds = num(&a, "rounds")?,
                    _ => limit = secs(&a, true)?,
                }
            }
            let p = connect(sock, vectors.max(1))?;
            Ok(pingpong(p, role == "ping", rounds, limit)?)
        }
        ("read", [off, len]) => {
            let off: u64 = num(off, "offset")?;
            let len: usize = num(len, "length")?;
            let p = connect(sock, 0)?;
            let m = p.map()?;
            let mut buf = vec![0u8; len];
            m.read(off, &mut buf)?;
            for (i, chunk) in buf.chunks(16).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                println!("{:08x}: {}", off as usize + i * 16, hex.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        ("write", [off, text]) => {
            let off: u64 = num(off, "offset")?;
            let p = connect(sock, 0)?;
            p.map()?.write(off, text.as_bytes())?;
            println!("wrote {} bytes at {off:#x}", text.len());
            Ok(ExitCode::SUCCESS)
        }
        _ => usage(format!("bad command '{cmd}' or its arguments")),
    }
}

/// samples/ivshmem/ivshmem_pingpong.c's protocol, at offset 4096 of the
/// shared memory: +0 the ping's sequence number, +8 its echo, +64
/// "PONG <id>", +96 "PING <id>"; vector 0 both ways.
fn pingpong(mut p: Peer, ping: bool, rounds: u64, limit: Duration) -> Result<ExitCode, Error> {
    use std::sync::atomic::Ordering;
    const BASE: u64 = 4096;
    let m = p.map()?;
    let deadline = Instant::now() + limit;
    let left = || deadline.saturating_duration_since(Instant::now());
    let (seq, echo) = (m.atomic_u64(BASE)?, m.atomic_u64(BASE + 8)?);
    // Wait for the other side's "<tag> <id>\n" at `off`.
    let wait_tag = |tag: &str, off: u64| -> Option<u16> {
        while !left().is_zero() {
            let mut b = [0u8; 24];
            if m.read(off, &mut b).is_ok() {
                let t = String::from_utf8_lossy(&b);
                if let Some(rest) = t.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                    if let Ok(id) = rest.split('\n').next().unwrap_or("").parse() {
                        return Some(id);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    };
    let me = p.id();
    // The id comes through the memory; the server's announcement of that
    // peer (its eventfds) may still be on the way.
    let known = |p: &mut Peer, peer: u16| -> Result<bool, Error> {
        while !p.peers().iter().any(|(id, _)| *id == peer) {
            if left().is_zero() || p.server_gone() {
                return Ok(false);
            }
            p.wait_event(left().min(Duration::from_millis(100)))?;
        }
        Ok(true)
    };
    if ping {
        let Some(peer) = wait_tag("PONG", BASE + 64) else {
            eprintln!("ivshmem-peer: no pong peer is ready");
            return Ok(ExitCode::from(3));
        };
        if !known(&mut p, peer)? {
            eprintln!("ivshmem-peer: pong peer {peer} is not connected");
            return Ok(ExitCode::from(3));
        }
        m.write(BASE + 96, format!("PING {me}\n\0").as_bytes())?;
        let (t0, mut worst) = (Instant::now(), Duration::ZERO);
        // The rounds that waited for the answer's ring (in the others the
        // answer beat the ring's return): the doorbell round trip.
        let mut slow = Vec::new();
        for i in 1..=rounds {
            let r0 = Instant::now();
            seq.store(i, Ordering::SeqCst);
            p.ring(peer, 0)?;
            let waited = echo.load(Ordering::SeqCst) != i;
            // An old answer wakes us too; a lost ring (the other side did not
            // know us yet) is repeated after a second.
            while echo.load(Ordering::SeqCst) != i {
                if left().is_zero() {
                    eprintln!("ivshmem-peer: timed out in round {i}");
                    return Ok(ExitCode::from(3));
                }
                if p.wait(&[0], Some(left().min(Duration::from_secs(1))))?
                    .is_empty()
                {
                    p.ring(peer, 0)?;
                }
            }
            let r = r0.elapsed();
            worst = worst.max(r);
            if waited {
                slow.push(r);
            }
        }
        let t = t0.elapsed().as_secs_f64();
        slow.sort_unstable();
        let median = slow.get(slow.len() / 2).copied().unwrap_or_default();
        println!(
            "ping: {rounds} round trips with peer {peer} in {t:.3} s: {:.0}/s, slowest {:.3} ms, waited in {} (median {:.1} us)",
            rounds as f64 / t,
            worst.as_secs_f64() * 1e3,
            slow.len(),
            median.as_secs_f64() * 1e6
        );
    } else {
        m.write(BASE + 64, format!("PONG {me}\n\0").as_bytes())?;
        println!("pong: peer {me} ready");
        let _ = std::io::stdout().flush();
        let Some(peer) = wait_tag("PING", BASE + 96) else {
            eprintln!("ivshmem-peer: no ping peer came");
            return Ok(ExitCode::from(3));
        };
        if !known(&mut p, peer)? {
            eprintln!("ivshmem-peer: ping peer {peer} is not connected");
            return Ok(ExitCode::from(3));
        }
        // Every ring is answered; a repeated number counts once.
        let (mut n, mut last) = (0, 0);
        while n < rounds {
            if p.wait(&[0], Some(left()))?.is_empty() {
                eprintln!("ivshmem-peer: timed out after {n} pings");
                return Ok(ExitCode::from(3));
            }
            let cur = seq.load(Ordering::SeqCst);
            echo.store(cur, Ordering::SeqCst);
            p.ring(peer, 0)?;
            if cur != last {
                (n, last) = (n + 1, cur);
            }
        }
        println!("pong: answered {rounds} pings from peer {peer}");
    }
    Ok(ExitCode::SUCCESS)
}
