use flowcore::prelude::*;

struct Model {
    coef: Vec<f64>,
}

#[task(persist_result = true)]
fn fit() -> Model {
    Model { coef: vec![] }
}

fn main() {}
