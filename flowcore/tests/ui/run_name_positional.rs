use flowcore::prelude::*;

#[flow(flow_run_name = "train-{}")]
async fn train(month: u32) -> u32 {
    month
}

fn main() {}
