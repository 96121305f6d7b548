//! `archivectl`: the human's (and the script's) client of archived.
//!
//! | file | job |
//! | --- | --- |
//! | `cli.rs` | the command line |
//! | `profile.rs` | server, token and TLS files: flags, environment, config file |
//! | `output.rs` | text or JSON on stdout; failures on stderr |
//! | `fail.rs` | exit codes and what a failure tells the reader |
//! | `transfer.rs` | resumable uploads, downloads, progress bars |
//! | `pages.rs` | paged List and Search calls |
//! | `articles.rs`, `media.rs`, `admin.rs`, `watch.rs` | the commands |

mod admin;
mod articles;
mod captions;
mod cli;
mod fail;
mod media;
mod output;
mod pages;
mod pictures;
mod profile;
mod search;
mod transfer;
mod watch;

use anyhow::Context;
use clap::CommandFactory;
use cli::{Cli, Command, Format, TokenCommand};
use output::emit;
use transfer::{Bars, UploadOptions};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse_args(std::env::args_os()).unwrap_or_else(|error| error.exit());
    let format = cli.output;
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let explained = fail::explain(&error);
            output::emit_failure(format, &explained);
            std::process::ExitCode::from(explained.exit)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let format = cli.output;
    // What needs no server.
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "archivectl", &mut std::io::stdout());
            return Ok(());
        }
        Command::Token(TokenCommand::New { name, scopes }) => {
            return emit(format, &admin::NewToken::make(name.clone(), scopes.clone()));
        }
        Command::Reindex { server_config } => {
            let reindexed = admin::reindex(server_config.as_deref()).await?;
            emit(format, &reindexed)?;
            return reindexed.failure().map_or(Ok(()), Err);
        }
        _ => {}
    }
    let profile = profile::Profile::resolve(&cli)?;
    let channel = archive::client::connect_with(&profile.server, &profile.options)
        .await
        .with_context(|| format!("connecting to {}", profile.server))?;
    // Scripts get the document alone: no bars, no remarks.
    let bars = if format == Format::Json { Bars::quiet() } else { Bars::default() };
    match cli.command {
        Command::Completions { .. } | Command::Token(_) | Command::Reindex { .. } => unreachable!("handled above"),
        Command::Import { paths, media, id } => {
            let files = articles::export_files(&paths)?;
            if id.is_some() && files.len() != 1 {
                return Err(fail::Usage(format!("--id names one article, but {} files were given", files.len())).into());
            }
            let overall = if files.len() > 1 {
                bars.count(files.len() as u64, "files")
            } else {
                indicatif::ProgressBar::hidden()
            };
            let mut imports = articles::Imports { files: Vec::with_capacity(files.len()) };
            for file in &files {
                let imported =
                    articles::import(&channel, file, media.as_deref(), id.as_deref().unwrap_or_default(), &bars).await;
                if format == Format::Text {
                    // Each file as it is done, not all at the end.
                    let mut text = String::new();
                    output::Report::text(&imported, &mut text)?;
                    overall.suspend(|| anstream::print!("{text}"));
                }
                overall.inc(1);
                imports.files.push(imported);
            }
            overall.finish_and_clear();
            if format == Format::Json {
                emit(format, &imports)?;
            }
            imports.failure().map_or(Ok(()), Err)
        }
        Command::Put { file, content_type, attach, resume, retries } => {
            let options = UploadOptions { content_type, resume, retries };
            emit(format, &media::put(&channel, &file, options, attach, &bars).await?)
        }
        Command::Get { name, output_file, revision } if name.starts_with("articles/") => {
            if output_file.is_some() {
                return Err(fail::Usage("-o saves a clip; an article is printed".into()).into());
            }
            emit(format, &articles::get(&channel, name, revision).await?)
        }
        Command::Get { name, output_file, .. } => {
            match media::save(&channel, name, output_file, format == Format::Json, &bars).await? {
                Some(saved) => emit(format, &saved),
                None => Ok(()),
            }
        }
        Command::Ls { filters, limit } => emit(format, &articles::list(&channel, &filters, limit).await?),
        Command::Search { query, filters, order, facets, facet_size, limit } => {
            let options = search::SearchOptions { order, facets, facet_size, limit };
            emit(format, &search::search(&channel, &query, &filters, &options).await?)
        }
        Command::Related { name, filters, limit } => {
            emit(format, &search::related(&channel, name, &filters, limit).await?)
        }
        Command::Media { limit } => emit(format, &media::list(&channel, limit).await?),
        Command::Stats => emit(format, &admin::stats(&channel).await?),
        Command::Watch { since, kinds, names, limit } => {
            watch::watch(&channel, since, &kinds, names, limit, format).await
        }
        Command::Fixity { sample, rate } => {
            let audit = admin::fixity(&channel, sample, rate, format, &bars).await?;
            emit(format, &audit)?;
            audit.failure().map_or(Ok(()), Err)
        }
        Command::Url { name, ttl, download, start } => {
            emit(format, &media::url(&channel, name, ttl, download, start).await?)
        }
        Command::UploadUrl { max_size, ttl, attach, sha256 } => {
            emit(format, &media::upload_url(&channel, max_size, ttl, attach, sha256).await?)
        }
        Command::Rm { name, force } => emit(format, &media::remove(&channel, name, force).await?),
        Command::Captions(command) => captions::run(&channel, command, format).await,
        Command::Thumb { media, at, width, height, output_file } => {
            emit(format, &pictures::thumb(&channel, media, at, width, height, output_file).await?)
        }
        Command::Poster { media, at, image } => emit(format, &pictures::poster(&channel, media, at, image).await?),
    }
}
