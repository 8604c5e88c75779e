//! Running RUN steps of a foreign platform: QEMU user emulation through the
//! kernel's binfmt_misc.
//!
//! A RUN for a platform the host cannot execute natively needs a
//! `qemu-<arch>` interpreter registered in binfmt_misc with the `F` (fix
//! binary) flag: the kernel then opens the interpreter when it is
//! registered, so it works inside the sandbox's new root where no
//! `/usr/bin/qemu-*` exists. [`check_can_run`] says, before a step runs,
//! whether that is so and otherwise exactly how to enable it;
//! [`status`] and [`install`] serve `hoist binfmt [--install]`, which
//! registers the interpreters Debian's `qemu-user-static` describes in
//! `/usr/lib/binfmt.d/qemu-*.conf`.
//!
//! Debian bookworm's confs name `/usr/libexec/qemu-binfmt/ARCH-binfmt-P`
//! wrappers that the static package does not ship; when the named
//! interpreter is missing, [`install`] uses `/usr/bin/qemu-ARCH-static`
//! and drops the `P` (preserve argv[0]) flag the wrapper exists for.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hoist_frontend::graph::Platform;

/// Where binfmt_misc is mounted.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
/// Where Debian's qemu-user-static describes its interpreters.
pub const CONF_DIR: &str = "/usr/lib/binfmt.d";

/// Why a foreign-platform step cannot run, or registration failed.
#[derive(Debug, thiserror::Error)]
pub enum BinfmtError {
    #[error(
        "RUN for {platform} needs QEMU user emulation, but {reason}. Enable it with \
         `apt-get install qemu-user-static` and then `hoist binfmt --install` (as root)"
    )]
    NotRegistered { platform: Platform, reason: String },
    #[error("hoist cannot emulate {platform}: no QEMU interpreter is known for it")]
    UnknownArchitecture { platform: Platform },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mounting binfmt_misc on {BINFMT_DIR}: {0}")]
    Mount(#[source] nix::Error),
    #[error("{path}: not a binfmt_misc rule (`:name:type:offset:magic:mask:interpreter:flags`)")]
    BadConf { path: PathBuf },
    #[error("no {CONF_DIR}/qemu-*.conf found: install qemu-user-static first")]
    NoConfs,
}

/// Whether `host` executes `target`'s binaries without emulation.
pub fn is_native(host: &Platform, target: &Platform) -> bool {
    if host.os != target.os {
        return false;
    }
    if host.architecture == target.architecture {
        return true;
    }
    matches!(
        (host.architecture.as_str(), target.architecture.as_str()),
        ("amd64", "386")
    )
}

/// The QEMU name of `platform`'s architecture (`aarch64` for arm64).
pub fn qemu_arch(platform: &Platform) -> Option<&'static str> {
    Some(match platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "arm",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64le" => "mips64el",
        "mips64" => "mips64",
        "loong64" => "loongarch64",
        _ => return None,
    })
}

/// One registered binfmt_misc entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub enabled: bool,
    pub interpreter: String,
    pub flags: String,
}

impl Registration {
    /// Reads `BINFMT_DIR/<name>`; `None` when it is not registered.
    pub fn read(dir: &Path, name: &str) -> Option<Registration> {
        let text = fs::read_to_string(dir.join(name)).ok()?;
        Some(Registration::parse(name, &text))
    }

    /// Parses the text of an entry file (`enabled`, `interpreter X`, `flags: F`).
    pub fn parse(name: &str, text: &str) -> Registration {
        let mut r = Registration {
            name: name.to_string(),
            enabled: false,
            interpreter: String::new(),
            flags: String::new(),
        };
        for line in text.lines() {
            if line == "enabled" {
                r.enabled = true;
            } else if let Some(i) = line.strip_prefix("interpreter ") {
                r.interpreter = i.to_string();
            } else if let Some(f) = line.strip_prefix("flags:") {
                r.flags = f.trim().to_string();
            }
        }
        r
    }

    /// Usable from inside the sandbox: enabled, with the `F` flag.
    pub fn usable(&self) -> bool {
        self.enabled && self.flags.contains('F')
    }
}

