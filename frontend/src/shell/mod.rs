//! Dockerfile word expansion: `$VAR`, `${VAR:-word}` and friends, quotes,
//! escapes and word splitting, as BuildKit's shell lexer does them.
