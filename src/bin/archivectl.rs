//! `archivectl`: the human's client of archived.

use anyhow::{Context, bail};
use archive::{
    client::{Connection, is_transient, media_client, resumed_messages},
    proto::v1::{
        self as pb, article_service_client::ArticleServiceClient, metadata_service_client::MetadataServiceClient,
    },
    service::auth::Scope,
};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[derive(Parser)]
#[command(version, about = "Client of the archive service")]
struct Cli {
    /// gRPC address of archived.
    #[arg(long, env = "ARCHIVE_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
    server: String,
    /// Bearer token to present (`archivectl token new` makes one).
    #[arg(long, env = "ARCHIVE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// PEM CA of the server's certificate, for an https:// server.
    #[arg(long, env = "ARCHIVE_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that wants mutual TLS.
    #[arg(long, env = "ARCHIVE_CERT_FILE", global = true, requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// PEM key of `--cert-file`.
    #[arg(long, env = "ARCHIVE_KEY_FILE", global = true, requires = "cert_file")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import an article in the portal's export format and upload the clips it names.
    Import {
        file: PathBuf,
        /// Directory holding the clips named by `Video:` lines.
        #[arg(long)]
        media: Option<PathBuf>,
        /// Client-chosen article id.
        #[arg(long)]
        id: Option<String>,
    },
    /// Upload a clip (optionally linking it to an article). A broken stream
    /// is resumed where the stored bytes end.
    Put {
        file: PathBuf,
        #[arg(long)]
        content_type: Option<String>,
        /// `articles/ID` to attach the clip to.
        #[arg(long)]
        attach: Option<String>,
        /// Continue the upload an interrupted `put` printed the id of.
        #[arg(long)]
        resume: Option<String>,
        /// How many times a broken stream is resumed.
        #[arg(long, default_value_t = 5)]
        retries: u32,
    },
    /// Print an article (`articles/ID`) or save a clip (`media/ID`) to a file.
    Get {
        name: String,
        /// Where a clip goes; stdout when `-`.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// A past revision of an article.
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// List articles, newest first.
    Ls {
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        keyword: Option<String>,
        /// Published on or after this day (YYYY-MM-DD, Vietnam time).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Published before this day (YYYY-MM-DD, Vietnam time).
        #[arg(long)]
        until: Option<NaiveDate>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// List clips, newest first.
    Media {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print what the archive holds: articles, revisions, views, clips, bytes.
    Stats,
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Rebuild an empty metadata database from the manifests in storage.
    /// Reads the server's configuration (file and ARCHIVE__ variables), not the server.
    Reindex {
        /// archived's TOML configuration file.
        #[arg(long, env = "ARCHIVE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print a signed playback URL of a clip.
    Url {
        name: String,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl: Option<i64>,
        /// Make the browser save the clip instead of playing it.
        #[arg(long)]
        download: bool,
    },
    /// Delete a clip (`media/ID`) for good. A clip an article links is kept
    /// unless `--force`, which detaches it first.
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a fresh random token (once: it is not stored anywhere) and the
    /// entry to add to archived's tokens file, which keeps only its SHA-256.
    New {
        /// Who will hold it, as logs will name it.
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<Scope>,
    },
}

fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(archive::format::export::VIETNAM_UTC_OFFSET_SECONDS).expect("valid offset")
}

fn day_start(day: NaiveDate) -> prost_types::Timestamp {
    let time =
        day.and_hms_opt(0, 0, 0).expect("midnight").and_local_timezone(vietnam()).single().expect("fixed offset");
    prost_types::Timestamp { seconds: time.timestamp(), nanos: 0 }
}

fn show_time(timestamp: Option<&prost_types::Timestamp>, offset_seconds: i32) -> String {
    let offset = FixedOffset::east_opt(offset_seconds).unwrap_or_else(vietnam);
    timestamp
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.with_timezone(&offset).to_rfc3339())
        .unwrap_or_default()
}

fn progress(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

/// How a clip is uploaded.
struct UploadOptions {
    content_type: Option<String>,
    /// An interrupted upload to continue.
    resume: Option<String>,
    /// Streams to try again after one breaks.
    retries: u32,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self { content_type: None, resume: None, retries: 5 }
    }
}

/// Uploads a file through a resumable upload: a stream that breaks (the link
/// or the server went away) is resumed where the stored bytes end.
async fn upload(channel: &Connection, file: &Path, options: UploadOptions) -> anyhow::Result<pb::Media> {
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
                eprintln!("{filename}: these bytes are stored already; nothing was sent");
                return Ok(media);
            }
            eprintln!(
                "upload id {0} (if interrupted: archivectl put --resume {0} {1})",
                started.upload_id,
                file.display()
            );
            started.upload_id
        }
    };
    let finish = pb::UploadFinish { size_bytes: size as i64, sha256, crc32c: Some(crc32c) };
    let bar = progress(size, &filename);
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
            bar.println(format!("the upload stream broke ({}); resuming in {wait:?}", status.message()))
        })
        .await;
    match uploaded {
        Ok(media) => {
            bar.finish();
            Ok(media)
        }
        Err(status) => {
            bar.abandon();
            Err(status.into())
        }
    }
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

