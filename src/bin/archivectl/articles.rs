//! Articles: import (many files, per-file report), get, ls, search, related.

use crate::{
    cli::{Facet, Filters, Order, Period, SearchFilters},
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
use clap::ValueEnum;
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
fn publish_times(period: &Period) -> (Option<pbjson_types::Timestamp>, Option<pbjson_types::Timestamp>) {
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

/// Ranked hits, as `search` prints them: the results of the pages read,
/// with the total and the facets of the first.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub results: Vec<pb::SearchResult>,
    /// A string, as int64 is in the proto3 JSON mapping.
    #[serde(serialize_with = "int64")]
    pub total_size: i64,
    pub total_size_is_lower_bound: bool,
    pub facets: Vec<pb::FacetCounts>,
}

fn int64<S: serde::Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Report for Found {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        let bound = if self.total_size_is_lower_bound { "at least " } else { "" };
        let noun = if self.total_size == 1 { "match" } else { "matches" };
        writeln!(out, "{bound}{} {noun}", self.total_size)?;
        write_results(&self.results, out)?;
        for facet in &self.facets {
            writeln!(out)?;
            write_facet(facet, out)?;
        }
        Ok(())
    }
}

impl Report for pb::ListRelatedArticlesResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        write_results(&self.results, out)
    }
}

/// Each hit: rank, title, name, publish time; under it the snippet, then
/// the moments its clips speak the query (`▶ m:ss track: words`). The
/// matched words are highlighted in all of them.
fn write_results(results: &[pb::SearchResult], out: &mut String) -> std::fmt::Result {
    let bold = anstyle::Style::new().bold();
    let mark = anstyle::Style::new().bold().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
    for (rank, hit) in results.iter().enumerate() {
        let Some(article) = &hit.article else { continue };
        let published = show_time(article.publish_time.as_ref(), article.publish_utc_offset_seconds);
        let title = highlighted(&article.title, &hit.title_highlights, bold, mark);
        writeln!(out, "{}. {title}  {}  {published}", rank + 1, article.name)?;
        writeln!(out, "   {}", highlighted(&hit.snippet, &hit.highlights, anstyle::Style::new(), mark))?;
        for moment in &hit.moments {
            let start = moment.start.as_ref().map_or(0, |start| start.seconds);
            let text = highlighted(&moment.text, &moment.highlights, anstyle::Style::new(), mark);
            writeln!(out, "   ▶ {}:{:02} {}: {text}", start / 60, start % 60, moment.track)?;
        }
    }
    Ok(())
}

/// A facet as a small table: its name, then each value and its count, and
/// `(other)` for the matches under values left out (`(none)` when no match
/// has a value).
fn write_facet(facet: &pb::FacetCounts, out: &mut String) -> std::fmt::Result {
    const OTHER: &str = "(other)";
    let bold = anstyle::Style::new().bold();
    let name = Facet::value_variants()
        .iter()
        .find(|known| pb::SearchFacet::from(**known) as i32 == facet.facet)
        .and_then(|known| known.to_possible_value())
        .map_or_else(|| format!("facet {}", facet.facet), |value| value.get_name().to_owned());
    let mut rows: Vec<(&str, i64)> = facet.values.iter().map(|value| (value.value.as_str(), value.count)).collect();
    if facet.other_count > 0 {
        rows.push((OTHER, facet.other_count));
    }
    writeln!(out, "{bold}{name}{bold:#}")?;
    let width = rows.iter().map(|(value, _)| value.chars().count()).max().unwrap_or(0);
    let count_width = rows.iter().map(|(_, count)| count.to_string().len()).max().unwrap_or(0);
    if rows.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (value, count) in rows {
        let pad = width - value.chars().count();
        writeln!(out, "  {value}{:pad$}  {count:>count_width$}", "")?;
    }
    Ok(())
}

/// `text` in `base` with the byte ranges of `highlights` in `mark`; a
/// range that is out of order or not on character boundaries is left in
/// `base`. Line breaks become spaces.
fn highlighted(text: &str, highlights: &[pb::TextRange], base: anstyle::Style, mark: anstyle::Style) -> String {
    let mut out = String::with_capacity(text.len() + highlights.len() * 16);
    let plain = |out: &mut String, piece: &str| {
        if !piece.is_empty() {
            let _ = write!(out, "{base}{piece}{base:#}");
        }
    };
    let mut at = 0;
    for range in highlights {
        let (start, end) = (range.start as usize, range.end as usize);
        if start < at || end <= start || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        plain(&mut out, &text[at..start]);
        let _ = write!(out, "{mark}{}{mark:#}", &text[start..end]);
        at = end;
    }
    plain(&mut out, &text[at..]);
    out.replace('\n', " ")
}

