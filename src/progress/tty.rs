//! `--progress=tty`: a live view of the build with indicatif.
//!
//! Each running vertex has one line (spinner, name, elapsed time) with its
//! last few log lines under it. A finished vertex leaves the live area and
//! is printed above it as one line: `✔ NAME  1.2s`, `✔ NAME  CACHED` or
//! `✖ NAME  ERROR: …` followed by the vertex's full log. Byte transfers
//! are progress bars with rates. At the end every live line is cleared, so
//! only the finished lines remain (a vertex that never finished shows as
//! `✖ NAME  CANCELED`) and the cursor is back at column 0.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use console::style;
use hoist_builder::progress::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{LineBuffer, ends_task, short_item, transfer_done};

/// How many log lines show under a running vertex.
const TAIL_LINES: usize = 5;

struct Running {
    name: String,
    bar: ProgressBar,
    lines: LineBuffer,
    log: Vec<String>,
}

/// The live terminal renderer.
pub struct Tty {
    multi: MultiProgress,
    width: usize,
    running: HashMap<usize, Running>,
    transfers: BTreeMap<(usize, String), ProgressBar>,
    /// Transfers outside the graph, by (task, item), with their start.
    tasks: BTreeMap<(String, String), (ProgressBar, Instant)>,
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix} {elapsed:.dim}{msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

/// A transfer whose size is not known in advance: bytes and rate.
fn open_transfer_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix} {bytes} {binary_bytes_per_sec:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn transfer_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "  {prefix} {wide_bar:.cyan/dim} {bytes}/{total_bytes} {binary_bytes_per_sec:.dim}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("━╸━")
}

impl Tty {
    /// A renderer drawing to `target`, `width` columns wide (0 = unknown).
    pub fn new(target: ProgressDrawTarget, width: usize) -> Tty {
        Tty {
            multi: MultiProgress::with_draw_target(target),
            width: if width == 0 { 80 } else { width },
            running: HashMap::new(),
            transfers: BTreeMap::new(),
            tasks: BTreeMap::new(),
        }
    }

    /// Draws `event`.
    pub fn handle(&mut self, event: &Event) {
        match event {
            Event::Started { vertex, name, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(name.clone());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Some(old) = self.running.insert(
                    *vertex,
                    Running {
                        name: name.clone(),
                        bar,
                        lines: LineBuffer::default(),
                        log: Vec::new(),
                    },
                ) {
                    self.clear_bar(&old.bar);
                }
            }
            Event::Cached { vertex, name } => {
                if let Some(old) = self.running.remove(vertex) {
                    self.clear_bar(&old.bar);
                }
                self.print(&format!(
                    "{} {name}  {}",
                    style("✔").green().for_stderr(),
                    style("CACHED").cyan().for_stderr()
                ));
            }
            Event::Log { vertex, data, .. } => {
                let width = self.width;
                if let Some(r) = self.running.get_mut(vertex) {
                    let new = r.lines.push(data);
                    if !new.is_empty() {
                        r.log.extend(new);
                        r.bar.set_message(tail(&r.log, width));
                    }
                }
            }
            Event::Bytes {
                vertex,
                item,
                current,
                total,
            } => {
                let key = (*vertex, item.clone());
                let bar = self.transfers.entry(key).or_insert_with(|| {
                    let bar = ProgressBar::new(total.unwrap_or(0));
                    bar.set_style(transfer_style());
                    bar.set_prefix(short_item(item));
                    match self.running.get(vertex) {
                        Some(r) => self.multi.insert_after(&r.bar, bar),
                        None => self.multi.add(bar),
                    }
                });
                if let Some(total) = total {
                    bar.set_length(*total);
                }
                bar.set_position(*current);
            }
            Event::CacheMiss { vertex, reason } => {
                let name = self.running.get(vertex).map_or("", |r| r.name.as_str());
                let text = format!("  cache miss: {name}: {reason}");
                self.print(&style(text).dim().for_stderr().to_string());
            }
            Event::Done {
                vertex,
                duration,
                error,
            } => self.done(*vertex, *duration, error.as_deref()),
            Event::Warning { message } => {
                self.print(&format!(
                    "{} {message}",
                    style("WARNING:").yellow().bold().for_stderr()
                ));
            }
            Event::Transfer {
                task,
                item,
                current,
                total,
            } => self.task_transfer(task, item, *current, *total),
            Event::Phase { name, duration } => {
                let done: Vec<_> = self
                    .tasks
                    .keys()
                    .filter(|(task, _)| ends_task(name, task))
                    .cloned()
                    .collect();
                for key in done {
                    if let Some((bar, _)) = self.tasks.remove(&key) {
                        self.clear_bar(&bar);
                    }
                }
                let time = style(format!("{:.1}s", duration.as_secs_f64())).dim();
                self.print(&format!(
                    "{} {name}  {time}",
                    style("✔").green().for_stderr()
                ));
            }
        }
    }

