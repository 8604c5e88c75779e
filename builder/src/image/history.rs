//! The image history: matching the frontend's history entries to the layers
//! a build produced, and the `created` timestamps.
//!
//! Entries without `empty_layer` correspond, in order, to the layers. When
//! the counts disagree (a base image with an incomplete history), the last
//! entries are matched to the last layers, and missing entries are added at
//! the front, as BuildKit does. A layer that turned out empty (a step that
//! changed nothing) gets no blob, and its entry becomes `empty_layer: true`.

use chrono::{DateTime, SecondsFormat, Utc};
use hoist_frontend::graph::History;

/// `created` for this build: `SOURCE_DATE_EPOCH` when given, else now, in
/// RFC 3339 UTC.
pub fn timestamp(source_date_epoch: Option<i64>) -> String {
    match source_date_epoch.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    }
}

/// Seconds from the RFC 3339 time `created` until now (`None` if unparsable).
pub fn age_seconds(created: &str) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(created).ok()?;
    Some((Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0))
}

/// The history for layers whose emptiness is `empty` (bottom first); new
/// entries without a time get `created`.
pub fn align(history: &[History], empty: &[bool], created: &str) -> Vec<History> {
    let mut out: Vec<History> = history.to_vec();
    let layered: Vec<usize> = (0..out.len()).filter(|&i| !out[i].empty_layer).collect();
    let mut missing = empty.len().saturating_sub(layered.len());
    let mut front = Vec::with_capacity(missing);
    while missing > 0 {
        front.push(History {
            created_by: Some(String::new()),
            comment: Some("layer without history".to_string()),
            ..History::default()
        });
        missing -= 1;
    }
    // More layered entries than layers: the extra earliest ones are marked empty.
    let extra = layered.len().saturating_sub(empty.len());
    for &i in &layered[..extra] {
        out[i].empty_layer = true;
    }
    front.extend(out);
    let mut out = front;
    let slots: Vec<usize> = (0..out.len()).filter(|&i| !out[i].empty_layer).collect();
    for (slot, is_empty) in slots.iter().zip(empty) {
        if *is_empty {
            out[*slot].empty_layer = true;
        }
    }
    for h in &mut out {
        if h.created.is_none() {
            h.created = Some(created.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(by: &str, empty: bool) -> History {
        History {
            created_by: Some(by.to_string()),
            empty_layer: empty,
            ..History::default()
        }
    }

    #[test]
    fn timestamp_of_source_date_epoch_is_rfc3339_utc() {
        assert_eq!(timestamp(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn empty_layer_step_is_marked_empty_layer() {
        let h = [
            entry("base", false),
            entry("ENV", true),
            entry("RUN true", false),
        ];
        let out = align(&h, &[false, true], "T");
        assert_eq!(
            out.iter().map(|h| h.empty_layer).collect::<Vec<_>>(),
            [false, true, true]
        );
        assert!(out.iter().all(|h| h.created.as_deref() == Some("T")));
    }

    #[test]
    fn missing_history_entries_are_added_in_front() {
        let h = [entry("RUN x", false)];
        let out = align(&h, &[false, false, false], "T");
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].created_by.as_deref(), Some("RUN x"));
        assert!(out.iter().all(|h| !h.empty_layer));
    }

    #[test]
    fn extra_history_entries_become_empty() {
        let h = [entry("a", false), entry("b", false)];
        let out = align(&h, &[false], "T");
        assert!(out[0].empty_layer && !out[1].empty_layer);
    }

    #[test]
    fn existing_created_times_are_kept() {
        let mut e = entry("base", false);
        e.created = Some("2020-01-01T00:00:00Z".into());
        let out = align(&[e], &[false], "T");
        assert_eq!(out[0].created.as_deref(), Some("2020-01-01T00:00:00Z"));
    }
}
