//! Running `hoist build`: the request from the flags, the progress renderer,
//! Ctrl-C turned into a clean cancel, and the build's errors rendered with
//! the Dockerfile line they come from.

use std::sync::Arc;
use std::time::Duration;

use hoist_builder::build::{BuildEnv, BuildError, ExportedImage, StepError, build};
use hoist_builder::solver::Cancel;
use hoist_frontend::diagnostic::{Diagnostic, Span};

use super::build::{BuildArgs, BuildInputs, build_request, data_root};
use crate::failure::Failure;
use crate::interrupt;
use crate::progress::{self, ProgressMode};

pub fn run(args: &BuildArgs) -> Result<(), Failure> {
    let inputs = BuildInputs::read(args)?;
    let env = |k: &str| std::env::var(k).ok();
    let request = build_request(args, &inputs, &env).map_err(|e| Failure::Usage(e.0))?;
    let build_env = BuildEnv {
        root: data_root(args, &env),
        exe: std::env::current_exe().map_err(Failure::other)?,
    };
    let mode = if args.quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    interrupt::cooperate();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::other)?;
    let cancel = Cancel::new();
    let watcher = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            while !cancel.is_cancelled() {
                if interrupt::interrupted() {
                    cancel.cancel();
                    hoist_snapshotter::snapshot::unmount_all_active();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let (sink, renderer) = progress::start(mode, request.explain_cache);
    let result = runtime.block_on(build(&request, &build_env, Arc::new(sink), cancel.clone()));
    drop(runtime);
    renderer.finish();
    cancel.cancel();
    // Not joined: it sleeps between checks, and waiting for it would add up
    // to a check interval to every build. It ends with the process.
    drop(watcher);
    match result {
        Ok(outcome) => match &outcome.index {
            Some(index) => write_index_results(args, &request, index),
            None => write_results(args, &request, outcome.image.as_ref()),
        },
        Err(BuildError::Interrupted) => Err(Failure::Interrupted),
        Err(BuildError::Dockerfile(diagnostic)) => Err(Failure::Dockerfile {
            file: inputs.dockerfile.display().to_string(),
            source_text: inputs.dockerfile_text.clone(),
            diagnostic,
        }),
        Err(BuildError::Step { name, span, error }) => {
            if let StepError::ProcessFailed { tail, .. } = &error
                && !tail.is_empty()
                && mode == ProgressMode::Quiet
            {
                for line in tail {
                    eprintln!("{line}");
                }
            }
            let message = format!("{name}: {error}");
            match span {
                Some(span) => Err(Failure::Dockerfile {
                    file: inputs.dockerfile.display().to_string(),
                    source_text: inputs.dockerfile_text.clone(),
                    diagnostic: Diagnostic::new(message, Span { len: 0, ..span }),
                }),
                None => Err(Failure::Other(message.into())),
            }
        }
        Err(e) => Err(Failure::other(e)),
    }
}

/// `-q`, `--iidfile` and `--metadata-file`: what the build produced.
fn write_results(
    args: &BuildArgs,
    request: &hoist_builder::request::BuildRequest,
    image: Option<&ExportedImage>,
) -> Result<(), Failure> {
    let Some(exported) = image else {
        return Ok(());
    };
    let id = exported.image.id().to_string();
    if args.quiet {
        crate::commands::print_stdout(&format!("{id}\n"))?;
    }
    if let Some(path) = &request.iidfile {
        std::fs::write(path, &id).map_err(|e| {
            Failure::Other(format!("writing --iidfile {}: {e}", path.display()).into())
        })?;
    }
    if let Some(path) = &request.metadata_file {
        let mut meta = serde_json::Map::new();
        meta.insert(
            "containerimage.digest".into(),
            exported.image.manifest_digest.to_string().into(),
        );
        meta.insert("containerimage.config.digest".into(), id.into());
        if !exported.names.is_empty() {
            meta.insert("image.name".into(), exported.names.join(",").into());
        }
        let text = serde_json::to_string_pretty(&meta).map_err(Failure::other)?;
        std::fs::write(path, text).map_err(|e| {
            Failure::Other(format!("writing --metadata-file {}: {e}", path.display()).into())
        })?;
    }
    Ok(())
}

/// `-q`, `--iidfile` and `--metadata-file` of a multi-platform build: the
/// index digest, as buildx reports it.
fn write_index_results(
    args: &BuildArgs,
    request: &hoist_builder::request::BuildRequest,
    index: &hoist_builder::image::index::AssembledIndex,
) -> Result<(), Failure> {
    let digest = index.digest.to_string();
    if args.quiet {
        crate::commands::print_stdout(&format!("{digest}\n"))?;
    }
    let write = |path: &std::path::Path, text: &str, what: &str| {
        std::fs::write(path, text)
            .map_err(|e| Failure::Other(format!("writing {what} {}: {e}", path.display()).into()))
    };
    if let Some(path) = &request.iidfile {
        write(path, &digest, "--iidfile")?;
    }
    if let Some(path) = &request.metadata_file {
        let meta = serde_json::json!({ "containerimage.digest": digest });
        let text = serde_json::to_string_pretty(&meta).map_err(Failure::other)?;
        write(path, &text, "--metadata-file")?;
    }
    Ok(())
}
