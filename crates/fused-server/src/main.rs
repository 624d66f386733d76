//! The standalone `fused-server` binary: `fused-server [serve] [flags]` and
//! `fused-server admin create-user EMAIL [--data-dir DIR]`.

use std::process::ExitCode;

use fused_server::config::{parse_args, Command};
use fused_server::registry::Registry;

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fused-server: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("fused-server {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CreateUser { email, data_dir } => {
            let created = std::fs::create_dir_all(&data_dir)
                .map_err(|e| format!("data directory {}: {e}", data_dir.display()))
                .and_then(|()| Registry::open(&data_dir).map_err(|e| e.to_string()))
                .and_then(|r| r.create_user(&email).map_err(|e| e.to_string()));
            match created {
                Ok((user, key)) => {
                    println!("created user {} (id {})", user.email, user.id);
                    println!("API key (shown once; only its hash is kept):");
                    println!("{key}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fused-server admin create-user: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(config) => {
            fused_server::app::init_logging(config.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("fused-server: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(fused_server::app::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fused-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
