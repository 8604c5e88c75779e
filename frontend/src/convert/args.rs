//! Build-arg scoping: the global (pre-FROM) ARGs with the predefined
//! platform args, the "state env" a stage expands words against, the
//! [`Expander`] over it that records which names a word used, and the proxy
//! args that reach every RUN without declaration.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ConvertOptions;
use crate::diagnostic::Diagnostic;
use crate::instructions::{ArgCmd, Expander};
use crate::shell::{Env, Lexer};

/// Args every build defines without an ARG (global scope; a stage sees them
/// only after `ARG NAME`).
pub(crate) const PREDEFINED: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// Proxy args: given as `--build-arg` they reach every RUN, undeclared, and
/// never enter history or config.
pub(crate) fn is_proxy_arg(name: &str) -> bool {
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
    ]
    .iter()
    .any(|p| p.eq_ignore_ascii_case(name))
}

/// One global ARG declaration after evaluation.
#[derive(Debug, Clone)]
pub(crate) struct GlobalArg {
    pub name: String,
    /// The default, expanded.
    pub default: Option<String>,
    /// Names the default's expansion used.
    pub matched: BTreeSet<String>,
    /// 1-based line of the ARG.
    pub line: usize,
}

/// The global scope: predefined platform args plus the global ARGs.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobalScope {
    /// Every global name with a value.
    pub env: BTreeMap<String, String>,
    pub args: Vec<GlobalArg>,
}

impl GlobalScope {
    /// Evaluates the global ARGs in order: a `--build-arg` overrides the
    /// default, defaults expand with earlier globals and predefined args.
    pub fn evaluate(
        meta_args: &[ArgCmd],
        opts: &ConvertOptions,
        lexer: Lexer,
    ) -> Result<GlobalScope, Diagnostic> {
        let mut env = BTreeMap::new();
        for (prefix, p) in [
            ("TARGET", &opts.target_platform),
            ("BUILD", &opts.build_platform),
        ] {
            env.insert(format!("{prefix}PLATFORM"), p.to_string());
            env.insert(format!("{prefix}OS"), p.os.clone());
            env.insert(format!("{prefix}ARCH"), p.architecture.clone());
            env.insert(format!("{prefix}VARIANT"), p.variant.clone());
        }
        let mut args = Vec::new();
        for cmd in meta_args {
            let mut cmd = cmd.clone();
            let e = ScopeExpander::new(lexer, &env);
            cmd.expand(&e)?;
            let matched = e.take_matched();
            for decl in &cmd.args {
                let value = opts
                    .build_args
                    .get(&decl.name)
                    .cloned()
                    .or_else(|| decl.default.clone())
                    .or_else(|| env.get(&decl.name).cloned());
                if let Some(v) = value {
                    env.insert(decl.name.clone(), v);
                }
                args.push(GlobalArg {
                    name: decl.name.clone(),
                    default: decl.default.clone(),
                    matched: matched.clone(),
                    line: cmd.origin.start_line,
                });
            }
        }
        Ok(GlobalScope { env, args })
    }

    /// Global names a set of used names depends on (through defaults).
    pub fn close_over(&self, used: &mut BTreeSet<String>) {
        for arg in self.args.iter().rev() {
            if used.contains(&arg.name) {
                used.extend(arg.matched.iter().cloned());
            }
        }
    }
}

/// A stage's environment for expansion and RUN: ordered `NAME=value`
/// entries, a new value of an existing name replacing it in place.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateEnv {
    /// `NAME=value`, kept formatted: every RUN copies the whole list.
    entries: Vec<String>,
    /// Name → position in `entries`.
    index: HashMap<String, usize>,
}

impl StateEnv {
    /// From an image config's `Env` list.
    pub fn from_list(env: &[String]) -> StateEnv {
        let mut s = StateEnv::default();
        for kv in env {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            s.set(k, v);
        }
        s
    }

