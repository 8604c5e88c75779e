//! Byte counters for work outside the build graph (pulls, pushes, layer
//! compression, archive writing), turned into throttled
//! [`Event::Transfer`]s so renderers can draw sizes and rates without being
//! flooded: one event per item at most every [`INTERVAL`], plus the first
//! and the last.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Event, Progress};

/// The shortest time between two events of one item.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Counts the bytes of one item of a task and reports them.
pub struct TransferMeter {
    progress: Arc<dyn Progress>,
    task: String,
    item: String,
    total: Option<u64>,
    current: u64,
    last: Option<Instant>,
    finished: bool,
}

impl std::fmt::Debug for TransferMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferMeter")
            .field("task", &self.task)
            .field("item", &self.item)
            .field("current", &self.current)
            .field("total", &self.total)
            .finish()
    }
}

impl TransferMeter {
    /// A meter for `item` of `task`, `total` bytes if known. Reports 0 at once.
    pub fn new(
        progress: Arc<dyn Progress>,
        task: impl Into<String>,
        item: impl Into<String>,
        total: Option<u64>,
    ) -> Self {
        let mut m = TransferMeter {
            progress,
            task: task.into(),
            item: item.into(),
            total,
            current: 0,
            last: None,
            finished: false,
        };
        m.send();
        m
    }

    /// Counts `n` more bytes.
    pub fn add(&mut self, n: u64) {
        self.set(self.current.saturating_add(n));
    }

    /// Sets the count to `current` (for sources that report totals so far).
    pub fn set(&mut self, current: u64) {
        self.current = current;
        let due = self.last.is_none_or(|t| t.elapsed() >= INTERVAL);
        if due && Some(self.current) != self.total {
            self.send();
        } else if Some(self.current) == self.total {
            self.finish();
        }
    }

    /// Bytes counted so far.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Reports the item complete: its total becomes what was counted.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.total = Some(self.current);
        self.send();
    }

    fn send(&mut self) {
        self.last = Some(Instant::now());
        // Until the end, a known total bounds what is shown (an archive's
        // headers are not part of the total announced for its blobs).
        let current = match self.total {
            Some(t) if !self.finished => self.current.min(t),
            _ => self.current,
        };
        self.progress.emit(Event::Transfer {
            task: self.task.clone(),
            item: self.item.clone(),
            current,
            total: self.total,
        });
    }
}

/// The meters of the items of one task (the blobs of a push, the layers of
/// an export), created on first sight of an item.
pub struct TaskMeters {
    progress: Arc<dyn Progress>,
    task: String,
    meters: Mutex<HashMap<String, TransferMeter>>,
}

impl TaskMeters {
    pub fn new(progress: Arc<dyn Progress>, task: impl Into<String>) -> TaskMeters {
        TaskMeters {
            progress,
            task: task.into(),
            meters: Mutex::new(HashMap::new()),
        }
    }

    /// The task name; a phase that ends the task starts with it.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// `item` has moved `current` bytes of `total`.
    pub fn set(&self, item: &str, current: u64, total: Option<u64>) {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        let meter = match meters.get_mut(item) {
            Some(m) => m,
            None => meters.entry(item.to_string()).or_insert_with(|| {
                TransferMeter::new(self.progress.clone(), self.task.clone(), item, total)
            }),
        };
        meter.set(current);
    }

    /// Reports every item seen complete.
    pub fn finish_all(&self) {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        for meter in meters.values_mut() {
            meter.finish();
        }
    }
}

/// A writer that counts what goes through it on a [`TransferMeter`].
#[derive(Debug)]
pub struct MeteredWriter<W> {
    inner: W,
    meter: TransferMeter,
}

impl<W> MeteredWriter<W> {
    pub fn new(inner: W, meter: TransferMeter) -> Self {
        MeteredWriter { inner, meter }
    }

    /// Reports the item complete and returns the writer.
    pub fn finish(mut self) -> W {
        self.meter.finish();
        self.inner
    }
}

impl<W: Write> Write for MeteredWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.meter.add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that counts what goes through it on a [`TransferMeter`].
#[derive(Debug)]
pub struct MeteredReader<R> {
    inner: R,
    meter: TransferMeter,
}

impl<R> MeteredReader<R> {
    pub fn new(inner: R, meter: TransferMeter) -> Self {
        MeteredReader { inner, meter }
    }
}

impl<R: Read> Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.meter.finish();
        } else {
            self.meter.add(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorded;

    fn transfers(r: &Recorded) -> Vec<(u64, Option<u64>)> {
        r.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Transfer { current, total, .. } => Some((current, total)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn meter_reports_start_and_completion_but_throttles_the_middle() {
        let r = Recorded::default();
        let mut m = TransferMeter::new(Arc::new(r.clone()), "pushing x", "sha256:ab", Some(300));
        for _ in 0..299 {
            m.add(1);
        }
        m.add(1);
        m.finish(); // a second completion is not reported again
        let got = transfers(&r);
        assert_eq!(got.first(), Some(&(0, Some(300))));
        assert_eq!(got.last(), Some(&(300, Some(300))));
        assert!(got.len() <= 4, "throttled: {got:?}");
    }

    #[test]
    fn metered_writer_counts_bytes_and_finishes_with_the_true_size() {
        let r = Recorded::default();
        let meter = TransferMeter::new(Arc::new(r.clone()), "exporting", "out.tar", Some(4));
        let mut w = MeteredWriter::new(Vec::new(), meter);
        w.write_all(b"header+data").unwrap();
        let out = w.finish();
        assert_eq!(out, b"header+data");
        assert_eq!(transfers(&r).last(), Some(&(11, Some(11))));
    }

    #[test]
    fn metered_reader_finishes_at_end_of_stream() {
        let r = Recorded::default();
        let meter = TransferMeter::new(Arc::new(r.clone()), "pulling", "blob", None);
        let mut reader = MeteredReader::new(&b"abcdef"[..], meter);
        let mut s = String::new();
        reader.read_to_string(&mut s).unwrap();
        assert_eq!(transfers(&r).last(), Some(&(6, Some(6))));
    }

    #[test]
    fn transfer_events_serialise_with_their_task() {
        let e = Event::Transfer {
            task: "pushing r/app:v1".into(),
            item: "sha256:ab".into(),
            current: 5,
            total: Some(9),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"transfer","task":"pushing r/app:v1","item":"sha256:ab","current":5,"total":9}"#
        );
    }
}
