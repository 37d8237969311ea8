use flowcore::prelude::*;

fn notify(message: &str) {
    println!("{message}");
}

#[task(on_failure = [notify])]
fn load() -> u32 {
    1
}

fn main() {}
