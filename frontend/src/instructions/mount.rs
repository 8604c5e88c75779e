//! The value of `RUN --mount=...`: a CSV list of `key=value` fields, parsed
//! and validated with BuildKit's rules (`commands_runmount.go`).
//!
//! Keys (case-insensitive): `type` (bind, cache, tmpfs, secret, ssh; default
//! bind), `target`/`dst`/`destination`, `source`/`src`, `from`, `id`,
//! `readonly`/`ro` and `readwrite`/`rw` (bare or `=bool`), `sharing`
//! (shared, private, locked; cache only), `mode` (octal), `uid`, `gid`
//! (cache, secret, ssh only), `size` (tmpfs only, `64m`, `1g`, bytes),
//! `required` (secret, ssh only; bare or `=bool`), `env` (secret only).
//! Anything else is an error. Unlike BuildKit, `type` is honoured wherever it
//! appears in the list (BuildKit checks `size=` against the type seen so far).
//! `from` must not contain variables (BuildKit: "define alias stage instead").

use serde::Serialize;

use super::flags::edit_distance;

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// How concurrent builds share one cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// One validated `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountType,
    /// Where it appears in the container. Always set for bind, cache and
    /// tmpfs; optional for secret (default `/run/secrets/<id>`) and ssh.
    pub target: Option<String>,
    /// Path inside `from` (bind, cache) or the secret/ssh id source.
    pub source: Option<String>,
    /// Stage or image name the bind/cache source comes from (default: the
    /// build context for bind, an empty dir for cache).
    pub from: Option<String>,
    /// Cache id, or the secret/ssh id.
    pub id: Option<String>,
    /// Read-only mount. Defaults: writable for cache and tmpfs, read-only
    /// otherwise.
    pub readonly: bool,
    /// Cache sharing mode (only meaningful for cache; default shared).
    pub sharing: CacheSharing,
    /// Fail the step when the secret/ssh socket is missing.
    pub required: bool,
    /// tmpfs size limit in bytes.
    pub size: Option<u64>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
    /// File mode (cache, secret, ssh).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

const ALL_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "env",
];

/// Parses one `--mount` value as written (no expansion). Errors are
/// messages without location.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    parse_mount_expanding(spec, &|v| Ok(v.to_string()))
}

/// Parses one `--mount` value, passing each field's value through `expand`
/// first (BuildKit expands values, not the CSV text).
pub fn parse_mount_expanding(
    spec: &str,
    expand: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Mount, String> {
    let fields = split_csv(spec)?;
    let mut pairs = Vec::with_capacity(fields.len());
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(expand(v)?)),
            None => (field.to_ascii_lowercase(), None),
        };
        pairs.push((key, value, field.as_str()));
    }

    let mut kind = MountType::Bind;
    for (key, value, _) in &pairs {
        if key == "type" {
            let v = value.as_deref().unwrap_or_default();
            kind = match v.to_ascii_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => {
                    return Err(format!(
                        "unsupported mount type {v:?} (expected bind, cache, tmpfs, secret or ssh)"
                    ));
                }
            };
        }
    }
    let type_name = format!("{kind:?}").to_lowercase();
    let not_for_type = |key: &str| format!("unexpected key '{key}' for mount type '{type_name}'");

    let mut m = Mount {
        kind,
        target: None,
        source: None,
        from: None,
        id: None,
        readonly: !matches!(kind, MountType::Cache | MountType::Tmpfs),
        sharing: CacheSharing::Shared,
        required: false,
        size: None,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut sharing_given = false;
    for (key, value, field) in &pairs {
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => m.readonly = true,
                "readwrite" | "rw" => m.readonly = false,
                "required" if matches!(kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" => return Err(not_for_type(key)),
                _ => return Err(format!("invalid field '{field}': must be a key=value pair")),
            }
            continue;
        };
        let value = value.clone();
        match key.as_str() {
            "type" => {}
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => m.readonly = parse_go_bool(key, &value)?,
            "readwrite" | "rw" => m.readonly = !parse_go_bool(key, &value)?,
            "required" => {
                if !matches!(kind, MountType::Secret | MountType::Ssh) {
                    return Err(not_for_type(key));
                }
                m.required = parse_go_bool(key, &value)?;
            }
            "size" => {
                if kind != MountType::Tmpfs {
                    return Err(not_for_type(key));
                }
                m.size = Some(parse_ram_bytes(&value).ok_or_else(|| {
                    format!(
                        "invalid value for size: {value} (expected bytes or a size like 64m, 1g)"
                    )
                })?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(format!(
                            "unsupported sharing value {value:?} (expected shared, private or locked)"
                        ));
                    }
                };
                sharing_given = true;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode (expected octal)"))?,
                )
            }
            "uid" => m.uid = Some(parse_id("uid", &value)?),
            "gid" => m.gid = Some(parse_id("gid", &value)?),
            "env" => {
                if kind != MountType::Secret {
                    return Err(not_for_type(key));
                }
                m.env = Some(value);
            }
            _ => {
                let mut msg = format!("unexpected key '{key}' in '{field}'");
                if let Some((_, k)) = ALL_KEYS
                    .iter()
                    .map(|k| (edit_distance(k, key), *k))
                    .filter(|(d, _)| *d <= 2)
                    .min()
                {
                    msg.push_str(&format!(" (did you mean {k}?)"));
                }
                return Err(msg);
            }
        }
    }
    validate(&m, sharing_given)?;
    Ok(m)
}

