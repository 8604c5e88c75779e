//! Micro-benchmarks of the local build context (issue #9): `.dockerignore` matching over
//! 20,000 paths, walking a 20,000-file context, and the context checksum of that tree cold
//! (every file read and hashed) and with the stat cache (nothing read: `lstat` says unchanged).
//!
//! The tree is generated deterministically (a fixed-seed PRNG) in a temporary directory:
//! 20,000 files in 100 directories, 1–8 KiB of text each (about 90 MiB), so that the figures
//! are the same bytes on every machine. `cargo bench -p hoist-builder --bench context`;
//! `bench/run micro` runs it and copies criterion's estimates into bench/results.

use std::fs;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hoist_builder::source::local::{ChecksumOptions, Context, Patterns, SelectOptions};

const FILES: usize = 20_000;
const DIRS: usize = 100;

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

/// The relative paths of a project-like context: sources, dependencies, VCS data, logs and
/// build output, in the proportions of the W6 workload.
fn context_paths() -> Vec<String> {
    (0..FILES)
        .map(|i| {
            let d = i % DIRS;
            match i % 10 {
                0..=3 => format!("src/mod{d:02}/file{i:05}.rs"),
                4..=6 => format!("node_modules/pkg{d:02}/lib/f{i:05}.js"),
                7 => format!(".git/objects/{d:02}/o{i:05}"),
                8 => format!("logs/l{d:02}/run{i:05}.log"),
                _ => format!("build/out{d:02}/obj{i:05}.o"),
            }
        })
        .collect()
}

/// The rules of a typical `.dockerignore`, with `**` and `!` exceptions.
const DOCKERIGNORE: &str = "\
# VCS, dependencies, logs and build output
.git
node_modules
**/*.log
build
!build/out07
!build/out07/**
*.tmp
**/target
docs/**/*.pdf
!logs/l00/run00008.log
";

/// Writes `paths` under `root`, 1–8 KiB of pseudo-text each.
fn write_tree(root: &Path, paths: &[String]) {
    let mut rng = Rng(9);
    let words: [&[u8]; 8] = [
        b"fn ", b"let ", b"value", b" = ", b"self.", b"();\n", b"return ", b"0x2a",
    ];
    for rel in paths {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("a relative path has a parent")).unwrap();
        let len = 1024 + (rng.next() % 7168) as usize;
        let mut body = Vec::with_capacity(len + 8);
        while body.len() < len {
            body.extend_from_slice(words[(rng.next() % 8) as usize]);
        }
        body.truncate(len);
        fs::write(path, body).unwrap();
    }
}

fn dockerignore_matching(c: &mut Criterion) {
    let paths = context_paths();
    let patterns = Patterns::parse(DOCKERIGNORE).unwrap();
    let excluded = paths.iter().filter(|p| patterns.is_excluded(p)).count();
    assert!(
        excluded > FILES / 2 && excluded < FILES,
        "{excluded} excluded"
    );
    let mut group = c.benchmark_group("dockerignore");
    group.bench_function("parse_rules", |b| {
        b.iter(|| Patterns::parse(black_box(DOCKERIGNORE)).unwrap())
    });
    group.throughput(Throughput::Elements(FILES as u64));
    group.bench_function("is_excluded_20000_paths", |b| {
        b.iter(|| {
            paths
                .iter()
                .filter(|p| patterns.is_excluded(black_box(p)))
                .count()
        })
    });
    group.finish();
}

fn context_checksum(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ctx");
    let cache_dir = dir.path().join("stat-cache");
    fs::create_dir_all(&cache_dir).unwrap();
    let paths = context_paths();
    write_tree(&root, &paths);
    let bytes: u64 = paths
        .iter()
        .map(|p| fs::metadata(root.join(p)).unwrap().len())
        .sum();
    let none = || Patterns::parse("").unwrap();
    let checksum = |cache: Option<&Path>| {
        let ctx = Context::open(&root, none(), cache).unwrap();
        let selection = ctx.select(".", &SelectOptions::default()).unwrap();
        let digest = ctx
            .checksum(&selection, &ChecksumOptions::default())
            .unwrap();
        (ctx, digest)
    };
    // Fill the stat cache once; later opens with it must hash nothing.
    let (ctx, cold_digest) = checksum(Some(&cache_dir));
    assert_eq!(ctx.files_hashed(), FILES as u64);
    ctx.save_cache().unwrap();
    let (ctx, warm_digest) = checksum(Some(&cache_dir));
    assert_eq!(ctx.files_hashed(), 0, "the stat cache was not used");
    assert_eq!(cold_digest, warm_digest);

    let mut group = c.benchmark_group("context_20000_files");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.throughput(Throughput::Elements(FILES as u64));
    group.bench_function("walk_with_dockerignore", |b| {
        let patterns = Patterns::parse(DOCKERIGNORE).unwrap();
        b.iter(|| Context::open(&root, patterns.clone(), None).unwrap())
    });
    group.bench_function("walk_select_checksum_stat_cache", |b| {
        b.iter(|| checksum(Some(&cache_dir)).1)
    });
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("walk_select_checksum_cold", |b| b.iter(|| checksum(None).1));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = dockerignore_matching, context_checksum
}
criterion_main!(benches);
