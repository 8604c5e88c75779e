//! Layer 1 of the frontend: Dockerfile text → [`Dockerfile`] (a list of [`Node`]s).

mod node;

pub use node::{Dockerfile, Heredoc, Node};
