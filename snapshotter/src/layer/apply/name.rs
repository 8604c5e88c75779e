//! Tar member names made safe: relative to the layer root, no `.`/`..`.
//!
//! Names are cleaned lexically the way containerd does (`filepath.Clean`
//! joined to `/`): a leading `/` is dropped, empty and `.` components are
//! dropped, and `..` removes the previous component but never climbs above
//! the root (`../../etc/passwd` becomes `etc/passwd`). Symlinks are not
//! looked at here; they are resolved inside the root by [`super::root`].

/// Longest member name accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_NAME_BYTES: usize = 4096;
/// Longest single component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// The OCI whiteout prefix: `.wh.NAME` deletes `NAME` of lower layers.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The opaque-directory marker: `DIR/.wh..wh..opq` hides all lower content of `DIR`.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Prefix of AUFS metadata entries (`.wh..wh.plnk` ...), which are skipped.
pub const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";

/// Cleans a raw member name into `a/b/c` form (empty for the root itself).
pub fn clean(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.len() > MAX_NAME_BYTES {
        return Err(format!(
            "name is {} bytes, longer than {MAX_NAME_BYTES}",
            raw.len()
        ));
    }
    if raw.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ if part.len() > MAX_COMPONENT_BYTES => {
                return Err(format!(
                    "a name component is {} bytes, longer than {MAX_COMPONENT_BYTES}",
                    part.len()
                ));
            }
            _ => parts.push(part),
        }
    }
    Ok(parts.join(&b'/'))
}

/// Splits a cleaned, non-empty name into its parent (possibly empty) and last component.
pub fn split(clean: &[u8]) -> (&[u8], &[u8]) {
    match clean.iter().rposition(|&b| b == b'/') {
        Some(i) => (&clean[..i], &clean[i + 1..]),
        None => (&[], clean),
    }
}

/// `parent/name`, or `name` when the parent is the root.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        out.extend_from_slice(parent);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// A printable form of a raw name for error messages.
pub fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_leading_slash_dots_and_clamps_dotdot_at_root() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"/etc/passwd", b"etc/passwd"),
            (b"./a/b/", b"a/b"),
            (b"a//b/./c", b"a/b/c"),
            (b"../../etc/passwd", b"etc/passwd"),
            (b"a/../../b", b"b"),
            (b"a/b/../c", b"a/c"),
            (b".", b""),
            (b"./", b""),
            (b"/", b""),
        ];
        for (raw, want) in cases {
            assert_eq!(clean(raw).unwrap(), want, "{}", display(raw));
        }
    }

    #[test]
    fn clean_rejects_nul_and_oversized_names() {
        assert!(clean(b"a\0b").is_err());
        assert!(clean(&vec![b'a'; 256]).is_err());
        let long: Vec<u8> = std::iter::repeat_n(&b"abcdefgh/"[..], 500)
            .flatten()
            .copied()
            .collect();
        assert!(clean(&long).is_err());
    }

    #[test]
    fn split_and_join_round_trip() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"", b"c"), b"c");
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
    }
}
