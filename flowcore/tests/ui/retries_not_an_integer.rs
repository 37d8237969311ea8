use flowcore::prelude::*;

#[task(retries = "3")]
fn quoted() {}

fn main() {}
