//! Layer 1 of the frontend: Dockerfile text → [`Dockerfile`] (a list of
//! [`Node`]s), nothing else.
//!
//! [`parse`] reproduces BuildKit's parser (`frontend/dockerfile/parser`),
//! checked byte for byte against BuildKit's own parse-tree test data
//! (`frontend/tests/conformance_parser.rs`):
//!
//! - parser directives (`syntax`, `escape`, `check`, names case-insensitive)
//!   only at the very top, before any other line; a repeated directive and
//!   an `escape` other than `\` or `` ` `` are errors;
//! - a UTF-8 BOM on the first line is dropped, `\r\n` line ends are accepted;
//! - lines continue with the escape character; comment lines and blank
//!   lines inside a continuation are skipped (blank ones with a warning);
//! - heredocs (`<<EOF`, `<<-EOF`, `<<'EOF'`, several per line, after a
//!   command prefix) on `RUN`, `COPY`, `ADD` and their `ONBUILD` forms;
//! - the JSON (exec) form with Go's JSON rules and BuildKit's fallback to
//!   the shell form; leading `--flags`; lower-cased keywords; the first and
//!   last physical line of every instruction.
//!
//! Unknown keywords are not errors here (that is [`crate::instructions`]'
//! job). Errors are [`Diagnostic`](crate::diagnostic::Diagnostic)s pointing at the offending text. The
//! parser is linear in the size of the input and has no recursion that
//! input can deepen without bound, so nothing a user writes makes it panic,
//! hang or overflow the stack (it is fuzzed: see `fuzz/README.md`).
//!
//! # Why our own parser
//!
//! The design card named the `dockerfile-parser` crate; measured against
//! BuildKit's own parser test data it parses 15 of 33 files, has no
//! heredocs, ignores `# escape=`, and is deprecated upstream. The best
//! alternative crate (`parse-dockerfile`) still fails `RUN cmd <<EOF` with
//! several heredocs, merges lines after a trailing `\\`, and leaves
//! continuation joining and key=value splitting to us.
//!
//! # Where we differ from BuildKit on purpose
//!
//! - Heredoc bodies are normalised: a `\r\n` line end becomes `\n`, and with
//!   `<<-` the leading tabs are already stripped from the body (BuildKit
//!   keeps the raw bytes and strips tabs later).
//! - For `ONBUILD RUN <<EOF`, the heredocs belong to the trigger node
//!   ([`Node::next`]), the instruction that uses them.
//! - Byte-level quirks of BuildKit on non-ASCII text in flags and in the
//!   `HEALTHCHECK` type (it reads bytes as characters there) are not
//!   reproduced, and lines are not limited to 64 KiB.
//! - Instead of recursing without bound, `ONBUILD` nested more than 16 deep
//!   is an error, and a heredoc line with `${…}` nested more than 64 deep
//!   has no heredocs (as if its word splitting had failed).
//!
//! # Example
//!
//! ```
//! use hoist_frontend::parser::parse;
//!
//! let file = parse("FROM alpine\nCOPY --chmod=644 <<EOF /etc/motd\nhello\nEOF\n").unwrap();
//! assert_eq!(file.dump(), "(from \"alpine\")\n(copy [\"--chmod=644\"] \"<<EOF\" \"/etc/motd\")");
//! assert_eq!(file.nodes[1].heredocs[0].content, "hello\n");
//! assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (2, 4));
//! ```

mod command;
mod directives;
mod dump;
mod heredoc;
mod json;
mod lines;
mod node;
mod parse;
mod quote;
mod words;

pub use node::{Dockerfile, Heredoc, Node};
pub use parse::parse;
