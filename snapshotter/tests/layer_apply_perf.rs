//! Speed of [`apply_layer`] against `tar -x` on a 20,000-file, ~300 MB layer.
//!
//! Ignored by default (it writes ~1 GB); run it in release mode:
//! `cargo test --release -p hoist-snapshotter --test layer_apply_perf -- --ignored --nocapture`.
//! Compares CPU time (user + system, from `/proc/self/stat`), which the
//! other jobs of a shared machine disturb far less than wall time; wall
//! times are printed too. Fails when we use more than 1.5× GNU tar's CPU
//! time (+0.2 s of slack).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};

const FILES: usize = 20_000;
const TOTAL_BYTES: usize = 300 << 20;

fn build_tree(src: &Path) {
    // 1% of the files hold half the bytes; the rest share the other half.
    let big = FILES / 100;
    let big_size = TOTAL_BYTES / 2 / big;
    let small_size = TOTAL_BYTES / 2 / (FILES - big);
    let pattern: Vec<u8> = (0..big_size as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for i in 0..FILES {
        let dir = src.join(format!("dir{:03}/sub{}", i % 200, i % 7));
        if i < 1400 {
            fs::create_dir_all(&dir).unwrap();
        }
        let size = if i % 100 == 0 {
            big_size
        } else {
            small_size + i % 1000
        };
        fs::write(
            dir.join(format!("file{i}.dat")),
            &pattern[..size.min(pattern.len())],
        )
        .unwrap();
    }
}

/// CPU time (user + system) of this process and of its waited-for children.
fn cpu_times() -> (Duration, Duration) {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the `(comm)`: state is field 3; utime..cstime are 14..17.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(4)
        .map(|x| x.parse().unwrap())
        .collect();
    let tick = |t: u64| Duration::from_millis(t * 10); // USER_HZ is 100 on Linux.
    (tick(f[0] + f[1]), tick(f[2] + f[3]))
}

/// Wall time and CPU time (own + children's) of `f`.
fn time(f: impl FnOnce()) -> (Duration, Duration) {
    let (own, children) = cpu_times();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let (own2, children2) = cpu_times();
    (wall, (own2 - own) + (children2 - children))
}

fn gnu_tar_x(layer: &Path, dest: &Path) {
    fs::create_dir(dest).unwrap();
    let st = Command::new("tar")
        .args(["-x", "--numeric-owner", "-p", "-f"])
        .arg(layer)
        .arg("-C")
        .arg(dest)
        .status()
        .expect("GNU tar is needed");
    assert!(st.success());
}

#[test]
#[ignore = "writes ~1 GB; run in release with --ignored"]
fn apply_is_close_to_gnu_tar_speed() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    build_tree(&src);
    let layer = t.path().join("layer.tar");
    let st = Command::new("tar")
        .arg("-cf")
        .arg(&layer)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_dir_all(&src).unwrap();
    // Warm the page cache with the layer.
    fs::read(&layer).unwrap();

    let mut tar_best = (Duration::MAX, Duration::MAX);
    let mut ours_best = (Duration::MAX, Duration::MAX);
    for round in 0..2 {
        let dest = t.path().join(format!("tar{round}"));
        let (wall, cpu) = time(|| gnu_tar_x(&layer, &dest));
        tar_best = (tar_best.0.min(wall), tar_best.1.min(cpu));
        fs::remove_dir_all(&dest).unwrap();
        let dest = t.path().join(format!("ours{round}"));
        fs::create_dir(&dest).unwrap();
        let (wall, cpu) = time(|| {
            let stats = apply_layer(
                fs::File::open(&layer).unwrap(),
                &dest,
                &ApplyOptions::default(),
            )
            .unwrap();
            assert_eq!(stats.files, FILES as u64);
        });
        ours_best = (ours_best.0.min(wall), ours_best.1.min(cpu));
        fs::remove_dir_all(&dest).unwrap();
    }
    eprintln!(
        "tar -x: wall {:?} cpu {:?}; apply_layer: wall {:?} cpu {:?}",
        tar_best.0, tar_best.1, ours_best.0, ours_best.1
    );
    assert!(
        ours_best.1 <= tar_best.1.mul_f64(1.5) + Duration::from_millis(200),
        "apply_layer CPU {:?} vs tar -x CPU {:?}",
        ours_best.1,
        tar_best.1
    );
}
