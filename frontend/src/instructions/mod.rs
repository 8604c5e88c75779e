//! Layer 2 of the frontend: parse-tree nodes → typed, validated instructions.