/// Ok when a RUN for `target` can run on `host`: natively, or through a
/// usable qemu registration in `binfmt_dir` (normally [`BINFMT_DIR`]).
pub fn check_can_run_in(
    binfmt_dir: &Path,
    host: &Platform,
    target: &Platform,
) -> Result<(), BinfmtError> {
    if is_native(host, target) {
        return Ok(());
    }
    let arch = qemu_arch(target).ok_or_else(|| BinfmtError::UnknownArchitecture {
        platform: target.clone(),
    })?;
    let name = format!("qemu-{arch}");
    let not = |reason: String| BinfmtError::NotRegistered {
        platform: target.clone(),
        reason,
    };
    if !binfmt_dir.join("status").exists() {
        return Err(not(format!(
            "binfmt_misc is not mounted on {}",
            binfmt_dir.display()
        )));
    }
    match Registration::read(binfmt_dir, &name) {
        None => Err(not(format!(
            "binfmt_misc has no {name} interpreter registered ({} is missing)",
            binfmt_dir.join(&name).display()
        ))),
        Some(r) if !r.enabled => Err(not(format!("the {name} binfmt_misc entry is disabled"))),
        Some(r) if !r.flags.contains('F') => Err(not(format!(
            "the {name} binfmt_misc entry lacks the F flag (flags: {:?}), so its \
             interpreter {} cannot be found inside the build's root",
            r.flags, r.interpreter
        ))),
        Some(_) => Ok(()),
    }
}

/// [`check_can_run_in`] on the system's binfmt_misc.
pub fn check_can_run(host: &Platform, target: &Platform) -> Result<(), BinfmtError> {
    check_can_run_in(Path::new(BINFMT_DIR), host, target)
}

/// One `qemu-*.conf` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// The rule as written to `register`, with the interpreter and flags
    /// hoist uses.
    pub line: String,
    pub interpreter: String,
}

/// Parses a binfmt.d rule (`:name:M::magic:mask:interpreter:flags`) and
/// makes it usable from a sandbox: flag `F` added; a missing interpreter
/// replaced by `/usr/bin/qemu-ARCH-static` (without the `P` flag).
pub fn parse_rule(text: &str, exists: &dyn Fn(&str) -> bool) -> Option<Rule> {
    let line = text.lines().map(str::trim).find(|l| l.starts_with(':'))?;
    let delim = line.chars().next()?;
    let fields: Vec<&str> = line[1..].split(delim).collect();
    if fields.len() != 7 {
        return None;
    }
    let name = fields[0].to_string();
    let mut interpreter = fields[5].to_string();
    let mut flags: String = fields[6].to_string();
    if !exists(&interpreter) {
        let arch = name.strip_prefix("qemu-")?;
        interpreter = format!("/usr/bin/qemu-{arch}-static");
        flags.retain(|c| c != 'P');
    }
    if !flags.contains('F') {
        flags.push('F');
    }
    let mut parts: Vec<String> = fields[..5].iter().map(|s| s.to_string()).collect();
    parts.push(interpreter.clone());
    parts.push(flags);
    Some(Rule {
        name,
        line: format!("{delim}{}", parts.join(&delim.to_string())),
        interpreter,
    })
}

/// What `hoist binfmt` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether binfmt_misc is mounted on [`BINFMT_DIR`].
    pub mounted: bool,
    /// Each qemu rule of [`CONF_DIR`] whose interpreter exists, with its
    /// registration (`None`: not registered).
    pub rules: Vec<(Rule, Option<Registration>)>,
}

/// The state of every qemu rule `CONF_DIR` describes.
pub fn status() -> Result<Status, BinfmtError> {
    let dir = Path::new(BINFMT_DIR);
    let mounted = dir.join("status").exists();
    let rules = rules()?;
    let out = rules
        .into_iter()
        .map(|r| {
            let reg = mounted.then(|| Registration::read(dir, &r.name)).flatten();
            (r, reg)
        })
        .collect();
    Ok(Status {
        mounted,
        rules: out,
    })
}

