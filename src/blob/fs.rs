//! Blobs as files under a root directory. Writes go to `ROOT/.uploads/` and
//! are renamed into place after `fsync`, so a reader never sees a partial file.

use super::{
    BlobError, BlobKey, BlobResult as Result, BlobStore, BlobUpload, ByteStream, CompletedPart, KeyStream, Multipart,
    OpenUpload, OpenUploadStream, PartPlan,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use std::{
    io::{ErrorKind as IoErrorKind, SeekFrom},
    ops::Range,
    path::{Path, PathBuf},
};
use tokio::{
    fs::{self, File},
    io::{AsyncSeekExt, AsyncWriteExt, BufWriter},
};

const UPLOADS_DIR: &str = ".uploads";
/// Parts of a multipart upload: written in place into one file, each synced.
pub(super) const PART_PLAN: PartPlan = PartPlan { part_size: 8 * 1024 * 1024, in_flight: 2 };

#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    read_chunk_bytes: usize,
}

impl FsBlobStore {
    pub async fn open(root: impl AsRef<Path>, read_chunk_bytes: usize) -> std::io::Result<Self> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(root.join(UPLOADS_DIR)).await?;
        Ok(Self { root, read_chunk_bytes })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        // BlobKey segments are checked: no `..`, no absolute paths.
        self.root.join(key.as_str())
    }

    fn new_upload_path(&self) -> PathBuf {
        self.root.join(UPLOADS_DIR).join(uuid::Uuid::now_v7().to_string())
    }

    /// The file a multipart upload writes into.
    fn multipart_path(&self, upload_id: &str) -> Result<PathBuf> {
        let id = uuid::Uuid::try_parse(upload_id)
            .map_err(|_| BlobError::UploadNotFound { upload_id: upload_id.to_owned() })?;
        Ok(self.root.join(UPLOADS_DIR).join(format!("multipart-{}", id.simple())))
    }

    async fn open_multipart(&self, upload_id: &str) -> Result<File> {
        let path = self.multipart_path(upload_id)?;
        match fs::OpenOptions::new().write(true).open(&path).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == IoErrorKind::NotFound => {
                Err(BlobError::UploadNotFound { upload_id: upload_id.to_owned() })
            }
            Err(e) => Err(io_error("opening a multipart upload", e)),
        }
    }
}

fn io_error(context: &'static str, error: std::io::Error) -> BlobError {
    BlobError::unavailable(context, error)
}

