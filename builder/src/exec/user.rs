//! Resolving a Dockerfile `USER` value (`user`, `user:group`, `uid:gid`, …)
//! against the image's own `/etc/passwd` and `/etc/group`, the way runc's
//! `GetExecUser` does it for Docker and BuildKit:
//!
//! - the user part is a name or a number; a number without a passwd entry
//!   is allowed (its primary group is then 0), an unknown name is an error;
//! - the group part, when given, is a name or a number; a number without a
//!   group entry is allowed, an unknown name is an error;
//! - supplementary groups come from `/etc/group` membership of the user's
//!   name, and only in the implicit form (no group given);
//! - an empty spec means root (`0:0`, no supplementary groups);
//! - `home` is the passwd home of the resulting uid, `/` without an entry:
//!   runc sets `HOME` from it when the environment has none, so a caller
//!   building the step's exact environment should do the same.
//!
//! The files are read through [`super::rootpath::resolve_in_root`], so a
//! symlinked `/etc/passwd` is followed inside the rootfs and never outside.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rootpath::{self, RootPathError};

/// The numeric identity a RUN step runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, in `/etc/group` order, without duplicates.
    pub additional_gids: Vec<u32>,
    /// The user's home directory from passwd; `/` when it has no entry.
    pub home: String,
}

/// Why a `USER` value could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UnknownUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    UnknownGroup { name: String },
    #[error("invalid user spec {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: &'static str },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    RootPath(#[from] RootPathError),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user_spec` against `rootfs/etc/passwd` and `rootfs/etc/group`.
pub fn resolve(rootfs: &Path, user_spec: &str) -> Result<ResolvedUser, UserError> {
    let spec = user_spec.trim();
    if spec.is_empty() {
        let passwd = parse_passwd(&read_etc(rootfs, "/etc/passwd")?);
        return Ok(ResolvedUser {
            home: home_of(&passwd, 0),
            ..ResolvedUser::default()
        });
    }
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(UserError::InvalidSpec {
            spec: spec.to_string(),
            reason: "the user part is empty",
        });
    }
    if group_part == Some("") {
        return Err(UserError::InvalidSpec {
            spec: spec.to_string(),
            reason: "the group part is empty",
        });
    }
    let passwd = parse_passwd(&read_etc(rootfs, "/etc/passwd")?);
    let groups = parse_group(&read_etc(rootfs, "/etc/group")?);

    let numeric_uid = parse_id(user_part);
    let entry = passwd.iter().find(|e| match numeric_uid {
        Some(uid) => e.uid == uid,
        None => e.name == user_part,
    });
    let (uid, mut gid, name) = match (entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.as_str())),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(UserError::UnknownUser {
                name: user_part.to_string(),
            });
        }
    };

    let mut additional_gids = Vec::new();
    match group_part {
        Some(group) => {
            let numeric_gid = parse_id(group);
            let found = groups.iter().find(|g| match numeric_gid {
                Some(gid) => g.gid == gid,
                None => g.name == group,
            });
            gid = match (found, numeric_gid) {
                (Some(g), _) => g.gid,
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(UserError::UnknownGroup {
                        name: group.to_string(),
                    });
                }
            };
        }
        None => {
            if let Some(name) = name {
                for g in &groups {
                    if g.members.iter().any(|m| m == name) && !additional_gids.contains(&g.gid) {
                        additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: home_of(&passwd, uid),
    })
}

fn home_of(passwd: &[PasswdEntry], uid: u32) -> String {
    passwd
        .iter()
        .find(|e| e.uid == uid && !e.home.is_empty())
        .map_or_else(|| "/".to_string(), |e| e.home.clone())
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads a file of the rootfs; a missing file reads as empty (scratch images).
fn read_etc(rootfs: &Path, path: &str) -> Result<String, UserError> {
    let rel = rootpath::resolve_in_root(rootfs, path)?;
    let host = rootfs.join(rel);
    match std::fs::read(&host) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(UserError::Read { path: host, source }),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: parse_id(f.get(2)?)?,
                gid: parse_id(f.get(3)?)?,
                home: f.get(5).map_or_else(String::new, |h| h.to_string()),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: parse_id(f.get(2)?)?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n\
             # a comment\n\
             app:x:1000:1000:App:/home/app:/bin/sh\n\
             web:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\n\
             app:x:1000:\n\
             audio:x:29:app,web\n\
             video:x:44:web\n\
             staff:x:50:app\n",
        )
        .unwrap();
        dir
    }

    fn user(uid: u32, gid: u32, additional_gids: &[u32], home: &str) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
            home: home.to_string(),
        }
    }

    #[test]
    fn name_gets_primary_group_and_supplementary_groups() {
        let r = rootfs();
        assert_eq!(
            resolve(r.path(), "app").unwrap(),
            user(1000, 1000, &[29, 50], "/home/app")
        );
    }

    #[test]
    fn numeric_uid_with_entry_gets_its_groups() {
        let r = rootfs();
        assert_eq!(
            resolve(r.path(), "33").unwrap(),
            user(33, 33, &[29, 44], "/var/www")
        );
    }

    #[test]
    fn numeric_uid_without_entry_is_allowed_with_group_0() {
        let r = rootfs();
        assert_eq!(resolve(r.path(), "4242").unwrap(), user(4242, 0, &[], "/"));
    }

    #[test]
    fn explicit_group_replaces_primary_and_drops_supplementary() {
        let r = rootfs();
        assert_eq!(
            resolve(r.path(), "app:video").unwrap(),
            user(1000, 44, &[], "/home/app")
        );
        assert_eq!(
            resolve(r.path(), "app:777").unwrap(),
            user(1000, 777, &[], "/home/app")
        );
        assert_eq!(resolve(r.path(), "5:6").unwrap(), user(5, 6, &[], "/"));
    }

    #[test]
    fn empty_spec_is_root() {
        let r = rootfs();
        assert_eq!(resolve(r.path(), "").unwrap(), user(0, 0, &[], "/root"));
    }

    #[test]
    fn unknown_user_name_is_an_error_naming_it() {
        let r = rootfs();
        let err = resolve(r.path(), "nobody-here").unwrap_err();
        assert!(matches!(err, UserError::UnknownUser { ref name } if name == "nobody-here"));
        assert!(err.to_string().contains("nobody-here"));
    }

    #[test]
    fn unknown_group_name_is_an_error_naming_it() {
        let r = rootfs();
        let err = resolve(r.path(), "app:wheel").unwrap_err();
        assert!(err.to_string().contains("wheel"), "{err}");
    }

    #[test]
    fn missing_passwd_allows_numbers_but_not_names() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve(dir.path(), "12:34").unwrap(),
            user(12, 34, &[], "/")
        );
        assert!(resolve(dir.path(), "app").is_err());
    }

    #[test]
    fn symlinked_passwd_is_read_inside_the_rootfs() {
        let r = rootfs();
        let etc = r.path().join("etc");
        std::fs::rename(etc.join("passwd"), etc.join("passwd.real")).unwrap();
        // An absolute link target is taken relative to the rootfs, not the host.
        std::os::unix::fs::symlink("/etc/passwd.real", etc.join("passwd")).unwrap();
        assert_eq!(resolve(r.path(), "app").unwrap().uid, 1000);
    }
}
