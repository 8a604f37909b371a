fn main() -> std::process::ExitCode {
    kiln_server::cli::main()
}
