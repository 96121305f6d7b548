//! What archivectl accepts on its command line.

use archive::service::auth::Scope;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// Search articles (all words; with or without diacritics), best first,
    /// with the matched words highlighted in a snippet.
    Search {
        #[arg(required = true)]
        query: Vec<String>,
        #[command(flatten)]
        filters: Filters,
        #[arg(long, default_value_t = 10)]
        limit: usize,
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
    /// Print a completion script: `archivectl completions bash > /etc/bash_completion.d/archivectl`.
    Completions { shell: clap_complete::Shell },
}

/// The filters ListArticles and SearchArticles share.
#[derive(clap::Args)]
pub struct Filters {
    /// Only articles with exactly this author.
    #[arg(long)]
    pub author: Option<String>,
    /// Only articles carrying exactly this keyword.
    #[arg(long)]
    pub keyword: Option<String>,
    /// Published on or after this day (YYYY-MM-DD, Vietnam time).
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Published before this day (YYYY-MM-DD, Vietnam time).
    #[arg(long)]
    pub until: Option<NaiveDate>,
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
