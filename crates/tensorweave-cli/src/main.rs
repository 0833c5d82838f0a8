//! The `tensorweave` command.

fn main() {
    eprintln!("tensorweave: no commands yet");
    std::process::exit(2);
}