    pub fn set(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self.index.get(name) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// `NAME=value` in order.
    pub fn to_list(&self) -> Vec<String> {
        self.entries.clone()
    }
}

impl Env for StateEnv {
    fn get(&self, name: &str) -> Option<&str> {
        self.index
            .get(name)
            .and_then(|&i| self.entries[i].get(name.len() + 1..))
    }
}

/// [`Expander`] over an env with one [`Lexer`], remembering the names that
/// expansions found set (for "build arg consumed" and the outline).
pub(crate) struct ScopeExpander<'a> {
    lexer: Lexer,
    env: &'a dyn Env,
    /// `None` when nobody asks (saves allocations on every word).
    matched: Option<RefCell<BTreeSet<String>>>,
}

impl<'a> ScopeExpander<'a> {
    /// An expander that records the names it found set.
    pub fn new(lexer: Lexer, env: &'a dyn Env) -> Self {
        ScopeExpander {
            lexer,
            env,
            matched: Some(RefCell::new(BTreeSet::new())),
        }
    }

    /// An expander that records nothing.
    pub fn quiet(lexer: Lexer, env: &'a dyn Env) -> Self {
        ScopeExpander {
            lexer,
            env,
            matched: None,
        }
    }

    pub fn take_matched(&self) -> BTreeSet<String> {
        self.matched
            .as_ref()
            .map(|m| std::mem::take(&mut *m.borrow_mut()))
            .unwrap_or_default()
    }

    fn record(&self, names: BTreeSet<String>) {
        if let Some(m) = &self.matched
            && !names.is_empty()
        {
            m.borrow_mut().extend(names);
        }
    }
}

impl Expander for ScopeExpander<'_> {
    fn word(&self, word: &str) -> Result<String, String> {
        let out = self
            .lexer
            .process_word(word, self.env)
            .map_err(|e| e.to_string())?;
        self.record(out.matched);
        Ok(out.value)
    }

    fn words(&self, text: &str) -> Result<Vec<String>, String> {
        let out = self
            .lexer
            .process_words(text, self.env)
            .map_err(|e| e.to_string())?;
        self.record(out.matched);
        Ok(out.value)
    }

    fn raw(&self, text: &str) -> Result<String, String> {
        let out = self
            .lexer
            .with_skip_process_quotes(true)
            .process_word(text, self.env)
            .map_err(|e| e.to_string())?;
        self.record(out.matched);
        Ok(out.value)
    }
}

/// The text of an instruction as progress shows it: variables of `env`
/// substituted, quotes kept, unset variables left as written (BuildKit's
/// `processCmdEnv`), keyword upper-cased.
pub(crate) fn display_text(lexer: Lexer, text: &str, env: &dyn Env) -> String {
    if !text.contains(['$', lexer.escape()]) {
        // Nothing to expand or unescape, and quotes stay: the text as is.
        let keyword = text.split(char::is_whitespace).next().unwrap_or("");
        if !keyword.bytes().any(|b| b.is_ascii_lowercase()) {
            return text.to_string();
        }
    }
    let l = lexer.with_raw_quotes(true).with_skip_unset_env(true);
    let expanded = l
        .process_word(text, env)
        .map(|e| e.value)
        .unwrap_or_else(|_| text.to_string());
    let keyword = expanded.split(char::is_whitespace).next().unwrap_or("");
    if keyword.bytes().any(|b| b.is_ascii_lowercase()) {
        super::text::uppercase_keyword(&expanded)
    } else {
        expanded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_env_replaces_in_place() {
        let mut e = StateEnv::from_list(&["A=1".into(), "B=2".into()]);
        e.set("A", "3");
        e.set("C", "");
        assert_eq!(e.to_list(), ["A=3", "B=2", "C="]);
        assert_eq!(e.get("C"), Some(""));
        assert_eq!(e.get("D"), None);
    }

    #[test]
    fn display_text_expands_set_variables_keeps_quotes_and_unset_ones() {
        let env = StateEnv::from_list(&["V=1".into()]);
        let l = Lexer::default();
        assert_eq!(
            display_text(l, "run echo \"$V\" $NO a\\ b", &env),
            "RUN echo \"1\" $NO a b"
        );
        assert_eq!(display_text(l, "COPY 'a b' /c", &env), "COPY 'a b' /c");
    }

    #[test]
    fn proxy_args_are_case_insensitive() {
        assert!(is_proxy_arg("http_proxy") && is_proxy_arg("NO_PROXY"));
        assert!(!is_proxy_arg("PROXY"));
    }
}
