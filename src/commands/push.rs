//! `hoist push NAME [REF]`: pushes an image of the local store to a
//! registry, under its own name or REF. Blobs the registry already has are
//! not sent again. Layers the store keeps uncompressed are gzipped first
//! (once; the result is memoised), as `docker push` does.

use hoist_builder::image::compressed_copy::with_compressed_layers;
use hoist_builder::registry::{
    PushOptions, Reference, RegistryClient, RegistryOptions, push_image_with,
};

use hoist_builder::store::ImageStore;
use hoist_snapshotter::layer::compress::Encoding;

use super::images::RootArg;
use crate::failure::Failure;

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The image in the local store (name or id)
    pub name: String,
    /// Where to push it (default: its name)
    pub target: Option<String>,
    /// Registry reachable over plain HTTP; repeatable (loopback always is)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

pub fn run(args: &PushArgs) -> Result<(), Failure> {
    let root = args.root.open()?;
    let store = ImageStore::open(&root).map_err(Failure::other)?;
    let image = store.lookup(&args.name).map_err(Failure::other)?;
    let target_name = match (&args.target, &image.name) {
        (Some(t), _) => t.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => {
            return Err(Failure::Usage(format!(
                "{} has no name to push it under: give the target, `hoist push {} REGISTRY/NAME:TAG`",
                args.name, args.name
            )));
        }
    };
    let target = Reference::parse(&target_name).map_err(|e| Failure::Usage(e.to_string()))?;
    let client = RegistryClient::new(RegistryOptions {
        insecure: args.insecure_registries.clone(),
        ..RegistryOptions::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::other)?;
    // The store keeps built layers plain; a registry gets them gzipped.
    let digest = with_compressed_layers(
        store.content(),
        &root.layer_records(),
        &image.descriptor.digest,
        Encoding::gzip(6),
    )
    .map_err(Failure::other)?;
    let report = runtime
        .block_on(push_image_with(
            &client,
            store.content(),
            &digest,
            &target,
            &PushOptions::default(),
            &|_| {},
        ))
        .map_err(Failure::other)?;
    eprintln!(
        "pushed {target}: {} blobs uploaded ({} bytes), {} already there",
        report.uploaded.len(),
        report.bytes_uploaded,
        report.skipped.len() + report.mounted.len()
    );
    println!("{digest}");
    Ok(())
}
