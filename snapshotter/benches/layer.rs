//! Micro-benchmarks of the layer code (issue #9) on a 300 MB tree: diff → tar → sha256 →
//! gzip / zstd / none → content store (`write_layer`), unpacking those blobs (`apply_layer`),
//! and sha256 of 300 MB in memory.
//!
//! The tree is generated deterministically (fixed-seed PRNG) in a temporary directory: 2,400
//! files of 125 KB in 24 directories, each a mix of word-like text (compresses well) and random
//! bytes (does not), about 3:1 compressible like real layers. `HOIST_BENCH_LAYER_MB` scales it
//! (default 300). Samples are few (10, flat sampling): one sample is seconds long.
//! `cargo bench -p hoist-snapshotter --bench layer`; `bench/run micro` runs it.

use std::fs::{self, File};
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};
use hoist_snapshotter::layer::compress::{Encoding, write_layer};
use hoist_snapshotter::layer::compression::open_layer;
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource};

const FILE_BYTES: usize = 125_000;

/// A splitmix64 stream: deterministic, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn total_bytes() -> usize {
    let mb: usize = std::env::var("HOIST_BENCH_LAYER_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    mb * 1_000_000
}

/// `len` bytes: 3/4 word-like text, 1/4 random, in 4 KiB runs.
fn mixed_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"layer ", b"image ", b"build ", b"the ", b"of ", b"cache ", b"digest ", b"sha256:", b"\n",
        b"RUN ", b"COPY ", b"0123 ",
    ];
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let run_end = (out.len() + 4096).min(len);
        if rng.next().is_multiple_of(4) {
            while out.len() < run_end {
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            while out.len() < run_end {
                out.extend_from_slice(WORDS[(rng.next() % 12) as usize]);
            }
        }
        out.truncate(run_end);
    }
    out
}

/// Writes the benchmark tree under `root`; returns its byte count.
fn write_tree(root: &Path) -> u64 {
    let mut rng = Rng(7);
    let files = total_bytes() / FILE_BYTES;
    for i in 0..files {
        let dir = root.join(format!("d{:02}", i % 24));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("f{i:05}.dat")),
            mixed_bytes(&mut rng, FILE_BYTES),
        )
        .unwrap();
    }
    (files * FILE_BYTES) as u64
}

fn write_once(tree: &Path, store: &ContentStore, encoding: Encoding) -> PathBuf {
    let source = DiffSource::OverlayUpper(tree.to_path_buf());
    let blob = write_layer(&source, &DiffOptions::default(), encoding, store).unwrap();
    store.path(&blob.digest)
}

fn layer(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let bytes = write_tree(&tree);
    let keep = ContentStore::open(dir.path().join("keep")).unwrap();
    let blobs = [
        ("tar", write_once(&tree, &keep, Encoding::none())),
        ("gzip6", write_once(&tree, &keep, Encoding::gzip(6))),
        ("zstd3", write_once(&tree, &keep, Encoding::zstd(3))),
    ];
    for (name, path) in &blobs {
        let size = fs::metadata(path).unwrap().len();
        eprintln!("layer {name}: {size} bytes from {bytes} bytes of files");
    }

    let mut group = c.benchmark_group("layer_300MB");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    for (name, encoding) in [
        ("tar", Encoding::none()),
        ("gzip6", Encoding::gzip(6)),
        ("zstd3", Encoding::zstd(3)),
    ] {
        group.bench_function(format!("write_layer_{name}"), |b| {
            b.iter_batched(
                || {
                    let scratch = tempfile::tempdir_in(dir.path()).unwrap();
                    let store = ContentStore::open(scratch.path().join("store")).unwrap();
                    (scratch, store)
                },
                |(scratch, store)| {
                    let source = DiffSource::OverlayUpper(tree.clone());
                    write_layer(&source, &DiffOptions::default(), encoding, &store).unwrap();
                    scratch
                },
                BatchSize::PerIteration,
            )
        });
    }
    for (name, blob) in &blobs {
        group.bench_function(format!("apply_layer_{name}"), |b| {
            b.iter_batched(
                || tempfile::tempdir_in(dir.path()).unwrap(),
                |dest| {
                    let (_, tar) = open_layer(File::open(blob).unwrap()).unwrap();
                    apply_layer(tar, dest.path(), &ApplyOptions::default()).unwrap();
                    dest
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn sha256(c: &mut Criterion) {
    let data = mixed_bytes(&mut Rng(3), total_bytes());
    let mut group = c.benchmark_group("sha256_300MB");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("in_memory", |b| b.iter(|| Digest::of(black_box(&data))));
    group.finish();
}

criterion_group!(benches, sha256, layer);
criterion_main!(benches);
