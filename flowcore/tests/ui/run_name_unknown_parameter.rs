use flowcore::prelude::*;

#[task(task_run_name = "load-{pth}")]
fn load(path: String) -> usize {
    path.len()
}

fn main() {}
