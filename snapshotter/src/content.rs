//! The content store: blobs addressed by sha256 digest, written to a temp file, verified, renamed.
