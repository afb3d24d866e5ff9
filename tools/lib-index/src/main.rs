//! course-lib's public names, as an index the notebook kernel's Tab completion reads.
//!
//! The kernel links cells against course-lib's compiled library, which rust-analyzer (evcxr's
//! completion engine) does not see: making it see course-lib means loading burn's whole source
//! graph, 40 s and 0.5 GB per kernel. This reads course-lib's source once, at set-up
//! (`scripts/kernel_lib.py`), as rustc parses it (syn), and writes what a student completes:
//! each public type's fields, associated functions, methods (inherent ones and those of
//! course-lib's traits it implements) and variants; each module's items; the prelude's names.
//! The kernel's patch (`scripts/evcxr-inferred-types.patch`) answers `Type::`, `module::` and
//! `variable.` (a stored variable, by the type rustc gave it) from it without rust-analyzer.
//!
//! usage: lib-index COURSE_LIB_SRC_DIR OUT.json

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use quote::ToTokens;
use serde_json::{Value, json};

/// A public item of a module.
/// A function: (name, signature, whether it takes `self`).
type FnEntry = (String, String, bool);

#[derive(Clone)]
struct Item {
    name: String,
    kind: &'static str,
}

#[derive(Default)]
struct TypeInfo {
    name: String,
    kind: &'static str,
    fields: Vec<(String, String)>,
    variants: Vec<String>,
    functions: BTreeMap<String, String>,
    methods: BTreeMap<String, String>,
}

struct Impl {
    module: String,
    self_name: String,
    trait_name: Option<String>,
    functions: Vec<FnEntry>,
}

#[derive(Default)]
struct Index {
    types: BTreeMap<String, TypeInfo>,
    traits: BTreeMap<String, (String, Vec<FnEntry>)>,
    modules: BTreeMap<String, Vec<Item>>,
    impls: Vec<Impl>,
    /// (module, name or "*", target path): `pub use` re-exports.
    uses: Vec<(String, String, String)>,
    /// (module, alias, the aliased type's name): `pub type LinearAe = Autoencoder<Dense>;`.
    aliases: Vec<(String, String, String)>,
    /// The methods `compiled_training_methods!(Type)` gives a type (read from its macro_rules).
    training_methods: Vec<FnEntry>,
    /// Types given them: (module, type name).
    trained: Vec<(String, String)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: lib-index COURSE_LIB_SRC_DIR OUT.json");
        std::process::exit(2);
    }
    let src = PathBuf::from(&args[1]);
    let mut index = Index::default();
    if let Err(e) = read_module(&mut index, &src.join("lib.rs"), "course_lib") {
        eprintln!("lib-index: {e}");
        std::process::exit(1);
    }
    let out = index.finish();
    if let Err(e) = std::fs::write(&args[2], serde_json::to_string(&out).expect("JSON")) {
        eprintln!("lib-index: cannot write {}: {e}", args[2]);
        std::process::exit(1);
    }
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

fn cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.to_token_stream().to_string().contains("test"))
}

/// Tokens printed as a person writes them, near enough for a completion's label.
fn text(tokens: impl ToTokens) -> String {
    let raw = tokens.to_token_stream().to_string();
    raw.replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
        .replace(" :", ":")
        .replace(" ;", ";")
}

fn fn_entry(sig: &syn::Signature) -> FnEntry {
    let receiver = sig
        .inputs
        .iter()
        .any(|a| matches!(a, syn::FnArg::Receiver(_)));
    let inputs: Vec<String> = sig.inputs.iter().map(text).collect();
    let output = match &sig.output {
        syn::ReturnType::Default => String::new(),
        syn::ReturnType::Type(_, ty) => format!(" -> {}", text(ty)),
    };
    (
        sig.ident.to_string(),
        format!("fn {}({}){output}", sig.ident, inputs.join(", ")),
        receiver,
    )
}

/// The last segment's name of a path type (`Foo<B>` is Foo, `crate::a::Foo` is Foo).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        _ => None,
    }
}

fn read_module(index: &mut Index, file: &Path, module: &str) -> Result<(), String> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let parsed =
        syn::parse_file(&source).map_err(|e| format!("cannot parse {}: {e}", file.display()))?;
    // Where its `mod x;` files are, as rustc looks: beside lib.rs and mod.rs, in a folder of the
    // module's name beside any other file.
    let parent = file.parent().expect("a file in a folder");
    let children = if file
        .file_name()
        .is_some_and(|f| f == "lib.rs" || f == "mod.rs")
    {
        parent.to_path_buf()
    } else {
        parent.join(file.file_stem().expect("a .rs file"))
    };
    read_items(index, &parsed.items, &children, module)
}

