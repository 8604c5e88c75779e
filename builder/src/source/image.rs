//! Base images: registry references, OCI layouts and archives, docker-save tars, scratch.
