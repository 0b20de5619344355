//! `countersign`: the CLI. `serve` runs the server; `account create` makes an account and prints its key.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use countersign::config::{FileSettings, ServeArgs, ServerConfig, StorageArgs, StorageConfig};
use countersign::startup::{Application, open_store};
use countersign_domain::account::DEFAULT_LOCALE;
use countersign_domain::email::EmailAddress;
use countersign_domain::locale::parse_locale;
use countersign_store::{NewAccount, StoreError};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "countersign", version, about = "Self-hosted e-signature server speaking the Dropbox Sign API v3")]
struct Cli {
    /// TOML file with settings (flags and COUNTERSIGN_* variables win over it).
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, env = "COUNTERSIGN_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Measure performance (results as one JSON line on stdout, progress on stderr).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Committed events to acknowledged callbacks, against a bare HTTP client's ceiling.
    Callbacks(countersign::bench::CallbackBenchArgs),
    /// Text-tag extraction pages/s over a folder of PDFs, against `pdftotext -bbox` on the same files.
    Tags(countersign::bench_documents::TagsBenchArgs),
    /// create_embedded and GET requests/s against the real server, and a bare HTTP server's ceiling.
    Requests(countersign::bench_documents::RequestsBenchArgs),
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print `{"account_id", "email_address", "api_key"}` on stdout.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        locale: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = FileSettings::load(cli.config.as_deref())?;
    let format = cli.log_format.or(match file.log_format.as_deref() {
        Some("json") => Some(LogFormat::Json),
        _ => None,
    });
    init_tracing(format.unwrap_or(LogFormat::Text));
    match cli.command {
        Command::Serve(args) => serve(ServerConfig::resolve(&args, &file)?).await,
        Command::Bench(BenchCommand::Callbacks(args)) => countersign::bench::run_callbacks(args).await,
        Command::Bench(BenchCommand::Tags(args)) => countersign::bench_documents::run_tags(args),
        Command::Bench(BenchCommand::Requests(args)) => countersign::bench_documents::run_requests(args).await,
        Command::Account(AccountCommand::Create { email, locale, storage }) => {
            create_account(StorageConfig::resolve(&storage, &file), &email, locale.as_deref()).await
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if let Some(first) = &app.first_start {
        let base = app.public_url();
        // Shown once, on stdout (never in the logs): the server keeps only a digest and a sealed copy.
        println!("Countersign is ready. A default account was created for {}.", first.email);
        println!("  API base URL: {base}/v3");
        println!("  Dashboard:    {base}/dashboard");
        println!("  API key:      {}  (shown once; keep it safe)", first.api_key.expose());
        println!("  Try:          curl -u {}: {base}/v3/account", first.api_key.expose());
    }
    app.run_until_stopped(shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing requests in flight");
}

async fn create_account(storage: StorageConfig, email: &str, locale: Option<&str>) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email, "--email").map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let locale =
        locale.map(|l| parse_locale(l, "--locale")).transpose().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let store = open_store(&storage).await?;
    let created =
        store.create_account(NewAccount { email, locale: locale.unwrap_or_else(|| DEFAULT_LOCALE.to_owned()) }).await;
    store.close().await;
    let (account, api_key) = match created {
        Ok(created) => created,
        Err(StoreError::Conflict(msg)) => anyhow::bail!("{msg}"),
        Err(e) => return Err(e).context("creating the account"),
    };
    tracing::info!(account_id = %account.id, "account created");
    let out = serde_json::json!({
        "account_id": account.id.as_str(),
        "email_address": account.email.as_str(),
        "api_key": api_key.expose(),
    });
    println!("{out}");
    Ok(())
}
