use flowcore::prelude::*;

#[task(name = 5)]
fn numbered() {}

fn main() {}
