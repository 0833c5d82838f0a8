//! The declaration every loss starts with ([`loss!`]): the public type(s) with their Keras
//! class and default name, and their options.

/// Declares one or more losses that share their options.
///
/// ```text
/// loss! {
///     /// Doc of the public type.
///     pub struct Type("KerasClass", "default_name");
///     options {
///         /// Doc of the builder.
///         config_key: bool = keras_default,
///     }
///     // Options Keras reads but its `get_config` does not write.
///     unsaved options {
///         other_key: f64 = keras_default,
///     }
/// }
/// ```
///
/// Each type is a struct with a field `base: LossBase` and one per option (`bool`, `f64`, `i64`
/// or `Option<i64>`), with `new()` and [`Default`] (Keras' defaults), the builders `named`,
/// `reduction` and one per option, [`Builtin`](super::Builtin) (how a config or a name creates
/// it) and the [`Loss`](super::Loss) implementation: its `per_entry` aligns the ranks of
/// `y_true` and `y_pred` as Keras does, then runs the type's [`Call`](super::Call).
macro_rules! loss {
    (
        $(
            $(#[$doc:meta])*
            pub struct $t:ident($class:literal, $default_name:literal);
        )+
        $(options $saved:tt)?
        $(unsaved options $unsaved:tt)?
    ) => {
        $crate::losses::macros::loss!(@each
            [$([$(#[$doc])*] $t $class $default_name)+]
            { saved { $($saved)? } unsaved { $($unsaved)? } }
        );
    };
    (@each [$([$($doc:tt)*] $t:ident $class:literal $default_name:literal)+] $options:tt) => {
        $($crate::losses::macros::loss!(@type [$($doc)*] $t $class $default_name $options);)+
    };
    (@type [$($doc:tt)*] $t:ident $class:literal $default_name:literal {
        saved { $({
            $($(#[$sdoc:meta])* $sfield:ident: $sty:ty = $sdefault:expr),* $(,)?
        })? }
        unsaved { $({
            $($(#[$udoc:meta])* $ufield:ident: $uty:ty = $udefault:expr),* $(,)?
        })? }
    }) => {
        $($doc)*
        #[derive(Debug, Clone)]
        pub struct $t {
            base: $crate::losses::LossBase,
            $($($sfield: $sty,)*)?
            $($($ufield: $uty,)*)?
        }

        impl $t {
            /// With Keras' defaults.
            pub fn new() -> Self {
                <Self as $crate::losses::Builtin>::with_base($crate::losses::LossBase::new(
                    $default_name,
                ))
            }

            /// Renames the loss (the name Keras logs it under).
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.base.name = name.into();
                self
            }

            /// Sets the reduction (default `sum_over_batch_size`).
            pub fn reduction(mut self, reduction: $crate::losses::Reduction) -> Self {
                self.base.reduction = reduction;
                self
            }

        }

        $crate::losses::macros::loss!(@builders $t {
            $($($(#[$sdoc])* $sfield: $sty,)*)?
            $($($(#[$udoc])* $ufield: $uty,)*)?
        });

        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $crate::losses::Builtin for $t {
            const CLASS_NAME: &'static str = $class;
            const DEFAULT_NAME: &'static str = $default_name;

            fn with_base(base: $crate::losses::LossBase) -> Self {
                $t {
                    base,
                    $($($sfield: $sdefault,)*)?
                    $($($ufield: $udefault,)*)?
                }
            }

            fn from_reader(
                c: &mut $crate::config::ConfigReader<'_>,
            ) -> tensorweave_core::Result<Self> {
                #[allow(unused_imports)]
                use $crate::config::OptionValue;
                let mut base = $crate::losses::LossBase::new($default_name);
                base.read(c)?;
                let loss = $t {
                    base,
                    $($($sfield: OptionValue::read(c, stringify!($sfield), $sdefault)?,)*)?
                    $($($ufield: OptionValue::read(c, stringify!($ufield), $udefault)?,)*)?
                };
                <Self as $crate::losses::Call>::check_config(c)?;
                Ok(loss)
            }
        }

        impl $crate::losses::Loss for $t {
            fn name(&self) -> &str {
                &self.base.name
            }

            fn config(&self) -> serde_json::Value {
                #[allow(unused_imports)]
                use $crate::config::OptionValue;
                #[allow(unused_mut)]
                let mut m = serde_json::Map::new();
                $($(m.insert(stringify!($sfield).into(), self.$sfield.to_json());)*)?
                self.base.config($class, m)
            }

            fn reduction(&self) -> $crate::losses::Reduction {
                self.base.reduction
            }

            fn per_entry(
                &self,
                y_true: ndarray::ArrayViewD<'_, f32>,
                pred: &$crate::losses::Prediction<'_>,
            ) -> tensorweave_core::Result<$crate::losses::PerEntry> {
                let aligned = $crate::losses::align(y_true, pred, $default_name)?;
                $crate::losses::Call::call(self, aligned)
            }
        }
    };
    // A builder per option.
    (@builders $t:ident { $($(#[$doc:meta])* $field:ident: $ty:ty,)* }) => {
        impl $t {
            $(
                $(#[$doc])*
                pub fn $field(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use loss;
