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
//! gzip output is deterministic: header mtime 0, no file name, OS byte 255
//! ("unknown", as Go's `compress/gzip` writes). zstd uses two worker threads
//! (the `zstdmt` feature); its output is deterministic for a given level and
//! worker count.

use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::content::{ContentError, ContentStore};
use crate::digest::{Digest, Digester};
use crate::layer::diff::{DiffError, DiffOptions, DiffSource, write_tar};

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip at `level` (0–9; 6 is Docker's default).
    Gzip { level: u32 },
    /// zstd at `level` (1–22; 3 is the usual default).
    Zstd { level: i32 },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip { level: 6 }
    }
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd { .. } => "application/vnd.oci.image.layer.v1.tar+zstd",
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
        codec: &'static str,
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
    compression: Compression,
    store: &ContentStore,
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
        let consumed = compress_into_store(
            ChunkReader {
                rx,
                cur: Vec::new(),
                pos: 0,
            },
            compression,
            store,
        );
        // A producer error means the stream is incomplete: never commit.
        // A failed write in the producer is only the echo of a consumer
        // that stopped, so then the consumer's error is the real one.
        let writer = match (producer.join(), consumed) {
            (Ok(Ok(diff_id)), Ok(writer)) => (diff_id, writer),
            (Ok(Err(DiffError::Write(_))), Err(e)) | (Ok(Ok(_)), Err(e)) => return Err(e),
            (Ok(Err(e)), _) => return Err(e.into()),
            (Err(_), _) => return Err(LayerWriteError::ProducerPanicked),
        };
        let (diff_id, writer) = writer;
        let (digest, size) = writer.commit()?;
        Ok(LayerBlob {
            digest,
            size,
            diff_id,
            media_type: compression.media_type(),
        })
    })
}

fn compress_into_store(
    mut reader: ChunkReader,
    compression: Compression,
    store: &ContentStore,
) -> Result<crate::content::BlobWriter, LayerWriteError> {
    let blob = store.writer(None, None, "layer diff")?;
    let out = BufWriter::with_capacity(CHUNK, blob);
    let codec = match compression {
        Compression::None => "none",
        Compression::Gzip { .. } => "gzip",
        Compression::Zstd { .. } => "zstd",
    };
    let err = |source| LayerWriteError::Compress { codec, source };
    let out = match compression {
        Compression::None => {
            let mut out = out;
            io::copy(&mut reader, &mut out).map_err(err)?;
            out
        }
        Compression::Gzip { level } => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(out, flate2::Compression::new(level.min(9)));
            io::copy(&mut reader, &mut enc).map_err(err)?;
            enc.finish().map_err(err)?
        }
        Compression::Zstd { level } => {
            let mut enc = zstd::stream::Encoder::new(out, level).map_err(err)?;
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
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
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
