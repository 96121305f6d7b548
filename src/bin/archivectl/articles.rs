//! Articles: import (many files, per-file report), get, ls (search and
//! related are in `search.rs`).

use crate::{
    cli::{Filters, Period},
    fail::{self, Explained},
    output::{Report, show_time},
    transfer::{self, Bars, UploadOptions},
};
use anyhow::Context;
use archive::{
    client::Connection,
    proto::v1::{
        self as pb, article_service_client::ArticleServiceClient, metadata_service_client::MetadataServiceClient,
    },
};
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What `import` did with each file.
#[derive(Serialize)]
pub struct Imports {
    pub files: Vec<Imported>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub file: PathBuf,
    /// `articles/ID`, once the article is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The clips its `Video:` lines name, in order.
    pub clips: Vec<Clip>,
    /// Why the file (or one of its clips) failed; the article may be stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Explained>,
}

#[derive(Serialize)]
pub struct Clip {
    pub reference: String,
    /// The stored clip; absent when the file was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<pb::Media>,
}

impl Imports {
    /// Exit code and summary when any file failed.
    pub fn failure(&self) -> Option<anyhow::Error> {
        let failed: Vec<&Imported> = self.files.iter().filter(|file| file.error.is_some()).collect();
        let first = failed.first()?.error.as_ref()?;
        let summary = format!("{} of {} files failed", failed.len(), self.files.len());
        Some(anyhow::Error::new(crate::fail::Reported { exit: first.exit, summary }))
    }
}

impl Report for Imports {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        for file in &self.files {
            file.text(out)?;
        }
        Ok(())
    }
}

impl Report for Imported {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        if let Some(article) = &self.article {
            writeln!(out, "imported {article} from {}", self.file.display())?;
        }
        for clip in &self.clips {
            match &clip.media {
                Some(media) => writeln!(out, "clip {} → {}", clip.reference, media.name)?,
                None => writeln!(out, "clip {} not uploaded (not found)", clip.reference)?,
            }
        }
        if let Some(error) = &self.error {
            writeln!(out, "failed {}: {}", self.file.display(), error.message)?;
        }
        Ok(())
    }
}

/// The export files `paths` name: files as given, directories as their
/// `.txt` files (not recursive), sorted.
pub fn export_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| file.is_file() && file.extension().is_some_and(|ext| ext == "txt"))
                .collect();
            anyhow::ensure!(!found.is_empty(), "{} holds no .txt export", path.display());
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Imports one export and uploads the clips it names from `media` (or the
/// export's directory). Whatever fails is in the result, not an `Err`.
pub async fn import(channel: &Connection, file: &Path, media: Option<&Path>, id: &str, bars: &Bars) -> Imported {
    let mut imported =
        Imported { file: file.to_owned(), article: None, title: String::new(), clips: vec![], error: None };
    if let Err(error) = import_into(&mut imported, channel, file, media, id, bars).await {
        imported.error = Some(fail::explain(&error));
    }
    imported
}

async fn import_into(
    imported: &mut Imported,
    channel: &Connection,
    file: &Path,
    media: Option<&Path>,
    id: &str,
    bars: &Bars,
) -> anyhow::Result<()> {
    let text = tokio::fs::read(file).await.with_context(|| format!("reading {}", file.display()))?;
    // A retry of this request (a deadline, a lost connection) answers the
    // article the first attempt made, never a second one.
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = pb::ImportArticleRequest { export_text: text.into(), article_id: id.to_owned(), request_id };
    let article = ArticleServiceClient::new(channel.clone())
        .import_article(request)
        .await?
        .into_inner()
        .article
        .context("the server returned no article")?;
    imported.article = Some(article.name.clone());
    imported.title = article.title.clone();
    let dir = media.map(Path::to_owned).unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_owned());
    for reference in &article.media {
        let path = match clip_path(&dir, &reference.reference) {
            Ok(path) => path,
            Err(error) => {
                imported.clips.push(Clip { reference: reference.reference.clone(), media: None });
                return Err(error);
            }
        };
        if !path.is_file() {
            imported.clips.push(Clip { reference: reference.reference.clone(), media: None });
            // Clips beside the export are a convenience; a named directory must hold them.
            anyhow::ensure!(
                media.is_none(),
                "{} names clip {} but {} does not exist",
                article.name,
                reference.reference,
                path.display()
            );
            continue;
        }
        let uploaded = transfer::upload(channel, &path, UploadOptions::default(), bars).await?;
        transfer::attach(channel, &article.name, &uploaded.name, &reference.reference).await?;
        imported.clips.push(Clip { reference: reference.reference.clone(), media: Some(uploaded) });
    }
    Ok(())
}

