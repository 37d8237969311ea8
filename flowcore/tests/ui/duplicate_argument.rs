use flowcore::prelude::*;

#[task(name = "a", name = "b")]
fn twice() {}

fn main() {}