/// A public type of `module`: listed among its items, and indexed by its path.
fn declare(index: &mut Index, public: &mut Vec<Item>, module: &str, info: TypeInfo) {
    public.push(Item {
        name: info.name.clone(),
        kind: info.kind,
    });
    index.types.insert(format!("{module}::{}", info.name), info);
}

/// A module's items; `children` is the folder of its `mod x;` files.
fn read_items(
    index: &mut Index,
    items: &[syn::Item],
    children: &Path,
    module: &str,
) -> Result<(), String> {
    let mut public = Vec::new();
    for item in items {
        match item {
            syn::Item::Mod(m) if !cfg_test(&m.attrs) => {
                let name = m.ident.to_string();
                let path = format!("{module}::{name}");
                if is_pub(&m.vis) {
                    public.push(Item {
                        name: name.clone(),
                        kind: "module",
                    });
                }
                match &m.content {
                    Some((_, inner)) => read_items(index, inner, &children.join(&name), &path)?,
                    None => {
                        let flat = children.join(format!("{name}.rs"));
                        let nested = children.join(&name).join("mod.rs");
                        read_module(index, if flat.exists() { &flat } else { &nested }, &path)?;
                    }
                }
            }
            syn::Item::Struct(s) if is_pub(&s.vis) => {
                let name = s.ident.to_string();
                let fields = s
                    .fields
                    .iter()
                    .filter(|f| is_pub(&f.vis))
                    .filter_map(|f| Some((f.ident.as_ref()?.to_string(), text(&f.ty))))
                    .collect();
                declare(
                    index,
                    &mut public,
                    module,
                    TypeInfo {
                        name,
                        kind: "struct",
                        fields,
                        ..Default::default()
                    },
                );
            }
            syn::Item::Enum(e) if is_pub(&e.vis) => {
                let name = e.ident.to_string();
                let variants = e.variants.iter().map(|v| v.ident.to_string()).collect();
                declare(
                    index,
                    &mut public,
                    module,
                    TypeInfo {
                        name,
                        kind: "enum",
                        variants,
                        ..Default::default()
                    },
                );
            }
            syn::Item::Type(t) if is_pub(&t.vis) => {
                let name = t.ident.to_string();
                match type_name(&t.ty) {
                    Some(target) => {
                        index
                            .aliases
                            .push((module.to_string(), name.clone(), target));
                        declare(
                            index,
                            &mut public,
                            module,
                            TypeInfo {
                                name,
                                kind: "type",
                                ..Default::default()
                            },
                        );
                    }
                    None => public.push(Item { name, kind: "type" }),
                }
            }
            syn::Item::Macro(m) => read_macro(index, m, module, &mut public)?,
            syn::Item::Trait(t) if is_pub(&t.vis) => {
                let name = t.ident.to_string();
                public.push(Item {
                    name: name.clone(),
                    kind: "trait",
                });
                let fns = t
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        syn::TraitItem::Fn(f) => Some(fn_entry(&f.sig)),
                        _ => None,
                    })
                    .collect();
                index
                    .traits
                    .insert(name.clone(), (format!("{module}::{name}"), fns));
            }
            syn::Item::Fn(f) if is_pub(&f.vis) => public.push(Item {
                name: f.sig.ident.to_string(),
                kind: "function",
            }),
            syn::Item::Const(c) if is_pub(&c.vis) => public.push(Item {
                name: c.ident.to_string(),
                kind: "constant",
            }),
            syn::Item::Static(s) if is_pub(&s.vis) => public.push(Item {
                name: s.ident.to_string(),
                kind: "constant",
            }),
            syn::Item::Impl(i) if !cfg_test(&i.attrs) => {
                let Some(self_name) = type_name(&i.self_ty) else {
                    continue;
                };
                let trait_name = i
                    .trait_
                    .as_ref()
                    .and_then(|(_, p, _)| p.segments.last())
                    .map(|s| s.ident.to_string());
                let functions = i
                    .items
                    .iter()
                    .filter_map(|it| match it {
                        // An inherent impl's public functions; a trait's are all public.
                        syn::ImplItem::Fn(f) if trait_name.is_some() || is_pub(&f.vis) => {
                            Some(fn_entry(&f.sig))
                        }
                        syn::ImplItem::Const(c) if trait_name.is_some() || is_pub(&c.vis) => {
                            Some((
                                c.ident.to_string(),
                                text(c.ident.clone()) + ": " + &text(&c.ty),
                                false,
                            ))
                        }
                        _ => None,
                    })
                    .collect();
                index.impls.push(Impl {
                    module: module.to_string(),
                    self_name,
                    trait_name,
                    functions,
                });
            }
            syn::Item::Use(u) if is_pub(&u.vis) => uses(index, module, &u.tree, String::new()),
            _ => {}
        }
    }
    index
        .modules
        .entry(module.to_string())
        .or_default()
        .extend(public);
    Ok(())
}