/// Where the clip an export names is: a file name inside `dir`, never a
/// path, and never a link that leads out of `dir`. An export from an
/// untrusted portal must not pull other files off this machine.
fn clip_path(dir: &Path, reference: &str) -> anyhow::Result<PathBuf> {
    if let Err(why) = archive::format::export::check_clip_name(reference) {
        anyhow::bail!("the export's `Video: {reference}` {why}; not uploaded");
    }
    let path = dir.join(reference);
    if !path.exists() {
        return Ok(path);
    }
    let inside = std::fs::canonicalize(dir).with_context(|| format!("reading {}", dir.display()))?;
    let real = std::fs::canonicalize(&path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        real.starts_with(&inside),
        "{} is a link to {}, outside {}; not uploaded",
        path.display(),
        real.display(),
        dir.display()
    );
    Ok(path)
}

pub async fn get(channel: &Connection, name: String, revision: i64) -> anyhow::Result<pb::Article> {
    let request = pb::GetArticleRequest { name, view: pb::ArticleView::Full.into(), revision };
    let article = ArticleServiceClient::new(channel.clone()).get_article(request).await?.into_inner().article;
    article.context("the server returned no article")
}

impl Report for pb::Article {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "name:      {}", self.name)?;
        writeln!(out, "title:     {}", self.title)?;
        writeln!(out, "published: {}", show_time(self.publish_time.as_ref(), self.publish_utc_offset_seconds))?;
        writeln!(out, "author:    {}", self.author)?;
        writeln!(out, "keywords:  {}", self.keywords.join(", "))?;
        writeln!(out, "views:     {}", self.view_count)?;
        writeln!(out, "revision:  {} (etag {})", self.revision, self.etag)?;
        for media in &self.media {
            let linked = if media.media.is_empty() { "not uploaded" } else { media.media.as_str() };
            writeln!(out, "clip:      {} → {linked}", media.reference)?;
        }
        if !self.body.is_empty() {
            write!(out, "\n{}\n", self.body)?;
        }
        Ok(())
    }
}

/// A page of articles, as `ls` prints it.
#[derive(Serialize)]
pub struct Listed {
    pub articles: Vec<pb::Article>,
}

impl Report for Listed {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        for article in &self.articles {
            let published = show_time(article.publish_time.as_ref(), article.publish_utc_offset_seconds);
            writeln!(out, "{}\t{published}\t{}", article.name, article.title)?;
        }
        Ok(())
    }
}

/// The request's publish-time bounds of `period` (days start at
/// midnight, Vietnam time).
pub fn publish_times(period: &Period) -> (Option<pbjson_types::Timestamp>, Option<pbjson_types::Timestamp>) {
    let day_start = |day: chrono::NaiveDate| {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight");
        let time = midnight.and_local_timezone(crate::output::vietnam()).single().expect("a fixed offset");
        pbjson_types::Timestamp { seconds: time.timestamp(), nanos: 0 }
    };
    (period.since.map(day_start), period.until.map(day_start))
}

pub async fn list(channel: &Connection, filters: &Filters, limit: usize) -> anyhow::Result<Listed> {
    let client = MetadataServiceClient::new(channel.clone());
    let articles = crate::pages::collect(limit, 1000, |page_token, page_size| {
        let mut client = client.clone();
        let (publish_time_start, publish_time_end) = publish_times(&filters.period);
        let (author, keyword) =
            (filters.author.clone().unwrap_or_default(), filters.keyword.clone().unwrap_or_default());
        let request =
            pb::ListArticlesRequest { page_size, page_token, publish_time_start, publish_time_end, author, keyword };
        async move {
            let page = client.list_articles(request).await?.into_inner();
            Ok((page.articles, page.next_page_token))
        }
    })
    .await?;
    Ok(Listed { articles })
}
