fn main() -> std::process::ExitCode {
    wmap::run(std::env::args_os())
}
