//! `--progress=plain`: BuildKit-style lines for CI logs.
//!
//! ```text
//! #1 [build 2/4] RUN make
//! #1 0.512 cc -o app main.c
//! #1 DONE 1.2s
//!
//! #2 [build 3/4] COPY . .
//! #2 CACHED
//! ```
//!
//! Vertices are numbered in order of first appearance. A log line carries
//! the seconds since its vertex started; partial lines wait for their end
//! (or the vertex's end). Logs are never clipped. A blank line separates
//! output of different vertices. A vertex still running when the stream
//! ends (a cancelled build) gets `#N CANCELED`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hoist_builder::progress::Event;

use super::{LineBuffer, ends_task, human_bytes, transfer_done};

/// Where the last lines went: a numbered vertex block or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Number(usize),
    Warning,
}

/// One byte counter of a vertex.
#[derive(Debug)]
struct Transfer {
    current: u64,
    total: Option<u64>,
    reported: bool,
}

/// The plain renderer's state; feed it events in order.
#[derive(Debug)]
pub struct Plain<W: Write> {
    out: W,
    numbers: HashMap<usize, usize>,
    next_number: usize,
    started: HashMap<usize, SystemTime>,
    /// Vertices started and not yet done.
    running: std::collections::BTreeSet<usize>,
    lines: HashMap<usize, LineBuffer>,
    transfers: BTreeMap<(usize, String), Transfer>,
    /// Work outside the graph (pulls, pushes, exports): its number, and
    /// when each of its items was first seen.
    tasks: HashMap<String, usize>,
    task_items: HashMap<(String, String), SystemTime>,
    last: Option<Block>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Plain {
            out,
            numbers: HashMap::new(),
            next_number: 1,
            started: HashMap::new(),
            running: std::collections::BTreeSet::new(),
            lines: HashMap::new(),
            transfers: BTreeMap::new(),
            tasks: HashMap::new(),
            task_items: HashMap::new(),
            last: None,
        }
    }

    /// The writer, for tests.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Draws `event`; `now` is when it arrived (for log timestamps).
    pub fn handle(&mut self, event: &Event, now: SystemTime) -> io::Result<()> {
        match event {
            Event::Started { vertex, name, at } => {
                let n = self.number(*vertex);
                self.started.insert(*vertex, *at);
                self.running.insert(*vertex);
                self.line(Block::Number(n), &format!("#{n} {name}"))?;
            }
            Event::Cached { vertex, name } => {
                let n = self.number(*vertex);
                self.line(Block::Number(n), &format!("#{n} {name}"))?;
                self.line(Block::Number(n), &format!("#{n} CACHED"))?;
            }
            Event::Log { vertex, data, .. } => {
                let lines = self.lines.entry(*vertex).or_default().push(data);
                for l in lines {
                    self.log_line(*vertex, &l, now)?;
                }
            }
            Event::Bytes {
                vertex,
                item,
                current,
                total,
            } => {
                let t = self
                    .transfers
                    .entry((*vertex, item.clone()))
                    .or_insert(Transfer {
                        current: 0,
                        total: None,
                        reported: false,
                    });
                t.current = *current;
                t.total = *total;
                if !t.reported && Some(*current) == *total {
                    t.reported = true;
                    let n = self.number(*vertex);
                    let size = human_bytes(*current);
                    let text = format!("#{n} {item} {size} / {size} done");
                    self.line(Block::Number(n), &text)?;
                }
            }
            Event::CacheMiss { vertex, reason } => {
                let n = self.number(*vertex);
                self.line(Block::Number(n), &format!("#{n} cache miss: {reason}"))?;
            }
            Event::Done {
                vertex,
                duration,
                error,
            } => {
                self.running.remove(vertex);
                self.flush_vertex(*vertex, now)?;
                let n = self.number(*vertex);
                let text = match error {
                    None => format!("#{n} DONE {}", seconds(*duration)),
                    Some(message) => format!("#{n} ERROR: {message}"),
                };
                self.line(Block::Number(n), &text)?;
            }
            Event::Warning { message } => {
                self.line(Block::Warning, &format!("WARNING: {message}"))?;
            }
            Event::Transfer {
                task,
                item,
                current,
                total,
            } => {
                let n = match self.tasks.get(task) {
                    Some(n) => *n,
                    None => {
                        let n = self.next_number;
                        self.next_number += 1;
                        self.tasks.insert(task.clone(), n);
                        self.line(Block::Number(n), &format!("#{n} {task}"))?;
                        n
                    }
                };
                let first = *self
                    .task_items
                    .entry((task.clone(), item.clone()))
                    .or_insert(now);
                if *total == Some(*current) {
                    let took = now.duration_since(first).unwrap_or_default();
                    let text = format!("#{n} {}", transfer_done(item, *current, took));
                    self.line(Block::Number(n), &text)?;
                }
            }
            Event::Phase { name, duration } => {
                // A phase that ends a task keeps the task's number.
                let n = match self.tasks.iter().find(|(task, _)| ends_task(name, task)) {
                    Some((_, n)) => *n,
                    None => {
                        let n = self.next_number;
                        self.next_number += 1;
                        n
                    }
                };
                self.line(Block::Number(n), &format!("#{n} {name}"))?;
                self.line(
                    Block::Number(n),
                    &format!("#{n} DONE {}", seconds(*duration)),
                )?;
            }
        }
        self.out.flush()
    }

    /// At the end of the stream: prints what is still buffered and marks
    /// vertices that started but never finished `#N CANCELED`.
    pub fn finish(&mut self) -> io::Result<()> {
        let mut pending: Vec<usize> = self.lines.keys().copied().collect();
        pending.extend(self.running.iter().copied());
        pending.sort_by_key(|v| self.numbers.get(v).copied().unwrap_or(usize::MAX));
        pending.dedup();
        let now = SystemTime::now();
        for vertex in pending {
            self.flush_vertex(vertex, now)?;
            if self.running.remove(&vertex) {
                let n = self.number(vertex);
                self.line(Block::Number(n), &format!("#{n} CANCELED"))?;
            }
        }
        self.out.flush()
    }

    fn number(&mut self, vertex: usize) -> usize {
        *self.numbers.entry(vertex).or_insert_with(|| {
            let n = self.next_number;
            self.next_number += 1;
            n
        })
    }

    fn flush_vertex(&mut self, vertex: usize, now: SystemTime) -> io::Result<()> {
        if let Some(partial) = self
            .lines
            .get_mut(&vertex)
            .and_then(LineBuffer::take_partial)
        {
            self.log_line(vertex, &partial, now)?;
        }
        let n = self.number(vertex);
        let unfinished: Vec<String> = self
            .transfers
            .iter_mut()
            .filter(|((v, _), t)| *v == vertex && !t.reported)
            .map(|((_, item), t)| {
                t.reported = true;
                match t.total {
                    Some(total) => format!(
                        "#{n} {item} {} / {}",
                        human_bytes(t.current),
                        human_bytes(total)
                    ),
                    None => format!("#{n} {item} {}", human_bytes(t.current)),
                }
            })
            .collect();
        for text in unfinished {
            self.line(Block::Number(n), &text)?;
        }
        Ok(())
    }

    fn log_line(&mut self, vertex: usize, text: &str, now: SystemTime) -> io::Result<()> {
        let n = self.number(vertex);
        let elapsed = self
            .started
            .get(&vertex)
            .and_then(|at| now.duration_since(*at).ok())
            .unwrap_or_default();
        self.line(
            Block::Number(n),
            &format!("#{n} {:.3} {text}", elapsed.as_secs_f64()),
        )
    }

    fn line(&mut self, block: Block, text: &str) -> io::Result<()> {
        if self.last.is_some_and(|b| b != block) {
            self.out.write_all(b"\n")?;
        }
        self.last = Some(block);
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }
}

