//! The sandbox for RUN steps: namespaces, the mount plan, pivot_root, exec.
