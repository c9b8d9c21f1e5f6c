//! What `GET /v1/agent/host` reports about the machine the agent runs on:
//! memory, CPUs, the host and the root file system, in the shapes Consul
//! returns (gopsutil's `VirtualMemoryStat`, `cpu.InfoStat`, `host.InfoStat`
//! and `disk.UsageStat`, with their JSON field names), read from `/proc`,
//! `/sys`, `/etc/os-release` and `statvfs(2)`. A part that cannot be read
//! is `null` and its reason is in `Errors`, as Consul's `CollectHostInfo`.
//!
//! Reads files and makes a blocking system call: call [`collect`] off the
//! async runtime. Never changes anything.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The path whose file system `Disk` describes, as Consul's.
pub const DISK_USAGE_PATH: &str = "/";

/// `/v1/agent/host`'s answer (Consul's `debug.HostInfo`).
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    #[serde(rename = "Memory")]
    pub memory: Option<VirtualMemory>,
    #[serde(rename = "CPU")]
    pub cpu: Option<Vec<CpuInfo>>,
    #[serde(rename = "Host")]
    pub host: Option<HostStat>,
    #[serde(rename = "Disk")]
    pub disk: Option<DiskUsage>,
    /// When it was collected, in nanoseconds since the Unix epoch.
    #[serde(rename = "CollectionTime")]
    pub collection_time: i64,
    /// Why a part is missing, one line each; `null` when nothing failed.
    #[serde(rename = "Errors")]
    pub errors: Option<Vec<String>>,
}

/// gopsutil's `mem.VirtualMemoryStat`, from `/proc/meminfo`: bytes, except
/// the huge page counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMemory {
    pub total: u64,
    pub available: u64,
    /// `total - free - buffers - cached`, as gopsutil computes it.
    pub used: u64,
    pub used_percent: f64,
    pub free: u64,
    pub active: u64,
    pub inactive: u64,
    /// BSD only: always 0 on Linux.
    pub wired: u64,
    /// FreeBSD only: always 0 on Linux.
    pub laundry: u64,
    pub buffers: u64,
    /// `Cached` plus `SReclaimable`, as gopsutil reports it.
    pub cached: u64,
    pub write_back: u64,
    pub dirty: u64,
    pub write_back_tmp: u64,
    pub shared: u64,
    pub slab: u64,
    pub sreclaimable: u64,
    pub sunreclaim: u64,
    pub page_tables: u64,
    pub swap_cached: u64,
    pub commit_limit: u64,
    #[serde(rename = "committedAS")]
    pub committed_as: u64,
    pub high_total: u64,
    pub high_free: u64,
    pub low_total: u64,
    pub low_free: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    pub mapped: u64,
    pub vmalloc_total: u64,
    pub vmalloc_used: u64,
    pub vmalloc_chunk: u64,
    pub huge_pages_total: u64,
    pub huge_pages_free: u64,
    pub huge_pages_rsvd: u64,
    pub huge_pages_surp: u64,
    pub huge_page_size: u64,
}

/// gopsutil's `cpu.InfoStat`: one logical CPU of `/proc/cpuinfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuInfo {
    pub cpu: i32,
    pub vendor_id: String,
    pub family: String,
    pub model: String,
    pub stepping: i32,
    pub physical_id: String,
    pub core_id: String,
    /// 1 per logical CPU, as gopsutil counts on Linux.
    pub cores: i32,
    pub model_name: String,
    pub mhz: f64,
    /// In KB.
    pub cache_size: i32,
    pub flags: Vec<String>,
    pub microcode: String,
}

/// gopsutil's `host.InfoStat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStat {
    pub hostname: String,
    /// Seconds since boot.
    pub uptime: u64,
    /// Seconds since the Unix epoch.
    pub boot_time: u64,
    /// Processes running.
    pub procs: u64,
    pub os: String,
    /// The distribution (`ubuntu`, `debian`, `rhel`, …).
    pub platform: String,
    pub platform_family: String,
    pub platform_version: String,
    pub kernel_version: String,
    pub kernel_arch: String,
    /// `docker`, `podman`, `lxc`, or empty when none was detected.
    pub virtualization_system: String,
    /// `guest` inside a container, else empty.
    pub virtualization_role: String,
    pub host_id: String,
}

/// gopsutil's `disk.UsageStat` of [`DISK_USAGE_PATH`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    pub path: String,
    pub fstype: String,
    pub total: u64,
    /// Free to unprivileged users (`f_bavail`).
    pub free: u64,
    pub used: u64,
    pub used_percent: f64,
    pub inodes_total: u64,
    pub inodes_used: u64,
    pub inodes_free: u64,
    pub inodes_used_percent: f64,
}

