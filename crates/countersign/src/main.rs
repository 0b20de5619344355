//! `countersign`: the CLI. `serve` runs the server; `account create` makes an account and prints its key.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use countersign::config::{FileSettings, ServeArgs, ServerConfig, StorageArgs, StorageConfig};
use countersign::startup::{Application, open_store};
use countersign_domain::account::Account;
use countersign_domain::account::DEFAULT_LOCALE;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::AccountId;
use countersign_domain::locale::parse_locale;
use countersign_domain::secrets::ApiKey;
use countersign_store::{Created, NewAccount, Store, StoreError};
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
    /// Send a realistic sample event (test mode) of any type to the account's callback URL, or to `--to`,
    /// through a running server, and follow its delivery attempt by attempt.
    Trigger(countersign::trigger::TriggerArgs),
    /// The e-mails stored for an account (sent, or kept because no SMTP server is configured), one JSON
    /// object a line, oldest first: signers' links, reminders, notices.
    Outbox {
        /// The account, by e-mail address or account id.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Committed events to acknowledged callbacks, against a bare HTTP client's ceiling.
    Callbacks(countersign::bench::CallbackBenchArgs),
    /// Text-tag extraction pages/s over a folder of PDFs, against `pdftotext -bbox` on the same files.
    Tags(countersign::bench_documents::TagsBenchArgs),
    /// create_embedded and GET requests/s against the real server, and a bare HTTP server's ceiling.
    Requests(countersign::bench_documents::RequestsBenchArgs),
    /// The signer page in Chromium: time until a 1-page and a 50-page document are ready to sign, beside
    /// fetching the PDF's bytes, and sign submissions/s (runs `conformance/node/bench/sign.js` of this
    /// source tree with this binary as the server; needs Node and Debian's chromium).
    Sign(SignBenchArgs),
    /// Making a final copy (stamp with tags hidden, audit trail, PAdES seal) of a 1-page and a 200-page
    /// request, beside `qpdf --linearize` of the same files.
    Finalize(countersign::bench_finalize::FinalizeBenchArgs),
    /// A bulk send of 10,000 rows: the API's answer time and requests made per second, beside
    /// `send_with_template` calls from several clients on the same server.
    Bulk(countersign::bench_bulk::BulkBenchArgs),
}

#[derive(clap::Args)]
struct SignBenchArgs {
    /// Page-ready measurements per document.
    #[arg(long, default_value_t = 7)]
    runs: u32,
    /// Sign submissions to time.
    #[arg(long, default_value_t = 200)]
    submissions: u32,
    /// Submissions in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: u32,
}

