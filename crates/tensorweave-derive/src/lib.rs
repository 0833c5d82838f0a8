//! `#[derive(LayerConfig)]`: the builder boilerplate of a tensorweave layer,
//! written once (burn's `Config` derive is the model).
//!
//! On a struct with named fields, it generates:
//! - `Default`, from `#[config(default = EXPR)]` on each field (others take
//!   their type's default): the layer's Keras defaults in one place;
//! - one setter per field, documented with the field's own doc comment; a
//!   field of type `Option<T>` gets a setter taking `T`; `#[config(skip)]`
//!   leaves a field without setter (the layer writes its own);
//! - with a field `common: Common`, the options every layer has: `name`,
//!   `seed` (unless the struct has its own `seed` field, as `Dropout`), and
//!   `weights` (unless the struct says `#[layer(custom_weights)]`), plus the
//!   `LayerBuilder` impl that gives access to them;
//! - with `#[layer(LayerType)]` on the struct, `IntoLayer` for the builder,
//!   creating a `LayerType` (which implements `LayerClass`); with
//!   `#[layer(LayerType, class = "Name")]` also that `LayerClass` impl: the
//!   Keras class name, and a layer made of `config: Builder` with its other
//!   fields at their defaults (the layer type derives `Default`).
//!
//! Generated paths start at `::tensorweave_layers` unless the struct says
//! `#[layer(crate = path)]` (e.g. `tensorweave::layers` for users of the
//! facade crate).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{
    parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, Ident, Meta,
    Path, PathArguments, Type,
};

/// See the crate documentation.
#[proc_macro_derive(LayerConfig, attributes(config, layer))]
pub fn derive_layer_config(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct FieldSpec {
    ident: Ident,
    ty: Type,
    docs: Vec<Attribute>,
    default: Option<Expr>,
    skip: bool,
}

#[derive(Default)]
struct StructSpec {
    layer: Option<Type>,
    class: Option<syn::LitStr>,
    krate: Option<Path>,
    custom_weights: bool,
}

/// One argument of `#[layer(...)]`: `crate = path`, `custom_weights`,
/// `class = "Name"`, or the layer type (generic arguments allowed).
enum LayerArg {
    Crate(Path),
    CustomWeights,
    Class(syn::LitStr),
    Layer(Type),
}

impl syn::parse::Parse for LayerArg {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::Token![crate]) && input.peek2(syn::Token![=]) {
            input.parse::<syn::Token![crate]>()?;
            input.parse::<syn::Token![=]>()?;
            return Ok(LayerArg::Crate(input.parse()?));
        }
        let fork = input.fork();
        if let Ok(ident) = fork.parse::<Ident>() {
            if ident == "custom_weights" && (fork.is_empty() || fork.peek(syn::Token![,])) {
                input.parse::<Ident>()?;
                return Ok(LayerArg::CustomWeights);
            }
            if ident == "class" && fork.peek(syn::Token![=]) {
                input.parse::<Ident>()?;
                input.parse::<syn::Token![=]>()?;
                return Ok(LayerArg::Class(input.parse()?));
            }
        }
        Ok(LayerArg::Layer(input.parse()?))
    }
}

fn struct_spec(attrs: &[Attribute]) -> syn::Result<StructSpec> {
    let mut spec = StructSpec::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("layer")) {
        let args = attr.parse_args_with(
            syn::punctuated::Punctuated::<LayerArg, syn::Token![,]>::parse_terminated,
        )?;
        for arg in args {
            match arg {
                LayerArg::Crate(path) => spec.krate = Some(path),
                LayerArg::CustomWeights => spec.custom_weights = true,
                LayerArg::Class(name) => spec.class = Some(name),
                LayerArg::Layer(ty) => spec.layer = Some(ty),
            }
        }
    }
    Ok(spec)
}

fn field_spec(field: &syn::Field) -> syn::Result<FieldSpec> {
    let ident = field
        .ident
        .clone()
        .ok_or_else(|| syn::Error::new_spanned(field, "LayerConfig needs named fields"))?;
    let docs = field
        .attrs
        .iter()
        .filter(|a| matches!(&a.meta, Meta::NameValue(nv) if nv.path.is_ident("doc")))
        .cloned()
        .collect();
    let mut spec = FieldSpec {
        ident,
        ty: field.ty.clone(),
        docs,
        default: None,
        skip: false,
    };
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("config")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                spec.default = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("skip") {
                spec.skip = true;
            } else {
                return Err(meta.error("expected `default = EXPR` or `skip`"));
            }
            Ok(())
        })?;
    }
    Ok(spec)
}

