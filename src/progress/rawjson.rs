//! `--progress=rawjson`: every event as one JSON object on its own line
//! (the serde form of [`Event`], tagged by `"event"`).

use std::io::{self, Write};

use hoist_builder::progress::Event;

/// Writes `event` as one JSON line and flushes, so a reader sees it at once.
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use hoist_builder::progress::Stream;

    use super::*;

    #[test]
    fn each_event_is_one_json_line_that_parses_back() {
        let events = [
            Event::Started {
                vertex: 0,
                name: "[1/2] FROM alpine".into(),
                at: UNIX_EPOCH + Duration::from_millis(1500),
            },
            Event::Log {
                vertex: 0,
                stream: Stream::Stdout,
                data: b"a\nb\n".to_vec(),
            },
            Event::Done {
                vertex: 0,
                duration: Duration::from_millis(250),
                error: Some("exit code 1".into()),
            },
        ];
        let mut out = Vec::new();
        for e in &events {
            write_event(&mut out, e).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "started");
        assert_eq!(lines[0]["at"], 1500);
        assert_eq!(lines[1]["data"], "a\nb\n");
        assert_eq!(lines[2]["error"], "exit code 1");
        assert_eq!(lines[2]["duration"], 250);
    }
}