/// `bench sign`: the browser half lives with the browser tests (playwright-core); this runs it against
/// this very binary.
fn bench_sign(args: &SignBenchArgs) -> anyhow::Result<()> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/node/bench/sign.js");
    anyhow::ensure!(
        script.exists(),
        "{} is not here: `bench sign` runs from the source tree it was built in (run `npm ci` in conformance/node first)",
        script.display()
    );
    let status = std::process::Command::new("node")
        .arg(&script)
        .args(["--runs", &args.runs.to_string(), "--submissions", &args.submissions.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .env("COUNTERSIGN_BIN", std::env::current_exe()?)
        .status()
        .map_err(|e| anyhow::anyhow!("node could not be started: {e}"))?;
    anyhow::ensure!(status.success(), "the signer page benchmark failed ({status})");
    Ok(())
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print `{"account_id", "email_address", "api_key", "claimed"}` on stdout.
    /// An unconfirmed account made through the API that holds the address is claimed: confirmed, with
    /// its keys replaced by the new one (`"claimed": true`).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        locale: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List the accounts, one JSON object a line.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Delete an account: its keys stop working, its callbacks stop, its address is free again. Its
    /// signature requests and event log are kept.
    Delete {
        /// The account, by e-mail address or account id.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage an account's API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Set the password the account signs in with on this server's pages (the OAuth authorization
    /// page), read as one line from standard input; `--clear` removes it.
    Password {
        #[arg(long)]
        account: String,
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// The API apps the account authorized through OAuth.
    #[command(subcommand)]
    Oauth(OAuthCommand),
}

#[derive(Subcommand)]
enum OAuthCommand {
    /// List the apps the account authorized (client id, name, scopes), one JSON object a line.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Withdraw the account's authorization of an app: its tokens stop working at once.
    Revoke {
        #[arg(long)]
        account: String,
        /// The app's client_id.
        client_id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue another API key and print `{"account_id", "key_id", "api_key"}` (shown once).
    Create {
        /// The account, by e-mail address or account id.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List the account's keys (id, first characters, created, revoked), one JSON object a line.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a key, by its `key_id` from `key list` or by the key itself. Servers stop accepting it
    /// within 2 seconds.
    Revoke {
        #[arg(long)]
        account: String,
        /// A key id (a number) or the API key.
        key: String,
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
        Command::Bench(BenchCommand::Sign(args)) => bench_sign(&args),
        Command::Bench(BenchCommand::Finalize(args)) => countersign::bench_finalize::run_finalize(args),
        Command::Bench(BenchCommand::Bulk(args)) => countersign::bench_bulk::run_bulk(args).await,
        Command::Account(AccountCommand::Create { email, locale, storage }) => {
            create_account(StorageConfig::resolve(&storage, &file), &email, locale.as_deref()).await
        }
        Command::Account(AccountCommand::List { storage }) => {
            let store = open_store(&StorageConfig::resolve(&storage, &file)).await?;
            let accounts = store.list_accounts().await;
            store.close().await;
            for account in accounts? {
                let line = serde_json::json!({
                    "account_id": account.id.as_str(),
                    "email_address": account.email.as_str(),
                    "confirmed": account.confirmed,
                    "created_at": account.created_at,
                });
                println!("{line}");
            }
            Ok(())
        }
        Command::Account(AccountCommand::Delete { account, storage }) => {
            on_account(StorageConfig::resolve(&storage, &file), &account, async |store, found| {
                anyhow::ensure!(store.delete_account(&found.id).await?, "the account was deleted meanwhile");
                tracing::info!(account_id = %found.id, "account deleted");
                println!("{}", serde_json::json!({"account_id": found.id.as_str(), "deleted": true}));
                Ok(())
            })
            .await
        }
        Command::Account(AccountCommand::Key(command)) => key_command(command, &file).await,
        Command::Account(AccountCommand::Password { account, clear, storage }) => {
            let phc = if clear {
                None
            } else {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
                let password = line.trim_end_matches(['\r', '\n']);
                countersign_domain::oauth::password::check_new(password).map_err(|e| anyhow::anyhow!(e))?;
                Some(countersign_domain::oauth::password::hash(password))
            };
            on_account(StorageConfig::resolve(&storage, &file), &account, async |store, found| {
                anyhow::ensure!(
                    store.set_account_password(&found.id, phc.as_deref()).await?,
                    "the account was deleted meanwhile"
                );
                tracing::info!(account_id = %found.id, cleared = clear, "account password set");
                println!("{}", serde_json::json!({"account_id": found.id.as_str(), "password_set": !clear}));
                Ok(())
            })
            .await
        }
        Command::Account(AccountCommand::Oauth(command)) => oauth_command(command, &file).await,
        Command::Trigger(args) => {
            let delivered = countersign::trigger::run(args).await?;
            anyhow::ensure!(delivered, "the event was not acknowledged");
            Ok(())
        }
        Command::Outbox { account, storage } => {
            on_account(StorageConfig::resolve(&storage, &file), &account, async |store, found| {
                for email in store.stored_emails(&found.id).await? {
                    println!("{}", serde_json::to_string(&email)?);
                }
                Ok(())
            })
            .await
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

/// An account named by e-mail address or account id.
/// Opens the store, finds the account `name` (an e-mail address or an account id), runs `work` with
/// both, and closes the store whatever `work` returned: the frame of every per-account command.
async fn on_account(
    storage: StorageConfig,
    name: &str,
    work: impl AsyncFnOnce(&Store, Account) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let store = open_store(&storage).await?;
    let result = async {
        let found = find_account(&store, name).await?;
        work(&store, found).await
    }
    .await;
    store.close().await;
    result
}

async fn find_account(store: &Store, name: &str) -> anyhow::Result<Account> {
    let found = match AccountId::parse(name.trim()) {
        Some(id) => store.account_by_id(&id).await?,
        None => store.account_by_email(name).await?,
    };
    found.ok_or_else(|| anyhow::anyhow!("no account {name:?}"))
}

async fn oauth_command(command: OAuthCommand, file: &FileSettings) -> anyhow::Result<()> {
    let (account, storage) = match &command {
        OAuthCommand::List { account, storage } | OAuthCommand::Revoke { account, storage, .. } => {
            (account.clone(), storage.clone())
        }
    };
    on_account(StorageConfig::resolve(&storage, file), &account, async |store, found| {
        match command {
            OAuthCommand::List { .. } => {
                for grant in store.oauth_grants(&found.id).await? {
                    let line = serde_json::json!({
                        "client_id": grant.client_id.as_str(),
                        "name": grant.app_name,
                        "scopes": grant.scopes,
                        "created_at": grant.created_at,
                        "updated_at": grant.updated_at,
                    });
                    println!("{line}");
                }
            }
            OAuthCommand::Revoke { client_id, .. } => {
                let id = countersign_domain::ids::ClientId::parse(client_id.trim())
                    .ok_or_else(|| anyhow::anyhow!("{client_id:?} is not a client_id"))?;
                anyhow::ensure!(
                    store.revoke_oauth_grant(&found.id, &id).await?,
                    "account {} has not authorized app {id}",
                    found.id
                );
                tracing::info!(account_id = %found.id, client_id = %id, "OAuth authorization revoked");
                println!(
                    "{}",
                    serde_json::json!({"account_id": found.id.as_str(), "client_id": id.as_str(), "revoked": true})
                );
            }
        }
        Ok(())
    })
    .await
}

async fn key_command(command: KeyCommand, file: &FileSettings) -> anyhow::Result<()> {
    let (account, storage) = match &command {
        KeyCommand::Create { account, storage }
        | KeyCommand::List { account, storage }
        | KeyCommand::Revoke { account, storage, .. } => (account.clone(), storage.clone()),
    };
    on_account(StorageConfig::resolve(&storage, file), &account, async |store, found| {
        match command {
            KeyCommand::Create { .. } => {
                let (key_id, key) = store.add_api_key(&found.id).await?;
                tracing::info!(account_id = %found.id, key_id, "API key created");
                let line =
                    serde_json::json!({"account_id": found.id.as_str(), "key_id": key_id, "api_key": key.expose()});
                println!("{line}");
            }
            KeyCommand::List { .. } => {
                for info in store.api_key_list(&found.id).await? {
                    let line = serde_json::json!({
                        "key_id": info.key_id,
                        "prefix": info.prefix,
                        "created_at": info.created_at,
                        "revoked_at": info.revoked_at,
                    });
                    println!("{line}");
                }
            }
            KeyCommand::Revoke { key, .. } => {
                let key = key.trim();
                let revoked = match key.parse::<i64>() {
                    Ok(key_id) if key.len() < 20 => store.revoke_api_key(&found.id, Some(key_id), None).await?,
                    _ => store.revoke_api_key(&found.id, None, Some(&ApiKey::presented(key))).await?,
                };
                anyhow::ensure!(revoked, "no active key {key:?} on account {}", found.id);
                tracing::info!(account_id = %found.id, "API key revoked");
                println!("{}", serde_json::json!({"account_id": found.id.as_str(), "revoked": true}));
            }
        }
        Ok(())
    })
    .await
}

async fn create_account(storage: StorageConfig, email: &str, locale: Option<&str>) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email, "--email").map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let locale =
        locale.map(|l| parse_locale(l, "--locale")).transpose().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let store = open_store(&storage).await?;
    let created = store
        .create_or_claim_account(NewAccount { email, locale: locale.unwrap_or_else(|| DEFAULT_LOCALE.to_owned()) })
        .await;
    store.close().await;
    let (account, api_key, how) = match created {
        Ok(created) => created,
        Err(StoreError::Conflict(msg)) => anyhow::bail!("{msg}"),
        Err(e) => return Err(e).context("creating the account"),
    };
    let claimed = how == Created::Claimed;
    tracing::info!(account_id = %account.id, claimed, "account created");
    let out = serde_json::json!({
        "account_id": account.id.as_str(),
        "email_address": account.email.as_str(),
        "api_key": api_key.expose(),
        "claimed": claimed,
    });
    println!("{out}");
    Ok(())
}
