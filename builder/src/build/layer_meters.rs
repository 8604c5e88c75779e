//! Progress of the layers an export writes: one meter per
//! layer written, under the export's task, counting uncompressed bytes (the
//! total is not known before the layer's tar is written).

use std::sync::Arc;

use hoist_snapshotter::digest::Digest;

use crate::progress::{Progress, TaskMeters};

/// The meters of the layers of one export.
pub struct LayerMeters(TaskMeters);

impl LayerMeters {
    pub fn new(progress: Arc<dyn Progress>, task: &str) -> LayerMeters {
        LayerMeters(TaskMeters::new(progress, task))
    }

    /// Layer `id` has had `bytes` of its tar compressed so far.
    pub fn observe(&self, id: &Digest, bytes: u64) {
        self.0.set(&format!("layer {}", short(id)), bytes, None);
    }

    /// Reports every layer seen complete.
    pub fn finish(&self) {
        self.0.finish_all();
    }
}

/// `sha256:` and the first 12 hex digits, as Docker shows ids.
fn short(id: &Digest) -> String {
    let text = id.to_string();
    text.chars().take("sha256:".len() + 12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{Event, Recorded};

    #[test]
    fn each_layer_gets_one_item_that_ends_at_its_size() {
        let r = Recorded::default();
        let m = LayerMeters::new(Arc::new(r.clone()), "exporting to image");
        let id: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        m.observe(&id, 100);
        m.observe(&id, 250);
        m.finish();
        let last = r.events().pop().unwrap();
        assert_eq!(
            last,
            Event::Transfer {
                task: "exporting to image".into(),
                item: format!("layer sha256:{}", "b".repeat(12)),
                current: 250,
                total: Some(250),
            }
        );
    }
}
