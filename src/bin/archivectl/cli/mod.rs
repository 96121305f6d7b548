//! What archivectl accepts on its command line.

use archive::service::auth::Scope;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::{ffi::OsString, path::PathBuf};

mod search;
use search::split_query;
pub use search::{Facet, Filters, Order, Period, SearchFilters};

#[derive(Parser)]
#[command(name = "archivectl", version, about = "Client of the archive service")]
pub struct Cli {
    /// gRPC address of archived [config: server; default http://127.0.0.1:50051].
    #[arg(long, env = "ARCHIVE_SERVER", global = true)]
    pub server: Option<String>,
    /// Bearer token to present (`archivectl token new` makes one) [config: token].
    #[arg(long, env = "ARCHIVE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA of the server's certificate, for an https:// server [config: ca_file].
    #[arg(long, env = "ARCHIVE_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that wants mutual TLS [config: cert_file].
    #[arg(long, env = "ARCHIVE_CERT_FILE", global = true)]
    pub cert_file: Option<PathBuf>,
    /// PEM key of `--cert-file` [config: key_file].
    #[arg(long, env = "ARCHIVE_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// archivectl's own settings (server, token, CA); by default
    /// `$XDG_CONFIG_HOME/archivectl/config.toml` (`~/.config/...`), if it exists.
    /// Flags and environment variables win over it.
    #[arg(long = "config", env = "ARCHIVECTL_CONFIG", global = true)]
    pub config_file: Option<PathBuf>,
    /// `text` for people; `json` for scripts: one JSON document on stdout
    /// (messages in the proto3 JSON mapping), errors as JSON on stderr.
    #[arg(long, short = 'O', value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Import articles in the portal's export format (files, or every `.txt`
    /// in a directory) and upload the clips they name; reports per file.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Directory holding the clips named by `Video:` lines (default: the
        /// export's own directory; a clip missing there is left unlinked).
        #[arg(long)]
        media: Option<PathBuf>,
        /// Client-chosen article id (one file only).
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
        /// Where a clip goes (its own file name by default); stdout when `-`.
        #[arg(short = 'o', long = "output-file", value_name = "FILE")]
        output_file: Option<PathBuf>,
        /// A past revision of an article.
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// List articles, newest first.
    Ls {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Search articles, best first (or by date), with the matched words
    /// highlighted in the title and a snippet; prints how many match and,
    /// with `--facets`, counts of the matches by author, keyword, ...
    ///
    /// The query is read as web search reads it: every word is required
    /// (with or without diacritics), `"chi bộ"` is an exact phrase, `-word`
    /// and `-"a phrase"` exclude, `OR` goes between two words or phrases.
    /// Quote a phrase for the shell too: `'"chi bộ"'`. Flags may come
    /// before or after the query; every word after `--` is a word.
    Search {
        /// The query (its words are joined by spaces); flags may follow it.
        #[arg(required = true, allow_hyphen_values = true, value_name = "QUERY")]
        query: Vec<String>,
        #[command(flatten)]
        filters: SearchFilters,
        /// `relevance` (best first; ties newest first), `newest` or `oldest`.
        #[arg(long, value_enum, default_value_t = Order::Relevance)]
        order: Order,
        /// Count the matches by these (comma-separated or repeated).
        #[arg(long, value_enum, value_delimiter = ',', value_name = "FACET,...")]
        facets: Vec<Facet>,
        /// Values per facet, most frequent first (the server's default: 10).
        #[arg(long, requires = "facets", value_parser = clap::value_parser!(i32).range(1..=1000))]
        facet_size: Option<i32>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// The articles most like an article (`articles/ID`: its title,
    /// keywords and body), best first, without it.
    Related {
        /// `articles/ID`.
        name: String,
        #[command(flatten)]
        filters: SearchFilters,
        /// At most this many (the server's ceiling is 50).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..=50))]
        limit: i32,
    },
    /// List clips, newest first.
    Media {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print what the archive holds: articles, revisions, views, clips, bytes.
    Stats,
    /// Re-read stored objects and compare each with its record's size and
    /// SHA-256; prints every damaged or missing object, then a summary.
    /// Exits 7 when anything is damaged or missing. Needs the `admin` scope.
    Fixity {
        /// Check this fraction of the objects, picked at random, in (0, 1].
        #[arg(long, default_value_t = 1.0)]
        sample: f64,
        /// Read at most this many bytes per second (default and ceiling:
        /// the server's fixity.bytes_per_second).
        #[arg(long, value_name = "BYTES_PER_SECOND")]
        rate: Option<u64>,
    },
    /// Print changes as they commit (article created, updated, deleted, ...;
    /// clip uploaded, attached, ...), from a cursor or from now, until
    /// interrupted (Ctrl-C) or `--limit` changes; then the cursor to resume
    /// from. With `-O json`: one JSON line per change, the cursor last.
    Watch {
        /// Resume after this cursor (from an earlier watch); default: now.
        #[arg(long, value_name = "CURSOR")]
        since: Option<String>,
        /// Only these kinds, e.g. `article_created,media_uploaded`.
        #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
        kinds: Vec<String>,
        /// Only changes of these resources (`articles/ID`, `media/ID`).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// Stop after this many changes.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Save the frame a clip (`media/ID`) shows at a time as a JPEG.
    Thumb {
        media: String,
        /// Seconds into the clip, e.g. 12.3.
        #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
        at: f64,
        /// Pixels (aspect kept; with --height, fit inside both).
        #[arg(long)]
        width: Option<i32>,
        #[arg(long)]
        height: Option<i32>,
        #[arg(short = 'o', long = "output-file", value_name = "FILE", default_value = "thumbnail.jpg")]
        output_file: PathBuf,
    },
    /// Set a clip's poster: the frame at a time, or an image (JPEG or PNG).
    Poster {
        media: String,
        #[arg(long, value_name = "SECONDS", conflicts_with = "image", required_unless_present = "image")]
        at: Option<f64>,
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
    },
    /// Caption tracks of a clip: add (or replace), ls, rm.
    #[command(subcommand)]
    Captions(crate::captions::CaptionsCommand),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Rebuild an empty metadata database from the manifests in storage.
    /// Reads the server's configuration (file and ARCHIVE__ variables), not the server.
    Reindex {
        /// archived's TOML configuration file.
        #[arg(long = "server-config", env = "ARCHIVE_CONFIG")]
        server_config: Option<PathBuf>,
    },
    /// Print a signed playback URL of a clip (on stdout), then its caption
    /// tracks' URLs and the expiry (on stderr; all of it with `-O json`).
    Url {
        name: String,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl: Option<i64>,
        /// Make the browser save the clip instead of playing it.
        #[arg(long)]
        download: bool,
        /// Start playing at this second (a search moment's start), e.g. 12.5.
        #[arg(long, value_name = "SECONDS")]
        start: Option<f64>,
    },
    /// Print a one-time upload URL (on stdout; its upload id and expiry on
    /// stderr): any tus client (tus-js-client in a page, tuspy, curl)
    /// uploads one clip of at most `--max-size` bytes to it, without a token.
    UploadUrl {
        /// The largest clip the URL takes, in bytes.
        #[arg(long, value_name = "BYTES")]
        max_size: i64,
        /// How long the URL may start its upload, in seconds (default 3600).
        #[arg(long)]
        ttl: Option<i64>,
        /// Attach the clip to this article (`articles/ID`) once stored.
        #[arg(long, value_name = "ARTICLE")]
        attach: Option<String>,
        /// The SHA-256 (hex) the clip must have.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Delete a clip (`media/ID`) for good. A clip an article links is kept
    /// unless `--force`, which detaches it first.
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Print a completion script: `archivectl completions bash > /etc/bash_completion.d/archivectl`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
pub enum TokenCommand {
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

impl Cli {
    /// Parses `args` (the program's name first) as clap does, except that
    /// the words of a search query may start with `-` (`-Thái`,
    /// `-"chi bộ"`): clap gives every word from the query's first one on
    /// to the query, and the flags among them (`--limit 5`, `-O json`,
    /// `--help`) are taken out and parsed again. A word after `--` is a
    /// word; one that starts with `--` but is no flag is refused, as clap
    /// refuses an unknown flag: it would be a typo read as a search.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let cli = Cli::try_parse_from(&args)?;
        let Command::Search { query, .. } = &cli.command else { return Ok(cli) };
        // The query is the tail of the arguments.
        let start = args.len() - query.len();
        if start > 0 && args[start - 1] == "--" {
            return Ok(cli);
        }
        let mut command = Cli::command();
        command.build();
        let search = command.find_subcommand("search").expect("search is a subcommand");
        let (flags, words) = split_query(search, query)?;
        if flags.is_empty() && words.len() == query.len() {
            return Ok(cli);
        }
        let mut again = args[..start].to_vec();
        again.extend(flags.into_iter().map(OsString::from));
        again.push("--".into());
        again.extend(words.into_iter().map(OsString::from));
        // The words are after `--` now; a flag where the query starts
        // (`-Ojson`) must be read as one.
        let mut command = Cli::command()
            .mut_subcommand("search", |search| search.mut_arg("query", |query| query.allow_hyphen_values(false)));
        let matches = command.try_get_matches_from_mut(again)?;
        Cli::from_arg_matches(&matches).map_err(|error| error.format(&mut command))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use archive::proto::v1 as pb;
    use clap::error::ErrorKind;

    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_args(std::iter::once("archivectl").chain(args.iter().copied()))
    }

    /// The query words and limit of a `search` command line.
    fn search(args: &[&str]) -> (Vec<String>, usize) {
        match parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).command {
            Command::Search { query, limit, .. } => (query, limit),
            _ => panic!("{args:?} is no search"),
        }
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|&word| word.to_owned()).collect()
    }

    #[test]
    fn query_words_may_start_with_a_minus() {
        assert_eq!(search(&["search", "\"chi bộ\"", "-Thái"]).0, words(&["\"chi bộ\"", "-Thái"]));
        assert_eq!(search(&["search", "-Thái", "bình"]).0, words(&["-Thái", "bình"]), "first");
        assert_eq!(search(&["search", "x", "-\"chi bộ\"", "OR", "-y"]).0, words(&["x", "-\"chi bộ\"", "OR", "-y"]));
        assert_eq!(search(&["search", "-5", "-"]).0, words(&["-5", "-"]));
    }

    #[test]
    fn flags_may_follow_the_query() {
        let cli = parse(&["search", "thai", "-covid", "--limit", "3", "binh", "-O", "json", "--order=newest"]).unwrap();
        assert!(cli.output == Format::Json);
        let Command::Search { query, limit, order, .. } = cli.command else { panic!("search") };
        assert_eq!((query, limit, order), (words(&["thai", "-covid", "binh"]), 3, Order::Newest));
        let cli = parse(&["search", "-Ojson", "thai"]).unwrap();
        assert!(cli.output == Format::Json, "-O with its value attached");
        assert_eq!(search(&["search", "--limit", "2", "thai", "binh"]), (words(&["thai", "binh"]), 2));
        // After `--`, every word is a word.
        assert_eq!(search(&["search", "thai", "--", "--limit", "3"]), (words(&["thai", "--limit", "3"]), 10));
        assert_eq!(search(&["search", "--", "--limit", "3"]), (words(&["--limit", "3"]), 10));
        assert_eq!(parse(&["search", "thai", "--help"]).err().map(|e| e.kind()), Some(ErrorKind::DisplayHelp));
    }

    #[test]
    fn order_facets_and_media_parse() {
        let cli = parse(&["search", "x", "--facets", "author,keyword", "--facets", "year", "--facets=month,media"]);
        let Command::Search { facets, order, facet_size, filters, .. } = cli.unwrap().command else { panic!() };
        assert_eq!(facets, [Facet::Author, Facet::Keyword, Facet::Year, Facet::Month, Facet::Media]);
        assert_eq!((order, facet_size, filters.has_media()), (Order::Relevance, None, None));
        let facets: Vec<pb::SearchFacet> = facets.into_iter().map(Into::into).collect();
        assert_eq!(
            facets[2..],
            [pb::SearchFacet::PublishYear, pb::SearchFacet::PublishMonth, pb::SearchFacet::HasMedia]
        );
        let args = ["search", "x", "--order", "oldest", "--facets", "author", "--facet-size", "3", "--with-media"];
        let Command::Search { order, facet_size, filters, .. } = parse(&args).unwrap().command else { panic!() };
        assert_eq!((order, facet_size, filters.has_media()), (Order::Oldest, Some(3), Some(true)));
        let args = ["related", "articles/a", "--author", "A", "--author", "B C", "--without-media", "--limit", "7"];
        let Command::Related { name, filters, limit } = parse(&args).unwrap().command else { panic!() };
        assert_eq!((name.as_str(), limit, filters.has_media()), ("articles/a", 7, Some(false)));
        assert_eq!(filters.authors, ["A", "B C"]);
    }

    #[test]
    fn bad_values_are_refused() {
        let refused = |args: &[&str]| parse(args).err().map(|e| e.kind()).unwrap_or_else(|| panic!("{args:?} parsed"));
        assert_eq!(refused(&["search", "x", "--order", "best"]), ErrorKind::InvalidValue);
        assert_eq!(refused(&["search", "x", "--facets", "author,colour"]), ErrorKind::InvalidValue);
        assert_eq!(refused(&["search", "x", "--facets", "author", "--facet-size", "0"]), ErrorKind::ValueValidation);
        assert_eq!(refused(&["search", "x", "--facet-size", "5"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(refused(&["search", "x", "--with-media", "--without-media"]), ErrorKind::ArgumentConflict);
        assert_eq!(refused(&["search", "x", "--limt", "3"]), ErrorKind::UnknownArgument, "a typo is no search");
        assert_eq!(refused(&["search", "--limt", "3", "x"]), ErrorKind::UnknownArgument);
        assert_eq!(refused(&["search", "x", "--limit", "many"]), ErrorKind::ValueValidation);
        assert_eq!(refused(&["search"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(refused(&["search", "--limit", "3"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(refused(&["search", "x", "-Oyaml"]), ErrorKind::InvalidValue);
        assert_eq!(refused(&["related", "articles/a", "--limit", "51"]), ErrorKind::ValueValidation);
        assert_eq!(refused(&["related", "articles/a", "--order", "newest"]), ErrorKind::UnknownArgument);
    }
}
