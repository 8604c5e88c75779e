//! Typed progress events of a build; the CLI renders them.
