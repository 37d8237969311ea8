use flowcore::prelude::*;

fn always(_: &std::io::Error) -> bool {
    true
}

#[task(retries = 2, retry_if = always)]
fn load() -> u32 {
    1
}

fn main() {}
