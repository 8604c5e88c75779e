//! Progress of the layers an export compresses: one [`TransferMeter`] per
//! layer written, under the export's task, counting uncompressed bytes (the
//! total is not known before the layer's tar is written).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hoist_snapshotter::digest::Digest;

use crate::progress::{Progress, TransferMeter};

/// The meters of the layers of one export.
pub struct LayerMeters {
    progress: Arc<dyn Progress>,
    task: String,
    meters: Mutex<HashMap<Digest, TransferMeter>>,
}

impl LayerMeters {
    pub fn new(progress: Arc<dyn Progress>, task: &str) -> LayerMeters {
        LayerMeters {
            progress,
            task: task.to_string(),
            meters: Mutex::new(HashMap::new()),
        }
    }

    /// Layer `id` has had `bytes` of its tar compressed so far.
    pub fn observe(&self, id: &Digest, bytes: u64) {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        meters
            .entry(id.clone())
            .or_insert_with(|| {
                TransferMeter::new(
                    self.progress.clone(),
                    self.task.clone(),
                    format!("compressing layer {}", short(id)),
                    None,
                )
            })
            .set(bytes);
    }

    /// Reports every layer seen complete.
    pub fn finish(&self) {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        for meter in meters.values_mut() {
            meter.finish();
        }
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
                item: format!("compressing layer sha256:{}", "b".repeat(12)),
                current: 250,
                total: Some(250),
            }
        );
    }
}
