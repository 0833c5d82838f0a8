//! Unit tests of the registry: every built-in layer's `config()` goes back
//! through its registry constructor to the same layer.

use serde_json::{json, Value};
use tensorweave_core::{DType, Initializer, IntoLayer, LayerRef};
use tensorweave_layers::prelude::*;

use crate::registry::*;

/// The Keras object of a layer: `{"module", "class_name", "config"}`.
fn entry(layer: &LayerRef) -> Value {
    let module = if layer.read().is_op() {
        "keras.src.ops.numpy"
    } else {
        "keras.layers"
    };
    json!({ "module": module, "class_name": layer.class_name(), "config": layer.config() })
}

fn round_trips(layer: LayerRef) {
    let registry = builtin_registry();
    let created = registry
        .create(&entry(&layer))
        .unwrap_or_else(|e| panic!("{}: {e}", layer.class_name()));
    assert_eq!(created.class_name(), layer.class_name());
    assert_eq!(created.name(), layer.name());
    assert_eq!(created.config(), layer.config(), "{}", layer.class_name());
    assert_eq!(created.read().is_op(), layer.read().is_op());
}

#[test]
fn every_builtin_config_round_trips() {
    let layers: Vec<LayerRef> = vec![
        Dense::new(3)
            .activation(Activation::Gelu)
            .use_bias(false)
            .kernel_initializer(Initializer::Orthogonal { gain: 0.5 })
            .trainable(false)
            .name("d")
            .into_layer(),
        Embedding::new(7, 2)
            .mask_zero(true)
            .embeddings_initializer(Initializer::random_normal())
            .into_layer(),
        Lstm::new(4)
            .return_sequences(true)
            .go_backwards(true)
            .unit_forget_bias(false)
            .dropout(0.25)
            .into_layer(),
        Gru::new(2)
            .reset_after(false)
            .return_state(true)
            .into_layer(),
        SimpleRnn::new(5).activation(Activation::Relu).into_layer(),
        Bidirectional::new(Lstm::new(3).return_sequences(true))
            .merge_mode(MergeMode::Ave)
            .into_layer(),
        Bidirectional::new(Gru::new(2))
            .backward_layer(Gru::new(2).go_backwards(true).name("back"))
            .merge_mode(MergeMode::None)
            .into_layer(),
        TimeDistributed::new(Dense::new(2).name("inner")).into_layer(),
        Conv1D::new(4, 3)
            .strides(2)
            .padding(Padding::Causal)
            .dilation_rate(2)
            .groups(2)
            .into_layer(),
        MaxPooling1D::new(3)
            .strides(1)
            .padding(Padding::Same)
            .into_layer(),
        AveragePooling1D::new(2).into_layer(),
        GlobalMaxPooling1D::new().keepdims(true).into_layer(),
        GlobalAveragePooling1D::new().into_layer(),
        Flatten::new().into_layer(),
        Reshape::new(vec![2, -1]).into_layer(),
        Permute::new(vec![2, 1]).into_layer(),
        RepeatVector::new(4).into_layer(),
        Cropping1D::new((2, 1)).into_layer(),
        LayerNormalization::new().epsilon(1e-5).into_layer(),
        BatchNormalization::new()
            .momentum(0.9)
            .center(false)
            .into_layer(),
        Masking::new(-1.0).into_layer(),
        Dropout::new(0.5)
            .noise_shape(vec![None, Some(1)])
            .seed(3)
            .into_layer(),
        ActivationLayer::new(Activation::Softmax).into_layer(),
        Concatenate::new().axis(1).into_layer(),
        Add::new().into_layer(),
        Subtract::new().into_layer(),
        Multiply::new().into_layer(),
        Average::new().into_layer(),
        Maximum::new().into_layer(),
        Minimum::new().into_layer(),
        NotEqual::new(0.0).into_layer(),
        AnyOp::new(-1).into_layer(),
        LogicalOr::new().into_layer(),
        ExpandDims::new(-1).into_layer(),
        OnesLike::new(DType::Bool).into_layer(),
        ZerosLike::new(DType::F32).into_layer(),
        ConcatenateOp::new(-1).into_layer(),
    ];
    for layer in layers {
        round_trips(layer);
    }
}

