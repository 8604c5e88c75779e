//! Measures the local context's checksum on a generated context: cold (empty stat cache,
//! every file read and hashed), warm (stat cache loaded from disk: only `lstat`), and
//! in-process repeat. Not a test: it prints timings.
//!
//! `cargo run --release -p hoist-builder --example context_checksum [FILES] [AVG_BYTES]`
//! (defaults: 20000 files of about 4 KiB, in 200 directories under a temp dir).

use std::path::Path;
use std::time::Instant;

use hoist_builder::source::local::stat_cache::StatCache;
use hoist_builder::source::local::{ChecksumOptions, Context, Patterns, SelectOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let files: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let avg: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4096);

    let context = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    let t = Instant::now();
    let mut total = 0usize;
    for i in 0..files {
        let dir = context.path().join(format!("d{:03}/s{}", i % 200, i % 7));
        std::fs::create_dir_all(&dir)?;
        // Sizes spread over 0..2*avg, content distinct per file.
        let size = (i * 7919) % (2 * avg + 1);
        let byte = (i % 251) as u8;
        let mut content = vec![byte; size];
        content.extend_from_slice(&(i as u64).to_le_bytes());
        total += content.len();
        std::fs::write(dir.join(format!("f{i}.dat")), content)?;
    }
    // Let the files age past the stat cache's racy window (50 ms).
    std::thread::sleep(std::time::Duration::from_millis(100));
    println!(
        "generated {files} files, {:.1} MB, in {:.2?}",
        total as f64 / 1e6,
        t.elapsed()
    );

    let run = |label: &str,
               cache_dir: Option<&Path>|
     -> Result<String, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let ctx = Context::open(context.path(), Patterns::default(), cache_dir)?;
        let walked = t.elapsed();
        let sel = ctx.select(".", &SelectOptions::default())?;
        let digest = ctx.checksum(&sel, &ChecksumOptions::default())?;
        let summed = t.elapsed();
        ctx.save_cache()?;
        println!(
            "{label:>28}: walk+cache load {walked:>9.2?}, +checksum {summed:>9.2?}, +save {:>9.2?}; {} entries, {} files read",
            t.elapsed(),
            ctx.entries().len(),
            ctx.files_hashed()
        );
        Ok(digest)
    };

    let cold = run("cold (empty stat cache)", Some(cache.path()))?;
    let warm = run("warm (stat cache from disk)", Some(cache.path()))?;
    let warm2 = run("warm again", Some(cache.path()))?;
    let t = Instant::now();
    let file = StatCache::file_for(cache.path(), &context.path().canonicalize()?);
    let loaded = StatCache::load(&file)?;
    println!(
        "{:>28}: {:.2?} for {} records ({} bytes)",
        "stat cache load alone",
        t.elapsed(),
        loaded.len(),
        std::fs::metadata(&file)?.len()
    );
    let nocache = run("no cache dir (page cache hot)", None)?;
    assert_eq!(cold, warm);
    assert_eq!(cold, warm2);
    assert_eq!(cold, nocache);
    println!("checksum {cold}");
    Ok(())
}
