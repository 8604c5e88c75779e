//! The error a word expansion fails with: what went wrong, in BuildKit's
//! words, and where in the word.

/// Why expanding a word failed. The messages follow BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellErrorKind {
    /// A `'` without its closing `'`.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// A `"` without its closing `"`.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// A `${` without its closing `}`.
    #[error("syntax error: missing '}}'")]
    MissingCloseBrace,
    /// `${NAME/pattern` with no `/` before the end of the word.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:…}`, `${{…}` or `${}…`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A modifier BuildKit does not support, such as `:=`, `=`, `:#` or `.`.
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The modifier as written, with its `:` if any.
        modifier: String,
    },
    /// `${NAME?message}` or `${NAME:?message}` with `NAME` unset.
    #[error("{name}: {message}")]
    RequiredVariableUnset {
        name: String,
        /// The word after `?`, or "is not allowed to be unset" when empty.
        message: String,
    },
    /// `${NAME:?message}` with `NAME` set but empty.
    #[error("{name}: {message}")]
    RequiredVariableEmpty {
        name: String,
        /// The word after `:?`, or "is not allowed to be empty" when empty.
        message: String,
    },
    /// A `#`, `%` or `/` pattern with an escape that means nothing in a glob
    /// (anything but `\*`, `\?`, `\\`, `\}`, `\/`).
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{}'", escaped.map_or(String::new(), String::from))]
    InvalidPattern {
        /// The pattern after expansion.
        pattern: String,
        /// The character after the `\`, or `None` at the end of the pattern.
        escaped: Option<char>,
    },
}

/// A word that could not be expanded.
///
/// Displays like BuildKit: `failed to process "word": reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {kind}")]
pub struct ShellError {
    /// The whole word that was being expanded.
    pub word: String,
    /// Byte offset in `word` of the construct at fault: the `$` of a `${…}`
    /// or the opening quote.
    pub offset: usize,
    /// What went wrong.
    pub kind: ShellErrorKind,
}
