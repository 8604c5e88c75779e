//! Renderers of the builder's progress [`Event`]s, all writing to stderr:
//!
//! - [`plain`]: BuildKit-style `#N …` lines, for CI and logs.
//! - [`rawjson`]: one JSON object per event per line.
//! - [`tty`]: a live view (indicatif) of the running steps.
//! - quiet: nothing.
//!
//! A renderer runs on its own thread and reads a channel; the builder emits
//! into the other end through [`ChannelProgress`]. [`start`] wires the two.

pub mod plain;
pub mod rawjson;
pub mod tty;

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::SystemTime;

use clap::ValueEnum;
use hoist_builder::progress::{ChannelProgress, Event};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// tty when stderr is a terminal, plain otherwise
    Auto,
    /// A live view of running steps
    Tty,
    /// One line per step event, for CI logs
    Plain,
    /// One JSON object per event
    Rawjson,
    /// Nothing
    Quiet,
}

impl ProgressMode {
    /// `Auto` decided for the current stderr; other modes unchanged.
    pub fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        }
    }
}

/// The renderer's thread. Drop every [`ChannelProgress`] (the builder's
/// clones included), then call [`RendererThread::finish`] to wait until all
/// events are drawn.
#[derive(Debug)]
pub struct RendererThread(JoinHandle<()>);

impl RendererThread {
    /// Waits for the renderer to draw the last event and restore the terminal.
    pub fn finish(self) {
        // A panic in the renderer must not hide the build's own result.
        let _ = self.0.join();
    }
}

/// Starts the renderer for `mode` on its own thread; events sent through the
/// returned sink are drawn on stderr. Cache-miss explanations are drawn by
/// the plain and tty renderers only with `explain_cache` (`--explain-cache`);
/// rawjson always carries them.
pub fn start(mode: ProgressMode, explain_cache: bool) -> (ChannelProgress, RendererThread) {
    let (tx, rx) = mpsc::channel();
    let mode = mode.resolve();
    let handle = std::thread::spawn(move || run(mode, explain_cache, rx));
    (ChannelProgress(tx), RendererThread(handle))
}

/// Whether a human-facing renderer shows `event`.
fn shown(event: &Event, explain_cache: bool) -> bool {
    explain_cache || !matches!(event, Event::CacheMiss { .. })
}

fn run(mode: ProgressMode, explain_cache: bool, events: Receiver<Event>) {
    let events = events.into_iter();
    match mode {
        ProgressMode::Plain | ProgressMode::Auto => render_plain(
            events.filter(|e| shown(e, explain_cache)),
            std::io::stderr(),
        ),
        ProgressMode::Rawjson => render_rawjson(events, std::io::stderr()),
        ProgressMode::Tty => {
            let mut r = tty::Tty::new(
                indicatif::ProgressDrawTarget::stderr(),
                console::Term::stderr().size().1 as usize,
            );
            for event in events.filter(|e| shown(e, explain_cache)) {
                r.handle(&event);
            }
            r.finish();
        }
        ProgressMode::Quiet => events.into_iter().for_each(drop),
    }
}

// Write errors (stderr closed) leave nothing to report to; the renderers
// keep draining the channel so the build never blocks on them.

fn render_plain(events: impl IntoIterator<Item = Event>, out: impl Write) {
    let mut r = plain::Plain::new(out);
    for event in events {
        let _ = r.handle(&event, SystemTime::now());
    }
    let _ = r.finish();
}

fn render_rawjson(events: impl IntoIterator<Item = Event>, mut out: impl Write) {
    for event in events {
        let _ = rawjson::write_event(&mut out, &event);
    }
}

/// Splits log bytes into complete lines, keeping a partial last line until
/// its end arrives. One per vertex.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: Vec<u8>,
}

impl LineBuffer {
    /// Appends `data` and returns the lines it completed (without `\n` or a
    /// trailing `\r`).
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            lines.push(text(&line[..line.len() - 1]));
        }
        lines
    }

    /// The unfinished last line, if any, emptying the buffer.
    pub fn take_partial(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = text(&self.partial);
        self.partial.clear();
        Some(line)
    }
}

fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// `1.05MB`-style sizes (decimal units, like BuildKit's progress).
/// A digest shortened like Docker does (`sha256:0123456789ab`); other
/// items as they are.
pub fn short_item(item: &str) -> String {
    match item.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}", &hex[..12]),
        _ => item.to_string(),
    }
}

/// Whether the phase `name` ends the transfers of `task` (it is the task's
/// name, or the name followed by a space and a summary).
pub fn ends_task(name: &str, task: &str) -> bool {
    name.strip_prefix(task)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// `sha256:0123456789ab 3.20MB 0.4s done (8.00MB/s)`: a finished transfer.
/// The rate is left out when the item took too little time to measure.
pub fn transfer_done(item: &str, size: u64, took: std::time::Duration) -> String {
    let secs = took.as_secs_f64();
    let mut text = format!("{} {} {secs:.1}s done", short_item(item), human_bytes(size));
    if secs >= 0.05 {
        text.push_str(&format!(
            " ({}/s)",
            human_bytes((size as f64 / secs) as u64)
        ));
    }
    text
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n}B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use hoist_builder::progress::Progress;

    use super::*;

    /// A writer the test can read after the renderer thread is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_renderer_thread_draws_every_event_sent_through_the_channel() {
        let (tx, rx) = mpsc::channel();
        let out = Shared::default();
        let writer = out.clone();
        let thread = RendererThread(std::thread::spawn(move || render_plain(rx, writer)));
        let progress = ChannelProgress(tx);
        let builder_side = progress.clone();
        std::thread::spawn(move || {
            builder_side.emit(Event::Cached {
                vertex: 0,
                name: "[1/1] FROM a".into(),
            });
            builder_side.emit(Event::Phase {
                name: "exporting".into(),
                duration: Duration::from_millis(100),
            });
        })
        .join()
        .unwrap();
        drop(progress);
        thread.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "#1 [1/1] FROM a\n#1 CACHED\n\n#2 exporting\n#2 DONE 0.1s\n"
        );
    }

    #[test]
    fn the_rawjson_renderer_writes_one_line_per_event() {
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            tx.send(Event::Warning {
                message: format!("w{i}"),
            })
            .unwrap();
        }
        drop(tx);
        let out = Shared::default();
        render_rawjson(rx, out.clone());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"warning\",\"message\":\"w0\"}\n\
             {\"event\":\"warning\",\"message\":\"w1\"}\n\
             {\"event\":\"warning\",\"message\":\"w2\"}\n"
        );
    }

    #[test]
    fn auto_mode_is_plain_when_stderr_is_not_a_terminal() {
        if !std::io::stderr().is_terminal() {
            assert_eq!(ProgressMode::Auto.resolve(), ProgressMode::Plain);
        }
        assert_eq!(ProgressMode::Rawjson.resolve(), ProgressMode::Rawjson);
    }

    #[test]
    fn line_buffer_keeps_partial_lines_until_they_end() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"hel"), Vec::<String>::new());
        assert_eq!(b.push(b"lo\r\nwor"), ["hello"]);
        assert_eq!(b.push(b"ld\n\n"), ["world", ""]);
        assert_eq!(b.take_partial(), None);
        b.push(b"tail");
        assert_eq!(b.take_partial().as_deref(), Some("tail"));
    }

    #[test]
    fn human_bytes_uses_decimal_units() {
        assert_eq!(human_bytes(999), "999B");
        assert_eq!(human_bytes(1_050_000), "1.05MB");
        assert_eq!(human_bytes(3_400_000_000), "3.40GB");
    }
}
