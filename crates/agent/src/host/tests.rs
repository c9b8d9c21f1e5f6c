use super::*;

const MEMINFO: &str = "\
MemTotal:        8000000 kB
MemFree:         1000000 kB
MemAvailable:    6000000 kB
Buffers:          100000 kB
Cached:          3000000 kB
SwapCached:            0 kB
Active:          2000000 kB
Inactive:        2500000 kB
Dirty:              1000 kB
Writeback:             0 kB
Shmem:             50000 kB
Slab:             400000 kB
SReclaimable:     300000 kB
SUnreclaim:       100000 kB
Committed_AS:    4000000 kB
HugePages_Total:       4
Hugepagesize:       2048 kB
";

#[test]
fn meminfo_is_read_as_gopsutil_reads_it() {
    let m = parse_meminfo(MEMINFO);
    assert_eq!(m.total, 8_000_000 * 1024);
    assert_eq!(m.available, 6_000_000 * 1024);
    // Cached includes the reclaimable slab; used is what is left.
    assert_eq!(m.cached, 3_300_000 * 1024);
    assert_eq!(m.used, (8_000_000 - 1_000_000 - 100_000 - 3_300_000) * 1024);
    assert!((m.used_percent - 45.0).abs() < 1e-9, "{}", m.used_percent);
    assert_eq!(m.committed_as, 4_000_000 * 1024);
    assert_eq!(m.huge_pages_total, 4, "a count, not bytes");
    assert_eq!(m.huge_page_size, 2048 * 1024);
    let json = serde_json::to_value(&m).unwrap();
    for key in [
        "total",
        "available",
        "used",
        "usedPercent",
        "free",
        "writeBack",
        "writeBackTmp",
        "committedAS",
        "hugePagesTotal",
        "hugePageSize",
        "sreclaimable",
        "pageTables",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
}

#[test]
fn meminfo_without_memavailable_falls_back_to_free_buffers_and_cache() {
    let m = parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n");
    assert_eq!(m.available, 35 * 1024);
    assert_eq!(parse_meminfo("").used_percent, 0.0, "no division by zero");
}

#[test]
fn cpuinfo_gives_one_entry_per_logical_cpu() {
    let text = "\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) CPU @ 2.00GHz
stepping\t: 7
microcode\t: 0xffffffff
cpu MHz\t\t: 2000.170
cache size\t: 39424 KB
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu vme de

processor\t: 1
model name\t: Intel(R) Xeon(R) CPU @ 2.00GHz
core id\t\t: 1
";
    let cpus = parse_cpuinfo(text);
    assert_eq!(cpus.len(), 2);
    let c = &cpus[0];
    assert_eq!((c.cpu, c.cores, c.stepping, c.cache_size), (0, 1, 7, 39424));
    assert_eq!(c.vendor_id, "GenuineIntel");
    assert_eq!((c.family.as_str(), c.model.as_str()), ("6", "85"));
    assert!((c.mhz - 2000.17).abs() < 1e-9);
    assert_eq!(c.flags, ["fpu", "vme", "de"]);
    assert_eq!((cpus[1].cpu, cpus[1].core_id.as_str()), (1, "1"));
    let json = serde_json::to_value(c).unwrap();
    for key in [
        "cpu",
        "vendorId",
        "modelName",
        "physicalId",
        "coreId",
        "cacheSize",
        "mhz",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
}

#[test]
fn os_release_names_the_platform_and_its_family() {
    let (p, f, v) = parse_os_release("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n");
    assert_eq!(
        (p.as_str(), f.as_str(), v.as_str()),
        ("ubuntu", "debian", "24.04")
    );
    let (p, f, _) = parse_os_release("ID=\"rhel\"\nVERSION_ID=\"9.4\"\n");
    assert_eq!((p.as_str(), f.as_str()), ("redhat", "rhel"));
    assert_eq!(parse_os_release("").0, "");
}

#[test]
fn the_fstype_is_that_of_the_last_mount_of_the_path() {
    let mounts =
        "rootfs / rootfs rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n";
    assert_eq!(mount_fstype(mounts, "/").as_deref(), Some("ext4"));
    assert_eq!(mount_fstype(mounts, "/nowhere"), None);
}

#[test]
fn collecting_this_host_fills_every_part_on_linux() {
    let info = collect();
    assert_eq!(info.errors, None, "{:?}", info.errors);
    let mem = info.memory.expect("memory");
    assert!(mem.total > 0 && mem.available <= mem.total, "{mem:?}");
    assert!(!info.cpu.expect("cpus").is_empty());
    let host = info.host.expect("host");
    assert!(
        !host.hostname.is_empty() && host.boot_time > 0 && host.procs > 0,
        "{host:?}"
    );
    assert_eq!(host.os, "linux");
    let disk = info.disk.expect("disk");
    assert_eq!(disk.path, "/");
    assert!(disk.total > 0 && disk.used <= disk.total, "{disk:?}");
    assert!(info.collection_time > 1_700_000_000_000_000_000);
    let json = serde_json::to_value(collect()).unwrap();
    for key in ["Memory", "CPU", "Host", "Disk", "CollectionTime", "Errors"] {
        assert!(json.get(key).is_some(), "{key}");
    }
}
