//! ADD of a local tar archive: detection by content (tar, or tar compressed
//! with gzip, bzip2, xz or zstd) and extraction into the destination.
//!
//! Extraction uses `tar::Entry::unpack_in`, unlike layer application (see
//! hoist-snapshotter's `layer::apply`): an archive ADDed to an image has no
//! whiteouts and its hard links point inside the archive, which are the two
//! things it gets wrong for layers, and it confines every entry to
//! the destination (no `..`, no writing through symlinks).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{FileOpError, io_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Option<Codec> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Codec::Gzip)
    } else if head.starts_with(b"BZh") {
        Some(Codec::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Codec::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Codec::Zstd)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Codec::Plain)
    } else {
        None
    }
}

fn decoder(file: File, codec: Codec) -> io::Result<Box<dyn Read>> {
    let r = BufReader::new(file);
    Ok(match codec {
        Codec::Plain => Box::new(r),
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Codec::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(r)),
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

/// True if `path` is a tar archive, possibly compressed: the (decompressed)
/// stream must start with a tar header.
pub fn is_archive(path: &Path) -> Result<bool, FileOpError> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let mut head = [0u8; 512];
    let n = read_full(&mut file, &mut head).map_err(io_err("read", path))?;
    let Some(codec) = sniff(&head[..n]) else {
        return Ok(false);
    };
    if codec == Codec::Plain {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seek", path))?;
    let mut inner = [0u8; 512];
    let Ok(mut d) = decoder(file, codec) else {
        return Ok(false);
    };
    match read_full(&mut d, &mut inner) {
        Ok(m) => Ok(sniff(&inner[..m]) == Some(Codec::Plain)),
        Err(_) => Ok(false),
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// Extracts the archive at `path` into the directory `dest`; returns the
/// number of entries.
pub fn extract(path: &Path, dest: &Path) -> Result<u64, FileOpError> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let mut head = [0u8; 512];
    let n = read_full(&mut file, &mut head).map_err(io_err("read", path))?;
    let codec = sniff(&head[..n]).unwrap_or(Codec::Plain);
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seek", path))?;
    let mut archive = tar::Archive::new(decoder(file, codec).map_err(io_err("decompress", path))?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let mut count = 0;
    for entry in archive.entries().map_err(io_err("read archive", path))? {
        let mut entry = entry.map_err(io_err("read archive", path))?;
        entry.unpack_in(dest).map_err(|e| FileOpError::Archive {
            archive: path.to_path_buf(),
            entry: entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source: e,
        })?;
        count += 1;
    }
    Ok(count)
}
