//! More layers text models use, as Keras 3.15.1 saves them
//! (`tests/fixtures/keras_layers2`, written by `make_layers2.py`): the noise
//! layers (identity at inference), `UnitNormalization`, `Dot`,
//! `GroupNormalization`, `SeparableConv1D`, `DepthwiseConv1D`,
//! `Conv1DTranspose`, the 2-D family of Kim's CNN (`Conv2D`, `MaxPooling2D`,
//! `GlobalMaxPooling2D`, `Reshape` to images), and `Bidirectional` with an
//! explicit `backward_layer`. Each model loads from its `.keras` archive and predicts
//! Keras' outputs; it saves as a Keras archive and natively and loads back to
//! the same outputs.

mod support;

use support::suite::Order;

fixture_cases!(
    "keras_layers2",
    Order::WithOps,
    [
        gaussian_noise,
        gaussian_dropout,
        alpha_dropout,
        unit_normalization,
        dot_layer,
        group_normalization,
        group_normalization_masked,
        bidirectional_backward_layer,
        bidirectional_backward_layer_same_units,
        separable_conv1d,
        separable_conv1d_strided,
        depthwise_conv1d,
        depthwise_conv1d_dilated,
        conv1d_transpose,
        conv1d_transpose_valid,
    ],
    others = ["kim_cnn_2d", "conv2d_options"]
);