fn validate(m: &Mount, sharing_given: bool) -> Result<(), String> {
    let type_name = format!("{:?}", m.kind).to_lowercase();
    if matches!(m.kind, MountType::Bind | MountType::Tmpfs) {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for {type_name:?} type mounts"));
            }
        }
    }
    if sharing_given && m.kind != MountType::Cache {
        return Err(format!("invalid cache sharing set for {type_name} mount"));
    }
    match m.kind {
        MountType::Secret => {
            if m.from.is_some() {
                return Err("secret mount should not have a from".to_string());
            }
            if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
                return Err(
                    "invalid secret mount: one of id, source, target or env is required"
                        .to_string(),
                );
            }
            if m.source.is_some() && m.id.is_some() {
                return Err("invalid secret mount: both source and id can't be set".to_string());
            }
        }
        MountType::Bind | MountType::Cache | MountType::Tmpfs => {
            if m.target.as_deref().unwrap_or("").is_empty() {
                return Err(format!("{type_name} mount requires a target"));
            }
            if m.kind == MountType::Tmpfs && m.from.is_some() {
                return Err("tmpfs mount should not have a from".to_string());
            }
        }
        MountType::Ssh => {}
    }
    Ok(())
}

/// Whether a `from=` value uses a variable (a `$` anywhere but last), which
/// BuildKit refuses.
pub(crate) fn from_uses_variable(spec: &str) -> bool {
    split_csv(spec)
        .unwrap_or_default()
        .iter()
        .any(|field| match field.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("from") => {
                v.find('$').is_some_and(|i| i + 1 < v.len())
            }
            _ => false,
        })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

fn parse_id(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| format!("invalid value {value} for {key}"))
}

/// docker/go-units `RAMInBytes`: `<number>[ ][kKmMgGtTpP][iI][bB]`, binary
/// multiples, fractions allowed (`1.5g`).
fn parse_ram_bytes(value: &str) -> Option<u64> {
    let num_len = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, suffix) = value.split_at(num_len);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let number: f64 = num.parse().ok()?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut chars = suffix.chars();
    let multiplier: u64 = match chars.clone().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            1024u64.pow("kmgtp".find(c)? as u32 + 1)
        }
        _ => 1,
    };
    let rest: String = chars.collect();
    if !matches!(rest.as_str(), "" | "b" | "i" | "ib") {
        return None;
    }
    let bytes = number * multiplier as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Splits one CSV record (Go `encoding/csv` rules): fields separated by `,`;