/// Reads everything now. Blocking: run it on a blocking thread.
pub fn collect() -> HostInfo {
    let collection_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let mut errors = Vec::new();
    let host = keep(&mut errors, "host information", host_stat());
    let memory = keep(
        &mut errors,
        "memory statistics",
        read("/proc/meminfo").map(|t| parse_meminfo(&t)),
    );
    let disk = keep(&mut errors, "disk usage", disk_usage(DISK_USAGE_PATH));
    let cpu = keep(
        &mut errors,
        "CPU information",
        read("/proc/cpuinfo").map(|t| parse_cpuinfo(&t)),
    );
    HostInfo {
        memory,
        cpu,
        host,
        disk,
        collection_time,
        errors: (!errors.is_empty()).then_some(errors),
    }
}

/// `r`'s value, or `None` with its reason added to `errors`.
fn keep<T>(errors: &mut Vec<String>, what: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| errors.push(format!("reading the {what}: {e}")))
        .ok()
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// `/proc/meminfo` as gopsutil reads it.
pub fn parse_meminfo(text: &str) -> VirtualMemory {
    let mut m = VirtualMemory::default();
    let mut available = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(n) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
            continue;
        };
        // Sizes are in kB; the huge page counts have no unit.
        let v = if words.next() == Some("kB") {
            n.saturating_mul(1024)
        } else {
            n
        };
        let field = match key.trim() {
            "MemTotal" => &mut m.total,
            "MemFree" => &mut m.free,
            "MemAvailable" => {
                available = Some(v);
                continue;
            }
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "Active" => &mut m.active,
            "Inactive" => &mut m.inactive,
            "Writeback" => &mut m.write_back,
            "WritebackTmp" => &mut m.write_back_tmp,
            "Dirty" => &mut m.dirty,
            "Shmem" => &mut m.shared,
            "Slab" => &mut m.slab,
            "SReclaimable" => &mut m.sreclaimable,
            "SUnreclaim" => &mut m.sunreclaim,
            "PageTables" => &mut m.page_tables,
            "SwapCached" => &mut m.swap_cached,
            "CommitLimit" => &mut m.commit_limit,
            "Committed_AS" => &mut m.committed_as,
            "HighTotal" => &mut m.high_total,
            "HighFree" => &mut m.high_free,
            "LowTotal" => &mut m.low_total,
            "LowFree" => &mut m.low_free,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            "Mapped" => &mut m.mapped,
            "VmallocTotal" => &mut m.vmalloc_total,
            "VmallocUsed" => &mut m.vmalloc_used,
            "VmallocChunk" => &mut m.vmalloc_chunk,
            "HugePages_Total" => &mut m.huge_pages_total,
            "HugePages_Free" => &mut m.huge_pages_free,
            "HugePages_Rsvd" => &mut m.huge_pages_rsvd,
            "HugePages_Surp" => &mut m.huge_pages_surp,
            "Hugepagesize" => &mut m.huge_page_size,
            _ => continue,
        };
        *field = v;
    }
    m.cached = m.cached.saturating_add(m.sreclaimable);
    // Kernels before 3.14 have no MemAvailable: gopsutil's fallback.
    m.available = available.unwrap_or_else(|| m.free + m.buffers + m.cached);
    m.used = m
        .total
        .saturating_sub(m.free)
        .saturating_sub(m.buffers)
        .saturating_sub(m.cached);
    m.used_percent = percent(m.used, m.total);
    m
}

/// `part` of `whole` in percent; 0 of nothing.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

/// `/proc/cpuinfo`: one entry per `processor` block.
pub fn parse_cpuinfo(text: &str) -> Vec<CpuInfo> {
    let mut out = Vec::new();
    let mut current: Option<CpuInfo> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "processor" {
            out.extend(current.take());
            current = Some(CpuInfo {
                cpu: value.parse().unwrap_or(0),
                cores: 1,
                ..CpuInfo::default()
            });
            continue;
        }
        let Some(c) = current.as_mut() else {
            continue;
        };
        match key {
            "vendor_id" | "vendorId" => c.vendor_id = value.to_owned(),
            "cpu family" => c.family = value.to_owned(),
            "model" => c.model = value.to_owned(),
            "model name" | "cpu model" => c.model_name = value.to_owned(),
            "stepping" => c.stepping = value.parse().unwrap_or(0),
            "physical id" => c.physical_id = value.to_owned(),
            "core id" => c.core_id = value.to_owned(),
            "cpu MHz" | "clock" => {
                c.mhz = value.trim_end_matches("MHz").trim().parse().unwrap_or(0.0);
            }
            "cache size" => {
                c.cache_size = value
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
            "flags" | "Features" => {
                c.flags = value.split_whitespace().map(str::to_owned).collect();
            }
            "microcode" => c.microcode = value.to_owned(),
            _ => {}
        }
    }
    out.extend(current);
    out
}

