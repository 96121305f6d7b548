//! The archive as a whole: stats, fixity, tokens, reindex.

use crate::output::{Report, show_time};
use archive::{
    client::Connection,
    format::export::VIETNAM_UTC_OFFSET_SECONDS,
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
        writeln!(out, "open uploads:   {}", self.open_upload_count)?;
        match &self.last_fixity_audit {
            None => writeln!(out, "last audit:     none"),
            Some(audit) => {
                let start = show_time(audit.start_time.as_ref(), VIETNAM_UTC_OFFSET_SECONDS);
                let (checked, mismatched, missing) = (audit.checked_count, audit.mismatched_count, audit.missing_count);
                writeln!(out, "last audit:     {start}: {checked} checked, {mismatched} mismatched, {missing} missing")
            }
        }
    }
}

/// What `fixity` found: the problems (printed as they came in text mode)
/// and the server's report.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub problems: Vec<pb::FixityProblem>,
    pub report: pb::FixityReport,
}

impl Report for Audit {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        let r = &self.report;
        let took = r.duration.as_ref().map_or(0.0, |d| d.seconds as f64 + f64::from(d.nanos) / 1e9);
        writeln!(out, "checked:     {}", r.checked_count)?;
        writeln!(out, "mismatched:  {}", r.mismatched_count)?;
        writeln!(out, "missing:     {}", r.missing_count)?;
        writeln!(out, "skipped:     {} (not in the sample)", r.skipped_count)?;
        writeln!(out, "bytes read:  {} in {took:.1} s", r.bytes_read)
    }
}

impl Audit {
    pub fn failure(&self) -> Option<anyhow::Error> {
        let damaged = self.report.mismatched_count + self.report.missing_count;
        let summary = format!(
            "{damaged} stored objects are damaged or missing ({} mismatched, {} missing)",
            self.report.mismatched_count, self.report.missing_count
        );
        (damaged > 0).then(|| crate::fail::Reported { exit: crate::fail::DAMAGED, summary }.into())
    }
}

/// One problem on one line: what, whose, which key, expected and found.
fn problem_line(problem: &pb::FixityProblem) -> String {
    let what = match problem.object_kind() {
        pb::StoredObjectKind::ArticleBody => "article body",
        pb::StoredObjectKind::MediaOriginal => "clip original",
        pb::StoredObjectKind::MediaRendition => "clip rendition",
        pb::StoredObjectKind::CaptionSource => "caption file",
        pb::StoredObjectKind::CaptionWebvtt => "caption track",
        pb::StoredObjectKind::Poster => "poster",
        pb::StoredObjectKind::Picture => "picture",
        pb::StoredObjectKind::Unspecified => "object",
    };
    let expected = format!("{} bytes, sha256 {}", problem.expected_size_bytes, problem.expected_sha256);
    let found = match problem.problem() {
        pb::FixityProblemKind::Missing => "missing".to_owned(),
        _ if problem.actual_sha256.is_empty() => format!("mismatched: {} bytes", problem.actual_size_bytes),
        _ => format!("mismatched: sha256 {}", problem.actual_sha256),
    };
    format!("{found}: {what} of {} ({}); recorded {expected}", problem.owner, problem.object_key)
}

/// Runs an audit on the server; problems are printed as they come in text mode.
pub async fn fixity(
    channel: &Connection,
    sample_fraction: f64,
    bytes_per_second: Option<u64>,
    format: crate::cli::Format,
    bars: &crate::transfer::Bars,
) -> anyhow::Result<Audit> {
    let request = pb::AuditFixityRequest {
        sample_fraction,
        bytes_per_second: bytes_per_second.map_or(0, |rate| i64::try_from(rate).unwrap_or(i64::MAX)),
    };
    let mut events = MetadataServiceClient::new(channel.clone()).audit_fixity(request).await?.into_inner();
    let spinner = bars.spinner("auditing stored objects");
    let mut problems = Vec::new();
    while let Some(event) = events.message().await? {
        match event.result {
            Some(pb::audit_fixity_response::Result::Problem(problem)) => {
                if format == crate::cli::Format::Text {
                    spinner.suspend(|| println!("{}", problem_line(&problem)));
                }
                problems.push(problem);
            }
            Some(pb::audit_fixity_response::Result::Report(report)) => {
                spinner.finish_and_clear();
                return Ok(Audit { problems, report });
            }
            None => {}
        }
    }
    anyhow::bail!("the server ended the audit without a report")
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
    let metadata = archive::metadata::open(&settings.metadata).await?;
    let report = archive::domain::reindex::rebuild(blobs.as_ref(), metadata.as_ref()).await?;
    Ok(Reindexed {
        articles: report.articles,
        media: report.media,
        skipped: report.skipped,
        storage: settings.storage.url.to_string(),
    })
}
