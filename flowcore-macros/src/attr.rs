//! Parsing of `#[task(...)]` and `#[flow(...)]` arguments into typed settings.
//!
//! Each argument is `key = value`. An unknown key, a repeated key, or a value of the wrong kind is a
//! `syn::Error` on the offending token, saying what was expected.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Path, Token};

/// Which macro is parsing: the two accept different keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    Flow,
}

impl Kind {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Task => &[
                "name",
                "tags",
                "retries",
                "retry_delay",
                "retry_jitter",
                "retry_if",
                "timeout",
                "on_completion",
                "on_failure",
                "task_run_name",
                "description",
                "persist_result",
                "cache_policy",
                "cache_key",
                "cache_expiration",
                "refresh_cache",
            ],
            Kind::Flow => &[
                "name",
                "tags",
                "retries",
                "retry_delay",
                "retry_jitter",
                "retry_if",
                "timeout",
                "on_completion",
                "on_failure",
                "on_crashed",
                "on_cancellation",
                "flow_run_name",
                "description",
                "version",
                "task_runner",
                "validate_parameters",
                "persist_result",
            ],
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Task => "#[task]",
            Kind::Flow => "#[flow]",
        }
    }
}

/// The task runner named by `task_runner = …`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runner {
    Sequential,
    Concurrent,
    Distributed,
}

/// The cache policy named by `cache_policy = …`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Default,
    Inputs,
    None,
}

/// Parsed arguments of either macro.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) retries: Option<LitInt>,
    pub(crate) retry_delay: Option<Expr>,
    pub(crate) retry_jitter: Option<Expr>,
    pub(crate) retry_if: Option<Path>,
    pub(crate) timeout: Option<Expr>,
    /// `on_completion`, `on_failure`, `on_crashed`, `on_cancellation`, by key.
    pub(crate) hooks: Vec<(String, Vec<Path>)>,
    /// `task_run_name` or `flow_run_name`.
    pub(crate) run_name: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) version: Option<LitStr>,
    pub(crate) task_runner: Option<(Runner, Span)>,
    pub(crate) validate_parameters: Option<LitBool>,
    pub(crate) persist_result: Option<LitBool>,
    pub(crate) cache_policy: Option<(Policy, Span)>,
    pub(crate) cache_key: Option<Path>,
    pub(crate) cache_expiration: Option<Expr>,
    pub(crate) refresh_cache: Option<LitBool>,
}

impl Args {
    /// The number of retries (0 when absent).
    pub(crate) fn retries(&self) -> syn::Result<u32> {
        match &self.retries {
            None => Ok(0),
            Some(lit) => lit.base10_parse::<u32>(),
        }
    }

    /// Whether the cache policy reads the task's inputs (`cache_policy = inputs`, `cache_key`).
    pub(crate) fn caches_inputs(&self) -> bool {
        self.cache_key.is_some() || matches!(self.cache_policy, Some((Policy::Inputs, _)))
    }