fn rules() -> Result<Vec<Rule>, BinfmtError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| BinfmtError::Io { op, path, source }
    };
    let conf_dir = Path::new(CONF_DIR);
    let mut paths: Vec<PathBuf> = match fs::read_dir(conf_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("qemu-") && n.ends_with(".conf"))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", conf_dir)(e)),
    };
    paths.sort();
    let exists = |p: &str| Path::new(p).exists();
    let mut out = Vec::new();
    for p in paths {
        let text = fs::read_to_string(&p).map_err(io("read", &p))?;
        let rule = parse_rule(&text, &exists).ok_or(BinfmtError::BadConf { path: p.clone() })?;
        if Path::new(&rule.interpreter).exists() {
            out.push(rule);
        }
    }
    Ok(out)
}

/// `hoist binfmt --install`: mounts binfmt_misc if needed and registers
/// every qemu rule with the `F` flag (an entry without it, or disabled, is
/// replaced; a usable one is kept). Returns the names (re)registered.
pub fn install() -> Result<Vec<String>, BinfmtError> {
    let dir = Path::new(BINFMT_DIR);
    if !dir.join("register").exists() {
        nix::mount::mount(
            Some("binfmt_misc"),
            dir,
            Some("binfmt_misc"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(BinfmtError::Mount)?;
    }
    let rules = rules()?;
    if rules.is_empty() {
        return Err(BinfmtError::NoConfs);
    }
    let io = |op, path: PathBuf| move |source| BinfmtError::Io { op, path, source };
    let mut done = Vec::new();
    for rule in rules {
        let entry = dir.join(&rule.name);
        match Registration::read(dir, &rule.name) {
            // A usable entry (whoever registered it) is left alone.
            Some(r) if r.usable() => continue,
            Some(_) => fs::write(&entry, "-1").map_err(io("unregister", entry.clone()))?,
            None => {}
        }
        fs::write(dir.join("register"), &rule.line)
            .map_err(io("register in", dir.join("register")))?;
        done.push(rule.name);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    const CONF: &str = r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF";

    #[test]
    fn missing_wrapper_interpreter_falls_back_to_the_static_binary_without_p() {
        let r = parse_rule(CONF, &|_| false).unwrap();
        assert_eq!(r.name, "qemu-aarch64");
        assert_eq!(r.interpreter, "/usr/bin/qemu-aarch64-static");
        assert!(
            r.line.ends_with(":/usr/bin/qemu-aarch64-static:OF"),
            "{}",
            r.line
        );
        assert!(r.line.starts_with(r":qemu-aarch64:M::\x7f\x45"));
    }

    #[test]
    fn rules_get_the_f_flag() {
        let conf = CONF.replace(":OPF", ":OC");
        let r = parse_rule(&conf, &|_| true).unwrap();
        assert!(r.line.ends_with("aarch64-binfmt-P:OCF"), "{}", r.line);
    }

    #[test]
    fn native_platforms_need_no_emulation() {
        assert!(is_native(&p("linux/amd64"), &p("linux/amd64")));
        assert!(is_native(&p("linux/amd64"), &p("linux/386")));
        assert!(!is_native(&p("linux/amd64"), &p("linux/arm64")));
        let dir = tempfile::tempdir().unwrap();
        assert!(check_can_run_in(dir.path(), &p("linux/amd64"), &p("linux/amd64")).is_ok());
    }

    #[test]
    fn missing_registration_says_how_to_enable_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("status"), "enabled\n").unwrap();
        let err = check_can_run_in(dir.path(), &p("linux/amd64"), &p("linux/arm64"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("qemu-aarch64"), "{err}");
        assert!(err.contains("apt-get install qemu-user-static"), "{err}");
        assert!(err.contains("hoist binfmt --install"), "{err}");
    }

    #[test]
    fn registration_without_f_flag_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("status"), "enabled\n").unwrap();
        fs::write(
            dir.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OC\noffset 0\n",
        )
        .unwrap();
        let err = check_can_run_in(dir.path(), &p("linux/amd64"), &p("linux/arm64"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks the F flag"), "{err}");
        fs::write(
            dir.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\noffset 0\n",
        )
        .unwrap();
        assert!(check_can_run_in(dir.path(), &p("linux/amd64"), &p("linux/arm64")).is_ok());
    }
}
