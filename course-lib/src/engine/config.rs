//! `course_config!`: model configurations in the burn style (`FooConfig::new().with_x(..)`, the
//! slide's hyperparameters as defaults), written as a `macro_rules!` macro.
//!
//! Why not burn's `#[derive(Config)]`: the Rust kernel infers the type of every notebook variable
//! with rust-analyzer, which does not expand procedural macros. `LinearAeConfig::new()` from a
//! derive has no type it can see, and a cell like `let ae = LinearAeConfig::new().init(&d)?;`
//! fails with a confusing "`!` type is experimental". Declarative macros are expanded, so the
//! types stay visible.

/// Declares a configuration struct with documented fields and defaults, `new()` (all defaults),
/// `Default`, and one `with_<field>` method per field (made by [`setters!`], named in the
/// declaration, `field / with_field: Type = default,`, since stable Rust cannot build identifiers).
macro_rules! course_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident / $with:ident : $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $name {
            /// The configuration with the slide's values.
            pub fn new() -> $name {
                $name { $( $field: $default, )* }
            }

        }

        crate::config::setters! {
            $name { $( #[doc = concat!("Sets `", stringify!($field), "`.")] $field / $with: $ty, )* }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }
    };
}
pub(crate) use course_config;

/// `with_<field>` methods that set a field to the value given, each with its doc comment: what
/// [`course_config!`] generates, and what the training configurations ([`crate::train::FitConfig`],
/// [`crate::gan::GanFitConfig`]) use beside their hand-written `new` (which takes arguments) and
/// the setters that convert (`with_optimizer(impl Into<Optimizer>)`, `with_checkpoints(dir)`).
macro_rules! setters {
    ($name:ident { $( $(#[$doc:meta])* $field:ident / $with:ident : $ty:ty, )* }) => {
        impl $name {
            $(
                $(#[$doc])*
                pub fn $with(mut self, $field: $ty) -> $name {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;
