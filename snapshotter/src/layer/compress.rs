//! Diff → compressed layer blob in the content store, in one streaming pass.
//!
//! [`write_layer`] runs a two-stage pipeline so that both cores work:
//!
//! ```text
//! producer thread:  walk + tar headers + file data ─ sha256 (diff_id) ─┐ chunks (bounded channel)
//! calling thread:   gzip (zlib-rs) | zstd (2 workers) | none ─ sha256 (digest) ─ content store ingest file
//! ```
//!
//! The layer is read once and never held in memory; the bounded channel
//! keeps at most a few MiB in flight. The blob is committed (verified,
//! fsynced, renamed) only when both stages succeeded, so a failed or
//! interrupted write leaves nothing but an ingest file the store cleans up.
//!
//! gzip is compressed pigz-style on all cores: the stream is cut into 1 MiB
//! blocks, each deflated independently (zlib-rs) with the previous block's
//! last 32 KiB as its dictionary and ended with a sync flush, and the pieces
//! are concatenated into one ordinary gzip member. flate2 has no parallel
//! encoder and `gzp` does not work with the zlib-rs backend, hence the ~80
//! lines here. The output depends only on the bytes and the level (fixed
//! block size), never on scheduling: header mtime 0, no file name, OS byte
//! 255 ("unknown", as Go's `compress/gzip` writes). zstd uses two worker
//! threads (the `zstdmt` feature); its output is deterministic for a given
//! level and worker count.

use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::content::{ContentError, ContentStore};
use crate::digest::{Digest, Digester};
use crate::layer::compression::Compression;
use crate::layer::diff::{DiffError, DiffOptions, DiffSource, write_tar};

/// How a layer being written is compressed: the codec (the same
/// [`Compression`] the apply side detects) and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub codec: Compression,
    /// gzip 0–9 (6 is Docker's default), zstd 1–22 (3 is the usual
    /// default); ignored for [`Compression::None`].
    pub level: i32,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding::gzip(6)
    }
}

impl Encoding {
    /// gzip at `level` (clamped to 0–9).
    pub const fn gzip(level: u32) -> Self {
        Encoding {
            codec: Compression::Gzip,
            level: if level > 9 { 9 } else { level as i32 },
        }
    }

    /// zstd at `level`.
    pub const fn zstd(level: i32) -> Self {
        Encoding {
            codec: Compression::Zstd,
            level,
        }
    }

    /// A plain tar.
    pub const fn none() -> Self {
        Encoding {
            codec: Compression::None,
            level: 0,
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self.codec {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A layer written to the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest of the compressed blob (its name in the content store).
    pub digest: Digest,
    /// Size of the compressed blob in bytes.
    pub size: u64,
    /// Digest of the uncompressed tar stream.
    pub diff_id: Digest,
    /// OCI media type of the blob.
    pub media_type: &'static str,
}

/// Errors of [`write_layer`].
#[derive(Debug, thiserror::Error)]
pub enum LayerWriteError {
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("compressing the layer with {codec}: {source}")]
    Compress {
        codec: Compression,
        #[source]
        source: io::Error,
    },
    #[error("the layer tar producer thread panicked")]
    ProducerPanicked,
}

const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

/// Turns `source` into a layer tar, hashes it (diff_id), compresses it,
/// hashes the compressed bytes (digest) and stores them in `store`, all in
/// one pass.
pub fn write_layer(
    source: &DiffSource,
    opts: &DiffOptions,
    encoding: Encoding,
    store: &ContentStore,
) -> Result<LayerBlob, LayerWriteError> {
    write_layer_observed(source, opts, encoding, store, &|_| {})
}

/// [`write_layer`], calling `tar_bytes` with the number of uncompressed tar
/// bytes compressed so far, after each chunk (for progress display).
pub fn write_layer_observed(
    source: &DiffSource,
    opts: &DiffOptions,
    encoding: Encoding,
    store: &ContentStore,
    tar_bytes: &dyn Fn(u64),
) -> Result<LayerBlob, LayerWriteError> {
    let (tx, rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let sink = ChunkSender {
                tx,
                buf: Vec::with_capacity(CHUNK),
                digester: Digester::new(),
            };
            let mut sink = write_tar(source, opts, sink)?;
            sink.send_buf().map_err(DiffError::Write)?;
            Ok::<_, DiffError>(sink.digester.finish())
        });
        let mut chunks = ChunkReader {
            rx,
            cur: Vec::new(),
            pos: 0,
            received: 0,
            observe: tar_bytes,
        };
        let consumed = compress_into_store(&mut chunks, encoding, store, "layer diff");
        // Closes the channel: a producer still sending (the consumer failed)
        // stops instead of waiting forever.
        drop(chunks);
        // A producer error means the stream is incomplete: never commit.
        // When the consumer failed, its error is the one to report: the
        // producer then only saw its channel close.
        let writer = match (producer.join(), consumed) {
            (_, Err(e)) => return Err(e),
            (Ok(Ok(diff_id)), Ok(writer)) => (diff_id, writer),
            (Ok(Err(e)), Ok(_)) => return Err(e.into()),
            (Err(_), Ok(_)) => return Err(LayerWriteError::ProducerPanicked),
        };
        let (diff_id, writer) = writer;
        let (digest, size) = writer.commit()?;
        Ok(LayerBlob {
            digest,
            size,
            diff_id,
            media_type: encoding.media_type(),
        })
    })
}

