// The checker allocates many small strings and maps (one binding per matched
// tensor); mimalloc makes `wmap check` on 10,000 tensors markedly faster than
// the system allocator does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`wmap plan ... | head`), as command-line
    // tools do, instead of panicking on the failed print.
    // SAFETY: restoring a signal's default action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    wmap::run(std::env::args_os())
}
