//! The `guichet` binary: parses the command line and hands over to the library.

fn main() {
    guichet::cli::init_tracing();
    let cli = guichet::cli::parse();
    match guichet::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
