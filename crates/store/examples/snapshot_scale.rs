//! Measures what a snapshot of a large KV store costs: filling it, cloning
//! it (what the server does under its lock before encoding), encoding it
//! into a file, decoding it back, and the process's memory at each step.
//! A measurement driver, not a test:
//! `cargo run --release -p praetor-store --example snapshot_scale -- 1000000 /tmp/x.snap`.

// A benchmark driver reads the clock; the store itself never does.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::time::Instant;

use praetor_store::{Command, Store};

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/praetor-snapshot-scale.snap".into());
    let (base, _) = rss();
    let t = Instant::now();
    let mut store = Store::default();
    for i in 0..n {
        store.apply(
            i + 1,
            &Command::KvSet {
                key: format!("bench/key/{i:08}"),
                value: vec![b'x'; 256].into(),
                flags: 0,
                cas: None,
            },
        );
    }
    let (filled, _) = rss();
    println!(
        "fill {n} keys: {:?}; rss {filled} MiB ({} B per key over {base} MiB)",
        t.elapsed(),
        (filled - base) * 1024 * 1024 / n.max(1)
    );
    let t = Instant::now();
    let copy = store.clone();
    println!("clone: {:?}; rss {} MiB", t.elapsed(), rss().0);
    drop(copy);
    let t = Instant::now();
    let file = std::fs::File::create(&path)?;
    let mut w = store.encode_snapshot_to(std::io::BufWriter::with_capacity(1 << 20, file))?;
    w.flush()?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "encode to file: {:?}; {} MiB; rss {:?} MiB",
        t.elapsed(),
        size >> 20,
        rss()
    );
    drop(store);
    let t = Instant::now();
    let bytes = std::fs::read(&path)?;
    let back = Store::decode_snapshot(&bytes)?;
    drop(bytes);
    println!(
        "read + decode: {:?}; {} keys; rss (now, peak) {:?} MiB",
        t.elapsed(),
        back.kv().len(),
        rss()
    );
    Ok(())
}
