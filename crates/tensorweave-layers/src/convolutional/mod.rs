//! Convolution layers (Keras' `keras/src/layers/convolutional`): `Conv1D`,
//! `DepthwiseConv1D`, `SeparableConv1D`, `Conv1DTranspose`, `Conv2D`,
//! and the options and window arithmetic it shares with the pooling layers.

mod conv1d;
mod conv1d_transpose;
mod conv2d;
mod depthwise;
mod depthwise_conv1d;
mod separable_conv1d;

use serde::{Deserialize, Serialize};
use tensorweave_core::{Error, Result};

pub use conv1d::{Conv1D, Conv1DLayer};
pub use conv1d_transpose::{Conv1DTranspose, Conv1DTransposeLayer};
pub use conv2d::{Conv2D, Conv2DLayer};
pub use depthwise_conv1d::{DepthwiseConv1D, DepthwiseConv1DLayer};
pub use separable_conv1d::{SeparableConv1D, SeparableConv1DLayer};

/// How a sliding window treats the ends of the time axis (Keras' `padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: windows stay inside the input.
    #[default]
    Valid,
    /// TensorFlow's `SAME`: `ceil(steps / stride)` outputs; the padding is split
    /// with the smaller half (`total // 2`) on the left.
    Same,
    /// `Conv1D` only: `dilation_rate * (kernel_size - 1)` zeros on the left, then
    /// `valid`, so that output `t` never sees inputs after `t`.
    Causal,
}

impl Padding {
    /// The Keras spelling: `valid`, `same`, `causal`.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }
}

/// Where the channel axis is (Keras' `data_format`). tensorweave runs
/// `channels_last` (`(batch, steps, channels)`); the convolution and pooling
/// layers reject `channels_first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// `(batch, steps, channels)`, Keras' default.
    #[default]
    ChannelsLast,
    /// `(batch, channels, steps)`.
    ChannelsFirst,
}

/// Rejects `channels_first`, naming the option.
pub(crate) fn expect_channels_last(format: DataFormat) -> Result<()> {
    match format {
        DataFormat::ChannelsLast => Ok(()),
        DataFormat::ChannelsFirst => Err(Error::invalid(
            "data_format=\"channels_first\" is not supported; only \"channels_last\" \
             (batch, steps, channels) is. Transpose the input with `Permute::new(vec![2, 1])` \
             and use the default data_format",
        )),
    }
}

/// Serializes a `usize` as a one-element list (`[3]`, as Keras writes tuples),
/// and reads either `3` or `[3]`.
pub(crate) mod tuple1 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrList {
        One(usize),
        List([usize; 1]),
    }

    pub fn serialize<S: Serializer>(v: &usize, s: S) -> Result<S::Ok, S::Error> {
        [*v].serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        Ok(match OneOrList::deserialize(d)? {
            OneOrList::One(v) | OneOrList::List([v]) => v,
        })
    }

    /// The same for an optional value (`null` when absent).
    pub mod option {
        use super::OneOrList;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
            v.map(|v| [v]).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
            Ok(match Option::<OneOrList>::deserialize(d)? {
                None => None,
                Some(OneOrList::One(v)) | Some(OneOrList::List([v])) => Some(v),
            })
        }
    }
}

/// Serializes a pair as a two-element list (`[3, 2]`, as Keras writes
/// tuples), and reads a list or one integer for both.
pub(crate) mod tuple2 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrPair {
        One(usize),
        Pair([usize; 2]),
    }

    pub fn serialize<S: Serializer>(v: &[usize; 2], s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[usize; 2], D::Error> {
        Ok(match OneOrPair::deserialize(d)? {
            OneOrPair::One(v) => [v, v],
            OneOrPair::Pair(p) => p,
        })
    }

    /// The same for an optional pair (`null` when absent).
    pub mod option {
        use super::OneOrPair;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<[usize; 2]>, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<[usize; 2]>, D::Error> {
            Ok(match Option::<OneOrPair>::deserialize(d)? {
                None => None,
                Some(OneOrPair::One(v)) => Some([v, v]),
                Some(OneOrPair::Pair(p)) => Some(p),
            })
        }
    }
}

/// Output length and left padding of one axis of a window of (effective)
/// size `window` moved by `stride` over `steps` (`valid` or `same`), or
/// `None` when a `valid` window does not fit.
pub(crate) fn axis_geometry(
    steps: usize,
    window: usize,
    stride: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    match padding {
        Padding::Same => Some(same_geometry(steps, window, stride)),
        _ => valid_length(steps, window, stride).map(|out| (out, 0)),
    }
}

/// Output length and left padding of a window of (effective) size `window`
/// moved by `stride` over `steps` with TensorFlow's `SAME` padding:
/// `ceil(steps / stride)` outputs, total padding
/// `max((out - 1) * stride + window - steps, 0)`, of which `total // 2` on the left.
pub(crate) fn same_geometry(steps: usize, window: usize, stride: usize) -> (usize, usize) {
    let out = steps.div_ceil(stride.max(1));
    let total = out
        .saturating_sub(1)
        .saturating_mul(stride)
        .saturating_add(window)
        .saturating_sub(steps);
    (out, total / 2)
}

/// Output length of a `valid` window, or `None` when the window does not fit.
pub(crate) fn valid_length(steps: usize, window: usize, stride: usize) -> Option<usize> {
    (steps >= window).then(|| (steps - window) / stride.max(1) + 1)
}