/// a field starting with `"` is quoted, `""` inside stands for `"`.
fn split_csv(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!(
                            "failed to parse csv mounts: unterminated quote in {text:?}"
                        ));
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(format!(
                        "failed to parse csv mounts: extraneous \" in {text:?}"
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!("failed to parse csv mounts: bare \" in {text:?}"));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str) -> Mount {
        parse_mount(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    fn err(spec: &str) -> String {
        parse_mount(spec).expect_err(spec)
    }

    #[test]
    fn run_mount_defaults_to_readonly_bind() {
        let m = ok("target=/src");
        assert_eq!(m.kind, MountType::Bind);
        assert_eq!(m.target.as_deref(), Some("/src"));
        assert!(m.readonly);
    }

    #[test]
    fn run_mount_bind_accepts_from_source_and_rw() {
        let m = ok("type=bind,from=build,source=/out,dst=/in,rw");
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source.as_deref(), Some("/out"));
        assert_eq!(m.target.as_deref(), Some("/in"));
        assert!(!m.readonly);
        assert!(!ok("type=bind,destination=/in,readwrite=true").readonly);
        assert!(ok("type=bind,target=/in,rw=false").readonly);
        assert_eq!(
            ok("type=bind,src=a,target=/in").source.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn run_mount_keys_and_type_are_case_insensitive() {
        let m = ok("Type=CACHE,Target=/c");
        assert_eq!(m.kind, MountType::Cache);
    }

    #[test]
    fn run_mount_cache_is_writable_and_shared_by_default() {
        let m = ok("type=cache,target=/root/.cache");
        assert!(!m.readonly);
        assert_eq!(m.sharing, CacheSharing::Shared);
    }

    #[test]
    fn run_mount_cache_accepts_sharing_locked() {
        assert_eq!(
            ok("type=cache,target=/c,sharing=locked").sharing,
            CacheSharing::Locked
        );
        assert_eq!(
            ok("type=cache,target=/c,sharing=private").sharing,
            CacheSharing::Private
        );
    }

    #[test]
    fn run_mount_cache_rejects_unknown_sharing() {
        assert!(err("type=cache,target=/c,sharing=exclusive").contains("unsupported sharing"));
    }

    #[test]
    fn run_mount_cache_accepts_id_mode_uid_gid_from_source_ro() {
        let m =
            ok("type=cache,id=go,target=/c,mode=0700,uid=1000,gid=100,from=base,source=/seed,ro");
        assert_eq!(m.id.as_deref(), Some("go"));
        assert_eq!((m.mode, m.uid, m.gid), (Some(0o700), Some(1000), Some(100)));
        assert!(m.readonly);
    }

    #[test]
    fn run_mount_rejects_non_octal_mode_and_bad_ids() {
        assert!(err("type=cache,target=/c,mode=0789").contains("mode"));
        assert!(err("type=cache,target=/c,uid=-1").contains("uid"));
        assert!(err("type=cache,target=/c,gid=root").contains("gid"));
    }

    #[test]
    fn run_mount_bind_rejects_mode_uid_gid() {
        assert!(err("type=bind,target=/a,mode=0755").contains("mode not allowed"));
        assert!(err("type=tmpfs,target=/a,uid=1").contains("uid not allowed"));
    }

    #[test]
    fn run_mount_tmpfs_accepts_size() {
        assert_eq!(ok("type=tmpfs,target=/t,size=64m").size, Some(64 << 20));
        assert_eq!(ok("type=tmpfs,target=/t,size=1GiB").size, Some(1 << 30));
        assert_eq!(ok("type=tmpfs,target=/t,size=4096").size, Some(4096));
        assert_eq!(ok("type=tmpfs,target=/t,size=1.5k").size, Some(1536));
        assert!(!ok("type=tmpfs,target=/t").readonly);
    }

    #[test]
    fn run_mount_size_is_tmpfs_only_and_validated() {
        assert!(err("type=cache,target=/c,size=1m").contains("unexpected key 'size'"));
        assert!(err("type=tmpfs,target=/t,size=lots").contains("invalid value for size"));
        assert!(err("type=tmpfs,target=/t,size=1x").contains("size"));
    }

    #[test]
    fn run_mount_type_may_come_after_type_specific_keys() {
        assert_eq!(ok("size=1m,target=/t,type=tmpfs").size, Some(1 << 20));
    }

    #[test]
    fn run_mount_secret_accepts_id_target_env_required_mode() {
        let m = ok("type=secret,id=tok,env=TOKEN,required,mode=0440,uid=1,gid=2");
        assert_eq!(m.id.as_deref(), Some("tok"));
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        assert!(m.required && m.readonly);
        assert!(!ok("type=secret,id=tok,required=false").required);
        assert!(ok("type=secret,target=/run/secrets/x").target.is_some());
    }

    #[test]
    fn run_mount_secret_rejects_from_sharing_and_missing_id() {
        assert!(err("type=secret,id=a,from=x").contains("should not have a from"));
        assert!(err("type=secret,id=a,sharing=locked").contains("sharing"));
        assert!(err("type=secret").contains("one of id, source, target or env"));
        assert!(err("type=secret,id=a,source=b").contains("both source and id"));
    }

    #[test]
    fn run_mount_ssh_accepts_id_target_required() {
        let m = ok("type=ssh,id=default,target=/ssh.sock,required=true");
        assert_eq!(m.kind, MountType::Ssh);
        assert!(m.required);
        assert!(ok("type=ssh").target.is_none());
    }

    #[test]
    fn run_mount_required_is_only_for_secret_and_ssh() {
        assert!(err("type=cache,target=/c,required").contains("unexpected key 'required'"));
        assert!(err("type=bind,target=/c,required=true").contains("unexpected key 'required'"));
    }

    #[test]
    fn run_mount_env_is_only_for_secrets() {
        assert!(err("type=cache,target=/c,env=X").contains("unexpected key 'env'"));
    }

    #[test]
    fn run_mount_requires_target_for_bind_cache_tmpfs() {
        assert!(err("type=cache").contains("requires a target"));
        assert!(err("type=bind,source=/a").contains("requires a target"));
        assert!(err("type=tmpfs,target=").contains("requires a target"));
    }

    #[test]
    fn run_mount_rejects_unknown_keys_values_and_types() {
        assert!(err("type=bind,target=/a,bind-propagation=rshared").contains("unexpected key"));
        assert!(err("type=bind,targt=/a").contains("did you mean target?"));
        assert!(err("type=volume,target=/a").contains("unsupported mount type"));
        assert!(err("type=bind,target=/a,ro=maybe").contains("invalid value for ro"));
        assert!(err("type=bind,target=/a,nosuid").contains("must be a key=value pair"));
    }

    #[test]
    fn run_mount_sharing_is_only_for_cache() {
        assert!(err("type=bind,target=/a,sharing=shared").contains("sharing"));
    }

    #[test]
    fn run_mount_fields_may_be_csv_quoted() {
        let m = ok("type=bind,\"target=/a,b\",\"source=x\"\"y\"");
        assert_eq!(m.target.as_deref(), Some("/a,b"));
        assert_eq!(m.source.as_deref(), Some("x\"y"));
        assert!(err("type=bind,target=/a\"b").contains("csv"));
        assert!(err("type=bind,\"target=/a").contains("csv"));
    }

    #[test]
    fn from_uses_variable_detects_dollar_except_at_the_end() {
        assert!(from_uses_variable("type=bind,from=$STAGE,target=/a"));
        assert!(!from_uses_variable("type=bind,from=stage$,target=/a"));
        assert!(!from_uses_variable(
            "type=bind,from=stage,source=$X,target=/a"
        ));
    }
}
