use flowcore::prelude::*;

#[task(cache_policy = task_source)]
fn load() -> u32 {
    1
}

fn main() {}
