//! Where archivectl connects and how: flags and environment variables
//! first, then its config file, then the built-in default.
//!
//! ```toml
//! # ~/.config/archivectl/config.toml
//! server = "https://archive.internal:50051"
//! token = "arc_..."
//! ca_file = "ca.pem"          # relative paths are relative to this file
//! cert_file = "client.pem"    # mutual TLS, with key_file
//! key_file = "client.key"
//! ```

use crate::cli::Cli;
use anyhow::Context;
use archive::client::ClientOptions;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The server a fresh machine runs (`cargo run --bin archived`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    token: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

/// What a command connects with.
pub struct Profile {
    pub server: String,
    pub options: ClientOptions,
}

impl Profile {
    /// Merges the command line (flags and environment, as clap read them)
    /// over the config file: `--config`/`ARCHIVECTL_CONFIG` must exist; the
    /// default path is read only when it does.
    pub fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        let file = match &cli.config_file {
            Some(path) => Some(read(path)?),
            None => default_path().filter(|path| path.is_file()).map(|path| read(&path)).transpose()?,
        }
        .unwrap_or_default();
        let options = ClientOptions {
            token: cli.token.clone().or(file.token),
            ca_file: cli.ca_file.clone().or(file.ca_file),
            cert_file: cli.cert_file.clone().or(file.cert_file),
            key_file: cli.key_file.clone().or(file.key_file),
        };
        let server = cli.server.clone().or(file.server).unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        Ok(Self { server, options })
    }
}

/// `$XDG_CONFIG_HOME/archivectl/config.toml`, `~/.config/...` without it.
fn default_path() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    Some(etcetera::choose_base_strategy().ok()?.config_dir().join("archivectl/config.toml"))
}

fn read(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut file: ConfigFile = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for file_path in [&mut file.ca_file, &mut file.cert_file, &mut file.key_file].into_iter().flatten() {
        if file_path.is_relative() {
            *file_path = base.join(&*file_path);
        }
    }
    if file.token.is_some() {
        warn_if_shared(path);
    }
    Ok(file)
}

/// A token in a file others can read is a token others have.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            eprintln!("warning: {} holds a token and others can read it: chmod 600 it", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("archivectl").chain(args.iter().copied()).chain(["stats"])).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "server = \"https://a.example:1\"\ntoken = \"from-file\"\nca_file = \"ca.pem\"\n")
            .unwrap();
        let config = path.to_str().unwrap();

        let from_file = Profile::resolve(&cli(&["--config", config])).unwrap();
        assert_eq!(from_file.server, "https://a.example:1");
        assert_eq!(from_file.options.token.as_deref(), Some("from-file"));
        assert_eq!(from_file.options.ca_file, Some(dir.path().join("ca.pem")), "relative to the file");

        let flags = Profile::resolve(&cli(&["--config", config, "--server", "http://b:2", "--token", "t"])).unwrap();
        assert_eq!((flags.server.as_str(), flags.options.token.as_deref()), ("http://b:2", Some("t")));

        std::fs::write(&path, "").unwrap();
        assert_eq!(Profile::resolve(&cli(&["--config", config])).unwrap().server, DEFAULT_SERVER);
    }

    #[test]
    fn a_named_file_must_exist_and_say_only_what_it_knows() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let error = Profile::resolve(&cli(&["--config", missing.to_str().unwrap()])).err().unwrap();
        assert!(format!("{error:#}").contains("missing.toml"), "{error:#}");
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "sever = \"http://x:1\"\n").unwrap();
        let error = Profile::resolve(&cli(&["--config", typo.to_str().unwrap()])).err().unwrap();
        assert!(format!("{error:#}").contains("unknown field `sever`"), "{error:#}");
    }
}
