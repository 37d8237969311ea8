//! Code generation: parsed arguments + the user's function → tokens that call the flowcore runtime.
//!
//! Generated code names the runtime by absolute path (`::flowcore::…`) and holds no logic of its own:
//! it builds a static spec from the attribute, converts arguments, and hands boxed bodies to the runtime.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type, Visibility,
};

use crate::attr::{Args, Policy, Runner};

/// One parameter of the user's function.
struct Param {
    ident: syn::Ident,
    ty: Type,
}

/// What a body returns: its value type, and whether it is a `Result` to unwrap into the run's outcome.
struct Output {
    value: Type,
    fallible: bool,
}

fn params(item: &ItemFn, what: &str) -> syn::Result<Vec<Param>> {
    if !item.sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.sig.generics.span(),
            format!("{what} functions cannot be generic: give the parameters concrete types"),
        ));
    }
    if let Some(variadic) = &item.sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            format!("{what} functions cannot be variadic"),
        ));
    }
    item.sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Receiver(r) => Err(syn::Error::new(
                r.span(),
                format!("{what} must be a free function, not a method"),
            )),
            FnArg::Typed(pt) => {
                let ident = match &*pt.pat {
                    Pat::Ident(pi) if pi.subpat.is_none() => pi.ident.clone(),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            format!("{what} parameters must be plain names, e.g. `path: PathBuf`"),
                        ))
                    }
                };
                if let Type::ImplTrait(it) = &*pt.ty {
                    return Err(syn::Error::new(
                        it.span(),
                        format!("{what} parameters need concrete types, not `impl Trait`"),
                    ));
                }
                if let Type::Reference(r) = &*pt.ty {
                    return Err(syn::Error::new(
                        r.span(),
                        format!("{what} parameters must be owned values (runs outlive the caller's borrows)"),
                    ));
                }
                Ok(Param {
                    ident,
                    ty: (*pt.ty).clone(),
                })
            }
        })
        .collect()
}

fn output(ret: &ReturnType) -> Output {
    let ty = match ret {
        ReturnType::Default => {
            return Output {
                value: syn::parse_quote!(()),
                fallible: false,
            }
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Type::Path(tp) = &ty {
        if let Some(last) = tp.path.segments.last() {
            if last.ident == "Result" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    if let Some(GenericArgument::Type(value)) = args.args.first() {
                        return Output {
                            value: value.clone(),
                            fallible: true,
                        };
                    }
                }
            }
        }
    }
    Output {
        value: ty,
        fallible: false,
    }
}

