//! The `#[task]` and `#[flow]` attribute macros of [flowcore](https://docs.rs/flowcore).
//!
//! This crate only parses attributes and rewrites syntax; everything it generates calls the flowcore
//! runtime. Use the macros through `flowcore` (`use flowcore::prelude::*;`), which re-exports them.

#![warn(missing_docs)]

mod attr;
mod expand;
mod expand_flow;
mod expand_task;

use proc_macro::TokenStream;
use syn::{parse_macro_input, ItemFn};

/// Turns a function (sync or async) into a task: calling it returns a `TaskCall` that runs as a tracked
/// task run when awaited, or on the flow's task runner when `.submit()`ted.
///
/// Arguments: `name = "…"`, `tags = ["…"]`, `retries = N`, `retry_delay = SECONDS` (integer, float, or
/// a `std::time::Duration` expression), `description = "…"`.
///
/// Every parameter accepts a value of its type, a `TaskFuture` of it, or a reference to one. The body
/// returns `T` or `Result<T, E>` where `E` converts into `anyhow::Error`. A task with retries needs
/// `Clone` arguments (each attempt gets the same inputs). `name::func(…)` calls the body untracked.
/// Tasks are module-level items.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as attr::TaskArgs);
    let item = parse_macro_input!(item as ItemFn);
    expand_task::task(args.0, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns an `async fn` into a flow: a value with `run(…)` (a tracked flow run giving a `FlowState`),
/// `call(…)` (its result), `run_blocking(…)`, `run_json(…)` (from JSON parameters) and `func(…)`
/// (the body, untracked).
///
/// Arguments: `name = "…"`, `version = "…"`, `description = "…"`, `tags = ["…"]`,
/// `task_runner = Sequential | Concurrent` (default `Concurrent`), `retries = N`,
/// `retry_delay = SECONDS`, `validate_parameters = true | false` (default `true`: parameters are serde
/// types, recorded as JSON and accepted from JSON).
#[proc_macro_attribute]
pub fn flow(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as attr::FlowArgs);
    let item = parse_macro_input!(item as ItemFn);
    expand_flow::flow(args.0, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
