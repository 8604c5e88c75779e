//! hoist's Dockerfile frontend: Dockerfile text in, [`graph::BuildGraph`] out.
//!
//! The frontend is pure and synchronous: it reads no files beyond the bytes it
//! is given, spawns nothing and never prints. It is a row of small steps, each
//! owning one part of the pipeline:
//!
//! - [`parser`]: text → nodes (directives, continuations, heredocs, JSON form, flags).
//! - [`shell`]: Dockerfile word expansion (`$VAR`, `${VAR:-x}`, quotes, splitting).
//! - [`instructions`]: nodes → typed, validated instructions.
//! - [`convert`]: instructions → [`graph::BuildGraph`] (stages, args, image config).
//! - [`graph`]: the build-graph contract shared with the builder.
//! - [`diagnostic`]: source locations and the errors that carry them.

pub mod convert;
pub mod diagnostic;
pub mod graph;
pub mod instructions;
pub mod parser;
pub mod shell;
