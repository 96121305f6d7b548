//! The arguments of `ls`, `search` and `related`: filters, periods, order
//! and facets, and how the words of a query are told from the flags among them.

use archive::proto::v1 as pb;
use chrono::NaiveDate;
use clap::ValueEnum;

/// The filters of `ls` (ListArticles).
#[derive(clap::Args)]
pub struct Filters {
    /// Only articles with exactly this author.
    #[arg(long)]
    pub author: Option<String>,
    /// Only articles carrying exactly this keyword.
    #[arg(long)]
    pub keyword: Option<String>,
    #[command(flatten)]
    pub period: Period,
}

/// The filters of `search` and `related` (SearchArticles and
/// ListRelatedArticles).
#[derive(clap::Args)]
pub struct SearchFilters {
    /// Only articles with exactly this author; repeated: with any of them.
    #[arg(long = "author", value_name = "AUTHOR")]
    pub authors: Vec<String>,
    /// Only articles carrying exactly this keyword; repeated: any of them.
    #[arg(long = "keyword", value_name = "KEYWORD")]
    pub keywords: Vec<String>,
    #[command(flatten)]
    pub period: Period,
    /// Only articles that link a clip.
    #[arg(long, conflicts_with = "without_media")]
    pub with_media: bool,
    /// Only articles that link no clip.
    #[arg(long)]
    pub without_media: bool,
}

impl SearchFilters {
    /// The request's `has_media`: unset when neither flag is given.
    pub fn has_media(&self) -> Option<bool> {
        match (self.with_media, self.without_media) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

/// A span of publish days.
#[derive(clap::Args)]
pub struct Period {
    /// Published on or after this day (YYYY-MM-DD, Vietnam time).
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Published before this day (YYYY-MM-DD, Vietnam time).
    #[arg(long)]
    pub until: Option<NaiveDate>,
}

/// The order of search results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Order {
    Relevance,
    Newest,
    Oldest,
}

impl From<Order> for pb::SearchOrder {
    fn from(order: Order) -> Self {
        match order {
            Order::Relevance => pb::SearchOrder::Relevance,
            Order::Newest => pb::SearchOrder::Newest,
            Order::Oldest => pb::SearchOrder::Oldest,
        }
    }
}

/// What a search can count its matches by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Facet {
    Author,
    Keyword,
    /// The publish year, Vietnam time.
    Year,
    /// The publish month, Vietnam time.
    Month,
    /// Whether the article links a clip.
    Media,
}

impl From<Facet> for pb::SearchFacet {
    fn from(facet: Facet) -> Self {
        match facet {
            Facet::Author => pb::SearchFacet::Author,
            Facet::Keyword => pb::SearchFacet::Keyword,
            Facet::Year => pb::SearchFacet::PublishYear,
            Facet::Month => pb::SearchFacet::PublishMonth,
            Facet::Media => pb::SearchFacet::HasMedia,
        }
    }
}

/// The words of a query and the flags of `search` among them (each with
/// its value); the words after a `--` are words.
pub(super) fn split_query(search: &clap::Command, query: &[String]) -> Result<(Vec<String>, Vec<String>), clap::Error> {
    let (mut flags, mut words) = (Vec::new(), Vec::new());
    let mut rest = query.iter();
    while let Some(word) = rest.next() {
        if word == "--" {
            words.extend(rest.cloned());
            break;
        }
        match flag(search, word) {
            Some(takes_next) => {
                flags.push(word.clone());
                if takes_next {
                    flags.extend(rest.next().cloned());
                }
            }
            None if word.starts_with("--") => {
                let message = format!(
                    "unexpected argument '{word}' found\n\n  tip: a word to exclude takes one minus: '-{}'; \
                     to search for '{word}' itself, put it after '--'",
                    word.trim_start_matches('-')
                );
                return Err(search.clone().error(clap::error::ErrorKind::UnknownArgument, message));
            }
            None => words.push(word.clone()),
        }
    }
    Ok((flags, words))
}

/// Whether `word` is a flag of `command`: `--name` or `--name=value` of a
/// known flag, or `-X`, `-XY`... of known short flags up to one that takes
/// a value (`-Ojson`). `Some(true)` when its value is the next word.
fn flag(command: &clap::Command, word: &str) -> Option<bool> {
    if let Some(long) = word.strip_prefix("--") {
        let (name, attached) = long.split_once('=').map_or((long, false), |(name, _)| (name, true));
        let arg = command.get_arguments().find(|arg| arg.get_long() == Some(name))?;
        return Some(!attached && arg.get_action().takes_values());
    }
    let shorts = word.strip_prefix('-').filter(|shorts| !shorts.is_empty())?;
    for (at, short) in shorts.char_indices() {
        let arg = command.get_arguments().find(|arg| arg.get_short() == Some(short))?;
        // The first letter that takes a value takes the rest of the word, or the next word.
        if arg.get_action().takes_values() {
            return Some(at + short.len_utf8() == shorts.len());
        }
    }
    Some(false)
}