    /// Caching settings that contradict each other are errors on the offending token.
    fn check_caching(&self) -> syn::Result<()> {
        if let (Some((_, span)), Some(_)) = (&self.cache_policy, &self.cache_key) {
            return Err(syn::Error::new(
                *span,
                "give either `cache_policy` or `cache_key`, not both",
            ));
        }
        if let Some(lit) = &self.persist_result {
            if !lit.value && self.caches_inputs() {
                return Err(syn::Error::new(
                    lit.span(),
                    "a cached task persists its result: remove `persist_result = false` or the cache policy",
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn parse(kind: Kind, input: ParseStream<'_>) -> syn::Result<Args> {
        let mut args = Args::default();
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            let key_str = key.to_string();
            if !kind.keys().contains(&key_str.as_str()) {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown {} argument `{key_str}`; expected one of: {}",
                        kind.what(),
                        kind.keys().join(", ")
                    ),
                ));
            }
            if seen.contains(&key_str) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("expected only a single `{key_str}` argument"),
                ));
            }
            seen.push(key_str.clone());
            input.parse::<Token![=]>()?;
            match key_str.as_str() {
                "name" => {
                    args.name = Some(lit_str(
                        input,
                        "name",
                        "a string literal, e.g. `name = \"Load\"`",
                    )?)
                }
                "description" => {
                    args.description = Some(lit_str(input, "description", "a string literal")?)
                }
                "version" => {
                    args.version = Some(lit_str(
                        input,
                        "version",
                        "a string literal, e.g. `version = \"1.0\"`",
                    )?)
                }
                "tags" => args.tags = tags(input)?,
                "retries" => {
                    let lit: LitInt = input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`retries` expects a non-negative integer literal, e.g. `retries = 3`",
                        )
                    })?;
                    lit.base10_parse::<u32>()?;
                    args.retries = Some(lit);
                }
                "retry_delay" => args.retry_delay = Some(input.parse()?),
                "retry_jitter" => args.retry_jitter = Some(input.parse()?),
                "timeout" => args.timeout = Some(input.parse()?),
                "retry_if" => {
                    args.retry_if = Some(input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`retry_if` expects the path of a `fn(&anyhow::Error) -> bool`, e.g. `retry_if = is_transient`",
                        )
                    })?)
                }
                "on_completion" | "on_failure" | "on_crashed" | "on_cancellation" => {
                    args.hooks.push((key_str.clone(), hooks(input, &key_str)?))
                }
                "task_run_name" | "flow_run_name" => {
                    args.run_name = Some(lit_str(
                        input,
                        &key_str,
                        "a format string over the parameters, e.g. `\"load-{path:?}\"`",
                    )?)
                }
                "task_runner" => {
                    let ident: Ident = input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`task_runner` expects `Sequential`, `Concurrent` or `Distributed`",
                        )
                    })?;
                    let runner = match ident.to_string().as_str() {
                        "Sequential" => Runner::Sequential,
                        "Concurrent" => Runner::Concurrent,
                        "Distributed" => Runner::Distributed,
                        other => {
                            return Err(syn::Error::new(
                                ident.span(),
                                format!("unknown task runner `{other}`; expected `Sequential`, `Concurrent` or `Distributed`"),
                            ))
                        }
                    };
                    args.task_runner = Some((runner, ident.span()));
                }
                "validate_parameters" => {
                    args.validate_parameters = Some(input.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`validate_parameters` expects `true` or `false`")
                    })?)
                }
                "persist_result" | "refresh_cache" => {
                    let value: LitBool = input.parse().map_err(|e| {
                        syn::Error::new(e.span(), format!("`{key_str}` expects `true` or `false`"))
                    })?;
                    if key_str == "persist_result" {
                        args.persist_result = Some(value);
                    } else {
                        args.refresh_cache = Some(value);
                    }
                }
                "cache_policy" => {
                    let expected =
                        "`cache_policy` expects `inputs`, `default` or `none`, e.g. `cache_policy = inputs`";
                    let ident: Ident = input
                        .parse()
                        .map_err(|e| syn::Error::new(e.span(), expected))?;
                    let policy = match ident.to_string().as_str() {
                        "inputs" => Policy::Inputs,
                        "default" => Policy::Default,
                        "none" => Policy::None,
                        _ => return Err(syn::Error::new(ident.span(), expected)),
                    };
                    args.cache_policy = Some((policy, ident.span()));
                }
                "cache_key" => {
                    args.cache_key = Some(input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`cache_key` expects the path of a `fn(&serde_json::Value) -> String`, e.g. `cache_key = by_month`",
                        )
                    })?)
                }
                "cache_expiration" => args.cache_expiration = Some(input.parse()?),
                _ => unreachable!("every accepted key is handled"),
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        args.check_caching()?;
        Ok(args)
    }
}

fn lit_str(input: ParseStream<'_>, key: &str, expected: &str) -> syn::Result<LitStr> {
    input
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` expects {expected}")))
}

fn hooks(input: ParseStream<'_>, key: &str) -> syn::Result<Vec<Path>> {
    let expected = format!("`{key}` expects a list of hook functions, e.g. `{key} = [notify]`");
    let content;
    syn::bracketed!(content in input);
    let list = syn::punctuated::Punctuated::<Path, Token![,]>::parse_terminated(&content)
        .map_err(|e| syn::Error::new(e.span(), &expected))?;
    Ok(list.into_iter().collect())
}

fn tags(input: ParseStream<'_>) -> syn::Result<Vec<LitStr>> {
    let content;
    syn::bracketed!(content in input);
    let list = content.parse_terminated(
        |p: ParseStream<'_>| {
            p.parse::<LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`tags` expects a list of string literals, e.g. `tags = [\"io\"]`",
                )
            })
        },
        Token![,],
    )?;
    Ok(list.into_iter().collect())
}

/// `#[task(...)]` arguments.
pub(crate) struct TaskArgs(pub(crate) Args);

impl Parse for TaskArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Args::parse(Kind::Task, input).map(TaskArgs)
    }
}

/// `#[flow(...)]` arguments.
pub(crate) struct FlowArgs(pub(crate) Args);

impl Parse for FlowArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Args::parse(Kind::Flow, input).map(FlowArgs)
    }
}
