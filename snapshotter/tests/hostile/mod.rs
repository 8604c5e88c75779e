//! A corpus of hostile layer tars, generated (never committed as binaries).
//!
//! Every case is built for one sandbox: `root/target` is where the layer is
//! applied, `root/outside` holds a canary. Cases aim at the canary both by
//! relative tricks and by its real absolute path, so an escape would show up
//! as a change in the listing of `root` outside `target`.
//!
//! Tars are written with raw headers ([`RawTar`]) because the tar crate's
//! builder refuses `..` and absolute names.

use std::path::Path;

use tar::{EntryType, Header};

/// What applying a case must produce besides an untouched outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A clear error.
    Rejected,
    /// A successful, confined apply.
    Applied,
    /// Either is acceptable; the outside must be untouched.
    Either,
}

pub struct Case {
    pub name: &'static str,
    pub tar: Vec<u8>,
    pub expect: Expect,
}

/// A tar stream written member by member with raw (unvalidated) names.
#[derive(Default)]
pub struct RawTar(Vec<u8>);

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a member with a raw name and link name (GNU long-name
    /// members are added when they exceed 100 bytes).
    pub fn entry(mut self, kind: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> Self {
        if name.len() > 100 {
            self = self.long(b'L', name);
        }
        if link.len() > 100 {
            self = self.long(b'K', link);
        }
        let mut h = Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            let n = name.len().min(100);
            g.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(100);
            g.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.data(data)
    }

    fn long(self, kind: u8, value: &[u8]) -> Self {
        let mut body = value.to_vec();
        body.push(0);
        self.entry(EntryType::new(kind), b"././@LongLink", b"", &body)
    }

    fn data(mut self, data: &[u8]) -> Self {
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(self, name: &[u8], data: &[u8]) -> Self {
        self.entry(EntryType::Regular, name, b"", data)
    }

    pub fn dir(self, name: &[u8]) -> Self {
        self.entry(EntryType::Directory, name, b"", b"")
    }

    pub fn symlink(self, name: &[u8], target: &[u8]) -> Self {
        self.entry(EntryType::Symlink, name, target, b"")
    }

    pub fn hardlink(self, name: &[u8], target: &[u8]) -> Self {
        self.entry(EntryType::Link, name, target, b"")
    }

    /// A PAX extended header with the given records, for the next member.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = 1 + k.len() + 1 + v.len() + 1; // " k=v\n"
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        self.entry(EntryType::XHeader, b"PaxHeaders/x", b"", &body)
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0
    }
}

/// `bytes` followed by `more`.
fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// The corpus for a sandbox whose canary directory is `outside` (absolute).
pub fn corpus(outside: &Path) -> Vec<Case> {
    use Expect::*;
    let abs = outside.as_os_str().as_encoded_bytes().to_vec();
    let abs_canary = cat(&abs, b"/canary");
    let abs_pwned = cat(&abs, b"/pwned");
    let case = |name, tar: RawTar, expect| Case {
        name,
        tar: tar.finish(),
        expect,
    };
    let mut chain = RawTar::new();
    for i in 0..60 {
        let target = if i == 59 {
            abs.clone()
        } else {
            format!("l{}", i + 1).into_bytes()
        };
        chain = chain.symlink(format!("l{i}").as_bytes(), &target);
    }
    vec![
        case(
            "dotdot escape",
            RawTar::new()
                .file(b"../outside/pwned", b"x")
                .file(b"../../pwned", b"x"),
            Applied,
        ),
        case(
            "dotdot in the middle",
            RawTar::new().file(b"a/../../outside/pwned", b"x"),
            Applied,
        ),
        case(
            "absolute path to the outside",
            RawTar::new().file(&abs_pwned, b"x"),
            Applied,
        ),
        case(
            "absolute path over the canary",
            RawTar::new().file(&abs_canary, b"x"),
            Applied,
        ),
        case(
            "symlink to / as parent",
            RawTar::new()
                .symlink(b"link", b"/")
                .file(&cat(b"link", &abs_pwned), b"x"),
            Applied,
        ),
        case(
            "absolute symlink to outside as parent",
            RawTar::new()
                .symlink(b"link", &abs)
                .file(b"link/pwned", b"x"),
            Applied,
        ),
        case(
            "relative symlink up as parent",
            RawTar::new()
                .symlink(b"link", b"..")
                .file(b"link/outside/pwned", b"x"),
            Applied,
        ),
        case(
            "relative symlink ../.. as parent",
            RawTar::new()
                .symlink(b"link", b"../..")
                .file(b"link/pwned", b"x"),
            Applied,
        ),
        case(
            "symlink to outside then file over the canary through it",
            RawTar::new()
                .symlink(b"link", b"../outside")
                .file(b"link/canary", b"x"),
            Applied,
        ),
        case(
            "nested symlinked parents",
            RawTar::new()
                .symlink(b"a", b"b/../..")
                .dir(b"b")
                .symlink(b"b/c", b"../../..")
                .file(b"a/c/outside/pwned", b"x"),
            Either,
        ),
        case(
            "hardlink to /etc/passwd",
            RawTar::new().hardlink(b"passwd", b"/etc/passwd"),
            Rejected,
        ),
        case(
            "hardlink to ../outside/canary",
            RawTar::new()
                .hardlink(b"h", b"../outside/canary")
                .file(b"h", b"x"),
            Rejected,
        ),
        case(
            "hardlink to the canary by absolute path",
            RawTar::new().hardlink(b"h", &abs_canary),
            Rejected,
        ),
        case(
            "hardlink through a symlinked parent",
            RawTar::new()
                .symlink(b"s", &abs)
                .hardlink(b"h", b"s/canary"),
            Rejected,
        ),
        case(
            "hardlink to a symlink to the canary, then write",
            RawTar::new()
                .symlink(b"s", &abs_canary)
                .hardlink(b"h", b"s")
                .file(b"h", b"x"),
            Applied,
        ),
        case(
            "whiteout of ..",
            RawTar::new().file(b".wh...", b""),
            Rejected,
        ),
        case(
            "whiteout of .. in a dir",
            RawTar::new().dir(b"a").file(b"a/.wh...", b""),
            Rejected,
        ),
        case("whiteout of .", RawTar::new().file(b".wh..", b""), Rejected),
        case(
            "whiteout of nothing",
            RawTar::new().dir(b"a").file(b"a/.wh.", b""),
            Rejected,
        ),
        case(
            "whiteout named by dotdot",
            RawTar::new().file(b"../.wh.outside", b""),
            Applied,
        ),
        case(
            "whiteout through a symlink",
            RawTar::new().symlink(b"s", &abs).file(b"s/.wh.canary", b""),
            Applied,
        ),
        case(
            "opaque through a symlink",
            RawTar::new()
                .symlink(b"s", &abs)
                .file(b"s/.wh..wh..opq", b""),
            Applied,
        ),
        case(
            "opaque through symlink to ..",
            RawTar::new()
                .symlink(b"s", b"..")
                .file(b"s/.wh..wh..opq", b""),
            Applied,
        ),
        case(
            "symlink then file over it",
            RawTar::new()
                .symlink(b"f", &abs_canary)
                .file(b"f", b"pwned"),
            Applied,
        ),
        case(
            "symlink to outside dir then a directory entry over it",
            RawTar::new()
                .symlink(b"d", &abs)
                .dir(b"d")
                .file(b"d/pwned", b"x"),
            Applied,
        ),
        case(
            "directory later replaced by symlink (deferred mtime)",
            RawTar::new()
                .dir(b"d")
                .file(b"d/x", b"x")
                .symlink(b"d", &abs),
            Applied,
        ),
        case(
            "xattr on a symlink to the canary",
            RawTar::new()
                .symlink(b"s", &abs_canary)
                .pax(&[("SCHILY.xattr.user.pwned", b"1")])
                .symlink(b"s", &abs_canary),
            Applied,
        ),
        case(
            "symlink loop as parent",
            RawTar::new()
                .symlink(b"a", b"b")
                .symlink(b"b", b"a")
                .file(b"a/x", b"x"),
            Rejected,
        ),
        case(
            "deep symlink chain as parent",
            chain.file(b"l0/pwned", b"x"),
            Either,
        ),
        case(
            "giant PAX header",
            RawTar::new()
                .pax(&[("comment", &vec![b'A'; 4 << 20])])
                .file(b"f", b"x"),
            Rejected,
        ),
        case(
            "giant GNU long name",
            RawTar::new()
                .entry(
                    EntryType::new(b'L'),
                    b"././@LongLink",
                    b"",
                    &vec![b'a'; 4 << 20],
                )
                .file(b"f", b"x"),
            Rejected,
        ),
        case(
            "name longer than PATH_MAX",
            RawTar::new().file(&[b'a'; 5000], b"x"),
            Rejected,
        ),
        case(
            "PAX path escaping",
            RawTar::new()
                .pax(&[("path", &cat(b"../../", &abs_pwned))])
                .file(b"innocent", b"x"),
            Applied,
        ),
        case(
            "root entry as a file",
            RawTar::new().file(b"./", b"x").file(b"/", b"x"),
            Applied,
        ),
    ]
}