/// `(platform, family, version)` from `/etc/os-release`, as gopsutil
/// names them.
pub fn parse_os_release(text: &str) -> (String, String, String) {
    let mut id = String::new();
    let mut version = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'');
        match k.trim() {
            "ID" => id = v.to_lowercase(),
            "VERSION_ID" => v.clone_into(&mut version),
            _ => {}
        }
    }
    let platform = if id == "rhel" { "redhat".into() } else { id };
    let family = match platform.as_str() {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" => "debian",
        "fedora" => "fedora",
        "oracle" | "centos" | "redhat" | "scientific" | "amazon" | "xenserver" | "cloudlinux"
        | "rocky" | "almalinux" => "rhel",
        "suse" | "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "sles" | "sled" => "suse",
        "gentoo" => "gentoo",
        "arch" | "manjaro" => "arch",
        "alpine" => "alpine",
        _ => "",
    };
    (platform, family.to_owned(), version)
}

/// The file system type of the mount point `path` in `/proc/mounts` text
/// (the last mount of it wins, as it hides the earlier ones).
pub fn mount_fstype(mounts: &str, path: &str) -> Option<String> {
    mounts.lines().rev().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_dev, at, fstype) = (f.next()?, f.next()?, f.next()?);
        (at == path).then(|| fstype.to_owned())
    })
}

fn host_stat() -> Result<HostStat, String> {
    let trimmed = |path: &str| read(path).map(|s| s.trim().to_owned());
    let hostname = trimmed("/proc/sys/kernel/hostname")?;
    let uptime = trimmed("/proc/uptime")?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(0, |s| s as u64);
    let boot_time = read("/proc/stat")?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .unwrap_or(0);
    let procs = std::fs::read_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
        })
        .count() as u64;
    let (platform, platform_family, platform_version) = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .map(|t| parse_os_release(&t))
        .unwrap_or_default();
    let (virtualization_system, virtualization_role) = virtualization();
    Ok(HostStat {
        hostname,
        uptime,
        boot_time,
        procs,
        os: std::env::consts::OS.to_owned(),
        platform,
        platform_family,
        platform_version,
        kernel_version: trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
        kernel_arch: std::env::consts::ARCH.to_owned(),
        virtualization_system,
        virtualization_role,
        host_id: host_id(),
    })
}

/// The container the agent runs in, if one is recognisable.
fn virtualization() -> (String, String) {
    let guest = |system: &str| (system.to_owned(), "guest".to_owned());
    if Path::new("/.dockerenv").exists() {
        return guest("docker");
    }
    if Path::new("/run/.containerenv").exists() {
        return guest("podman");
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    if cgroup.contains("docker") {
        return guest("docker");
    }
    if cgroup.contains("lxc") {
        return guest("lxc");
    }
    (String::new(), String::new())
}

/// The machine's ID as gopsutil finds it: the DMI product UUID (readable
/// by root), else the systemd machine ID as a UUID, else this boot's ID.
fn host_id() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
    };
    if let Some(id) = read("/sys/class/dmi/id/product_uuid") {
        return id;
    }
    if let Some(id) = read("/etc/machine-id").filter(|id| id.len() == 32) {
        return format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        );
    }
    read("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// `statvfs(2)` of `path`, as gopsutil's `disk.Usage`.
fn disk_usage(path: &str) -> Result<DiskUsage, String> {
    let c_path = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call,
    // and statvfs(3) only writes the struct we own.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(format!("{path}: {}", std::io::Error::last_os_error()));
    }
    let size = st.f_frsize as u64;
    let (blocks, bfree, bavail) = (st.f_blocks as u64, st.f_bfree as u64, st.f_bavail as u64);
    let total = blocks.saturating_mul(size);
    let free = bavail.saturating_mul(size);
    let used = blocks.saturating_sub(bfree).saturating_mul(size);
    let (inodes_total, inodes_free) = (st.f_files as u64, st.f_ffree as u64);
    let inodes_used = inodes_total.saturating_sub(inodes_free);
    let fstype = std::fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|m| mount_fstype(&m, path))
        .unwrap_or_default();
    Ok(DiskUsage {
        path: path.to_owned(),
        fstype,
        total,
        free,
        used,
        used_percent: percent(used, used + free),
        inodes_total,
        inodes_used,
        inodes_free,
        inodes_used_percent: percent(inodes_used, inodes_total),
    })
}

#[cfg(test)]
mod tests;
