//! The `guichet` binary: parses the command line and hands over to the library.

/// mimalloc gives freed memory back to the system soon after (glibc's arenas kept ~50 MiB
/// of what parsing the tokenizer and building the sessions had freed, measured idle).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    guichet::cli::init_tracing();
    let cli = guichet::cli::parse();
    let code = match guichet::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    guichet::embedder::before_exit();
    std::process::exit(code);
}
