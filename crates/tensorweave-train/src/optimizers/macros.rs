//! The declaration every optimizer file starts with ([`optimizer!`]): the public type(s) with
//! their Keras class, and the optimizer's own options.

/// Declares an optimizer: its options and the public type(s) over them.
///
/// ```text
/// optimizer! {
///     /// Doc of the public type.
///     pub struct Type("KerasClass", "auto_name", default_learning_rate);
///     // More types may share the options; `required_weight_decay = default` after the
///     // learning rate makes the weight decay mandatory (AdamW).
///     options TypeOptions {
///         /// Doc of the builder.
///         config_key: f64 = keras_default,
///     }
/// }
/// ```
///
/// Each public type is a struct over an [`Engine`](super::base::Engine) with its constructors
/// (`new(learning_rate)`, [`Default`], `from_reader` for configs), the `BaseOptimizer` builders
/// (`named`, `schedule`, `weight_decay`, the clipping options), one builder per option, and the
/// [`Optimizer`](super::Optimizer) implementation (the engine's). The options (a config key
/// each, `f64` or `bool`, in Keras' key order) become a struct with Keras' defaults as its
/// [`Default`] and an [`Options`](super::base::Options) implementation; the file then
/// implements [`Rule`](super::base::Rule) for it.
macro_rules! optimizer {
    (
        $(
            $(#[$doc:meta])*
            pub struct $t:ident($class:literal, $auto_name:literal, $lr:literal
                $(, required_weight_decay = $wd:literal)?);
        )+
        options $options:ident $fields:tt
    ) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone)]
            pub struct $t {
                engine: $crate::optimizers::base::Engine<$options>,
            }

            $crate::optimizers::macros::optimizer!(@type $t, $class, $auto_name, $lr, [$($wd)?]);
            $crate::optimizers::macros::optimizer!(@builders $t $fields);
            $crate::optimizers::macros::optimizer!(@hyper_builders $t {
                /// Decoupled weight decay: `w -= w * weight_decay * lr` before each update.
                weight_decay,
                /// Clips each gradient tensor to this L2 norm (only one clipping option may be
                /// set).
                clipnorm,
                /// Clips every gradient entry to `[-clipvalue, clipvalue]`.
                clipvalue,
                /// Scales all gradients together so that their global L2 norm is at most this.
                global_clipnorm,
            });
        )+
        $crate::optimizers::macros::optimizer!(@options $options $fields);
    };
    (@type $t:ident, $class:literal, $auto_name:literal, $lr:literal, [$($wd:literal)?]) => {
        impl $crate::optimizers::base::Builtin for $t {
            const CLASS: $crate::optimizers::base::Class = $crate::optimizers::base::Class {
                name: $class,
                auto_name: $auto_name,
                learning_rate: $lr,
                required_weight_decay: $crate::optimizers::macros::optimizer!(@opt $($wd)?),
            };

            fn from_reader(
                c: &mut $crate::config::ConfigReader<'_>,
            ) -> tensorweave_core::Result<Self> {
                Ok($t {
                    engine: $crate::optimizers::base::Engine::from_reader(
                        <Self as $crate::optimizers::base::Builtin>::CLASS,
                        c,
                    )?,
                })
            }
        }

        impl $t {
            #[doc = concat!(
                "`", $class, "` with this learning rate (Keras' default, used by [`Default`], is ",
                stringify!($lr), ")", $(", weight decay ", stringify!($wd),)?
                " and Keras' defaults for the other options."
            )]
            pub fn new(learning_rate: f64) -> Self {
                $t {
                    engine: $crate::optimizers::base::Engine::new(
                        <Self as $crate::optimizers::base::Builtin>::CLASS,
                        learning_rate,
                        Default::default(),
                    ),
                }
            }

            /// Renames the optimizer (the prefix of its variables' paths).
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.engine.hyper.name = name.into();
                self
            }

            /// Uses a learning-rate schedule instead of a constant rate.
            pub fn schedule(mut self, schedule: impl Into<$crate::optimizers::Schedule>) -> Self {
                self.engine.hyper.learning_rate =
                    $crate::optimizers::base::LearningRate::Schedule(schedule.into());
                self
            }
        }

        impl Default for $t {
            fn default() -> Self {
                Self::new(<Self as $crate::optimizers::base::Builtin>::CLASS.learning_rate)
            }
        }

        // Every method is the engine's.
        impl $crate::optimizers::Optimizer for $t {
            fn name(&self) -> &str {
                $crate::optimizers::Optimizer::name(&self.engine)
            }
            fn apply(
                &mut self,
                vars: &mut [$crate::optimizers::Var<'_>],
            ) -> tensorweave_core::Result<()> {
                $crate::optimizers::Optimizer::apply(&mut self.engine, vars)
            }
            fn build(
                &mut self,
                vars: &[$crate::optimizers::VarSpec],
            ) -> tensorweave_core::Result<()> {
                $crate::optimizers::Optimizer::build(&mut self.engine, vars)
            }
            fn iterations(&self) -> i64 {
                $crate::optimizers::Optimizer::iterations(&self.engine)
            }
            fn current_learning_rate(&self) -> f32 {
                $crate::optimizers::Optimizer::current_learning_rate(&self.engine)
            }
            fn set_learning_rate(&mut self, lr: f32) -> tensorweave_core::Result<()> {
                $crate::optimizers::Optimizer::set_learning_rate(&mut self.engine, lr)
            }
            fn variables(&self) -> Vec<$crate::optimizers::OptimizerVariable> {
                $crate::optimizers::Optimizer::variables(&self.engine)
            }
            fn load_variables(
                &mut self,
                vars: &[$crate::optimizers::OptimizerVariable],
            ) -> tensorweave_core::Result<()> {
                $crate::optimizers::Optimizer::load_variables(&mut self.engine, vars)
            }
            fn config(&self) -> serde_json::Value {
                $crate::optimizers::Optimizer::config(&self.engine)
            }
        }
    };
    (@opt) => {
        None
    };
    (@opt $wd:literal) => {
        Some($wd)
    };
    // A builder per option.
    (@builders $t:ident {
        $($(#[$doc:meta])* $field:ident: $ty:ty = $default:expr),* $(,)?
    }) => {
        impl $t {
            $(
                $(#[$doc])*
                pub fn $field(mut self, $field: $ty) -> Self {
                    self.engine.rule.$field = $field;
                    self
                }
            )*
        }
    };
    // A builder per optional `BaseOptimizer` number.
    (@hyper_builders $t:ident { $($(#[$doc:meta])* $field:ident),* $(,)? }) => {
        impl $t {
            $(
                $(#[$doc])*
                pub fn $field(mut self, $field: f64) -> Self {
                    self.engine.hyper.$field = Some($field);
                    self
                }
            )*
        }
    };
    (@options $options:ident {
        $($(#[$doc:meta])* $field:ident: $ty:ty = $default:expr),* $(,)?
    }) => {
        #[derive(Debug, Clone)]
        pub(crate) struct $options {
            $($field: $ty,)*
        }

        impl Default for $options {
            fn default() -> Self {
                $options {
                    $($field: $default,)*
                }
            }
        }

        impl $crate::optimizers::base::Options for $options {
            fn read(c: &mut $crate::config::ConfigReader<'_>) -> tensorweave_core::Result<Self> {
                use $crate::config::OptionValue;
                Ok($options {
                    $($field: OptionValue::read(c, stringify!($field), $default)?,)*
                })
            }

            fn config_entries(&self, m: &mut serde_json::Map<String, serde_json::Value>) {
                use $crate::config::OptionValue;
                $(m.insert(stringify!($field).into(), self.$field.to_json());)*
            }
        }
    };
}
pub(crate) use optimizer;
