//! Who holds an inbox row: one worker per opened store (a process, or a test's server),
//! known by a random id, its process (pid and start time) and the machine's boot id, so
//! that a process that died is recognised at once on the same machine, and by its
//! missed heartbeats anywhere else.

use rand::Rng;

/// A worker's identity, as recorded in the `workers` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    pub pid: u32,
    /// The process's start time, in clock ticks since boot (Linux), or empty: with the
    /// pid, it names one process even after the pid is reused.
    pub started: String,
    /// The kernel's boot id (Linux), or empty when unknown.
    pub boot_id: String,
}

impl Worker {
    /// This process, with a new random id.
    pub fn this_process() -> Self {
        let pid = std::process::id();
        Self {
            id: hex::encode(rand::thread_rng().r#gen::<[u8; 12]>()),
            pid,
            started: started(pid).unwrap_or_default(),
            boot_id: boot_id().unwrap_or_default(),
        }
    }

    /// True when `other` is known to be dead: a process of this machine and this boot
    /// whose pid no longer runs the process that recorded it. Unknown (another machine,
    /// no /proc): false, and only its heartbeat tells.
    pub fn knows_dead(&self, other: &Worker) -> bool {
        if self.boot_id.is_empty() || other.boot_id != self.boot_id || other.started.is_empty() {
            return false;
        }
        started(other.pid).as_deref() != Some(other.started.as_str())
    }
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string())
}

/// Field 22 of `/proc/<pid>/stat` (after the command name, which may hold spaces).
fn started(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_this_process_is_alive_and_a_finished_child_is_known_dead() {
        let me = Worker::this_process();
        let other_store_here = Worker::this_process();
        assert_ne!(me.id, other_store_here.id);
        if me.boot_id.is_empty() {
            return; // No /proc: only heartbeats tell.
        }
        assert!(
            !me.knows_dead(&other_store_here),
            "the same process is alive"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started_then = started(pid);
        child.wait().unwrap();
        let gone = Worker {
            id: "gone".into(),
            pid,
            started: started_then.unwrap_or_else(|| "1".into()),
            boot_id: me.boot_id.clone(),
        };
        assert!(me.knows_dead(&gone));
        let elsewhere = Worker {
            boot_id: "another-machine".into(),
            ..gone
        };
        assert!(
            !me.knows_dead(&elsewhere),
            "another machine: heartbeats only"
        );
    }
}
