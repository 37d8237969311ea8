use flowcore::prelude::*;

#[derive(Clone)]
struct Frame;

#[task(cache_policy = inputs)]
fn rows(frame: Frame) -> u64 {
    let _ = frame;
    1
}

fn main() {}
