use flowcore::prelude::*;

#[task(retries = 1, retry_delay = "ten seconds")]
fn words() {}

fn main() {}
