//! The ceiling of a UDP benchmark on this machine: a server that does no DNS
//! work at all. Each of `THREADS` threads owns a `SO_REUSEPORT` socket on
//! `ADDR`, takes every queued datagram with one `recvmmsg`, flips the QR bit
//! of each and sends them all back with one `sendmmsg` (the UDP workers'
//! own batching, `sekisho_resolver::udp_batch`). What dnsperf reaches
//! against it is what the load generator and the kernel allow on these
//! cores; a resolver's cache-hit rate is reported as a share of it
//! (`benches/scripts/cache_vs_unbound.sh`, and peer `echo` of `benches/peers`).
//!
//! usage: udp-echo ADDR THREADS SECONDS   (exits after SECONDS)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sekisho_resolver::listen::bind_udp;
use sekisho_resolver::udp_batch::{Batch, BATCH};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(threads), Some(seconds)) = (
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|a| a.parse::<usize>().ok()),
        args.get(3).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: udp-echo ADDR THREADS SECONDS");
        std::process::exit(2);
    };
    let sockets = match bind_udp(addr, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp-echo: cannot bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            std::thread::spawn(move || {
                let mut batch = Batch::default();
                let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
                let mut echoed = 0u64;
                while Instant::now() < until {
                    let Ok(n) = batch.recv(&socket) else {
                        continue;
                    };
                    for (i, out) in outs.iter_mut().enumerate().take(n) {
                        let Some((packet, peer, _)) = batch.datagram(i) else {
                            continue;
                        };
                        if packet.len() < 12 {
                            continue;
                        }
                        out.clear();
                        out.extend_from_slice(packet);
                        out[2] |= 0x80;
                        batch.reply(i, peer);
                        echoed += 1;
                    }
                    batch.flush(&socket, &outs);
                }
                echoed
            })
        })
        .collect();
    let echoed: u64 = workers.into_iter().filter_map(|w| w.join().ok()).sum();
    println!("echoed {echoed}");
}
