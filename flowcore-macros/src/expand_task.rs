//! The `#[task]` expansion: the task's static spec, its `TaskCall` builder, the untracked body
//! (`name::func`), `map`, and the task-worker side (`delay`, `remote`).

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{ItemFn, Visibility};

use crate::attr::Args;
use crate::expand::{
    controls, convert, display_name, local, named_in, opt_str, output, param_names, params,
    persistence, retry_delay, split_docs, vis_in_child, Output, Param,
};

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
    let (names, name_strs) = param_names(params);
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
    let (names, name_strs) = param_names(&params);
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
