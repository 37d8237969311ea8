use flowcore::prelude::*;

#[task(timeout = "2s")]
fn load() -> u32 {
    1
}

fn main() {}
