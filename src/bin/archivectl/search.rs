//! Search from the command line: `search` (query, order, filters, facets
//! as small tables, highlighted titles and snippets) and `related`.

use crate::{
    articles::publish_times,
    cli::{Facet, Order, SearchFilters},
    output::{Report, show_time},
};
use archive::{
    client::Connection,
    proto::v1::{self as pb, metadata_service_client::MetadataServiceClient},
};
use clap::ValueEnum;
use serde::Serialize;
use std::fmt::Write;

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