/// The course's own item macros (engine/config.rs, engine/train.rs), expanded as far as the
/// names they make: rustc sees those items; syn sees only the invocation.
fn read_macro(
    index: &mut Index,
    m: &syn::ItemMacro,
    module: &str,
    public: &mut Vec<Item>,
) -> Result<(), String> {
    let Some(name) = m.mac.path.segments.last().map(|s| s.ident.to_string()) else {
        return Ok(());
    };
    let bad = |e: syn::Error| format!("{module}: cannot read {name}!: {e}");
    match (name.as_str(), &m.ident) {
        // `compiled_training_methods { ($model:ty) => { impl $model { pub fn fit(..) .. } } }`:
        // its methods, as written in the rule's body.
        ("macro_rules", Some(ident)) if ident == "compiled_training_methods" => {
            let body = m
                .mac
                .tokens
                .to_string()
                .replace("$ crate", "crate")
                .replace("$ model", "Model");
            let start = body
                .find("impl Model")
                .ok_or("compiled_training_methods!: no `impl $model` in its rule")?;
            let end = body
                .rfind('}')
                .ok_or("compiled_training_methods!: unbalanced")?;
            let item: syn::ItemImpl = syn::parse_str(&body[start..end]).map_err(bad)?;
            index.training_methods = item
                .items
                .iter()
                .filter_map(|i| match i {
                    syn::ImplItem::Fn(f) => Some(fn_entry(&f.sig)),
                    _ => None,
                })
                .collect();
        }
        ("compiled_training_methods", _) => {
            let ty: syn::Type = m.mac.parse_body().map_err(bad)?;
            if let Some(t) = type_name(&ty) {
                index.trained.push((module.to_string(), t));
            }
        }
        ("course_config", _) => {
            let c: ConfigMacro = m.mac.parse_body().map_err(bad)?;
            let name = c.ident.to_string();
            let mut info = TypeInfo {
                name: name.clone(),
                kind: "struct",
                ..Default::default()
            };
            info.functions
                .insert("new".into(), format!("fn new() -> {name}"));
            for f in &c.fields {
                info.fields.push((f.field.to_string(), text(&f.ty)));
                info.methods.insert(
                    f.with.to_string(),
                    format!(
                        "fn {}(self, {}: {}) -> {name}",
                        f.with,
                        f.field,
                        text(&f.ty)
                    ),
                );
            }
            declare(index, public, module, info);
        }
        ("setters", _) => {
            let c: SettersMacro = m.mac.parse_body().map_err(bad)?;
            let name = c.ident.to_string();
            let functions = c
                .fields
                .iter()
                .map(|f| {
                    (
                        f.with.to_string(),
                        format!(
                            "fn {}(self, {}: {}) -> {name}",
                            f.with,
                            f.field,
                            text(&f.ty)
                        ),
                        true,
                    )
                })
                .collect();
            index.impls.push(Impl {
                module: module.to_string(),
                self_name: name,
                trait_name: None,
                functions,
            });
        }
        _ => {}
    }
    Ok(())
}

/// `field / with_field: Type` (`= default` in course_config!), with its doc comments.
struct MacroField {
    field: syn::Ident,
    with: syn::Ident,
    ty: syn::Type,
}

fn parse_field(input: syn::parse::ParseStream, with_default: bool) -> syn::Result<MacroField> {
    input.call(syn::Attribute::parse_outer)?;
    let field = input.parse()?;
    input.parse::<syn::Token![/]>()?;
    let with = input.parse()?;
    input.parse::<syn::Token![:]>()?;
    let ty = input.parse()?;
    if with_default {
        input.parse::<syn::Token![=]>()?;
        input.parse::<syn::Expr>()?;
    }
    Ok(MacroField { field, with, ty })
}

/// `course_config! { #[doc] pub struct Name { field / with_field: Type = default, ... } }`
struct ConfigMacro {
    ident: syn::Ident,
    fields: Vec<MacroField>,
}