/// A local of generated code that user code cannot see or shadow (mixed-site hygiene).
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The `name = "…"` of the attribute, or the function's name.
fn display_name(args: &Args, ident: &syn::Ident) -> TokenStream {
    match &args.name {
        Some(l) => quote!(#l),
        None => {
            let s = ident.unraw().to_string();
            quote!(#s)
        }
    }
}

fn split_docs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    attrs.iter().partition(|a| a.path().is_ident("doc"))
}

fn opt_str(lit: &Option<syn::LitStr>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

fn retry_delay(args: &Args) -> TokenStream {
    match &args.retry_delay {
        Some(expr) => quote_spanned!(expr.span()=> ::flowcore::__private::retry_delay(#expr)),
        None => quote!(::core::default::Default::default()),
    }
}

/// The spec assignments of the run controls both macros share: jitter, retry condition, timeout,
/// state hooks. `hook` is the hooks' fn-pointer type.
fn controls(args: &Args, hook: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(e) = &args.retry_jitter {
        out.extend(quote_spanned!(e.span()=>
            spec.retry_jitter = ::core::option::Option::Some(::flowcore::__private::jitter(#e));));
    }
    if let Some(path) = &args.retry_if {
        out.extend(quote_spanned!(path.span()=>
            spec.retry_if = ::core::option::Option::Some({
                let condition: ::flowcore::retry::RetryCondition = #path;
                condition
            });));
    }
    if let Some(e) = &args.timeout {
        out.extend(quote_spanned!(e.span()=>
            spec.timeout = ::core::option::Option::Some(::flowcore::__private::timeout(#e));));
    }
    for (key, paths) in &args.hooks {
        let field = format_ident!("{}", key);
        let checked = paths.iter().map(|p| quote_spanned!(p.span()=> #p));
        out.extend(quote! {
            spec.#field = {
                const HOOKS: &[#hook] = &[#(#checked),*];
                HOOKS
            };
        });
    }
    out
}

/// A hash of the task's source tokens: part of its cache keys, so editing the task invalidates them.
fn source_hash(item: &ItemFn) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    quote!(#item).to_string().hash(&mut h);
    h.finish()
}

/// The spec assignments of `persist_result` and the cache settings, and the expression of the
/// task call's codec: required (a compile error naming the type) when the task persists, found by
/// probing otherwise (a flow's `persist_result` may apply to serde types).
fn persistence(args: &Args, item: &ItemFn, value: &Type) -> (TokenStream, TokenStream) {
    let mut spec = TokenStream::new();
    let hash = source_hash(item);
    spec.extend(quote!(spec.source_hash = #hash;));
    if let Some(lit) = &args.persist_result {
        spec.extend(quote!(spec.persist_result = ::core::option::Option::Some(#lit);));
    }
    if let Some((policy, span)) = &args.cache_policy {
        let variant = match policy {
            Policy::Default => quote_spanned!(*span=> Default),
            Policy::Inputs => quote_spanned!(*span=> Inputs),
            Policy::None => quote_spanned!(*span=> None),
        };
        spec.extend(quote!(spec.cache_policy = ::flowcore::results::CachePolicy::#variant;));
    }
    if let Some(path) = &args.cache_key {
        spec.extend(quote_spanned!(path.span()=>
            spec.cache_policy = ::flowcore::results::CachePolicy::Key({
                let key: ::flowcore::results::CacheKeyFn = #path;
                key
            });));
    }
    if let Some(e) = &args.cache_expiration {
        spec.extend(quote_spanned!(e.span()=>
            spec.cache_expiration = ::core::option::Option::Some(::flowcore::__private::cache_expiration(#e));));
    }
    if let Some(lit) = &args.refresh_cache {
        spec.extend(quote!(spec.refresh_cache = #lit;));
    }
    let required = args.persist_result.as_ref().is_some_and(|l| l.value) || args.caches_inputs();
    // A type holding a reference (`&'static str`) is never `DeserializeOwned`, and probing it would
    // be a lifetime error rather than a miss: it gets no codec.
    let borrows = quote!(#value).to_string().contains('&');
    let codec = if required {
        quote_spanned!(value.span()=> ::flowcore::__private::persistable::<#value>())
    } else if borrows {
        quote!(::core::option::Option::None)
    } else {
        quote! {{
            #[allow(unused_imports)]
            use ::flowcore::__private::{ViaNoCodec as _, ViaSerdeCodec as _};
            (&::flowcore::__private::CodecProbe::<#value>::new()).codec()
        }}
    };
    (spec, codec)
}

/// The parameters a `task_run_name` / `flow_run_name` format string names (`{p}`, `{p:?}`); a
/// positional `{}` is an error on the string. Names that are not parameters are left to the
/// compiler, which reports them on the string.
fn named_in(lit: &syn::LitStr, params: &[Param]) -> syn::Result<Vec<syn::Ident>> {
    let text = lit.value();
    let mut used = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                chars.next();
            }
            '{' => {
                let name: String = chars
                    .by_ref()
                    .map(|(_, c)| c)
                    .take_while(|c| *c != '}')
                    .collect();
                let name = name.split(':').next().unwrap_or("").trim().to_string();
                if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a run name names the parameters it shows, e.g. `\"load-{path:?}\"`; positional `{}` is not allowed",
                    ));
                }
                if let Some(p) = params.iter().find(|p| p.ident.unraw() == name) {
                    if !used.contains(&p.ident) {
                        used.push(p.ident.clone());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(used)
}

/// How generated code converts the body's return value into `anyhow::Result<value>`.
fn convert(out: &Output, call: TokenStream) -> TokenStream {
    if out.fallible {
        quote!(::core::result::Result::map_err(#call, ::flowcore::__private::into_anyhow))
    } else {
        quote!(::core::result::Result::Ok(#call))
    }
}

/// The visibility, seen from a module nested in the item's module, that equals the item's own.
fn vis_in_child(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Public(_) => quote!(pub),
        Visibility::Inherited => quote!(pub(super)),
        Visibility::Restricted(r) => {
            let path = &r.path;
            let first = path.segments.first().map(|s| s.ident.to_string());
            match first.as_deref() {
                Some("crate") => quote!(pub(in #path)),
                Some("self") if path.segments.len() == 1 => quote!(pub(super)),
                _ => quote!(pub(in super::#path)),
            }
        }
    }
}

/// Task runs on task workers: the body a call takes when it is sent to the workers (inside
/// `task::delay` or a `Distributed` flow run, when every parameter and the value are serde types,
/// probed so every task still compiles), and the task's `delay` (queue a run) and `remote` (what
/// a worker serves) — both requiring serde types at the caller (bounds checked where used).
#[allow(clippy::too_many_arguments)]
fn remote(
    params: &[Param],
    out: &Output,
    local_body: TokenStream,
    codec_var: &Ident,
    inputs: &[TokenStream],
    ident: &syn::Ident,
    name: &TokenStream,
    vis: &Visibility,
) -> (TokenStream, TokenStream, TokenStream) {
    let value = &out.value;
    let tys: Vec<_> = params.iter().map(|p| &p.ty).collect();
    let names: Vec<_> = params.iter().map(|p| &p.ident).collect();
    let name_strs: Vec<_> = names.iter().map(|n| n.unraw().to_string()).collect();
    // Types holding references are never `DeserializeOwned`; probing them would be a lifetime
    // error rather than a miss.
    let borrows = std::iter::once(quote!(#value))
        .chain(tys.iter().map(|t| quote!(#t)))
        .any(|t| t.to_string().contains('&'));
    let body = if borrows {
        local_body
    } else {
        let map = local("__remote_args");
        quote! {{
            #[allow(unused_imports)]
            use ::flowcore::__private::{ViaOpaqueArg as _, ViaSerdeArg as _};
            if ::flowcore::__private::remote_mode()
                #(&& (&::flowcore::__private::ArgProbe::<#tys>::new()).sendable())*
                && #codec_var.is_some()
            {
                ::flowcore::__private::Body::Remote(::std::boxed::Box::new(move || {
                    #(let #names = #names.__take();)*
                    #[allow(unused_mut)]
                    let mut #map = ::flowcore::__private::serde_json::Map::new();
                    #(#map.insert(
                        ::std::string::String::from(#name_strs),
                        (&::flowcore::__private::ArgProbe::<#tys>::new()).arg_json(&#names)?,
                    );)*
                    ::core::result::Result::Ok(::flowcore::__private::serde_json::Value::Object(#map))
                }))
            } else {
                #local_body
            }
        }}
    };
    let serde = quote!(
        ::flowcore::__private::serde::Serialize
            + ::flowcore::__private::serde::de::DeserializeOwned
    );
    let bounds = quote! {
        #(for<'__fc> #tys: #serde,)*
        for<'__fc> #value: #serde + ::core::marker::Send + ::core::marker::Sync + 'static,
    };
    let delay_fn = format_ident!("__flowcore_delay_{}", ident);
    let remote_fn = format_ident!("__flowcore_remote_{}", ident);
    let delay_doc = format!("Sends a run of the task [`{ident}()`] to the task workers and gives its future at once (Prefect's `task.delay`): a worker serving `{ident}::remote()` runs it; its value comes back through the result storage. The parameters and the value must be serde types. Call inside a tokio runtime.");
    let remote_doc = format!("The task [`{ident}()`] as a task worker serves it: `flowcore::task_worker::serve([{ident}::remote()])`. The parameters and the value must be serde types.");
    let (claimed, args, e) = (local("__claimed"), local("__args"), local("__e"));
    let defs = quote! {
        #[doc = #delay_doc]
        #[allow(clippy::too_many_arguments)]
        #vis fn #delay_fn(#(#inputs),*) -> ::flowcore::TaskFuture<#value>
        where
            #bounds
        {
            ::flowcore::__private::delay(move || #ident(#(#names),*))
        }

        #[doc = #remote_doc]
        #vis fn #remote_fn() -> ::flowcore::task_worker::RemoteTask
        where
            #bounds
        {
            ::flowcore::task_worker::RemoteTask::__new(#name, |#claimed| {
                #[allow(clippy::redundant_closure_call)]
                let #args = (|| -> ::core::result::Result<(#(#tys,)*), ::std::string::String> {
                    ::core::result::Result::Ok((
                        #(::flowcore::__private::arg_from_json::<#tys>(&#claimed, #name_strs)?,)*
                    ))
                })();
                match #args {
                    ::core::result::Result::Ok((#(#names,)*)) => {
                        ::flowcore::__private::run_claimed(#ident(#(#names),*), #claimed)
                    }
                    ::core::result::Result::Err(#e) => {
                        ::flowcore::__private::bad_arguments(#name, #claimed, #e)
                    }
                }
            })
        }
    };
    let child_vis = vis_in_child(vis);
    let uses = quote! {
        #[doc(inline)]
        #child_vis use super::#delay_fn as delay;
        #[doc(inline)]
        #child_vis use super::#remote_fn as remote;
    };
    (body, defs, uses)
}

pub(crate) fn task(args: Args, item: ItemFn) -> syn::Result<TokenStream> {
    let params = params(&item, "task")?;
    let retries = args.retries()?;
    let out = output(&item.sig.output);
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let raw = format_ident!("__flowcore_task_{}", ident);
    let (docs, other_attrs) = split_docs(&item.attrs);
    let name = display_name(&args, ident);
    let tags = &args.tags;
    let description = opt_str(&args.description);
    let delay = retry_delay(&args);
    let value = &out.value;
    let names: Vec<_> = params.iter().map(|p| &p.ident).collect();
    let name_strs: Vec<_> = names.iter().map(|n| n.unraw().to_string()).collect();
    let inputs: Vec<_> = params
        .iter()
        .map(|p| {
            let (i, t) = (&p.ident, &p.ty);
            quote_spanned!(t.span()=> #i: impl ::flowcore::IntoTaskInput<#t>)
        })
        .collect();
    let get = if retries > 0 {
        quote!(__clone)
    } else {
        quote!(__take)
    };
    let take_args = params.iter().map(|p| {
        let i = &p.ident;
        quote_spanned!(p.ty.span()=> let #i = #i.#get();)
    });
    // Once the arguments are taken: the run context's parameters, and a `task_run_name` that
    // could not render at creation (it shows an upstream's value).
    let writer = local("__params_writer");
    let late_name = match &args.run_name {
        Some(lit) => quote!(::flowcore::__private::name_task_run_late(|| ::std::format!(#lit));),
        None => quote!(),
    };
    let take_args = quote! {
        #(#take_args)*
        ::flowcore::__private::note_task_parameters(|#writer| {
            #[allow(unused_imports)]
            use ::flowcore::__private::{ViaOpaqueParam as _, ViaSerdeParam as _};
            #((&::flowcore::__private::ParamProbe(&#names)).write_param(#writer, #name_strs);)*
            let _ = &#writer;
        });
        #late_name
    };
    let body = if item.sig.asyncness.is_some() {
        let result = convert(&out, quote!(#raw(#(#names),*).await));
        quote! {
            ::flowcore::__private::Body::Async(::std::boxed::Box::new(move || {
                #take_args
                ::std::boxed::Box::pin(async move { #result })
            }))
        }
    } else if args.timeout.is_some() {
        // Each attempt's arguments are taken here; the call runs on a thread of its own.
        let result = convert(&out, quote!(#raw(#(#names),*)));
        quote! {
            ::flowcore::__private::Body::SyncTimed(::std::boxed::Box::new(move || {
                #take_args
                ::std::boxed::Box::new(move || #result)
            }))
        }
    } else {
        let result = convert(&out, quote!(#raw(#(#names),*)));
        quote! {
            ::flowcore::__private::Body::Sync(::std::boxed::Box::new(move || {
                #take_args
                #result
            }))
        }
    };
    let task_controls = controls(&args, quote!(::flowcore::task::TaskHook));
    let (persist_spec, codec) = persistence(&args, &item, value);
    let codec_var = local("__codec");
    let (body, remote_defs, remote_uses) =
        remote(&params, &out, body, &codec_var, &inputs, ident, &name, vis);
    let inputs_var = local("__cache_inputs");
    let (make_inputs, cache_inputs) = if args.caches_inputs() {
        let sources = params.iter().map(|p| {
            let (i, s) = (&p.ident, p.ident.unraw().to_string());
            quote_spanned!(p.ty.span()=> .with(#s, #i.__json_source()))
        });
        (
            quote!(let #inputs_var = ::flowcore::__private::CacheInputs::default() #(#sources)*;),
            quote!(.__cache_inputs(#inputs_var)),
        )
    } else {
        (quote!(), quote!())
    };
    let run_name = local("__run_name");
    let name_run = match &args.run_name {
        None => quote!(let #run_name = ::core::option::Option::None;),
        Some(lit) => {
            let used = named_in(lit, &params)?;
            quote! {
                // Rendered when every parameter it shows is known (an upstream still running is not).
                let #run_name: ::core::option::Option<::std::string::String> = (|| {
                    #(let #used = #used.__peek()?; let #used = &*#used;)*
                    ::core::option::Option::Some(::std::format!(#lit))
                })();
            }
        }
    };
    let mut raw_fn = item.clone();
    raw_fn.sig.ident = raw.clone();
    raw_fn.attrs = other_attrs.into_iter().cloned().collect();
    let child_vis = vis_in_child(vis);
    let edges = local("__edges");
    let mod_doc = format!("The untracked body of the task [`{ident}()`], like Prefect's `task.fn`: `{ident}::func(…)` calls the function itself, with no run, state or retries.");
    let call_doc = if docs.is_empty() {
        let d = format!("Calls the task `{ident}`: returns a [`TaskCall`](::flowcore::TaskCall) to `.await` (run now) or `.submit()` (run on the flow's task runner).");
        quote!(#[doc = #d])
    } else {
        quote!(#(#docs)*)
    };

    // `task::map(items)`: one submitted run per item (Prefect's `task.map`); several parameters
    // take tuples, so what is mapped and what is passed unchanged is the caller's closure.
    let map_fn = format_ident!("__flowcore_map_{}", ident);
    let map_doc = format!("Submits one run of the task [`{ident}()`] per item and returns their futures, in order (Prefect's `task.map`). With several parameters, each item is a tuple of the arguments: `{ident}::map(xs.into_iter().map(|x| (x, factor)))` maps `x` and passes `factor` to every run.");
    let map_def = if params.is_empty() {
        quote!()
    } else {
        let arg_tys: Vec<_> = (0..params.len())
            .map(|i| format_ident!("__A{}", i))
            .collect();
        let arg_names: Vec<_> = (0..params.len())
            .map(|i| format_ident!("__a{}", i))
            .collect();
        let tys = params.iter().map(|p| &p.ty);
        let (item_ty, pattern) = if params.len() == 1 {
            let (t, a) = (&arg_tys[0], &arg_names[0]);
            (quote!(#t), quote!(#a))
        } else {
            (quote!((#(#arg_tys,)*)), quote!((#(#arg_names,)*)))
        };
        quote! {
            #[doc = #map_doc]
            #[allow(clippy::type_complexity)]
            #vis fn #map_fn<__I, #(#arg_tys,)* __R>(items: __I) -> ::std::vec::Vec<::flowcore::TaskFuture<__R>>
            where
                __I: ::core::iter::IntoIterator<Item = #item_ty>,
                #(#arg_tys: ::flowcore::IntoTaskInput<#tys>,)*
                ::flowcore::TaskCall<#value>: ::flowcore::__private::Submit<__R>,
            {
                items
                    .into_iter()
                    .map(|#pattern| ::flowcore::__private::Submit::submit_now(#ident(#(#arg_names),*)))
                    .collect()
            }
        }
    };
    let map_use = if params.is_empty() {
        quote!()
    } else {
        quote! {
            #[doc(inline)]
            #child_vis use super::#map_fn as map;
        }
    };

    Ok(quote! {
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments)]
        #raw_fn

        #map_def

        #remote_defs

        #call_doc
        #[allow(clippy::too_many_arguments)]
        #vis fn #ident(#(#inputs),*) -> ::flowcore::TaskCall<#value> {
            static SPEC: ::std::sync::LazyLock<::flowcore::TaskSpec> =
                ::std::sync::LazyLock::new(|| {
                    let mut spec = ::flowcore::TaskSpec::new(#name);
                    spec.tags = &[#(#tags),*];
                    spec.retries = #retries;
                    spec.retry_delay = #delay;
                    spec.description = #description;
                    #task_controls
                    #persist_spec
                    spec
                });
            #(let mut #names = ::flowcore::IntoTaskInput::into_task_input(#names);)*
            #[allow(unused_mut)]
            let mut #edges = ::flowcore::__private::Edges::default();
            #(#names.__register(#name_strs, &mut #edges);)*
            #name_run
            #make_inputs
            let #codec_var = #codec;
            ::flowcore::TaskCall::__new(&SPEC, #edges, #body)
                .__named(#run_name)
                .__codec(#codec_var)
                #cache_inputs
        }

        #[doc = #mod_doc]
        #vis mod #ident {
            #[doc(inline)]
            #child_vis use super::#raw as func;
            #map_use
            #remote_uses
        }
    })
}

pub(crate) fn flow(args: Args, item: ItemFn) -> syn::Result<TokenStream> {
    if item.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            item.sig.fn_token.span(),
            "a flow must be an `async fn`: write `async fn` (tasks inside it are awaited or submitted)",
        ));
    }
    let params = params(&item, "flow")?;
    let retries = args.retries()?;
    let out = output(&item.sig.output);
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let (docs, other_attrs) = split_docs(&item.attrs);
    let name = display_name(&args, ident);
    let tags = &args.tags;
    let description = opt_str(&args.description);
    let version = opt_str(&args.version);
    let delay = retry_delay(&args);
    let runner = match args.task_runner {
        Some((Runner::Sequential, span)) => {
            quote_spanned!(span=> ::flowcore::TaskRunner::Sequential)
        }
        Some((Runner::Concurrent, span)) => {
            quote_spanned!(span=> ::flowcore::TaskRunner::Concurrent)
        }
        Some((Runner::Distributed, span)) => {
            quote_spanned!(span=> ::flowcore::TaskRunner::Distributed)
        }
        None => quote!(::flowcore::TaskRunner::Concurrent),
    };
    let (params_map, args_var, p, parsed, body_var) = (
        local("__params"),
        local("__args"),
        local("__p"),
        local("__parsed"),
        local("__body"),
    );
    let validate = args.validate_parameters.as_ref().is_none_or(|b| b.value);
    let value = &out.value;
    let names: Vec<_> = params.iter().map(|p| &p.ident).collect();
    let name_strs: Vec<_> = names.iter().map(|n| n.unraw().to_string()).collect();
    let typed: Vec<_> = params
        .iter()
        .map(|p| {
            let (i, t) = (&p.ident, &p.ty);
            quote!(#i: #t)
        })
        .collect();
    let record_params = params.iter().map(|p| {
        let (i, t) = (&p.ident, &p.ty);
        let s = i.unraw().to_string();
        if validate {
            quote_spanned!(t.span()=> #params_map.insert(#s.to_string(), ::flowcore::__private::to_param_json::<#t>(&#i));)
        } else {
            quote!(#params_map.insert(#s.to_string(), ::flowcore::__private::opaque_param(&#i));)
        }
    });
    let args_tuple = quote!((#(#names,)*));
    let get_args = if retries > 0 {
        quote!(::core::clone::Clone::clone(&#args_var))
    } else {
        quote!(#args_var
            .take()
            .expect("flowcore: a flow without retries ran its body twice"))
    };
    let hold_args = if retries > 0 {
        quote!(let #args_var = #args_tuple;)
    } else {
        quote!(let mut #args_var = ::core::option::Option::Some(#args_tuple);)
    };
    let result = convert(&out, quote!(Self::func(#(#names),*).await));
    let json_entry = if validate {
        let takes = params.iter().map(|param| {
            let (t, s) = (&param.ty, param.ident.unraw().to_string());
            quote_spanned!(t.span()=> #p.take::<#t>(#s)?,)
        });
        quote! {
            /// Runs the flow from JSON parameters (as a deployment does). Parameters that do not fit
            /// make the run `Failed` with a message naming the parameter and field; nothing panics.
            #vis fn run_json(
                &self,
                parameters: ::flowcore::__private::serde_json::Value,
            ) -> ::flowcore::__private::BoxFuture<'static, ::flowcore::FlowState<#value>> {
                self.__run_json_as(::core::option::Option::None, parameters)
            }

            #[doc(hidden)]
            #vis fn __run_json_as(
                &self,
                identity: ::core::option::Option<::flowcore::flow::FlowRunIdentity>,
                parameters: ::flowcore::__private::serde_json::Value,
            ) -> ::flowcore::__private::BoxFuture<'static, ::flowcore::FlowState<#value>> {
                let #parsed = (|| {
                    let mut #p = ::flowcore::__private::JsonParameters::new(&parameters, self.spec().parameters)?;
                    ::core::result::Result::Ok::<_, ::flowcore::ParameterError>((#(#takes)*))
                })();
                match #parsed {
                    ::core::result::Result::Ok(#args_tuple) => self.__run_as(identity, #(#names),*),
                    ::core::result::Result::Err(e) => ::flowcore::__private::run_flow(
                        self.spec(),
                        identity,
                        ::core::option::Option::None,
                        parameters,
                        ::core::result::Result::Err(e),
                        ::core::option::Option::None,
                    ),
                }
            }
        }
    } else {
        quote!()
    };
    // Runnable by name (deployments, agents): name, parameter schema and a JSON entry.
    let registration = if validate {
        let schema_props = params.iter().map(|param| {
            let (t, s) = (&param.ty, param.ident.unraw().to_string());
            quote_spanned!(t.span()=> (#s, (&::flowcore::__private::SchemaProbe::<#t>(::core::marker::PhantomData)).parameter_schema(&mut generator)),)
        });
        quote! {
            ::flowcore::__private::inventory::submit! {
                ::flowcore::__private::RegisteredFlow {
                    spec: || #ident.spec(),
                    schema: || {
                        #[allow(unused_imports)]
                        use ::flowcore::__private::{ViaAnything as _, ViaJsonSchema as _};
                        #[allow(unused_mut)]
                        let mut generator = ::flowcore::__private::schemars::SchemaGenerator::default();
                        let properties = ::std::vec![#(#schema_props)*];
                        ::flowcore::__private::object_schema(generator, properties)
                    },
                    run_json: |identity, parameters| {
                        let run = #ident.__run_json_as(identity, parameters);
                        ::std::boxed::Box::pin(async move { run.await.map(|_| ()) })
                    },
                }
            }
        }
    } else {
        quote!()
    };
    let struct_docs = if docs.is_empty() {
        let d = format!("The flow `{ident}`: `{ident}.run(…)` runs it as a tracked flow run.");
        quote!(#[doc = #d])
    } else {
        quote!(#(#docs)*)
    };
    let flow_controls = controls(&args, quote!(::flowcore::flow::FlowHook));
    // A subflow with `persist_result = true` stores its value (a resumed parent reuses it).
    let flow_codec = if args.persist_result.as_ref().is_some_and(|l| l.value) {
        quote_spanned!(value.span()=> ::flowcore::__private::persistable::<#value>())
    } else {
        quote!(::core::option::Option::None)
    };
    let flow_persist = match &args.persist_result {
        Some(lit) => quote!(spec.persist_result = ::core::option::Option::Some(#lit);),
        None => quote!(),
    };
    let run_name = local("__run_name");
    let name_run = match &args.run_name {
        None => quote!(let #run_name = ::core::option::Option::None;),
        Some(lit) => {
            named_in(lit, &params)?;
            quote!(let #run_name = ::core::option::Option::Some(::std::format!(#lit));)
        }
    };
    let block = &item.block;
    let output_ty = &item.sig.output;
    let validate_lit = validate;

    Ok(quote! {
        #struct_docs
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ident;

        impl #ident {
            /// The flow's settings.
            #vis fn spec(&self) -> &'static ::flowcore::FlowSpec {
                static SPEC: ::std::sync::LazyLock<::flowcore::FlowSpec> =
                    ::std::sync::LazyLock::new(|| {
                        let mut spec = ::flowcore::FlowSpec::new(#name);
                        spec.version = #version;
                        spec.description = #description;
                        spec.runner = #runner;
                        spec.retries = #retries;
                        spec.retry_delay = #delay;
                        spec.validate_parameters = #validate_lit;
                        spec.parameters = &[#(#name_strs),*];
                        spec.tags = &[#(#tags),*];
                        #flow_persist
                        #flow_controls
                        spec
                    });
                &SPEC
            }

            /// The flow's body itself, untracked (like Prefect's `flow.fn`).
            #(#other_attrs)*
            #[allow(clippy::too_many_arguments)]
            #vis async fn func(#(#typed),*) #output_ty #block

            /// Runs the flow as a tracked flow run and returns its final [`FlowState`](::flowcore::FlowState).
            /// Inside another flow it runs as a subflow, linked to its parent.
            #[allow(clippy::too_many_arguments)]
            #vis fn run(&self, #(#typed),*) -> ::flowcore::__private::BoxFuture<'static, ::flowcore::FlowState<#value>> {
                self.__run_as(::core::option::Option::None, #(#names),*)
            }

            #[doc(hidden)]
            #[allow(clippy::too_many_arguments)]
            #vis fn __run_as(&self, identity: ::core::option::Option<::flowcore::flow::FlowRunIdentity>, #(#typed),*) -> ::flowcore::__private::BoxFuture<'static, ::flowcore::FlowState<#value>> {
                #[allow(unused_mut)]
                let mut #params_map = ::flowcore::__private::serde_json::Map::new();
                #(#record_params)*
                #name_run
                #hold_args
                let #body_var: ::flowcore::__private::FlowBody<#value> = ::std::boxed::Box::new(move || {
                    let #args_tuple = #get_args;
                    ::std::boxed::Box::pin(async move { #result })
                });
                ::flowcore::__private::run_flow(
                    self.spec(),
                    identity,
                    #run_name,
                    ::flowcore::__private::serde_json::Value::Object(#params_map),
                    ::core::result::Result::Ok(#body_var),
                    #flow_codec,
                )
            }

            /// Runs the flow and gives its result, or the flow run's error.
            #[allow(clippy::too_many_arguments)]
            #vis fn call(&self, #(#typed),*) -> impl ::std::future::Future<Output = ::core::result::Result<#value, ::flowcore::FlowRunError>> + Send + 'static {
                let run = self.run(#(#names),*);
                async move { run.await.result() }
            }

            /// Runs the flow on a fresh tokio runtime and blocks until it ends: for `main` without
            /// `#[tokio::main]`. Do not call it from inside an async runtime.
            #[allow(clippy::too_many_arguments)]
            #vis fn run_blocking(&self, #(#typed),*) -> ::flowcore::FlowState<#value> {
                ::flowcore::__private::block_on(self.run(#(#names),*))
            }

            #json_entry
        }

        impl ::flowcore::Flow for #ident {
            fn spec(&self) -> &'static ::flowcore::FlowSpec {
                #ident::spec(self)
            }
        }

        #registration
    })
}