/// `1.2s`, like BuildKit's `DONE` lines.
fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use hoist_builder::progress::Stream;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn render(events: &[(u64, Event)]) -> String {
        let mut p = Plain::new(Vec::new());
        for (ms, e) in events {
            p.handle(e, at(*ms)).unwrap();
        }
        p.finish().unwrap();
        String::from_utf8(p.into_inner()).unwrap()
    }

    fn log(vertex: usize, data: &str) -> Event {
        Event::Log {
            vertex,
            stream: Stream::Stdout,
            data: data.as_bytes().to_vec(),
        }
    }

    fn started(vertex: usize, name: &str, ms: u64) -> Event {
        Event::Started {
            vertex,
            name: name.into(),
            at: at(ms),
        }
    }

    fn done(vertex: usize, ms: u64, error: Option<&str>) -> Event {
        Event::Done {
            vertex,
            duration: Duration::from_millis(ms),
            error: error.map(String::from),
        }
    }

    #[test]
    fn plain_renders_a_build_like_buildkit() {
        let out = render(&[
            (
                1000,
                Event::Cached {
                    vertex: 4,
                    name: "[build 1/4] FROM docker.io/library/alpine".into(),
                },
            ),
            (1000, started(7, "[build 2/4] RUN make", 1000)),
            (1512, log(7, "cc -o app main.c\nlinking")),
            (1700, log(7, "... ok\n")),
            (1800, started(9, "[build 3/4] RUN test", 1800)),
            (2000, log(9, "no newline at end")),
            (2200, done(7, 1200, None)),
            (
                2300,
                done(
                    9,
                    500,
                    Some("process \"/bin/sh -c test\" did not complete successfully: exit code: 1"),
                ),
            ),
            (
                2400,
                Event::Warning {
                    message: "FromAsCasing: 'as' and 'FROM' keywords' casing do not match".into(),
                },
            ),
            (
                2500,
                Event::Phase {
                    name: "exporting to image".into(),
                    duration: Duration::from_millis(80),
                },
            ),
        ]);
        assert_eq!(
            out,
            "#1 [build 1/4] FROM docker.io/library/alpine\n\
             #1 CACHED\n\
             \n\
             #2 [build 2/4] RUN make\n\
             #2 0.512 cc -o app main.c\n\
             #2 0.700 linking... ok\n\
             \n\
             #3 [build 3/4] RUN test\n\
             \n\
             #2 DONE 1.2s\n\
             \n\
             #3 0.500 no newline at end\n\
             #3 ERROR: process \"/bin/sh -c test\" did not complete successfully: exit code: 1\n\
             \n\
             WARNING: FromAsCasing: 'as' and 'FROM' keywords' casing do not match\n\
             \n\
             #4 exporting to image\n\
             #4 DONE 0.1s\n"
        );
    }

    #[test]
    fn plain_never_clips_long_logs() {
        let mut events = vec![(0, started(0, "RUN seq", 0))];
        let body: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        events.push((10, log(0, &body)));
        events.push((20, done(0, 20, None)));
        let out = render(&events);
        assert_eq!(out.lines().count(), 5002);
        assert!(out.ends_with("#1 0.010 line 4999\n#1 DONE 0.0s\n"));
    }

    #[test]
    fn plain_reports_finished_transfers_once() {
        let bytes = |current, total| Event::Bytes {
            vertex: 2,
            item: "sha256:abcd".into(),
            current,
            total,
        };
        let out = render(&[
            (0, started(2, "[1/1] FROM alpine", 0)),
            (10, bytes(100, Some(3_400_000))),
            (20, bytes(3_400_000, Some(3_400_000))),
            (30, bytes(3_400_000, Some(3_400_000))),
            (40, done(2, 40, None)),
        ]);
        assert_eq!(
            out,
            "#1 [1/1] FROM alpine\n#1 sha256:abcd 3.40MB / 3.40MB done\n#1 DONE 0.0s\n"
        );
    }

    #[test]
    fn plain_numbers_a_push_once_and_reports_each_blob_with_size_and_rate() {
        let transfer = |item: &str, current, total| Event::Transfer {
            task: "pushing 127.0.0.1:5000/app:v1".into(),
            item: item.into(),
            current,
            total: Some(total),
        };
        let digest = format!("sha256:{}", "c".repeat(64));
        let out = render(&[
            (0, transfer(&digest, 0, 2_000_000)),
            (100, transfer(&digest, 1_000_000, 2_000_000)),
            (500, transfer(&digest, 2_000_000, 2_000_000)),
            (
                600,
                Event::Phase {
                    name: "pushing 127.0.0.1:5000/app:v1 (1 blobs uploaded)".into(),
                    duration: Duration::from_millis(600),
                },
            ),
            (
                700,
                Event::Phase {
                    name: "pushing 127.0.0.1:5000/app:v10".into(),
                    duration: Duration::from_millis(100),
                },
            ),
        ]);
        assert_eq!(
            out,
            "#1 pushing 127.0.0.1:5000/app:v1\n\
             #1 sha256:cccccccccccc 2.00MB 0.5s done (4.00MB/s)\n\
             #1 pushing 127.0.0.1:5000/app:v1 (1 blobs uploaded)\n\
             #1 DONE 0.6s\n\
             \n\
             #2 pushing 127.0.0.1:5000/app:v10\n\
             #2 DONE 0.1s\n"
        );
    }

    #[test]
    fn plain_flushes_partial_lines_and_marks_unfinished_vertices_cancelled() {
        let out = render(&[(0, started(0, "RUN x", 0)), (250, log(0, "half"))]);
        assert!(out.starts_with("#1 RUN x\n#1 "), "{out}");
        assert!(out.ends_with(" half\n#1 CANCELED\n"), "{out}");
    }
}