impl syn::parse::Parse for ConfigMacro {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        input.call(syn::Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        input.parse::<syn::Token![struct]>()?;
        let ident = input.parse()?;
        let body;
        syn::braced!(body in input);
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(parse_field(&body, true)?);
            body.parse::<Option<syn::Token![,]>>()?;
        }
        Ok(ConfigMacro { ident, fields })
    }
}

/// `setters! { Name { #[doc] field / with_field: Type, ... } }`
struct SettersMacro {
    ident: syn::Ident,
    fields: Vec<MacroField>,
}

impl syn::parse::Parse for SettersMacro {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let ident = input.parse()?;
        let body;
        syn::braced!(body in input);
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(parse_field(&body, false)?);
            body.parse::<Option<syn::Token![,]>>()?;
        }
        Ok(SettersMacro { ident, fields })
    }
}

/// `pub use` trees flattened into (module, name seen there, path it names).
fn uses(index: &mut Index, module: &str, tree: &syn::UseTree, prefix: String) {
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_string()
        } else {
            format!("{p}::{s}")
        }
    };
    match tree {
        syn::UseTree::Path(p) => uses(index, module, &p.tree, join(&prefix, &p.ident.to_string())),
        syn::UseTree::Name(n) if n.ident == "self" => {
            let name = prefix.rsplit("::").next().unwrap_or_default().to_string();
            index.uses.push((module.to_string(), name, prefix));
        }
        syn::UseTree::Name(n) => index.uses.push((
            module.to_string(),
            n.ident.to_string(),
            join(&prefix, &n.ident.to_string()),
        )),
        syn::UseTree::Rename(r) => index.uses.push((
            module.to_string(),
            r.rename.to_string(),
            join(&prefix, &r.ident.to_string()),
        )),
        syn::UseTree::Glob(_) => index
            .uses
            .push((module.to_string(), "*".to_string(), prefix)),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                uses(index, module, t, prefix.clone());
            }
        }
    }
}

impl Index {
    /// A `use` path made absolute (`crate::x` and `self::x` as course_lib's).
    fn absolute(&self, module: &str, path: &str) -> String {
        if let Some(rest) = path.strip_prefix("crate::") {
            format!("course_lib::{rest}")
        } else if let Some(rest) = path.strip_prefix("self::") {
            format!("{module}::{rest}")
        } else if let Some(rest) = path.strip_prefix("super::") {
            let parent = module.rsplit_once("::").map_or(module, |(p, _)| p);
            format!("{parent}::{rest}")
        } else {
            // `use lessons::conv_ae` in lib.rs: a path from this module, where it has such a
            // child; else an external crate's.
            let first = path.split("::").next().unwrap_or(path);
            let child = format!("{module}::{first}");
            if self.modules.contains_key(&child)
                || self
                    .modules
                    .keys()
                    .any(|m| m.starts_with(&format!("{child}::")))
            {
                format!("{module}::{path}")
            } else {
                path.to_string()
            }
        }
    }

    /// Where a path leads, through the re-exports (`course_lib::conv_ae` is
    /// `course_lib::lessons::conv_ae`); paths outside course-lib stay as they are.
    fn resolve(&self, path: &str, depth: usize) -> String {
        if depth > 8 || self.types.contains_key(path) || self.modules.contains_key(path) {
            return path.to_string();
        }
        if let Some((parent, name)) = path.rsplit_once("::") {
            let parent = self.resolve(parent, depth + 1);
            let direct = format!("{parent}::{name}");
            if self.types.contains_key(&direct) || self.modules.contains_key(&direct) {
                return direct;
            }
            for (module, seen, target) in &self.uses {
                if *module == parent && seen == name {
                    return self.resolve(&self.absolute(module, target), depth + 1);
                }
            }
            return direct;
        }
        path.to_string()
    }

