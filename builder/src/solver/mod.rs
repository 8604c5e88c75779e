//! Scheduling of the build graph and the persistent content-addressed cache.
