use flowcore::prelude::*;

#[flow(task_runner = Parallel)]
async fn fast() {}

fn main() {}
