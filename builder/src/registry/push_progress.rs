//! A push's [`PushEvent`]s as byte transfers: one meter per blob sent, all
//! under the task `pushing REF`, so renderers show sizes and rates of
//! uploads the way they show pulls.

use std::sync::Arc;

use super::push::PushEvent;
use super::reference::Reference;
use crate::progress::{Progress, TaskMeters};

/// Meters for the blobs of one push.
pub struct PushMeters(TaskMeters);

impl PushMeters {
    /// Meters reporting to `progress` under `pushing {target}`.
    pub fn new(progress: Arc<dyn Progress>, target: &Reference) -> PushMeters {
        PushMeters(TaskMeters::new(progress, format!("pushing {target}")))
    }

    /// The task name; a phase that ends the push starts with it.
    pub fn task(&self) -> &str {
        self.0.task()
    }

    /// Feeds one push event (the callback of `push_image_with`).
    pub fn observe(&self, event: PushEvent) {
        if let PushEvent::Blob {
            digest,
            current,
            total,
        } = event
        {
            self.0.set(&digest.to_string(), current, Some(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use hoist_snapshotter::digest::Digest;

    use super::*;
    use crate::progress::{Event, Recorded};

    #[test]
    fn each_uploaded_blob_becomes_a_transfer_of_the_push_task() {
        let r = Recorded::default();
        let target = Reference::parse("127.0.0.1:5000/app:v1").unwrap();
        let meters = PushMeters::new(Arc::new(r.clone()), &target);
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        for current in [0, 10, 20] {
            meters.observe(PushEvent::Blob {
                digest: digest.clone(),
                current,
                total: 20,
            });
        }
        meters.observe(PushEvent::Skipped {
            digest: digest.clone(),
        });
        let events = r.events();
        let last = events.last().unwrap();
        assert_eq!(
            last,
            &Event::Transfer {
                task: "pushing 127.0.0.1:5000/app:v1".into(),
                item: digest.to_string(),
                current: 20,
                total: Some(20),
            }
        );
        assert!(meters.task().starts_with("pushing "));
    }
}
