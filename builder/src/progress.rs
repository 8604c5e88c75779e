//! Typed progress events of a build. The library never prints: it emits
//! [`Event`]s to a [`Progress`] sink, and the CLI renders them (a live
//! terminal view, BuildKit-style plain lines, or one JSON object per line).
//!
//! Events name vertices by their index in the build graph and carry the
//! vertex's display name, so a renderer needs no other state to print them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

mod transfer;
pub use transfer::{MeteredReader, MeteredWriter, TaskMeters, TransferMeter};

/// Which output stream of a RUN step a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Something that happened during a build.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A vertex began to run (not sent for cache hits).
    Started {
        vertex: usize,
        name: String,
        #[serde(with = "unix_millis")]
        at: SystemTime,
    },
    /// A vertex's result came from the cache; nothing ran.
    Cached { vertex: usize, name: String },
    /// Output of a running step. `data` is raw bytes (usually UTF-8 text).
    Log {
        vertex: usize,
        stream: Stream,
        #[serde(serialize_with = "lossy_text")]
        data: Vec<u8>,
    },
    /// Bytes moved for a named item of a vertex (a layer pulled, a blob pushed).
    Bytes {
        vertex: usize,
        item: String,
        current: u64,
        total: Option<u64>,
    },
    /// Why a vertex ran although an earlier build of the same step exists.
    CacheMiss { vertex: usize, reason: String },
    /// A vertex finished running; `error` is set when it failed.
    Done {
        vertex: usize,
        #[serde(with = "millis")]
        duration: Duration,
        error: Option<String>,
    },
    /// A finding that does not stop the build.
    Warning { message: String },
    /// Bytes moved by work outside the graph: a base image's blob pulled, a
    /// blob pushed, a layer compressed or an archive written. `task` names
    /// the work (`pulling docker.io/library/busybox:latest`, `pushing
    /// REF`, `exporting to oci`); a [`Event::Phase`] whose name starts with
    /// `task` ends it. Sent at most every ~100 ms per item, and once when
    /// the item is complete (`current == total`).
    Transfer {
        task: String,
        item: String,
        current: u64,
        total: Option<u64>,
    },
    /// A step outside the graph (exporting, pushing, writing a file).
    Phase {
        name: String,
        #[serde(with = "millis")]
        duration: Duration,
    },
}

fn lossy_text<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

mod unix_millis {
    use std::time::{SystemTime, UNIX_EPOCH};
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        s.serialize_u64(ms)
    }
}

/// Where events go. Implementations must be cheap and never block for long:
/// they are called from build tasks.
pub trait Progress: Send + Sync {
    fn emit(&self, event: Event);
}

/// Discards every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Progress for Discard {
    fn emit(&self, _event: Event) {}
}

/// Sends events down a channel (the CLI's renderer reads the other end).
#[derive(Debug, Clone)]
pub struct ChannelProgress(pub std::sync::mpsc::Sender<Event>);

impl Progress for ChannelProgress {
    fn emit(&self, event: Event) {
        // The receiver going away (renderer finished) is not the build's problem.
        let _ = self.0.send(event);
    }
}

/// Keeps every event in memory, for tests and for `--metadata-file`.
#[derive(Debug, Default, Clone)]
pub struct Recorded(pub Arc<Mutex<Vec<Event>>>);

impl Progress for Recorded {
    fn emit(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

impl Recorded {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_tagged_json_lines() {
        let e = Event::Log {
            vertex: 3,
            stream: Stream::Stderr,
            data: b"hi\n".to_vec(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"log","vertex":3,"stream":"stderr","data":"hi\n"}"#
        );
        let d = Event::Done {
            vertex: 1,
            duration: Duration::from_millis(1500),
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"event":"done","vertex":1,"duration":1500,"error":null}"#
        );
    }

    #[test]
    fn recorded_keeps_events_in_order() {
        let r = Recorded::default();
        r.emit(Event::Warning {
            message: "a".into(),
        });
        r.emit(Event::Warning {
            message: "b".into(),
        });
        assert_eq!(r.events().len(), 2);
    }
}