    /// A byte count of work outside the graph: a bar while it runs, one
    /// finished line with size and rate when it is complete.
    fn task_transfer(&mut self, task: &str, item: &str, current: u64, total: Option<u64>) {
        let key = (task.to_string(), item.to_string());
        let (bar, started) = self.tasks.entry(key.clone()).or_insert_with(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(transfer_style()),
                None => ProgressBar::no_length().with_style(open_transfer_style()),
            };
            bar.set_prefix(format!("{task} {}", short_item(item)));
            (self.multi.add(bar), Instant::now())
        });
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(current);
        if total == Some(current) {
            let took = started.elapsed();
            if let Some((bar, _)) = self.tasks.remove(&key) {
                self.clear_bar(&bar);
            }
            let text = format!("{task} {}", transfer_done(item, current, took));
            self.print(&format!(
                "{} {}",
                style("✔").green().for_stderr(),
                style(text).dim().for_stderr()
            ));
        }
    }

    fn done(&mut self, vertex: usize, duration: Duration, error: Option<&str>) {
        let keys: Vec<_> = self
            .transfers
            .keys()
            .filter(|(v, _)| *v == vertex)
            .cloned()
            .collect();
        for key in keys {
            if let Some(bar) = self.transfers.remove(&key) {
                self.clear_bar(&bar);
            }
        }
        // A vertex can fail before it starts (an input that cannot be read).
        let (name, log) = match self.running.remove(&vertex) {
            Some(mut r) => {
                self.clear_bar(&r.bar);
                if let Some(partial) = r.lines.take_partial() {
                    r.log.push(partial);
                }
                (r.name, r.log)
            }
            None => (format!("step {vertex}"), Vec::new()),
        };
        match error {
            None => {
                let time = style(format!("{:.1}s", duration.as_secs_f64())).dim();
                self.print(&format!(
                    "{} {name}  {time}",
                    style("✔").green().for_stderr()
                ));
            }
            Some(message) => {
                let mut text = format!(
                    "{} {name}  {}",
                    style("✖").red().bold().for_stderr(),
                    style(format!("ERROR: {message}")).red().for_stderr()
                );
                for line in &log {
                    text.push_str("\n  ");
                    text.push_str(line);
                }
                self.print(&text);
            }
        }
    }

    /// Clears every live line; call when the event stream ends. Vertices
    /// still running then (the build was cancelled) are printed as
    /// `✖ NAME  CANCELED`.
    pub fn finish(&mut self) {
        for (_, bar) in std::mem::take(&mut self.transfers) {
            self.clear_bar(&bar);
        }
        for (_, (bar, _)) in std::mem::take(&mut self.tasks) {
            self.clear_bar(&bar);
        }
        let mut running: Vec<(usize, Running)> =
            std::mem::take(&mut self.running).into_iter().collect();
        running.sort_by_key(|(vertex, _)| *vertex);
        for (_, r) in running {
            self.clear_bar(&r.bar);
            self.print(&format!(
                "{} {}  {}",
                style("✖").red().for_stderr(),
                r.name,
                style("CANCELED").red().for_stderr()
            ));
        }
        let _ = self.multi.clear();
    }

    fn clear_bar(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    fn print(&self, text: &str) {
        // Nothing useful to do when the terminal is gone.
        let _ = self.multi.println(text);
    }
}

