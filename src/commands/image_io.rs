//! Moving images in and out of the local store, and disk usage:
//! `hoist save`, `hoist load`, `hoist du`.

use std::io::Write;
use std::path::PathBuf;

use hoist_builder::export::archive::{
    ArchiveImage, ArchiveIndex, write_docker_tar, write_index_oci_tar, write_oci_tar,
};
use hoist_builder::store::du::disk_usage;
use hoist_builder::store::load::load_archive;
use hoist_frontend::graph::Platform;

use super::images::{RootArg, human_size};
use crate::failure::Failure;

#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The image (name or id)
    pub image: String,
    /// Write to this file (default: standard output)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker or oci
    #[arg(long, default_value = "docker")]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The archive to read (an OCI archive or a docker-save tar)
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct DuArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run_save(args: &SaveArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let entry = store.lookup(&args.image).map_err(Failure::other)?;
    let details = store.details(&entry.descriptor).map_err(Failure::other)?;
    let names: Vec<String> = entry.name.into_iter().collect();
    let image = ArchiveImage {
        manifest: &details.descriptor,
        parsed: &details.manifest,
        names: &names,
    };
    // A multi-platform entry is saved whole as OCI (docker: its host image).
    let platforms = store
        .platform_images(&entry.descriptor)
        .map_err(Failure::other)?;
    let mut index_descriptor = entry.descriptor.clone();
    index_descriptor.annotations.clear();
    let write = |w: &mut dyn Write| match (args.format.as_str(), &platforms) {
        ("oci", Some(images)) => {
            let index = ArchiveIndex {
                index: &index_descriptor,
                images,
                names: &names,
            };
            write_index_oci_tar(store.content(), &index, 0, w).map_err(Failure::other)
        }
        ("docker", _) => write_docker_tar(store.content(), &image, 0, w).map_err(Failure::other),
        ("oci", None) => write_oci_tar(store.content(), &image, 0, w).map_err(Failure::other),
        (other, _) => Err(Failure::Usage(format!(
            "unknown --format {other:?}: expected docker or oci"
        ))),
    };
    match &args.output {
        Some(path) => {
            let tmp_dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(Failure::other)?;
            {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                write(&mut w)?;
                w.flush().map_err(Failure::other)?;
            }
            tmp.persist(path).map_err(|e| Failure::other(e.error))?;
            Ok(())
        }
        None => write(&mut std::io::stdout().lock()),
    }
}

pub fn run_load(args: &LoadArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let host = Platform::host();
    let platform = Platform::new("linux", &host.architecture, &host.variant);
    let loaded = load_archive(&store, &args.input, &platform).map_err(Failure::other)?;
    let mut text = String::new();
    for name in loaded {
        text.push_str(&format!(
            "Loaded image: {}\n",
            hoist_builder::store::familiar_name(&name)
        ));
    }
    super::print_stdout(&text)
}

pub fn run_du(args: &DuArgs) -> Result<(), Failure> {
    let root = args.root.open()?;
    let du = disk_usage(&root);
    let text = if args.format == "json" {
        let mut v = serde_json::to_value(&du).map_err(Failure::other)?;
        v["total"] = du.total().into();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).map_err(Failure::other)?
        )
    } else {
        format!(
            "TYPE             SIZE\ncontent          {}\nsnapshots        {}\ncache mounts     {}\ncache records    {}\ntotal            {}\n",
            human_size(du.content),
            human_size(du.snapshots),
            human_size(du.cache_mounts),
            human_size(du.cache_records),
            human_size(du.total()),
        )
    };
    super::print_stdout(&text)
}