/// `T` when `ty` is `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "LayerConfig is for structs"));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "LayerConfig needs named fields",
        ));
    };
    let spec = struct_spec(&input.attrs)?;
    let krate: Path = spec
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::tensorweave_layers));
    let fields = named
        .named
        .iter()
        .map(field_spec)
        .collect::<syn::Result<Vec<_>>>()?;
    let has_common = fields.iter().any(|f| f.ident == "common");
    let has_seed = fields.iter().any(|f| f.ident == "seed");

    let defaults = fields.iter().map(|f| {
        let ident = &f.ident;
        match &f.default {
            Some(expr) => quote!(#ident: #expr),
            None => quote!(#ident: ::core::default::Default::default()),
        }
    });

    let setters = fields
        .iter()
        .filter(|f| !f.skip && f.ident != "common")
        .map(|f| {
            let ident = &f.ident;
            let docs = &f.docs;
            let lead = format!("Sets `{ident}`.");
            match option_inner(&f.ty) {
                Some(inner) => quote! {
                    #[doc = #lead]
                    #[doc = ""]
                    #(#docs)*
                    pub fn #ident(mut self, #ident: #inner) -> Self {
                        self.#ident = ::core::option::Option::Some(#ident);
                        self
                    }
                },
                None => {
                    let ty = &f.ty;
                    quote! {
                        #[doc = #lead]
                        #[doc = ""]
                        #(#docs)*
                        pub fn #ident(mut self, #ident: #ty) -> Self {
                            self.#ident = #ident;
                            self
                        }
                    }
                }
            }
        });

    let common = if has_common {
        let seed = (!has_seed).then(|| {
            quote! {
                /// Seeds the initializers of the layer's weights (default: the
                /// thread's generator, see `set_random_seed`).
                pub fn seed(mut self, seed: u64) -> Self {
                    self.common.seed = ::core::option::Option::Some(seed);
                    self
                }
            }
        });
        let weights = (!spec.custom_weights).then(|| {
            quote! {
                /// Initial weights in Keras' `get_weights()` order (Keras'
                /// `weights=`), any array dimension; checked against the built
                /// weights when the layer is first called.
                pub fn weights<A: #krate::IntoArray>(
                    mut self,
                    weights: impl ::core::iter::IntoIterator<Item = A>,
                ) -> Self {
                    self.common.preset = ::core::option::Option::Some(
                        weights.into_iter().map(#krate::IntoArray::into_array).collect(),
                    );
                    self
                }
            }
        });
        quote! {
            /// Names the layer (default: its class name in snake case, then
            /// numbered: `dense`, `dense_1`, …).
            pub fn name(mut self, name: impl ::core::convert::Into<::std::string::String>) -> Self {
                self.common.name = ::core::option::Option::Some(name.into());
                self
            }
            #seed
            #weights
        }
    } else {
        Tokens::new()
    };

    let builder_impl = has_common.then(|| {
        quote! {
            impl #impl_generics #krate::LayerBuilder for #name #ty_generics #where_clause {
                fn common(&self) -> &#krate::Common {
                    &self.common
                }
                fn common_mut(&mut self) -> &mut #krate::Common {
                    &mut self.common
                }
                fn from_keras_config(
                    class: &str,
                    name: ::core::option::Option<&str>,
                    config: #krate::__private::Json,
                ) -> #krate::__private::Result<Self> {
                    #krate::config::parse(class, name, config)
                }
            }
        }
    });

    let into_layer = spec.layer.as_ref().map(|layer| {
        quote! {
            impl #impl_generics #krate::IntoLayer for #name #ty_generics #where_clause {
                fn into_layer(self) -> #krate::LayerRef {
                    #krate::into_layer::<#layer>(self)
                }
            }
        }
    });
    let class = match (&spec.layer, &spec.class) {
        (Some(layer), Some(class)) => quote! {
            impl #impl_generics #krate::LayerClass for #layer #where_clause {
                const CLASS_NAME: &'static str = #class;
                type Builder = #name #ty_generics;

                #[allow(clippy::needless_update)]
                fn from_builder(config: Self::Builder) -> Self {
                    #layer {
                        config,
                        ..::core::default::Default::default()
                    }
                }
            }
        },
        _ => Tokens::new(),
    };

    Ok(quote! {
        impl #impl_generics ::core::default::Default for #name #ty_generics #where_clause {
            fn default() -> Self {
                #name { #(#defaults,)* }
            }
        }

        impl #impl_generics #name #ty_generics #where_clause {
            #(#setters)*
            #common
        }

        #builder_impl
        #into_layer
        #class
    })
}
