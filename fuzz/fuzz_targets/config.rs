//! Config files: any bytes as a JSON or HCL file (the first byte picks
//! which) load into a configuration or fail with one line naming the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use praetor_agent::config::{load, Flags};

/// A directory of this process's own, for the file under test.
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("praetor-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).expect("a scratch dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((format, text)) = data.split_first() else {
        return;
    };
    let name = if format & 1 == 0 {
        "fuzz.json"
    } else {
        "fuzz.hcl"
    };
    let path = dir().join(name);
    std::fs::write(&path, text).expect("writing the config file");
    let flags = Flags {
        data_dir: Some(dir().join("data")),
        node: Some("fuzz".into()),
        config_files: vec![path],
        ..Flags::default()
    };
    if let Err(e) = load(&flags) {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
    }
});
