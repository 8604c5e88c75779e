//! The local build context: walking, `.dockerignore`, content checksums with a stat cache.
