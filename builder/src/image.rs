//! The OCI image config and history of a build result.
