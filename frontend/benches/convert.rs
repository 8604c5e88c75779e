//! Parsing + converting a generated 10,000-instruction Dockerfile (20
//! stages of RUN, COPY, ENV, ARG, WORKDIR, LABEL, EXPOSE and `COPY --from`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hoist_frontend::convert::{ConvertOptions, NoResolver, convert};
use hoist_frontend::parser::parse;

/// A Dockerfile of exactly `instructions` instructions.
fn generated(instructions: usize) -> String {
    let stages = 20;
    let per_stage = instructions / stages;
    let mut df = String::from("ARG BASE=debian:12\nARG VERSION=1.0\n");
    let mut count = 2;
    for s in 0..stages {
        df.push_str(&format!("FROM $BASE AS stage{s}\n"));
        count += 1;
        let mut i = 1;
        while i < per_stage && count < instructions {
            let line = match i % 8 {
                0 => format!(
                    "RUN --mount=type=cache,target=/root/.cache make -j4 target{i} && echo $VERSION\n"
                ),
                1 => "ARG VERSION\n".to_string(),
                2 => format!("ENV STEP_{}=value{i} HOME_{s}=/opt/s{s}\n", i % 10),
                3 => format!("COPY --chown=app:app src/file{i}.txt /app/src/\n"),
                4 => format!("WORKDIR /app/w{}\n", i % 5),
                5 if s > 0 => format!("COPY --from=stage{} /app/src/file{i}.txt /from/\n", s - 1),
                5 => format!("LABEL step{i}=\"${{VERSION}}\"\n"),
                6 => format!("EXPOSE {}\n", 8000 + i),
                _ => format!("RUN echo \"step {i} of stage {s}\" > /tmp/s{i}\n"),
            };
            df.push_str(&line);
            count += 1;
            i += 1;
        }
    }
    df
}

fn bench(c: &mut Criterion) {
    let df = generated(10_000);
    let parsed = parse(&df).expect("generated Dockerfile parses");
    assert_eq!(parsed.nodes.len(), 10_000);
    let opts = ConvertOptions::default();
    let graph = convert(&parsed, &df, &opts, &NoResolver).expect("generated Dockerfile converts");
    assert!(graph.vertices.len() > 5_000);
    // `HOIST_BENCH_MIN=N`: also print the best of N runs of each phase
    // (steadier than criterion's mean on a loaded machine).
    if let Some(n) = std::env::var("HOIST_BENCH_MIN")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        let mut best = [std::time::Duration::MAX; 3];
        for _ in 0..n {
            let t = std::time::Instant::now();
            let p = parse(&df).unwrap();
            let t1 = t.elapsed();
            let g = convert(&p, &df, &opts, &NoResolver).unwrap();
            let t2 = t.elapsed();
            drop(g);
            best[0] = best[0].min(t1);
            best[1] = best[1].min(t2 - t1);
            best[2] = best[2].min(t2);
        }
        eprintln!(
            "min parse {:?} convert {:?} total {:?}",
            best[0], best[1], best[2]
        );
    }
    c.bench_function("parse_and_convert_10000_instructions", |b| {
        b.iter(|| {
            let parsed = parse(black_box(&df)).unwrap();
            convert(&parsed, &df, &opts, &NoResolver).unwrap()
        })
    });
    c.bench_function("parse_10000_instructions", |b| {
        b.iter(|| parse(black_box(&df)).unwrap())
    });
    c.bench_function("convert_10000_instructions", |b| {
        b.iter(|| convert(black_box(&parsed), &df, &opts, &NoResolver).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