#[test]
fn ops_and_layers_sharing_a_class_name_are_told_apart_by_module() {
    let registry = builtin_registry();
    let op = registry
        .create(
            &json!({"module": "keras.src.ops.numpy", "class_name": "Concatenate",
                        "config": {"name": "c", "axis": -1}}),
        )
        .unwrap();
    assert!(op.read().is_op());
    let layer = registry
        .create(
            &json!({"module": "keras.layers", "class_name": "Concatenate",
                        "config": {"name": "c", "axis": -1}}),
        )
        .unwrap();
    assert!(!layer.read().is_op());
}

#[test]
fn user_layers_are_found_by_registered_name_then_class_name() {
    let mut registry = builtin_registry();
    registry.register("pkg>Scale", |config, _| {
        Ok(Dense::new(1)
            .name(layer_name(config).unwrap_or("scale"))
            .into_layer())
    });
    let by_registered = json!({"module": null, "class_name": "Scale",
                               "registered_name": "pkg>Scale", "config": {"name": "s"}});
    assert_eq!(registry.create(&by_registered).unwrap().name(), "s");
    assert_eq!(
        registry.registered_name_for("Scale").as_deref(),
        Some("pkg>Scale")
    );
    assert_eq!(registry.registered_name_for("Other"), None);

    let mut by_class = builtin_registry();
    by_class.register("Scale", |_, _| Ok(Dense::new(1).into_layer()));
    assert!(by_class.create(&by_registered).is_ok());

    let err = LayerRegistry::new().create(&by_registered).unwrap_err();
    for needle in ["'Scale'", "pkg>Scale"] {
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

#[test]
fn dtype_policies_other_than_float32_are_refused() {
    assert!(check_dtype_policy("l", "Dense", None).is_ok());
    assert!(check_dtype_policy("l", "Dense", Some(&json!("float32"))).is_ok());
    let keras2 = json!({"class_name": "Policy", "config": {"name": "float32"}});
    assert!(check_dtype_policy("l", "Dense", Some(&keras2)).is_ok());
    let err = check_dtype_policy("l", "Dense", Some(&json!("mixed_bfloat16"))).unwrap_err();
    assert!(err.to_string().contains("mixed_bfloat16"), "{err}");
    assert!(check_dtype_policy("l", "Dense", Some(&json!(3))).is_err());
    assert!(check_dtype_policy("l", "Dense", Some(&json!({"class_name": "X"}))).is_err());
}

#[test]
fn keras_2_spellings_are_read() {
    let registry = builtin_registry();
    let ln = registry
        .create(&json!({"class_name": "LayerNormalization", "config": {"name": "ln", "axis": -1}}))
        .unwrap();
    assert_eq!(ln.config()["axis"], json!([-1]));
    let bn = registry
        .create(&json!({"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}}))
        .unwrap();
    assert_eq!(bn.config()["axis"], json!(1));
    let crop = registry
        .create(&json!({"class_name": "Cropping1D", "config": {"cropping": 2}}))
        .unwrap();
    assert_eq!(crop.config()["cropping"], json!([2, 2]));
    let dense = registry
        .create(&json!({"class_name": "Dense", "config": {"units": 2,
            "activation": {"module": "keras.activations", "class_name": "function",
                           "config": "relu", "registered_name": "function"},
            "kernel_initializer": {"class_name": "VarianceScaling",
                "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}}}}))
        .unwrap();
    assert_eq!(dense.config()["activation"], json!("relu"));
    assert_eq!(
        dense.config()["kernel_initializer"]["class_name"],
        json!("GlorotUniform")
    );
}

#[test]
fn the_default_registry_has_the_builtins_and_registered_layers() {
    let registry = default_registry();
    // The Keras classes tensorweave promises to read (docs/layers.md).
    let promised = [
        "Dense",
        "Embedding",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "Bidirectional",
        "TimeDistributed",
        "Conv1D",
        "MaxPooling1D",
        "AveragePooling1D",
        "GlobalMaxPooling1D",
        "GlobalAveragePooling1D",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Cropping1D",
        "LayerNormalization",
        "BatchNormalization",
        "Masking",
        "Dropout",
        "Activation",
        "Concatenate",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
    ];
    for class in promised {
        assert!(registry.contains(class), "{class}");
    }
    register_layer("unit_test>Thing", |_, _| Ok(Dense::new(1).into_layer()));
    assert!(default_registry().contains("unit_test>Thing"));
}
