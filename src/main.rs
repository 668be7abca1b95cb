//! The `guichet` binary: parses the command line and hands over to the library.

/// mimalloc gives freed memory back to the system soon after (glibc's arenas kept ~50 MiB
/// of what parsing the tokenizer and building the sessions had freed, measured idle).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
