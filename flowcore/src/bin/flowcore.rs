//! The `flowcore` command-line tool: see [`flowcore::cli`].

fn main() -> std::process::ExitCode {
    flowcore::cli::main()
}
