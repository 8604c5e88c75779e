//! COPY and ADD with Docker's semantics.
