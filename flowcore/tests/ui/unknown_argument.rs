use flowcore::prelude::*;

#[task(name = "x", retires = 3)]
fn misspelled() {}

fn main() {}
