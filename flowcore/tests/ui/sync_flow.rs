use flowcore::prelude::*;

#[flow]
fn not_async() {}

fn main() {}