/// What `search` asks besides the query and the filters.
pub struct SearchOptions {
    pub order: Order,
    pub facets: Vec<Facet>,
    pub facet_size: Option<i32>,
    pub limit: usize,
}

/// The SearchArticles request of the words of `query` (as typed: the
/// server reads the syntax) and of `filters`, first page.
fn search_request(query: &[String], filters: &SearchFilters, options: &SearchOptions) -> pb::SearchArticlesRequest {
    let (publish_time_start, publish_time_end) = publish_times(&filters.period);
    pb::SearchArticlesRequest {
        query: query.join(" "),
        publish_time_start,
        publish_time_end,
        authors: filters.authors.clone(),
        keywords: filters.keywords.clone(),
        has_media: filters.has_media(),
        order_by: pb::SearchOrder::from(options.order).into(),
        facets: options.facets.iter().map(|facet| pb::SearchFacet::from(*facet).into()).collect(),
        facet_size: options.facet_size.unwrap_or_default(),
        ..Default::default()
    }
}

pub async fn search(
    channel: &Connection,
    query: &[String],
    filters: &SearchFilters,
    options: &SearchOptions,
) -> anyhow::Result<Found> {
    let client = MetadataServiceClient::new(channel.clone());
    let first = search_request(query, filters, options);
    // The total and the facets are the first page's; later pages need not count again.
    let summary = std::sync::Mutex::new(None);
    let results = crate::pages::collect(options.limit, 100, |page_token, page_size| {
        let mut client = client.clone();
        let mut request = pb::SearchArticlesRequest { page_size, page_token, ..first.clone() };
        if !request.page_token.is_empty() {
            request.facets.clear();
        }
        let summary = &summary;
        async move {
            let page = client.search_articles(request).await?.into_inner();
            summary.lock().expect("not poisoned").get_or_insert_with(|| Found {
                results: Vec::new(),
                total_size: page.total_size,
                total_size_is_lower_bound: page.total_size_is_lower_bound,
                facets: page.facets,
            });
            Ok((page.results, page.next_page_token))
        }
    })
    .await?;
    let summary = summary.into_inner().expect("not poisoned").unwrap_or_default();
    Ok(Found { results, ..summary })
}

/// The ListRelatedArticles request of `name` and `filters`.
fn related_request(name: String, filters: &SearchFilters, limit: i32) -> pb::ListRelatedArticlesRequest {
    let (publish_time_start, publish_time_end) = publish_times(&filters.period);
    pb::ListRelatedArticlesRequest {
        name,
        page_size: limit,
        publish_time_start,
        publish_time_end,
        authors: filters.authors.clone(),
        keywords: filters.keywords.clone(),
        has_media: filters.has_media(),
    }
}

