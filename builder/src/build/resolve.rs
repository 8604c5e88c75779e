//! The frontend's view of base images: an [`ImageResolver`] for the pure
//! conversion step, answered by the builder's image sources (registry, OCI
//! layouts). Each image is resolved once per build; the runner later finds
//! it by the pinned reference the conversion put into the graph.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hoist_frontend::convert::{ImageResolver as FrontendResolver, ResolvedImage as FrontendImage};
use hoist_frontend::graph::Platform;
use tokio::runtime::Handle;

use crate::source::image::{ImageResolver, ImageSource, ResolvedImage};

/// Resolved images by (reference as the graph names it, platform).
pub type ResolvedMap = Arc<Mutex<HashMap<(String, Platform), Arc<ResolvedImage>>>>;

/// Blocks on the async image resolver; call only from a blocking thread.
pub struct BuildResolver {
    pub images: Arc<ImageResolver>,
    pub handle: Handle,
    pub pull: bool,
    pub resolved: ResolvedMap,
}

/// The image source a frontend reference names: `oci-layout://PATH[:TAG]`
/// or a registry reference (`scratch` included).
pub fn source_of(reference: &str) -> Result<ImageSource, String> {
    if let Some(rest) = reference.strip_prefix("oci-layout://") {
        let (path, tag) = split_layout(rest);
        return Ok(ImageSource::OciLayout {
            path: path.into(),
            tag,
        });
    }
    ImageSource::from_name(reference).map_err(|e| e.to_string())
}

/// `PATH[:TAG]` (a `:` after the last `/` starts the tag).
fn split_layout(s: &str) -> (&str, Option<String>) {
    match s.rfind(':') {
        Some(i) if !s[i..].contains('/') => (&s[..i], Some(s[i + 1..].to_string())),
        _ => (s, None),
    }
}

impl FrontendResolver for BuildResolver {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<FrontendImage, String> {
        let source = source_of(reference)?;
        let img = self
            .handle
            .block_on(self.images.resolve(&source, platform, self.pull))
            .map_err(|e| e.to_string())?;
        let pinned = match (&img.reference, img.manifest_digest()) {
            (Some(r), Some(d)) => r.with_digest(d.clone()).to_string(),
            _ => reference.to_string(),
        };
        let config = img.config.clone();
        let img = Arc::new(img);
        if let Ok(mut map) = self.resolved.lock() {
            map.insert((reference.to_string(), platform.clone()), img.clone());
            map.insert((pinned.clone(), platform.clone()), img);
        }
        Ok(FrontendImage {
            reference: pinned,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_layout_references_split_path_and_tag() {
        assert_eq!(split_layout("/a/b:v1"), ("/a/b", Some("v1".to_string())));
        assert_eq!(split_layout("/a:b/c"), ("/a:b/c", None));
        assert_eq!(split_layout("/a/b"), ("/a/b", None));
    }
}