async fn publish(temp: &Path, target: &Path) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).await?;
    }
    fs::rename(temp, target).await
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &BlobKey, data: Bytes, _content_type: &str) -> Result<()> {
        let temp = self.new_upload_path();
        let write = async {
            let mut file = File::create(&temp).await?;
            file.write_all(&data).await?;
            file.sync_all().await?;
            publish(&temp, &self.path_of(key)).await
        };
        if let Err(error) = write.await {
            let _ = fs::remove_file(&temp).await;
            return Err(io_error("writing an object", error));
        }
        Ok(())
    }

    async fn start_upload(&self, key: &BlobKey, _content_type: &str) -> Result<Box<dyn BlobUpload>> {
        let temp = self.new_upload_path();
        let file = File::create(&temp).await.map_err(|e| io_error("starting an upload", e))?;
        Ok(Box::new(FsUpload {
            file: Some(BufWriter::with_capacity(self.read_chunk_bytes, file)),
            temp,
            target: self.path_of(key),
        }))
    }

    /// Each chunk is read on the blocking pool straight into a buffer of
    /// its own, which leaves with it: between reads a stream holds no
    /// buffer. (tokio's `File` keeps its read buffer, up to a chunk, as long
    /// as the file is open, and `ReaderStream` one more: a reader that
    /// stopped held both, issue 32 finding 5.)
    async fn get(&self, key: &BlobKey, range: Range<u64>) -> Result<ByteStream> {
        let path = self.path_of(key);
        let start = range.start;
        let opened = tokio::task::spawn_blocking(move || {
            use std::io::Seek;
            let mut file = std::fs::File::open(path)?;
            file.seek(SeekFrom::Start(start))?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| io_error("opening an object", std::io::Error::other(e)))?;
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == IoErrorKind::NotFound => {
                return Err(BlobError::NotFound { key: key.clone() });
            }
            Err(e) => return Err(io_error("opening an object", e)),
        };
        let chunk = self.read_chunk_bytes.max(1) as u64;
        let remaining = range.end.saturating_sub(range.start);
        Ok(Box::pin(futures::stream::try_unfold((file, remaining), move |(file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = chunk.min(remaining) as usize;
            let (file, bytes) =
                tokio::task::spawn_blocking(move || read_chunk(file, want)).await.map_err(std::io::Error::other)??;
            // A file shorter than the range ends the stream, as a short read would.
            Ok((!bytes.is_empty()).then(|| (bytes.clone(), (file, remaining - bytes.len() as u64))))
        })))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<u64>> {
        match fs::metadata(self.path_of(key)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == IoErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading an object's size", e)),
        }
    }

    fn list(&self, prefix: &str) -> KeyStream {
        /// A depth-first walk: one open directory per level, so memory and
        /// file descriptors follow the depth of the tree, not its size.
        struct Walk {
            root: PathBuf,
            start: Option<PathBuf>,
            open: Vec<fs::ReadDir>,
        }
        async fn open_dir(path: &Path) -> Result<Option<fs::ReadDir>> {
            match fs::read_dir(path).await {
                Ok(entries) => Ok(Some(entries)),
                Err(e) if e.kind() == IoErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error("listing objects", e)),
            }
        }
        let start = Some(self.root.join(prefix.trim_end_matches('/')));
        let walk = Walk { root: self.root.clone(), start, open: Vec::new() };
        Box::pin(futures::stream::try_unfold(walk, |mut walk| async move {
            if let Some(start) = walk.start.take() {
                walk.open.extend(open_dir(&start).await?);
            }
            while let Some(entries) = walk.open.last_mut() {
                let Some(entry) = entries.next_entry().await.map_err(|e| io_error("listing objects", e))? else {
                    walk.open.pop();
                    continue;
                };
                let path = entry.path();
                if entry.file_type().await.map_err(|e| io_error("listing objects", e))?.is_dir() {
                    if !path.ends_with(UPLOADS_DIR) {
                        walk.open.extend(open_dir(&path).await?);
                    }
                } else if let Some(key) =
                    path.strip_prefix(&walk.root).ok().and_then(|relative| relative.to_str()).and_then(BlobKey::parse)
                {
                    return Ok(Some((key, walk)));
                }
            }
            Ok(None)
        }))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match fs::remove_file(self.path_of(key)).await {
            Err(e) if e.kind() != IoErrorKind::NotFound => Err(io_error("deleting an object", e)),
            _ => Ok(()),
        }
    }

    fn multipart(&self) -> &dyn Multipart {
        self
    }
}

