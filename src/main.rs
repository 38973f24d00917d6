//! The `confab` binary; all the work lives in the library.

fn main() -> std::process::ExitCode {
    confab::cli::main()
}