pub async fn related(
    channel: &Connection,
    name: String,
    filters: &SearchFilters,
    limit: i32,
) -> anyhow::Result<pb::ListRelatedArticlesResponse> {
    let request = related_request(name, filters, limit);
    Ok(MetadataServiceClient::new(channel.clone()).list_related_articles(request).await?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_mark_whole_characters_only() {
        let style = anstyle::Style::new().bold();
        let range = |start, end| pb::TextRange { start, end };
        let snippet = "Giao ban trực tuyến";
        // "trực" is bytes 9..15.
        let plain = anstyle::Style::new();
        assert_eq!(highlighted(snippet, &[range(9, 15)], plain, style), "Giao ban \u{1b}[1mtrực\u{1b}[0m tuyến");
        assert_eq!(highlighted(snippet, &[range(9, 12)], plain, style), snippet, "12 is inside ự");
        assert_eq!(highlighted(snippet, &[range(9, 99)], plain, style), snippet, "past the end");
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|&word| word.to_owned()).collect()
    }

    /// The search request of a command line.
    fn request_of(args: &[&str]) -> pb::SearchArticlesRequest {
        let cli = crate::cli::tests::parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let crate::cli::Command::Search { query, filters, order, facets, facet_size, limit } = cli.command else {
            panic!("{args:?} is no search")
        };
        search_request(&query, &filters, &SearchOptions { order, facets, facet_size, limit })
    }

    #[test]
    fn the_query_reaches_the_server_as_typed() {
        // archivectl search '"chi bộ"' -Thái
        assert_eq!(request_of(&["search", "\"chi bộ\"", "-Thái"]).query, "\"chi bộ\" -Thái");
        let request = request_of(&["search", "-\"chi bộ\"", "thái", "OR", "bình", "--order", "newest", "--limit", "3"]);
        assert_eq!(request.query, "-\"chi bộ\" thái OR bình");
        assert_eq!(request.order_by(), pb::SearchOrder::Newest);
    }

    #[test]
    fn the_filters_and_facets_reach_the_request() {
        let mut args = vec!["search", "x", "--author", "Phạm Ngọc", "--author", "Thu Trang", "--keyword", "chi bộ"];
        args.extend(["--since", "2019-10-01", "--without-media", "--facets", "author,month", "--facet-size", "20"]);
        let request = request_of(&args);
        assert_eq!(
            (request.authors.clone(), request.keywords.clone()),
            (words(&["Phạm Ngọc", "Thu Trang"]), words(&["chi bộ"]))
        );
        assert_eq!((request.author.as_str(), request.keyword.as_str()), ("", ""), "the lists carry them");
        assert_eq!(request.has_media, Some(false));
        assert_eq!(request.facets, [pb::SearchFacet::Author as i32, pb::SearchFacet::PublishMonth as i32]);
        assert_eq!(request.facet_size, 20);
        // 2019-10-01T00:00:00+07:00
        assert_eq!(request.publish_time_start.map(|t| t.seconds), Some(1_569_862_800));
        assert_eq!((request.publish_time_end, request.order_by()), (None, pb::SearchOrder::Relevance));
        let plain = request_of(&["search", "x"]);
        assert_eq!((plain.has_media, plain.facets.len(), plain.facet_size), (None, 0, 0));
    }

    fn facet(facet: pb::SearchFacet, values: &[(&str, i64)], other_count: i64) -> pb::FacetCounts {
        let values = values.iter().map(|&(value, count)| pb::FacetValue { value: value.into(), count }).collect();
        pb::FacetCounts { facet: facet.into(), values, other_count }
    }

    /// Text without its ANSI styles, as a pipe gets it.
    fn unstyled(report: &impl Report) -> String {
        let mut text = String::new();
        report.text(&mut text).unwrap();
        anstream::adapter::strip_str(&text).to_string()
    }

    #[test]
    fn facets_print_as_small_tables() {
        let found = Found {
            results: vec![],
            total_size: 1234,
            total_size_is_lower_bound: false,
            facets: vec![
                facet(pb::SearchFacet::Author, &[("Phạm Ngọc", 1000), ("Thu Trang", 34)], 200),
                facet(pb::SearchFacet::PublishYear, &[("2020", 9), ("2019", 12)], 0),
                facet(pb::SearchFacet::HasMedia, &[], 0),
            ],
        };
        let expected = "1234 matches\n\
                        \n\
                        author\n  \
                        Phạm Ngọc  1000\n  \
                        Thu Trang    34\n  \
                        (other)     200\n\
                        \n\
                        year\n  \
                        2020   9\n  \
                        2019  12\n\
                        \n\
                        media\n  \
                        (none)\n";
        assert_eq!(unstyled(&found), expected);
        let bound = Found { total_size: 10000, total_size_is_lower_bound: true, ..Found::default() };
        assert_eq!(unstyled(&bound), "at least 10000 matches\n");
        assert_eq!(unstyled(&Found { total_size: 1, ..Found::default() }), "1 match\n");
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["totalSize"], "1234", "int64 as the proto3 JSON mapping writes it");
        assert_eq!(json["facets"][0]["facet"], "SEARCH_FACET_AUTHOR");
        assert_eq!(json["facets"][0]["values"][1], serde_json::json!({"value": "Thu Trang", "count": "34"}));
        assert_eq!(json["facets"][0]["otherCount"], "200");
    }

    #[test]
    fn titles_are_highlighted_like_snippets() {
        let range = |start, end| pb::TextRange { start, end };
        let article =
            pb::Article { name: "articles/a".into(), title: "Giao ban trực tuyến".into(), ..Default::default() };
        let hit = pb::SearchResult {
            article: Some(article),
            snippet: "chi bộ".into(),
            highlights: vec![range(0, 3)],
            title_highlights: vec![range(9, 15)],
            score: 1.5,
            moments: vec![pb::SearchMoment {
                track: "media/c/captions/vi".into(),
                start: Some(pbjson_types::Duration { seconds: 62, nanos: 3_000_000 }),
                text: "chi bộ họp".into(),
                highlights: vec![range(0, 3)],
                ..Default::default()
            }],
        };
        let related = pb::ListRelatedArticlesResponse { results: vec![hit] };
        let mut text = String::new();
        related.text(&mut text).unwrap();
        let (bold, mark) = ("\u{1b}[1m", "\u{1b}[1m\u{1b}[33m");
        let reset = "\u{1b}[0m";
        let title = format!("{bold}Giao ban {reset}{mark}trực{reset}{bold} tuyến{reset}");
        let moment = format!("   ▶ 1:02 media/c/captions/vi: {mark}chi{reset} bộ họp\n");
        assert_eq!(text, format!("1. {title}  articles/a  \n   {mark}chi{reset} bộ\n{moment}"));
    }
}