async fn attach(channel: &Connection, article: &str, media: &str, reference: &str) -> anyhow::Result<()> {
    let request = pb::AttachMediaRequest { article: article.into(), media: media.into(), reference: reference.into() };
    media_client(channel.clone()).attach_media(request).await?;
    Ok(())
}

fn print_article(article: &pb::Article, with_body: bool) {
    println!("name:      {}", article.name);
    println!("title:     {}", article.title);
    println!("published: {}", show_time(article.publish_time.as_ref(), article.publish_utc_offset_seconds));
    println!("author:    {}", article.author);
    println!("keywords:  {}", article.keywords.join(", "));
    println!("views:     {}", article.view_count);
    println!("revision:  {} (etag {})", article.revision, article.etag);
    for media in &article.media {
        let linked = if media.media.is_empty() { "not uploaded" } else { media.media.as_str() };
        println!("clip:      {} → {linked}", media.reference);
    }
    if with_body {
        println!("\n{}", article.body);
    }
}

async fn reindex(config: Option<&Path>) -> anyhow::Result<()> {
    archive::app::telemetry::init();
    let settings = archive::config::Settings::load(config)?;
    let blobs = archive::blob::open(&settings.storage, settings.media.chunk_size_bytes).await?.store;
    let metadata = archive::metadata::open(&settings.metadata, archive::archive::search::FILTER_TOKENS).await?;
    let report = archive::archive::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await?;
    println!("reindexed {} articles and {} clips from {}", report.articles, report.media, settings.storage.url);
    for skipped in &report.skipped {
        println!("skipped {skipped}");
    }
    anyhow::ensure!(report.skipped.is_empty(), "{} manifests could not be used", report.skipped.len());
    Ok(())
}

/// Exit codes scripts can rely on (clap exits 2 on a usage error itself).
mod exit {
    pub const OTHER: u8 = 1;
    pub const NOT_FOUND: u8 = 3;
    pub const PERMISSION: u8 = 4;
    pub const CONFLICT: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
}