    fn kind_of(&self, path: &str) -> &'static str {
        if let Some(t) = self.types.get(path) {
            return t.kind;
        }
        if self.modules.contains_key(path) {
            return "module";
        }
        if let Some((module, name)) = path.rsplit_once("::")
            && let Some(item) = self
                .modules
                .get(module)
                .and_then(|items| items.iter().find(|i| i.name == name))
        {
            return item.kind;
        }
        "item"
    }

    /// Every name a module shows: its own public items and what it re-exports.
    fn members(&self, module: &str) -> BTreeMap<String, &'static str> {
        let mut out: BTreeMap<String, &'static str> = BTreeMap::new();
        for item in self.modules.get(module).into_iter().flatten() {
            out.insert(item.name.clone(), item.kind);
        }
        for (m, seen, target) in &self.uses {
            if m != module {
                continue;
            }
            let target = self.resolve(&self.absolute(m, target), 0);
            if seen == "*" {
                for item in self.modules.get(&target).into_iter().flatten() {
                    out.entry(item.name.clone()).or_insert(item.kind);
                }
            } else {
                let kind = self.kind_of(&target);
                out.insert(
                    seen.clone(),
                    if target.starts_with("course_lib") {
                        kind
                    } else {
                        "item"
                    },
                );
            }
        }
        out
    }

    fn finish(mut self) -> Value {
        // Impls onto their types (by name, preferring a type of the impl's own module), with the
        // methods of course-lib's traits each implements, default ones included.
        let mut impls = std::mem::take(&mut self.impls);
        for (module, ty) in std::mem::take(&mut self.trained) {
            impls.push(Impl {
                module,
                self_name: ty,
                trait_name: None,
                functions: self.training_methods.clone(),
            });
        }
        for imp in &impls {
            // Another crate's trait (Display's fmt, TryFrom's try_from, Module's derive): not
            // what a student completes; course-lib's own traits are.
            if imp
                .trait_name
                .as_ref()
                .is_some_and(|t| !self.traits.contains_key(t))
            {
                continue;
            }
            let own = format!("{}::{}", imp.module, imp.self_name);
            let targets: Vec<String> = if self.types.contains_key(&own) {
                vec![own]
            } else {
                self.types
                    .iter()
                    .filter(|(_, t)| t.name == imp.self_name)
                    .map(|(p, _)| p.clone())
                    .collect()
            };
            let mut fns = imp.functions.clone();
            if let Some((_, trait_fns)) = imp.trait_name.as_ref().and_then(|t| self.traits.get(t)) {
                for f in trait_fns {
                    if !fns.iter().any(|g| g.0 == f.0) {
                        fns.push(f.clone());
                    }
                }
            }
            for target in targets {
                let info = self.types.get_mut(&target).expect("a type");
                for (name, sig, receiver) in &fns {
                    let map = if *receiver {
                        &mut info.methods
                    } else {
                        &mut info.functions
                    };
                    map.entry(name.clone()).or_insert_with(|| sig.clone());
                }
            }
        }
        // An alias has its type's members, and its type the alias's impls (`impl LinearAe`
        // is an impl on Autoencoder<Dense>, whose values rustc names Autoencoder<...>).
        for (module, alias, target) in std::mem::take(&mut self.aliases) {
            let alias_path = format!("{module}::{alias}");
            let Some(target_path) = self
                .types
                .iter()
                .find(|(_, t)| t.name == target && t.kind != "type")
                .map(|(p, _)| p.clone())
            else {
                continue;
            };
            let (fields, functions, methods) = {
                let t = &self.types[&target_path];
                (t.fields.clone(), t.functions.clone(), t.methods.clone())
            };
            let (a_functions, a_methods) = {
                let a = &self.types[&alias_path];
                (a.functions.clone(), a.methods.clone())
            };
            let a = self.types.get_mut(&alias_path).expect("the alias");
            a.fields = fields;
            a.functions.extend(functions);
            a.methods.extend(methods);
            let t = self.types.get_mut(&target_path).expect("the type");
            t.functions.extend(a_functions);
            t.methods.extend(a_methods);
        }
        let modules: BTreeMap<String, Value> = self
            .modules
            .keys()
            .map(|m| {
                (
                    m.clone(),
                    json!(self.members(m).into_iter().collect::<Vec<_>>()),
                )
            })
            .collect();
        // Module paths a student may write (`conv_ae`, `course_lib::conv_ae`): re-exported ones.
        let mut aliases: BTreeMap<String, String> = BTreeMap::new();
        for (module, seen, target) in &self.uses {
            if seen == "*" {
                continue;
            }
            let target = self.resolve(&self.absolute(module, target), 0);
            if self.modules.contains_key(&target) || self.types.contains_key(&target) {
                aliases.insert(format!("{module}::{seen}"), target);
            }
        }
        // Each simple name's definitions, for `Type::` and for a field's type.
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, t) in &self.types {
            names
                .entry(t.name.clone())
                .or_default()
                .insert(path.clone());
        }
        let types: BTreeMap<String, Value> = self
            .types
            .iter()
            .map(|(path, t)| {
                (
                    path.clone(),
                    json!({
                        "kind": t.kind,
                        "fields": t.fields,
                        "variants": t.variants,
                        "functions": t.functions,
                        "methods": t.methods,
                    }),
                )
            })
            .collect();
        json!({
            "prelude": "course_lib::prelude",
            "modules": modules,
            "aliases": aliases,
            "names": names,
            "types": types,
        })
    }
}
