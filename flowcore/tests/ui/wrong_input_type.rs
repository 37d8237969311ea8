use flowcore::prelude::*;

#[task]
fn length(s: String) -> usize {
    s.len()
}

#[flow]
async fn f() -> Result<usize, FlowError> {
    Ok(length(42u8).await?)
}

fn main() {}