/// The last [`TAIL_LINES`] log lines, each on its own line, indented and
/// cut to the terminal's width.
fn tail(log: &[String], width: usize) -> String {
    let start = log.len().saturating_sub(TAIL_LINES);
    let mut out = String::new();
    for line in &log[start..] {
        out.push_str("\n  ");
        let line = console::truncate_str(line, width.saturating_sub(3), "…");
        out.push_str(&style(line).dim().for_stderr().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use hoist_builder::progress::Stream;
    use indicatif::InMemoryTerm;

    use super::*;

    fn render(events: &[Event], rows: u16) -> InMemoryTerm {
        let term = InMemoryTerm::new(rows, 80);
        let mut tty = Tty::new(ProgressDrawTarget::term_like(Box::new(term.clone())), 80);
        for e in events {
            tty.handle(e);
        }
        tty.finish();
        term
    }

    fn started(vertex: usize, name: &str) -> Event {
        Event::Started {
            vertex,
            name: name.into(),
            at: std::time::SystemTime::now(),
        }
    }

    fn log(vertex: usize, data: &str) -> Event {
        Event::Log {
            vertex,
            stream: Stream::Stderr,
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn tty_collapses_finished_vertices_to_one_line_each() {
        let term = render(
            &[
                Event::Cached {
                    vertex: 0,
                    name: "[1/3] FROM alpine".into(),
                },
                started(1, "[2/3] RUN make"),
                log(1, "compiling\n"),
                Event::Done {
                    vertex: 1,
                    duration: Duration::from_millis(1200),
                    error: None,
                },
                Event::Phase {
                    name: "exporting to image".into(),
                    duration: Duration::from_millis(300),
                },
            ],
            20,
        );
        let text = term.contents();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            lines,
            [
                "✔ [1/3] FROM alpine  CACHED",
                "✔ [2/3] RUN make  1.2s",
                "✔ exporting to image  0.3s",
            ],
            "{text}"
        );
    }

    #[test]
    fn tty_prints_the_full_log_of_a_failing_vertex() {
        let body: String = (1..=12).map(|i| format!("out {i}\n")).collect();
        let term = render(
            &[
                started(3, "[2/2] RUN ./test.sh"),
                log(3, &body),
                log(3, "last words"),
                Event::Done {
                    vertex: 3,
                    duration: Duration::from_millis(50),
                    error: Some("exit code: 2".into()),
                },
            ],
            40,
        );
        let text = term.contents();
        assert!(
            text.contains("✖ [2/2] RUN ./test.sh  ERROR: exit code: 2"),
            "{text}"
        );
        for i in 1..=12 {
            assert!(
                text.contains(&format!("  out {i}\n")),
                "line {i} missing: {text}"
            );
        }
        assert!(text.contains("  last words"), "{text}");
    }

    #[test]
    fn tty_shows_running_vertices_live_and_marks_unfinished_ones_cancelled() {
        let term = InMemoryTerm::new(20, 80);
        let mut tty = Tty::new(ProgressDrawTarget::term_like(Box::new(term.clone())), 80);
        tty.handle(&started(5, "[1/1] RUN sleep 10"));
        tty.handle(&log(5, "tick 1\ntick 2\n"));
        tty.handle(&Event::Bytes {
            vertex: 5,
            item: "sha256:0123456789abcdef0123".into(),
            current: 512,
            total: Some(1024),
        });
        std::thread::sleep(Duration::from_millis(150));
        let live = term.contents();
        assert!(live.contains("[1/1] RUN sleep 10"), "{live}");
        assert!(live.contains("  tick 2"), "{live}");
        assert!(live.contains("sha256:0123456789ab"), "{live}");
        tty.finish();
        let end = term.contents();
        assert_eq!(
            end.trim_end(),
            "✖ [1/1] RUN sleep 10  CANCELED",
            "live lines must be cleared: {end:?}"
        );
    }

    #[test]
    fn tty_draws_a_push_as_a_bar_then_one_finished_line_with_its_size() {
        let term = InMemoryTerm::new(20, 100);
        let mut tty = Tty::new(ProgressDrawTarget::term_like(Box::new(term.clone())), 100);
        let transfer = |current| Event::Transfer {
            task: "pushing 127.0.0.1:5000/app:v1".into(),
            item: format!("sha256:{}", "d".repeat(64)),
            current,
            total: Some(3_000_000),
        };
        tty.handle(&transfer(1_000_000));
        std::thread::sleep(Duration::from_millis(150));
        let live = term.contents();
        assert!(
            live.contains("pushing 127.0.0.1:5000/app:v1 sha256:dddddddddddd"),
            "{live}"
        );
        tty.handle(&transfer(3_000_000));
        tty.handle(&Event::Phase {
            name: "pushing 127.0.0.1:5000/app:v1 (1 blobs uploaded)".into(),
            duration: Duration::from_millis(200),
        });
        tty.finish();
        let text = term.contents();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert!(
            lines[0].starts_with("✔ pushing 127.0.0.1:5000/app:v1 sha256:dddddddddddd 3.00MB"),
            "{text}"
        );
        assert_eq!(
            lines[1], "✔ pushing 127.0.0.1:5000/app:v1 (1 blobs uploaded)  0.2s",
            "{text}"
        );
    }

    #[test]
    fn tty_reports_a_vertex_that_fails_before_starting() {
        let term = render(
            &[Event::Done {
                vertex: 9,
                duration: Duration::ZERO,
                error: Some("no such file: app".into()),
            }],
            10,
        );
        assert_eq!(
            term.contents().trim_end(),
            "✖ step 9  ERROR: no such file: app"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines_cut_to_width() {
        let log: Vec<String> = (0..8).map(|i| format!("{i}{}", "x".repeat(100))).collect();
        let t = tail(&log, 20);
        let lines: Vec<&str> = t.lines().skip(1).collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert!(console::strip_ansi_codes(lines[0]).starts_with("  3xxx"));
        assert!(lines.iter().all(|l| console::measure_text_width(l) <= 20));
    }
}
