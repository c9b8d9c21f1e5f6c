//! What the benchmark ran on, read from /proc and `df`; and what a server
//! process holds: its resident memory and the size of its data directory.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The machine, as reported at the top of BENCHMARKS.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub ram_gib: f64,
    pub kernel: String,
    /// File system type and device holding the data directories.
    pub disk: String,
}

impl Machine {
    pub fn read(data_dir: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_gib =
            kib_field(&meminfo, "MemTotal:").map_or(0.0, |k| k as f64 / (1024.0 * 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
        Self {
            cpu,
            cores,
            ram_gib,
            kernel,
            disk: disk(data_dir),
        }
    }
}

fn disk(dir: &Path) -> String {
    // The nearest existing ancestor: the directory itself may be gone already.
    let dir = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    let out = Command::new("df")
        .arg("--output=fstype,source,target")
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let cols: Vec<&str> = text
                .lines()
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            match cols.as_slice() {
                [fstype, source, target, ..] => format!("{fstype} ({source} on {target})"),
                _ => "unknown".into(),
            }
        }
        _ => "unknown".into(),
    }
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time (user + system) a process has used so far, in seconds; 0 when
/// it is gone. Linux reports it in USER_HZ ticks, 100 a second.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3 of the whole line, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(11) + tick(12)) as f64 / 100.0
}

/// Resident memory of a process, from /proc/<pid>/status, in KiB.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Rss {
    /// `VmRSS`: everything resident.
    pub total_kib: u64,
    /// `RssAnon`: heap and stacks.
    pub anon_kib: u64,
    /// `RssFile`: resident pages of mapped files.
    pub file_kib: u64,
}

impl Rss {
    /// # Errors
    /// When the process is gone or its status has no `VmRSS`.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        Ok(Self {
            total_kib: kib_field(&status, "VmRSS:")
                .with_context(|| format!("no VmRSS for pid {pid}"))?,
            anon_kib: kib_field(&status, "RssAnon:").unwrap_or(0),
            file_kib: kib_field(&status, "RssFile:").unwrap_or(0),
        })
    }
}

/// Starts the peak-RSS count of process `pid` afresh (its `VmHWM` set to
/// its RSS now, by writing 5 to `/proc/<pid>/clear_refs`).
///
/// # Errors
/// When the process is gone or the kernel refuses.
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of pid {pid}"))
}

/// The peak RSS of process `pid` (`VmHWM`) since it started or since its
/// last [`reset_peak_rss`], in KiB.
///
/// # Errors
/// When the process is gone or its status has no `VmHWM`.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    kib_field(&status, "VmHWM:").with_context(|| format!("no VmHWM for pid {pid}"))
}

/// How many sockets a process has open (its `/proc/<pid>/fd` entries that
/// are sockets); 0 when it is gone.
pub fn sockets(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Total size in bytes of the regular files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// CPU time the whole machine has spent busy so far (user, nice, system,
/// irq and softirq over every core, from the first line of `/proc/stat`),
/// in seconds; 0 when it cannot be read. Linux reports it in USER_HZ ticks,
/// 100 a second.
pub fn machine_busy_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .unwrap_or_default()
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …
    [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| fields.get(i).copied().unwrap_or(0))
        .sum::<u64>() as f64
        / 100.0
}
