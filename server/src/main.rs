//! The `plaza` binary: parse the command line and configuration, then run the chosen mode or command.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage (one line naming the problem).

use std::process::ExitCode;

use clap::Parser;
use plaza_core::Config;
use plaza_server::cli::{Cli, Command, Mode};
use plaza_server::{modes, shutdown, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::EnvExample) = cli.command {
        // Needs no configuration: it documents it.
        print!("{}", plaza_core::config::env_example());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("plaza: {err}");
            return ExitCode::from(2);
        }
    };
    let mode = match cli
        .mode
        .map(Ok)
        .unwrap_or_else(|| Mode::parse(&config.mode))
    {
        Ok(mode) => mode,
        Err(reason) => {
            eprintln!("plaza: invalid environment variable PLAZA_MODE: {reason}");
            return ExitCode::from(2);
        }
    };
    if cli.full && (cli.command.is_some() || mode != Mode::FetchUsers) {
        eprintln!("plaza: --full only applies to --mode fetch-users");
        return ExitCode::from(2);
    }
    if cli.local.is_some() && (cli.command.is_some() || mode != Mode::FetchContent) {
        eprintln!("plaza: --local only applies to --mode fetch-content");
        return ExitCode::from(2);
    }
    let options = modes::Options {
        full: cli.full,
        local: cli.local.clone(),
    };
    telemetry::init_logs(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("plaza: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Some(command) => modes::run_command(command, config).await,
            None => modes::run(mode, options, config, shutdown::on_signal()).await,
        }
    });
    // Everything that matters has stopped in order by now; do not wait for a snapshot still being built on the
    // blocking pool (a rebuild of a large schedule takes seconds and its result would be thrown away).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err)
            if err
                .downcast_ref::<plaza_core::config::ConfigError>()
                .is_some() =>
        {
            eprintln!("plaza: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "plaza failed");
            eprintln!("plaza: {err:#}");
            ExitCode::FAILURE
        }
    }
}