/// The exit code of a failure and what to tell the person who ran it.
fn explain(error: &anyhow::Error) -> (u8, String) {
    use tonic::Code;
    let Some(status) = error.chain().find_map(|cause| cause.downcast_ref::<tonic::Status>()) else {
        return (exit::OTHER, format!("{error:#}"));
    };
    let (code, hint) = match status.code() {
        Code::NotFound => (exit::NOT_FOUND, "check the name (archivectl ls, archivectl media)"),
        Code::Unauthenticated => (exit::PERMISSION, "pass a token the server knows: --token or ARCHIVE_TOKEN"),
        Code::PermissionDenied => (exit::PERMISSION, "use a token with the scope the message names"),
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => {
            (exit::CONFLICT, "the resource changed or is in another state: read it again, then retry")
        }
        Code::Unavailable | Code::DeadlineExceeded => {
            (exit::UNAVAILABLE, "the server is unreachable or busy: retry later")
        }
        Code::ResourceExhausted => (exit::UNAVAILABLE, "over a server limit (the message names it)"),
        _ => (exit::OTHER, ""),
    };
    let message = status.message();
    (code, if hint.is_empty() { message.to_owned() } else { format!("{message}\nhint: {hint}") })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let (code, message) = explain(&error);
            eprintln!("error: {message}");
            std::process::ExitCode::from(code)
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Reindex { config } => return reindex(config.as_deref()).await,
        Command::Token(TokenCommand::New { name, scopes }) => {
            let token = archive::service::auth::new_token();
            println!("token (shown once; give it to {name}):\n{token}\n");
            println!("add to the tokens file, then send archived SIGHUP:\n");
            print!("{}", archive::service::auth::file_entry(name, scopes, &token));
            return Ok(());
        }
        _ => {}
    }
    let options = archive::client::ClientOptions {
        token: cli.token.clone(),
        ca_file: cli.ca_file.clone(),
        cert_file: cli.cert_file.clone(),
        key_file: cli.key_file.clone(),
    };
    let channel = archive::client::connect_with(&cli.server, &options)
        .await
        .with_context(|| format!("connecting to {}", cli.server))?;
    match cli.command {
        Command::Reindex { .. } | Command::Token(_) => unreachable!("handled above"),
        Command::Import { file, media, id } => {
            let text = tokio::fs::read(&file).await.with_context(|| format!("reading {}", file.display()))?;
            let request = pb::ImportArticleRequest { export_text: text.into(), article_id: id.unwrap_or_default() };
            let article = ArticleServiceClient::new(channel.clone())
                .import_article(request)
                .await?
                .into_inner()
                .article
                .context("the server returned no article")?;
            println!("imported {}", article.name);
            for reference in &article.media {
                let Some(dir) = &media else {
                    println!("clip {} not uploaded (no --media DIR)", reference.reference);
                    continue;
                };
                let path = dir.join(&reference.reference);
                if !path.is_file() {
                    bail!("{} names clip {} but {} does not exist", article.name, reference.reference, path.display());
                }
                let uploaded = upload(&channel, &path, UploadOptions::default()).await?;
                attach(&channel, &article.name, &uploaded.name, &reference.reference).await?;
                println!("clip {} → {}", reference.reference, uploaded.name);
            }
        }
        Command::Put { file, content_type, attach: article, resume, retries } => {
            let media = upload(&channel, &file, UploadOptions { content_type, resume, retries }).await?;
            println!("{} {} bytes sha256 {}", media.name, media.size_bytes, media.sha256);
            if let Some(article) = article {
                attach(&channel, &article, &media.name, "").await?;
                println!("attached to {article}");
            }
        }
        Command::Get { name, output, revision } => {
            if name.starts_with("articles/") {
                let request = pb::GetArticleRequest { name, view: pb::ArticleView::Full.into(), revision };
                let article = ArticleServiceClient::new(channel).get_article(request).await?.into_inner().article;
                print_article(&article.context("the server returned no article")?, true);
            } else {
                let info = MetadataServiceClient::new(channel.clone())
                    .get_media(pb::GetMediaRequest { name: name.clone() })
                    .await?
                    .into_inner()
                    .media
                    .context("the server returned no media")?;
                let target = output.unwrap_or_else(|| PathBuf::from(&info.filename));
                let to_stdout = target.as_os_str() == "-";
                let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin> = if to_stdout {
                    Box::new(tokio::io::stdout())
                } else {
                    Box::new(tokio::fs::File::create(&target).await?)
                };
                let bar =
                    if to_stdout { ProgressBar::hidden() } else { progress(info.size_bytes as u64, &info.filename) };
                let request = pb::ReadMediaRequest { name, offset: 0, limit: 0 };
                let mut stream = media_client(channel).read_media(request).await?.into_inner();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    sink.write_all(&chunk.data).await?;
                    bar.inc(chunk.data.len() as u64);
                }
                sink.flush().await?;
                bar.finish();
                if !to_stdout {
                    eprintln!("saved {} ({} bytes)", target.display(), info.size_bytes);
                }
            }
        }
        Command::Ls { author, keyword, since, until, limit } => {
            let mut client = MetadataServiceClient::new(channel);
            let mut page_token = String::new();
            let mut shown = 0;
            loop {
                let request = pb::ListArticlesRequest {
                    page_size: (limit - shown).min(1000) as i32,
                    page_token,
                    publish_time_start: since.map(day_start),
                    publish_time_end: until.map(day_start),
                    author: author.clone().unwrap_or_default(),
                    keyword: keyword.clone().unwrap_or_default(),
                };
                let page = client.list_articles(request).await?.into_inner();
                for article in &page.articles {
                    let published = show_time(article.publish_time.as_ref(), article.publish_utc_offset_seconds);
                    println!("{}\t{published}\t{}", article.name, article.title);
                }
                shown += page.articles.len();
                if page.next_page_token.is_empty() || shown >= limit {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        Command::Media { limit } => {
            let mut client = MetadataServiceClient::new(channel);
            let mut page_token = String::new();
            let mut shown = 0;
            while shown < limit {
                let request = pb::ListMediaRequest { page_size: (limit - shown).min(1000) as i32, page_token };
                let page = client.list_media(request).await?.into_inner();
                for media in &page.media {
                    let created =
                        show_time(media.create_time.as_ref(), archive::format::export::VIETNAM_UTC_OFFSET_SECONDS);
                    println!("{}	{created}	{}	{}	{}", media.name, media.size_bytes, media.content_type, media.filename);
                }
                shown += page.media.len();
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        Command::Stats => {
            let request = pb::GetArchiveStatisticsRequest {};
            let counts = MetadataServiceClient::new(channel).get_archive_statistics(request).await?.into_inner();
            println!("articles:       {}", counts.article_count);
            println!("deleted:        {} (restorable)", counts.deleted_article_count);
            println!("legal hold:     {}", counts.held_article_count);
            println!("revisions:      {}", counts.revision_count);
            println!("views:          {}", counts.view_count);
            println!("clips:          {}", counts.media_count);
            println!("stored bytes:   {} (clips; shared bytes once)", counts.media_stored_bytes);
            println!("open uploads:   {}", counts.open_upload_count);
        }
        Command::Url { name, ttl, download } => {
            let ttl = ttl.map(|seconds| prost_types::Duration { seconds, nanos: 0 });
            let disposition = if download { pb::Disposition::Attachment } else { pb::Disposition::Inline };
            let url = media_client(channel)
                .get_playback_url(pb::GetPlaybackUrlRequest { name, ttl, disposition: disposition.into() })
                .await?
                .into_inner();
            println!("{}", url.url);
            eprintln!(
                "expires {}",
                show_time(url.expire_time.as_ref(), archive::format::export::VIETNAM_UTC_OFFSET_SECONDS)
            );
        }
        Command::Rm { name, force } => {
            let deleted = media_client(channel)
                .delete_media(pb::DeleteMediaRequest { name: name.clone(), force })
                .await?
                .into_inner();
            for article in &deleted.detached_articles {
                println!("detached from {article}");
            }
            let bytes =
                if deleted.objects_deleted { "and its bytes" } else { "(its bytes stay: another clip shares them)" };
            println!("deleted {name} {bytes}");
        }
    }
    Ok(())
}
