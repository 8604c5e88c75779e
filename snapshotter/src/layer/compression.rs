//! Layer compression: which codec a layer blob uses, and a decompressing reader.
//!
//! Two sources tell the codec: the descriptor's media type (OCI
//! `application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]`, its
//! `nondistributable` variant, Docker's `application/vnd.docker.image.rootfs.
//! [foreign.]diff.tar.gzip`) and the blob's first bytes (gzip `1f 8b`, zstd
//! `28 b5 2f fd`).
//!
//! **Rule: the magic bytes win.** A media type can lie (registries and old
//! tools mislabel layers); the bytes cannot. This is what containerd does: it
//! sniffs every layer stream and ignores the declared codec. The media type is
//! still parsed, to reject blobs that are not layers at all and to let callers
//! record what was declared. [`open_layer`] applies the rule.
//!
//! This module only *reads*; producing compressed layers belongs to the diff side.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// The codec of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (RFC 1952); multi-member streams are read to the end.
    Gzip,
    /// Zstandard.
    Zstd,
    /// A plain tar stream.
    None,
}

/// A media type that does not name a layer hoist can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media type {0:?} is not a tar layer (expected an OCI or Docker layer media type)")]
pub struct UnknownLayerMediaType(pub String);

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The codec a layer media type declares.
    ///
    /// Accepts the OCI layer types (`application/vnd.oci.image.layer.v1.tar`,
    /// `+gzip`, `+zstd`), their `nondistributable` variants, and Docker's
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip` and
    /// `...rootfs.foreign.diff.tar.gzip`.
    pub fn from_media_type(media_type: &str) -> Result<Compression, UnknownLayerMediaType> {
        // Media types may carry parameters (`; charset=...`): ignore them.
        let base = media_type.split(';').next().unwrap_or("").trim();
        let unknown = || UnknownLayerMediaType(media_type.to_string());
        if let Some(rest) = base
            .strip_prefix("application/vnd.oci.image.layer.v1.tar")
            .or_else(|| {
                base.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.tar")
            })
        {
            return match rest {
                "" => Ok(Compression::None),
                "+gzip" => Ok(Compression::Gzip),
                "+zstd" => Ok(Compression::Zstd),
                _ => Err(unknown()),
            };
        }
        if let Some(rest) = base
            .strip_prefix("application/vnd.docker.image.rootfs.diff.tar")
            .or_else(|| base.strip_prefix("application/vnd.docker.image.rootfs.foreign.diff.tar"))
        {
            return match rest {
                "" => Ok(Compression::None),
                ".gzip" => Ok(Compression::Gzip),
                ".zstd" => Ok(Compression::Zstd),
                _ => Err(unknown()),
            };
        }
        Err(unknown())
    }

    /// The codec the first bytes of a blob show: `Some(Gzip)`, `Some(Zstd)`,
    /// or `None` when neither magic is present (then it should be a plain tar).
    pub fn from_magic(head: &[u8]) -> Option<Compression> {
        if head.starts_with(GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if head.starts_with(ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// Peeks at `reader`'s buffer (consuming nothing) and returns the codec
    /// its magic bytes show; a stream without a known magic is `None`
    /// (uncompressed).
    pub fn sniff<R: BufRead>(reader: &mut R) -> io::Result<Compression> {
        // fill_buf may return fewer than 4 bytes on a short first read;
        // gzip needs 2, zstd 4. A BufReader over a file gets them at once.
        let head = reader.fill_buf()?;
        Ok(Compression::from_magic(head).unwrap_or(Compression::None))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "uncompressed",
        })
    }
}

/// A reader of the uncompressed tar stream of `reader`, compressed with `compression`.
pub fn decompress<'a, R: Read + Send + 'a>(
    reader: R,
    compression: Compression,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            128 * 1024,
            reader,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        Compression::None => Box::new(reader),
    })
}

/// Opens a layer blob for reading: sniffs its magic bytes and decompresses
/// accordingly. The returned codec is the one found in the bytes, which wins
/// over whatever the media type declared (see the module doc).
///
/// The first bytes are read fully (up to 4, however the stream splits its
/// reads) and put back in front of the stream.
pub fn open_layer<'a, R: Read + Send + 'a>(
    mut reader: R,
) -> io::Result<(Compression, Box<dyn Read + Send + 'a>)> {
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let found = Compression::from_magic(&head[..filled]).unwrap_or(Compression::None);
    let whole = io::Cursor::new(head).take(filled as u64).chain(reader);
    Ok((found, decompress(whole, found)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn media_types_name_their_codec() {
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar",
                Compression::None,
            ),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt), Ok(want), "{mt}");
        }
    }

    #[test]
    fn non_layer_media_types_are_rejected() {
        for mt in [
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            "application/vnd.docker.container.image.v1+json",
            "",
        ] {
            assert!(Compression::from_media_type(mt).is_err(), "{mt}");
        }
    }

    #[test]
    fn magic_bytes_identify_gzip_and_zstd() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&b"hello"[..], 3).unwrap();
        assert_eq!(Compression::from_magic(&gz), Some(Compression::Gzip));
        assert_eq!(Compression::from_magic(&zst), Some(Compression::Zstd));
        assert_eq!(Compression::from_magic(b"hello world"), None);
        assert_eq!(Compression::from_magic(b""), None);
    }

    #[test]
    fn open_layer_trusts_bytes_over_a_lying_media_type() {
        // Declared +gzip, actually zstd: open_layer never asks the media type.
        let zst = zstd::encode_all(&b"layer bytes"[..], 3).unwrap();
        let (found, mut r) = open_layer(&zst[..]).unwrap();
        assert_eq!(found, Compression::Zstd);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"layer bytes");

        let (found, mut r) = open_layer(&b"plain tar"[..]).unwrap();
        assert_eq!(found, Compression::None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"plain tar");
    }

    /// A reader that hands out one byte per read, like a slow network stream.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn open_layer_sniffs_zstd_from_a_stream_of_one_byte_reads() {
        let zst = zstd::encode_all(&b"slow"[..], 3).unwrap();
        let (found, mut r) = open_layer(OneByte(&zst)).unwrap();
        assert_eq!(found, Compression::Zstd);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"slow");
        let (found, mut r) = open_layer(OneByte(b"ab")).unwrap();
        assert_eq!(found, Compression::None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn decompress_reads_multi_member_gzip_to_the_end() {
        let mut both = Vec::new();
        for part in [&b"one "[..], b"two"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            both.extend(gz.finish().unwrap());
        }
        let mut out = String::new();
        decompress(&both[..], Compression::Gzip)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "one two");
    }
}
