//! `archived`: the archive server. With no configuration it serves gRPC on
//! 127.0.0.1:50051, the media gateway on 127.0.0.1:50052 and `/metrics`,
//! `/readyz` on 127.0.0.1:50053, data under ./data.

use archive::{
    app::{Application, telemetry},
    config::Settings,
};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "gRPC archive for articles and their video clips")]
struct Args {
    /// TOML configuration file; `ARCHIVE__SECTION__KEY` variables override it.
    #[arg(long, env = "ARCHIVE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Load the configuration and its environment, check it and the files
    /// it names, print the effective settings (secrets left out) and what
    /// the search index directory holds, and exit: 0 when archived would
    /// start with them, 1 with the reason otherwise.
    Check,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings::load(args.config.as_deref())?;
    if let Some(Command::Check) = args.command {
        print!("{}", archive::app::check(&settings)?);
        eprintln!("{}", archive::search::SearchIndex::describe(std::path::Path::new(&settings.search.index_dir)));
        eprintln!("configuration ok");
        return Ok(());
    }
    let telemetry = telemetry::start(&settings.log)?;
    tracing::info!(storage = %settings.storage.url, metadata = %settings.metadata.url, "starting");
    let app = Application::build(settings).await?;
    tracing::info!(grpc = %app.grpc_addr(), gateway = %app.gateway_addr(), admin = %app.admin_addr(), "serving");
    if let Some(url) = app.console_url() {
        tracing::info!(%url, "web console: open it in a browser");
    }
    let served = app.run_until(shutdown_signal()).await;
    tracing::info!("stopped");
    telemetry.shutdown().await;
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