/// Compresses everything `reader` yields with `encoding` (gzip on all
/// cores, zstd with two workers) into a new blob of `store`, returned
/// uncommitted so the caller can check its other stage first. `source`
/// names the blob in errors.
pub fn compress_into_store(
    reader: &mut dyn Read,
    encoding: Encoding,
    store: &ContentStore,
    source: &str,
) -> Result<crate::content::BlobWriter, LayerWriteError> {
    let mut reader = reader;
    let blob = store.writer(None, None, source)?;
    let out = BufWriter::with_capacity(CHUNK, blob);
    let codec = encoding.codec;
    let err = |source| LayerWriteError::Compress { codec, source };
    let out = match codec {
        Compression::None => {
            let mut out = out;
            io::copy(&mut reader, &mut out).map_err(err)?;
            out
        }
        Compression::Gzip => {
            let mut out = out;
            let level = encoding.level.clamp(0, 9) as u32;
            parallel_gzip(&mut reader, &mut out, level).map_err(err)?;
            out
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::Encoder::new(out, encoding.level).map_err(err)?;
            enc.multithread(2).map_err(err)?;
            io::copy(&mut reader, &mut enc).map_err(err)?;
            enc.finish().map_err(err)?
        }
    };
    out.into_inner().map_err(|e| err(e.into_error()))
}

/// The producer's end: hashes the tar bytes and ships them in chunks.
struct ChunkSender {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    digester: Digester,
}

impl ChunkSender {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "layer compressor stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.digester.update(data);
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The consumer's end: reads the chunks back as a byte stream.
struct ChunkReader<'a> {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    /// Bytes received so far, reported to `observe` per chunk.
    received: u64,
    observe: &'a dyn Fn(u64),
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.received += chunk.len() as u64;
                    (self.observe)(self.received);
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0), // producer done (or failed: checked by join)
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

const GZIP_BLOCK: usize = 1 << 20;
const DEFLATE_WINDOW: usize = 32 * 1024;

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_block(reader: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    reader.take(GZIP_BLOCK as u64).read_to_end(buf)
}

/// Raw deflate of `input` primed with `dict`, ended by a sync flush (or the
/// final block when `last`).
fn deflate_block(input: &[u8], dict: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    use flate2::{Compress, FlushCompress};
    let mut c = Compress::new(flate2::Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let pos = c.total_in() as usize;
        let status = c
            .compress_vec(&input[pos..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done = c.total_in() as usize == input.len() && out.len() < out.capacity();
        if status == flate2::Status::StreamEnd || (done && !last) {
            return Ok(out);
        }
    }
}

/// Writes `reader`'s bytes as one gzip member, compressing blocks in
/// parallel (see the module doc).
pub(crate) fn parallel_gzip(
    reader: &mut impl Read,
    out: &mut impl Write,
    level: u32,
) -> io::Result<()> {
    use rayon::prelude::*;
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut crc = flate2::Crc::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.resize_with(batch, Vec::new);
        let mut filled = 0;
        for b in blocks.iter_mut() {
            if read_block(reader, b)? == 0 {
                break;
            }
            filled += 1;
        }
        blocks.truncate(filled);
        if blocks.is_empty() {
            break;
        }
        let compressed: Vec<io::Result<Vec<u8>>> = (0..blocks.len())
            .into_par_iter()
            .map(|i| {
                let dict = if i == 0 {
                    &tail[..]
                } else {
                    let prev = &blocks[i - 1];
                    &prev[prev.len().saturating_sub(DEFLATE_WINDOW)..]
                };
                deflate_block(&blocks[i], dict, level, false)
            })
            .collect();
        for (block, piece) in blocks.iter().zip(compressed) {
            crc.update(block);
            out.write_all(&piece?)?;
        }
        if let Some(last) = blocks.last() {
            tail.clear();
            tail.extend_from_slice(&last[last.len().saturating_sub(DEFLATE_WINDOW)..]);
        }
    }
    out.write_all(&deflate_block(&[], &[], level, true)?)?;
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (((i * 7919) % 251) ^ (i >> 9)) as u8)
            .collect()
    }

    #[test]
    fn parallel_gzip_of_nothing_is_a_valid_empty_member() {
        let mut out = Vec::new();
        parallel_gzip(&mut &b""[..], &mut out, 6).unwrap();
        assert_eq!(gunzip(&out), b"");
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn parallel_gzip_round_trips_across_many_blocks_and_stays_as_small_as_one_stream() {
        let data = sample(3 * GZIP_BLOCK + 12345);
        let mut out = Vec::new();
        parallel_gzip(&mut &data[..], &mut out, 6).unwrap();
        assert!(gunzip(&out) == data);
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        assert!(
            out.len() as f64 <= single.len() as f64 * 1.01 + 64.0,
            "parallel {} vs single {}",
            out.len(),
            single.len()
        );
    }

    #[test]
    fn parallel_gzip_is_deterministic() {
        let data = sample(2 * GZIP_BLOCK + 1);
        let run = || {
            let mut out = Vec::new();
            parallel_gzip(&mut &data[..], &mut out, 6).unwrap();
            out
        };
        assert_eq!(run(), run());
    }
}
