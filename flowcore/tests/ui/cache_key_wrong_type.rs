use flowcore::prelude::*;

fn key(month: &str) -> String {
    month.to_string()
}

#[task(cache_key = key)]
fn load(month: String) -> usize {
    month.len()
}

fn main() {}
