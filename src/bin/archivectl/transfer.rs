//! Moving clip bytes: resumable uploads and downloads, each with a progress
//! bar (rate and ETA) on stderr when it is a terminal.

use anyhow::Context;
use archive::{
    client::{Connection, is_transient, media_client, resumed_messages},
    proto::v1 as pb,
};
use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The bars of one command: one per transfer, and one over many files.
#[derive(Clone, Default)]
pub struct Bars {
    multi: MultiProgress,
    quiet: bool,
}

impl Bars {
    /// No bars and no remarks (for `--output json`).
    pub fn quiet() -> Self {
        Self { multi: MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden()), quiet: true }
    }

    /// A byte bar: `name [=====>    ] 12 MiB/40 MiB 9 MiB/s 3s`.
    pub fn bytes(&self, total: u64, label: &str) -> ProgressBar {
        self.add(total, label, "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    }

    /// A count bar: `files [=====>    ] 3/8 2s`.
    pub fn count(&self, total: u64, label: &str) -> ProgressBar {
        self.add(total, label, "{msg} [{bar:30}] {pos}/{len} {eta}")
    }

    /// A spinner for work of unknown length: `⠋ label 12s`.
    pub fn spinner(&self, label: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        bar.set_message(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn add(&self, total: u64, label: &str, template: &str) -> ProgressBar {
        let bar = ProgressBar::new(total);
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_message(label.to_owned());
        self.multi.add(bar)
    }

    /// A line for the person watching, above the bars (stderr).
    pub fn note(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if self.multi.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// How a clip is uploaded.
pub struct UploadOptions {
    pub content_type: Option<String>,
    /// An interrupted upload to continue.
    pub resume: Option<String>,
    /// Streams to try again after one breaks.
    pub retries: u32,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self { content_type: None, resume: None, retries: 5 }
    }
}

/// Uploads a file through a resumable upload: a stream that breaks (the link
/// or the server went away) is resumed where the stored bytes end.
pub async fn upload(
    channel: &Connection,
    file: &Path,
    options: UploadOptions,
    bars: &Bars,
) -> anyhow::Result<pb::Media> {
    let size = tokio::fs::metadata(file).await.with_context(|| format!("opening {}", file.display()))?.len();
    let filename = file.file_name().and_then(|n| n.to_str()).context("the file name is not UTF-8")?.to_owned();
    // Declaring the checksum first lets the server skip bytes it already has.
    let (sha256, crc32c) = file_checksums(file).await?;
    let mut client = media_client(channel.clone());
    let upload_id = match options.resume {
        Some(id) => id,
        None => {
            let header = pb::UploadHeader {
                filename: filename.clone(),
                content_type: options.content_type.unwrap_or_default(),
                sha256: sha256.clone(),
                size_bytes: size as i64,
                ..Default::default()
            };
            let started = client.start_upload(pb::StartUploadRequest { header: Some(header) }).await?.into_inner();
            if let Some(media) = started.media {
                bars.note(format!("{filename}: these bytes are stored already; nothing was sent"));
                return Ok(media);
            }
            bars.note(format!(
                "upload id {0} (if interrupted: archivectl put --resume {0} {1})",
                started.upload_id,
                file.display()
            ));
            started.upload_id
        }
    };
    let finish = pb::UploadFinish { size_bytes: size as i64, sha256, crc32c: Some(crc32c) };
    let bar = bars.bytes(size, &filename);
    let stream = || {
        let mut client = client.clone();
        let (bar, upload_id, finish) = (&bar, &upload_id, &finish);
        async move {
            let query = pb::QueryUploadRequest { upload_id: upload_id.clone() };
            let status = client.query_upload(query).await?.into_inner();
            if let Some(media) = status.media {
                return Ok(media);
            }
            if status.complete {
                return Err(tonic::Status::not_found(format!(
                    "upload {upload_id} finished, but its clip has been deleted since"
                )));
            }
            let offset = status.committed_offset as u64;
            bar.set_position(offset);
            let mut reader = tokio::fs::File::open(file).await.map_err(|e| tonic::Status::internal(e.to_string()))?;
            reader.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| tonic::Status::internal(e.to_string()))?;
            let counter = bar.clone();
            let messages =
                resumed_messages(upload_id.clone(), offset, reader, finish.clone(), move |n| counter.inc(n as u64));
            let response = client.upload_media(messages).await?.into_inner();
            response.media.ok_or_else(|| tonic::Status::internal("the server returned no media"))
        }
    };
    let uploaded = stream
        .retry(backoff(options.retries))
        .when(is_transient)
        .notify(|status, wait| {
            bars.note(format!("the upload stream broke ({}); resuming in {wait:?}", status.message()))
        })
        .await;
    match uploaded {
        Ok(media) => {
            bar.finish();
            Ok(media)
        }
        Err(status) => {
            bar.abandon();
            // Said in the error too: with --output json the remark above is not shown.
            let resume =
                format!("upload id {upload_id} (resume: archivectl put --resume {upload_id} {})", file.display());
            Err(anyhow::Error::from(status).context(resume))
        }
    }
}

/// Streams a clip into `sink`; returns the bytes written.
pub async fn download(
    channel: &Connection,
    media: &pb::Media,
    sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    bar: ProgressBar,
) -> anyhow::Result<u64> {
    let request = pb::ReadMediaRequest { name: media.name.clone(), offset: 0, limit: 0 };
    let mut stream = media_client(channel.clone()).read_media(request).await?.into_inner();
    let mut written = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        sink.write_all(&chunk.data).await?;
        written += chunk.data.len() as u64;
        bar.inc(chunk.data.len() as u64);
    }
    sink.flush().await?;
    bar.finish();
    Ok(written)
}

/// Waits between attempts: 250 ms doubling up to 16 s, with jitter, at
/// most `retries` times.
fn backoff(retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(16))
        .with_max_times(retries as usize)
        .with_jitter()
}

/// SHA-256 (hex) and CRC32C of a file.
async fn file_checksums(file: &Path) -> anyhow::Result<(String, u32)> {
    use sha2::{Digest, Sha256};
    let mut reader = tokio::fs::File::open(file).await?;
    let mut hasher = Sha256::new();
    let mut crc32c = 0;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok((hex::encode(hasher.finalize()), crc32c));
        }
        hasher.update(&buffer[..read]);
        crc32c = crc32c::crc32c_append(crc32c, &buffer[..read]);
    }
}

pub async fn attach(channel: &Connection, article: &str, media: &str, reference: &str) -> anyhow::Result<()> {
    let request = pb::AttachMediaRequest { article: article.into(), media: media.into(), reference: reference.into() };
    media_client(channel.clone()).attach_media(request).await?;
    Ok(())
}
