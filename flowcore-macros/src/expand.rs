//! Code generation shared by the `#[task]` and `#[flow]` expansions (`expand_task`, `expand_flow`):
//! parameters, return types, docs, policies and persistence as tokens that call the flowcore runtime.
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

use crate::attr::{Args, Policy};

/// One parameter of the user's function.
pub(crate) struct Param {
    pub(crate) ident: syn::Ident,
    pub(crate) ty: Type,
}

/// What a body returns: its value type, and whether it is a `Result` to unwrap into the run's outcome.
pub(crate) struct Output {
    pub(crate) value: Type,
    pub(crate) fallible: bool,
}

pub(crate) fn params(item: &ItemFn, what: &str) -> syn::Result<Vec<Param>> {
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

/// The parameters' identifiers, and their names as runs record them (`r#type` is `type`).
pub(crate) fn param_names(params: &[Param]) -> (Vec<&syn::Ident>, Vec<String>) {
    let names: Vec<_> = params.iter().map(|p| &p.ident).collect();
    let strs = names.iter().map(|n| n.unraw().to_string()).collect();
    (names, strs)
}

pub(crate) fn output(ret: &ReturnType) -> Output {
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
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The `name = "…"` of the attribute, or the function's name.
pub(crate) fn display_name(args: &Args, ident: &syn::Ident) -> TokenStream {
    match &args.name {
        Some(l) => quote!(#l),
        None => {
            let s = ident.unraw().to_string();
            quote!(#s)
        }
    }
}

pub(crate) fn split_docs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    attrs.iter().partition(|a| a.path().is_ident("doc"))
}

pub(crate) fn opt_str(lit: &Option<syn::LitStr>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

pub(crate) fn retry_delay(args: &Args) -> TokenStream {
    match &args.retry_delay {
        Some(expr) => quote_spanned!(expr.span()=> ::flowcore::__private::retry_delay(#expr)),
        None => quote!(::core::default::Default::default()),
    }
}

/// The spec assignments of the run controls both macros share: jitter, retry condition, timeout,
/// state hooks. `hook` is the hooks' fn-pointer type.
pub(crate) fn controls(args: &Args, hook: TokenStream) -> TokenStream {
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
pub(crate) fn source_hash(item: &ItemFn) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    quote!(#item).to_string().hash(&mut h);
    h.finish()
}

/// The spec assignments of `persist_result` and the cache settings, and the expression of the
/// task call's codec: required (a compile error naming the type) when the task persists, found by
/// probing otherwise (a flow's `persist_result` may apply to serde types).
pub(crate) fn persistence(args: &Args, item: &ItemFn, value: &Type) -> (TokenStream, TokenStream) {
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
pub(crate) fn named_in(lit: &syn::LitStr, params: &[Param]) -> syn::Result<Vec<syn::Ident>> {
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
pub(crate) fn convert(out: &Output, call: TokenStream) -> TokenStream {
    if out.fallible {
        quote!(::core::result::Result::map_err(#call, ::flowcore::__private::into_anyhow))
    } else {
        quote!(::core::result::Result::Ok(#call))
    }
}

/// The visibility, seen from a module nested in the item's module, that equals the item's own.
pub(crate) fn vis_in_child(vis: &Visibility) -> TokenStream {
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
