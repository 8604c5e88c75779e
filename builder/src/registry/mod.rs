//! The distribution (registry) client: pull, push, auth, plain HTTP rules.