/// Parts are written in place into one file under `.uploads/`, which is
/// renamed into place on completion.
#[async_trait]
impl Multipart for FsBlobStore {
    async fn create(&self, _key: &BlobKey, _content_type: &str) -> Result<String> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        File::create(self.multipart_path(&id)?).await.map_err(|e| io_error("starting a multipart upload", e))?;
        Ok(id)
    }

    async fn upload_part(
        &self,
        _key: &BlobKey,
        upload_id: &str,
        number: i32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<CompletedPart> {
        let mut file = self.open_multipart(upload_id).await?;
        let write = async {
            file.seek(SeekFrom::Start(offset)).await?;
            file.write_all(&data).await?;
            file.sync_data().await
        };
        write.await.map_err(|e| io_error("writing a part", e))?;
        Ok(CompletedPart { number, etag: format!("{crc32c:08x}"), size: data.len() as u64 })
    }

    async fn complete(&self, key: &BlobKey, upload_id: &str, parts: &[CompletedPart]) -> Result<()> {
        let file = self.open_multipart(upload_id).await?;
        let path = self.multipart_path(upload_id)?;
        let total: u64 = parts.iter().map(|part| part.size).sum();
        let finish = async {
            // Parts written beyond the last one (by an abandoned stream) are cut off.
            file.set_len(total).await?;
            file.sync_all().await?;
            drop(file);
            publish(&path, &self.path_of(key)).await
        };
        finish.await.map_err(|e| io_error("completing a multipart upload", e))
    }

    async fn abort(&self, _key: &BlobKey, upload_id: &str) -> Result<()> {
        let Ok(path) = self.multipart_path(upload_id) else { return Ok(()) };
        remove_unfinished(path).await
    }

    /// The files under `.uploads/`: multipart uploads (`multipart-ID`) and
    /// unfinished writes (`ID`, listed as `write-ID`), their start time
    /// from their UUIDv7 ids. The store does not know their keys.
    fn list_open(&self) -> OpenUploadStream {
        let dir = self.root.join(UPLOADS_DIR);
        Box::pin(
            futures::stream::once(async move { fs::read_dir(dir).await })
                .map_err(|e| io_error("listing open uploads", e))
                .map_ok(|entries| {
                    tokio_stream::wrappers::ReadDirStream::new(entries)
                        .map_err(|e| io_error("listing open uploads", e))
                        .try_filter_map(|entry| async move {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            let (upload_id, id) = match name.strip_prefix("multipart-") {
                                Some(id) => (id.to_owned(), id.to_owned()),
                                None => (format!("{WRITE_PREFIX}{name}"), name),
                            };
                            let started = uuid::Uuid::try_parse(&id).ok().and_then(|id| id.get_timestamp());
                            let Some((seconds, nanos)) = started.map(|t| t.to_unix()) else { return Ok(None) };
                            let initiated = chrono::DateTime::from_timestamp(seconds as i64, nanos).unwrap_or_default();
                            Ok(Some(OpenUpload { key: None, upload_id, initiated }))
                        })
                })
                .try_flatten(),
        )
    }

    /// The key does not matter here: the file is named by the id alone.
    async fn abort_open(&self, upload: &OpenUpload) -> Result<()> {
        let path = match upload.upload_id.strip_prefix(WRITE_PREFIX) {
            Some(name) if uuid::Uuid::try_parse(name).is_ok() => self.root.join(UPLOADS_DIR).join(name),
            Some(_) => return Ok(()),
            None => match self.multipart_path(&upload.upload_id) {
                Ok(path) => path,
                Err(_) => return Ok(()),
            },
        };
        remove_unfinished(path).await
    }
}

/// How [`Multipart::list_open`] names an unfinished write.
const WRITE_PREFIX: &str = "write-";

async fn remove_unfinished(path: PathBuf) -> Result<()> {
    match fs::remove_file(path).await {
        Err(e) if e.kind() != IoErrorKind::NotFound => Err(io_error("discarding an unfinished upload", e)),
        _ => Ok(()),
    }
}

/// A write to a temporary file; renamed into place on commit, removed otherwise.
struct FsUpload {
    file: Option<BufWriter<File>>,
    temp: PathBuf,
    target: PathBuf,
}

#[async_trait]
impl BlobUpload for FsUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let file =
            self.file.as_mut().ok_or_else(|| BlobError::internal("writing", anyhow::anyhow!("upload closed")))?;
        file.write_all(&chunk).await.map_err(|e| io_error("writing an upload", e))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let mut file =
            self.file.take().ok_or_else(|| BlobError::internal("committing", anyhow::anyhow!("upload closed")))?;
        let finish = async {
            file.flush().await?;
            file.get_ref().sync_all().await?;
            drop(file);
            publish(&self.temp, &self.target).await
        };
        finish.await.map_err(|e| io_error("committing an upload", e))
        // On failure, Drop removes the temporary file.
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file.take();
        match fs::remove_file(&self.temp).await {
            Err(e) if e.kind() != IoErrorKind::NotFound => Err(io_error("aborting an upload", e)),
            _ => Ok(()),
        }
    }
}

impl Drop for FsUpload {
    fn drop(&mut self) {
        // Committed uploads were renamed away; anything left is a partial write.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Up to `want` bytes from `file` (fewer only at its end), in a buffer of
/// their own.
fn read_chunk(mut file: std::fs::File, want: usize) -> std::io::Result<(std::fs::File, Bytes)> {
    use std::io::Read;
    let mut buf = vec![0; want];
    let mut filled = 0;
    while filled < want {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == IoErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok((file, Bytes::from(buf)))
}
