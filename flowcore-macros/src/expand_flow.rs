//! The `#[flow]` expansion: the flow's static spec and the value whose `run`, `call`,
//! `run_blocking`, `run_json` and `func` start tracked or untracked runs.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::attr::{Args, Runner};
use crate::expand::{
    controls, convert, display_name, local, named_in, opt_str, output, param_names, params,
    retry_delay, split_docs,
};

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
    let (names, name_strs) = param_names(&params);
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
