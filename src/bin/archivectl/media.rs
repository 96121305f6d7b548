//! Clips: put, get (save), media (list), url, rm.

use crate::{
    fail::Usage,
    output::{Report, show_time},
    transfer::{self, Bars, UploadOptions},
};
use anyhow::Context;
use archive::{
    client::{Connection, media_client},
    format::export::VIETNAM_UTC_OFFSET_SECONDS,
    proto::v1::{self as pb, metadata_service_client::MetadataServiceClient},
};
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Put {
    pub media: pb::Media,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
}

impl Report for Put {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "{} {} bytes sha256 {}", self.media.name, self.media.size_bytes, self.media.sha256)?;
        if let Some(article) = &self.attached_to {
            writeln!(out, "attached to {article}")?;
        }
        Ok(())
    }
}

pub async fn put(
    channel: &Connection,
    file: &Path,
    options: UploadOptions,
    attach: Option<String>,
    bars: &Bars,
) -> anyhow::Result<Put> {
    let media = transfer::upload(channel, file, options, bars).await?;
    if let Some(article) = &attach {
        transfer::attach(channel, article, &media.name, "").await?;
    }
    Ok(Put { media, attached_to: attach })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub media: pb::Media,
    pub path: PathBuf,
    pub bytes_written: u64,
}

impl Report for Saved {
    fn text(&self, _: &mut String) -> std::fmt::Result {
        Ok(())
    }

    fn aside(&self) -> Option<String> {
        Some(format!("saved {} ({} bytes)", self.path.display(), self.bytes_written))
    }
}

/// Saves a clip to `output` (its own file name by default; stdout for `-`,
/// which leaves no room for a report: `None`).
pub async fn save(
    channel: &Connection,
    name: String,
    output: Option<PathBuf>,
    json: bool,
    bars: &Bars,
) -> anyhow::Result<Option<Saved>> {
    let media = MetadataServiceClient::new(channel.clone())
        .get_media(pb::GetMediaRequest { name })
        .await?
        .into_inner()
        .media
        .context("the server returned no media")?;
    let target = output.unwrap_or_else(|| PathBuf::from(&media.filename));
    if target.as_os_str() == "-" {
        if json {
            return Err(Usage("`-o -` puts the clip on stdout, where --output json would go".into()).into());
        }
        transfer::download(channel, &media, &mut tokio::io::stdout(), indicatif::ProgressBar::hidden()).await?;
        return Ok(None);
    }
    let mut file = tokio::fs::File::create(&target).await.with_context(|| format!("creating {}", target.display()))?;
    let bar = bars.bytes(media.size_bytes as u64, &media.filename);
    let bytes_written = transfer::download(channel, &media, &mut file, bar).await?;
    Ok(Some(Saved { media, path: target, bytes_written }))
}

#[derive(Serialize)]
pub struct Clips {
    pub media: Vec<pb::Media>,
}

impl Report for Clips {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        for media in &self.media {
            let created = show_time(media.create_time.as_ref(), VIETNAM_UTC_OFFSET_SECONDS);
            writeln!(
                out,
                "{}\t{created}\t{}\t{}\t{}",
                media.name, media.size_bytes, media.content_type, media.filename
            )?;
        }
        Ok(())
    }
}

pub async fn list(channel: &Connection, limit: usize) -> anyhow::Result<Clips> {
    let client = MetadataServiceClient::new(channel.clone());
    let media = crate::pages::collect(limit, 1000, |page_token, page_size| {
        let mut client = client.clone();
        async move {
            let page = client.list_media(pb::ListMediaRequest { page_size, page_token }).await?.into_inner();
            Ok((page.media, page.next_page_token))
        }
    })
    .await?;
    Ok(Clips { media })
}

impl Report for pb::GetPlaybackUrlResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "{}", self.url)
    }

    /// The tracks on stderr, so that stdout holds the clip's URL alone
    /// (`curl "$(archivectl url media/ID)"`).
    fn aside(&self) -> Option<String> {
        let mut aside = String::new();
        for track in &self.caption_tracks {
            let _ = writeln!(aside, "track {} ({}, {}): {}", track.language, track.name, track.label, track.url);
        }
        if !self.embed_url.is_empty() {
            let _ = writeln!(aside, "embed: {}", self.embed_url);
        }
        let _ = write!(aside, "expires {}", show_time(self.expire_time.as_ref(), VIETNAM_UTC_OFFSET_SECONDS));
        Some(aside)
    }
}

impl Report for pb::CreateUploadUrlResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "{}", self.upload_url)
    }

    /// The rest on stderr, so that stdout holds the URL alone.
    fn aside(&self) -> Option<String> {
        let expires = show_time(self.expire_time.as_ref(), VIETNAM_UTC_OFFSET_SECONDS);
        Some(format!("upload {} (QueryUpload, CancelUpload); starts until {expires}", self.upload_id))
    }
}

pub async fn upload_url(
    channel: &Connection,
    max_size: i64,
    ttl: Option<i64>,
    attach: Option<String>,
    sha256: Option<String>,
) -> anyhow::Result<pb::CreateUploadUrlResponse> {
    let request = pb::CreateUploadUrlRequest {
        max_size_bytes: max_size,
        ttl: ttl.map(|seconds| pbjson_types::Duration { seconds, nanos: 0 }),
        article: attach.unwrap_or_default(),
        sha256: sha256.unwrap_or_default(),
    };
    Ok(media_client(channel.clone()).create_upload_url(request).await?.into_inner())
}

pub async fn url(
    channel: &Connection,
    name: String,
    ttl: Option<i64>,
    download: bool,
    start: Option<f64>,
) -> anyhow::Result<pb::GetPlaybackUrlResponse> {
    let ttl = ttl.map(|seconds| pbjson_types::Duration { seconds, nanos: 0 });
    let disposition = if download { pb::Disposition::Attachment } else { pb::Disposition::Inline };
    let start = start.map(crate::pictures::duration).transpose()?;
    let request = pb::GetPlaybackUrlRequest { name, ttl, disposition: disposition.into(), start };
    Ok(media_client(channel.clone()).get_playback_url(request).await?.into_inner())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub name: String,
    #[serde(flatten)]
    pub response: pb::DeleteMediaResponse,
}

impl Report for Removed {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        for article in &self.response.detached_articles {
            writeln!(out, "detached from {article}")?;
        }
        let bytes =
            if self.response.objects_deleted { "and its bytes" } else { "(its bytes stay: another clip shares them)" };
        writeln!(out, "deleted {} {bytes}", self.name)
    }
}

pub async fn remove(channel: &Connection, name: String, force: bool) -> anyhow::Result<Removed> {
    let request = pb::DeleteMediaRequest { name: name.clone(), force };
    let response = media_client(channel.clone()).delete_media(request).await?.into_inner();
    Ok(Removed { name, response })
}
