//! Read-your-writes across invocations: the CLI remembers the last stream sequence a command got
//! back from each service (per server address), and a later query to that service waits until
//! its view has applied it, unless told otherwise (`--min-sequence N`, `--no-wait`). So
//! `rentops order queue` right after `rentops order confirm` no longer shows the order as it was.
//!
//! The memory is one small JSON file, `sequences.json`, in `$RENTOPS_STATE_DIR`, else
//! `$XDG_STATE_HOME/rentops`, else `~/.local/state/rentops`. It is a convenience, never a reason
//! to fail: a missing file is an empty memory, and a file that cannot be read or written is
//! warned about on stderr and otherwise ignored.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rentops_proto::common::Consistency;

const FILE: &str = "sequences.json";

/// What `sequences.json` holds: service → server address → the last sequence a command got.
type Memory = BTreeMap<String, BTreeMap<String, u64>>;

/// The directory of the memory, from the environment (`None`: nowhere to keep it).
pub fn dir_from(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty()).map(PathBuf::from);
    set("RENTOPS_STATE_DIR")
        .or_else(|| set("XDG_STATE_HOME").map(|d| d.join("rentops")))
        .or_else(|| set("HOME").map(|d| d.join(".local/state/rentops")))
}

/// The memory file, read once per invocation.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    path: Option<PathBuf>,
    memory: Memory,
}

