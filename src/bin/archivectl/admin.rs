//! The archive as a whole: stats, tokens, reindex.

use crate::output::Report;
use archive::{
    client::Connection,
    proto::v1::{self as pb, metadata_service_client::MetadataServiceClient},
    service::auth::Scope,
};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

impl Report for pb::GetArchiveStatisticsResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "articles:       {}", self.article_count)?;
        writeln!(out, "deleted:        {} (restorable)", self.deleted_article_count)?;
        writeln!(out, "legal hold:     {}", self.held_article_count)?;
        writeln!(out, "revisions:      {}", self.revision_count)?;
        writeln!(out, "views:          {}", self.view_count)?;
        writeln!(out, "clips:          {}", self.media_count)?;
        writeln!(out, "stored bytes:   {} (clips; shared bytes once)", self.media_stored_bytes)?;
        writeln!(out, "open uploads:   {}", self.open_upload_count)
    }
}

pub async fn stats(channel: &Connection) -> anyhow::Result<pb::GetArchiveStatisticsResponse> {
    let request = pb::GetArchiveStatisticsRequest {};
    Ok(MetadataServiceClient::new(channel.clone()).get_archive_statistics(request).await?.into_inner())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Shown once: archived keeps only its SHA-256.
    pub token: String,
    /// The TOML to add to archived's tokens file.
    pub file_entry: String,
}

impl NewToken {
    pub fn make(name: String, scopes: Vec<Scope>) -> Self {
        let token = archive::service::auth::new_token();
        let file_entry = archive::service::auth::file_entry(&name, &scopes, &token);
        Self { name, scopes, token, file_entry }
    }
}

impl Report for NewToken {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "token (shown once; give it to {}):\n{}\n", self.name, self.token)?;
        writeln!(out, "add to the tokens file, then send archived SIGHUP:\n")?;
        write!(out, "{}", self.file_entry)
    }
}

#[derive(Serialize)]
pub struct Reindexed {
    pub articles: usize,
    pub media: usize,
    /// Manifests that could not be used.
    pub skipped: Vec<String>,
    /// Where the manifests were read.
    pub storage: String,
}

impl Report for Reindexed {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "reindexed {} articles and {} clips from {}", self.articles, self.media, self.storage)?;
        for skipped in &self.skipped {
            writeln!(out, "skipped {skipped}")?;
        }
        Ok(())
    }
}

impl Reindexed {
    pub fn failure(&self) -> Option<anyhow::Error> {
        let summary = format!("{} manifests could not be used", self.skipped.len());
        (!self.skipped.is_empty()).then(|| crate::fail::Reported { exit: crate::fail::OTHER, summary }.into())
    }
}

/// Rebuilds the metadata database archived's configuration names from the
/// manifests in its storage (the server need not run).
pub async fn reindex(config: Option<&Path>) -> anyhow::Result<Reindexed> {
    archive::app::telemetry::init();
    let settings = archive::config::Settings::load(config)?;
    let blobs = archive::blob::open(&settings.storage, settings.media.chunk_size_bytes).await?.store;
    let metadata = archive::metadata::open(&settings.metadata, archive::archive::search::FILTER_TOKENS).await?;
    let report = archive::archive::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await?;
    Ok(Reindexed {
        articles: report.articles,
        media: report.media,
        skipped: report.skipped,
        storage: settings.storage.url.to_string(),
    })
}
