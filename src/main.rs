// The checker allocates many small strings and maps (one binding per matched
// tensor); mimalloc makes `wmap check` on 10,000 tensors markedly faster than
// the system allocator does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wmap::run(std::env::args_os())
}
