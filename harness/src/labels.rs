//! Labels the harness puts on everything it creates, so that teardown and the reaper can find
//! it all again, including what a killed run left behind.

use std::collections::BTreeMap;

/// Present on every container, network and volume the harness creates.
pub const MANAGED: &str = "dev.dify-conformance.managed";
/// The run that created it.
pub const RUN: &str = "dev.dify-conformance.run";
/// The cell that created it.
pub const CELL: &str = "dev.dify-conformance.cell";
/// `host:pid:start-time` of the harness process that owns it; dead owner = leftover.
pub const OWNER: &str = "dev.dify-conformance.owner";
/// Compose's own project label.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The labels of one cell's stack.
pub fn for_cell(run_id: &str, cell_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (RUN.to_string(), run_id.to_string()),
        (CELL.to_string(), cell_id.to_string()),
        (OWNER.to_string(), Owner::current().to_string()),
    ])
}

/// Identifies a process across pid reuse: host name, pid and the kernel's start time of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    pub start_time: u64,
}

impl Owner {
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: hostname(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(3, ':');
        let start_time = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Self {
            host,
            pid,
            start_time,
        })
    }

    /// Whether this owner still runs. Owners on other hosts (a shared engine) count as alive:
    /// we cannot tell, and reaping a colleague's stack is worse than leaving one.
    pub fn is_alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        start_time(self.pid) == Some(self.start_time)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.pid, self.start_time)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Field 22 of `/proc/<pid>/stat`: start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = Owner::current();
        assert!(me.is_alive());
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
        let ghost = Owner {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!ghost.is_alive(), "a reused pid must not look alive");
    }

    #[test]
    fn other_hosts_are_presumed_alive() {
        let other = Owner::parse("elsewhere:1:1").unwrap();
        assert!(other.is_alive());
        assert_eq!(Owner::parse("garbage"), None);
    }
}
