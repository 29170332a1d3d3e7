//! The command line: `plaza [--mode MODE] [COMMAND]`. Modes pick the process role; commands are dev utilities.

use clap::{Parser, Subcommand, ValueEnum};

/// The role of a plaza process (`--mode`, or `PLAZA_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// HTTP API, live server and an in-process scheduler in one process (one machine, development).
    All,
    /// The actix-web HTTP API only.
    Api,
    /// The socket.io live server only.
    Live,
    /// Apply database migrations, then exit.
    Migrate,
    /// Import the schedule from Pretalx once, then exit.
    FetchSchedule,
    /// Sync ticket holders from Tito once, then exit.
    FetchUsers,
    /// Import content (settings, pages, emails) from git once, then exit.
    FetchContent,
    /// Record the cluster's visitor count into `logs`, then exit.
    LogVisitors,
    /// Delete old `logs` rows and old schedule/content versions (LOGS_RETENTION_DAYS, VERSIONS_KEEP), then exit.
    Retention,
    /// Send the reminders of saved sessions about to start (live and Web Push) once, then exit.
    Reminders,
}

impl Mode {
    /// The mode's name as written on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// Parses a `PLAZA_MODE` value.
    pub fn parse(value: &str) -> Result<Self, String> {
        <Self as ValueEnum>::from_str(value.trim(), true).map_err(|_| {
            let names: Vec<String> = Self::value_variants().iter().map(|m| m.name()).collect();
            format!(
                "unknown mode {value:?}; expected one of {}",
                names.join(", ")
            )
        })
    }
}

/// plaza: a virtual-conference backend — schedule, magic-link login, My Schedule, content and live features.
#[derive(Debug, Parser)]
#[command(name = "plaza", version, about, after_help = plaza_core::config::env_help())]
pub struct Cli {
    /// Process role; overrides PLAZA_MODE.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// With --mode fetch-users: rebuild the allow-list from scratch.
    #[arg(long)]
    pub full: bool,

    /// With --mode fetch-content: import this local folder (holding settings.json) instead of the git remote.
    #[arg(long, value_name = "PATH")]
    pub local: Option<std::path::PathBuf>,

    /// A development or maintenance command instead of a mode.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Utilities that run instead of a mode.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print `.env.example`, generated from the configuration table.
    EnvExample,
    /// Print a new Web Push (VAPID) key pair: the VAPID_PRIVATE_KEY line and the public key browsers get.
    VapidKeygen,
    /// Stored schedule versions: list them, or publish an earlier one again (rollback).
    Schedule {
        /// What to do.
        #[command(subcommand)]
        action: VersionAction,
    },
    /// Stored content versions: list them, or publish an earlier one again (rollback).
    Content {
        /// What to do.
        #[command(subcommand)]
        action: VersionAction,
    },
    /// Write the published schedule, what's on, content, settings, links and attendance as JSON files for a
    /// read-only static site.
    Export {
        /// The folder to write (created if missing; files are replaced atomically).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Import the bundled demo event (a plausible 3-day conference) whatever PRETALX_* says; for tests and demos.
    FakeSchedule,
    /// Print a list from the configured Tito event as raw JSON (to inspect what fetch-users reads).
    Tito {
        /// What to list.
        #[arg(value_enum)]
        list: TitoList,
    },
    /// Add N fake complete tickets (attendee-<i>@example.org) to the allow-list and print their emails; for local
    /// data.
    FakeTito {
        /// How many tickets.
        #[arg(long, default_value_t = 10)]
        count: u32,
    },
    /// Mint an auth token for EMAIL (creating a verified attendee if needed) and print it with the client sign-in
    /// URL; for development and support.
    DevToken {
        /// The attendee's email.
        email: String,
        /// Roles to grant (repeatable): admin, facilitator, attendee.
        #[arg(long = "role", default_value = "attendee")]
        roles: Vec<String>,
    },
}

/// `plaza tito …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TitoList {
    /// The event's complete and void tickets (what fetch-users reads).
    Tickets,
    /// The event's registrations (orders).
    Registrations,
    /// The account's events.
    Events,
}

/// `plaza schedule …` and `plaza content …`.
#[derive(Debug, Subcommand)]
pub enum VersionAction {
    /// List the newest stored versions, marking the served one.
    Versions {
        /// How many to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Publish stored version ID again, making it the served schedule.
    Rollback {
        /// The version id (see `plaza schedule versions`).
        id: i64,
    },
}
