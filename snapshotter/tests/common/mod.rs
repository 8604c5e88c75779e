//! Helpers shared by the snapshotter's integration tests.
#![allow(dead_code)]

pub mod tree;