impl Sequences {
    /// Reads `dir/sequences.json`. Returns the memory and, when the file exists but cannot be
    /// used, the warning to print (the memory is then empty).
    pub fn load(dir: Option<PathBuf>) -> (Self, Option<String>) {
        let Some(dir) = dir else {
            return (Self::default(), None);
        };
        let path = dir.join(FILE);
        let (memory, warning) = match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<Memory>(&text) {
                Ok(m) => (m, None),
                Err(e) => (
                    Memory::new(),
                    Some(format!(
                        "{} is not a sequence memory ({e}); starting afresh",
                        path.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Memory::new(), None),
            Err(e) => (
                Memory::new(),
                Some(format!(
                    "cannot read {} ({e}); queries will not wait for your last command",
                    path.display()
                )),
            ),
        };
        (
            Self {
                path: Some(path),
                memory,
            },
            warning,
        )
    }

    /// The last sequence a command to `service` at `addr` got back.
    pub fn get(&self, service: &str, addr: &str) -> Option<u64> {
        self.memory.get(service)?.get(addr).copied()
    }

    /// Remembers `sequence` for `service` at `addr` and writes the file (a whole new file renamed
    /// over the old one, so a reader never sees half of it). The latest, not the largest: a
    /// service whose stream was started afresh hands out small sequences again.
    pub fn remember(&mut self, service: &str, addr: &str, sequence: u64) -> Result<(), String> {
        self.memory
            .entry(service.to_owned())
            .or_default()
            .insert(addr.to_owned(), sequence);
        let Some(path) = &self.path else {
            return Ok(());
        };
        write(path, &self.memory).map_err(|e| {
            format!(
                "cannot write {} ({e}); the next query will not wait for this command",
                path.display()
            )
        })
    }
}

fn write(path: &Path, memory: &Memory) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(memory).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// One invocation's read-your-writes: the sequence a query waits for unless told otherwise, and
/// the sequence a command got back, to remember once it has succeeded.
#[derive(Debug, Clone, Default)]
pub struct ReadYourWrites {
    /// The last sequence a command to this invocation's service got back.
    pub remembered: Option<u64>,
    /// Set when a query waited for `remembered` (so a timeout can say why it waited).
    pub waited: Cell<bool>,
    /// Set by a command: the sequence it got back.
    pub written: Cell<Option<u64>>,
}

impl ReadYourWrites {
    /// The consistency a query asks for: an explicit `--min-sequence` as given; none with
    /// `--no-wait`; else the remembered sequence. `timeout_ms` 0 is the service's default wait.
    pub fn consistency(&self, explicit: Option<u64>, no_wait: bool, timeout_ms: u32) -> Option<Consistency> {
        let min_sequence = match (explicit, no_wait) {
            (Some(n), _) => n,
            (None, true) => return None,
            (None, false) => {
                let n = self.remembered.filter(|n| *n > 0)?;
                self.waited.set(true);
                n
            }
        };
        Some(Consistency {
            min_sequence,
            timeout_ms,
        })
    }

    /// A command got `sequence` back (0: it appended nothing, and nothing is worth waiting for).
    pub fn wrote(&self, sequence: u64) {
        if sequence > 0 {
            self.written.set(Some(sequence));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rentops-cli-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_directory_is_the_override_else_xdg_else_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(
            dir_from(env(&[
                ("RENTOPS_STATE_DIR", "/s"),
                ("XDG_STATE_HOME", "/x"),
                ("HOME", "/h")
            ])),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(
            dir_from(env(&[("XDG_STATE_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/rentops"))
        );
        assert_eq!(
            dir_from(env(&[("RENTOPS_STATE_DIR", " "), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/state/rentops"))
        );
        assert_eq!(dir_from(env(&[])), None);
    }

    #[test]
    fn a_sequence_is_remembered_per_service_and_address_and_read_back() {
        let dir = temp_dir("remember");
        let (mut s, warning) = Sequences::load(Some(dir.join("new")));
        assert_eq!((s.get("order", "http://a:1"), warning), (None, None), "no file yet");
        s.remember("order", "http://a:1", 42).unwrap();
        s.remember("order", "http://b:1", 7).unwrap();
        s.remember("fleet", "http://a:1", 3).unwrap();
        let (again, warning) = Sequences::load(Some(dir.join("new")));
        assert_eq!(warning, None);
        assert_eq!(
            (
                again.get("order", "http://a:1"),
                again.get("order", "http://b:1"),
                again.get("fleet", "http://a:1")
            ),
            (Some(42), Some(7), Some(3))
        );
        // The latest, not the largest: a stream started afresh counts from 1 again.
        let mut again = again;
        again.remember("order", "http://a:1", 5).unwrap();
        assert_eq!(
            Sequences::load(Some(dir.join("new"))).0.get("order", "http://a:1"),
            Some(5)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_or_unwritable_memory_is_a_warning_not_a_failure() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join(FILE), "{ not json").unwrap();
        let (mut s, warning) = Sequences::load(Some(dir.clone()));
        assert!(warning.is_some_and(|w| w.contains("starting afresh")));
        assert_eq!(s.get("order", "http://a:1"), None);
        // Written afresh over the corrupt one.
        s.remember("order", "http://a:1", 9).unwrap();
        assert_eq!(Sequences::load(Some(dir.clone())).0.get("order", "http://a:1"), Some(9));
        // A directory where the file should be: cannot be read or written, and says so.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join(FILE)).unwrap();
        let (mut s, warning) = Sequences::load(Some(blocked));
        assert!(warning.is_some_and(|w| w.contains("cannot read")));
        assert!(
            s.remember("order", "http://a:1", 1)
                .is_err_and(|e| e.contains("cannot write"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_query_waits_for_the_remembered_sequence_unless_told_otherwise() {
        let ryw = ReadYourWrites {
            remembered: Some(12),
            ..Default::default()
        };
        assert_eq!(ryw.consistency(None, true, 0), None, "--no-wait");
        assert!(!ryw.waited.get());
        assert_eq!(
            ryw.consistency(Some(3), false, 0).map(|c| c.min_sequence),
            Some(3),
            "--min-sequence"
        );
        assert!(!ryw.waited.get());
        assert_eq!(ryw.consistency(None, false, 0).map(|c| c.min_sequence), Some(12));
        assert!(ryw.waited.get());
        assert_eq!(
            ReadYourWrites::default().consistency(None, false, 0),
            None,
            "nothing remembered"
        );
        ryw.wrote(0);
        assert_eq!(ryw.written.get(), None, "a command that appended nothing");
        ryw.wrote(13);
        assert_eq!(ryw.written.get(), Some(13));
    }
}
