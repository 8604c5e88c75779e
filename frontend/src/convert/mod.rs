//! Instructions → [`crate::graph::BuildGraph`]: stages, ARG/ENV scoping, build
//! args, platform args, image config and one vertex per step.
