//! The build graph: the contract between the frontend and the builder.
