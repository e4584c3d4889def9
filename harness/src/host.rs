//! What this machine offers a run: CPUs, memory, disk. Read by `doctor` to advise and by `run`
//! to choose `--jobs` and to refuse a disk that cannot hold a run.

use std::path::Path;

/// CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `MemAvailable` in MiB.
pub fn available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Free MiB of the file system holding `path`, from `df` (POSIX output).
pub fn free_mib(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// Size in MiB (rounded up) of what a workspace copies of `dir`.
pub fn dir_size_mib(dir: &Path, top: bool) -> u64 {
    fn bytes(dir: &Path, top: bool) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| !(top && (e.file_name() == "volumes" || e.file_name() == ".env")))
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => bytes(&e.path(), false),
                Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => 0,
            })
            .sum()
    }
    bytes(dir, top).div_ceil(1 << 20)
}
