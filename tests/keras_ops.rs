//! Ops on Keras tensors as Keras 3.15.1 saves them (`tests/fixtures/keras_ops`,
//! written by `make_ops.py`): the operators (`x + y`, `2.0 * a`, `a ** 2`,
//! `a > b`, `x[:, -1]`), `keras.ops` arithmetic, comparisons, `where`, `cast`,
//! reductions, shape ops, `take`, `matmul`, `einsum`, element-wise math and
//! activations, and the residual block of the time-series transformer. Each
//! model loads from its `.keras` archive and predicts Keras' outputs (bool and
//! integer outputs compared as Keras' fixtures store them, in float32); it
//! saves as a Keras archive and natively and loads back to the same outputs.

mod support;

use support::fixture_in;
use support::suite::Order;
use tensorweave::prelude::*;

fixture_cases!(
    "keras_ops",
    Order::WithOps,
    [
        residual_add,
        arithmetic_broadcast,
        compare_where_cast,
        reductions,
        reduce_all_scalar,
        shape_ops,
        slicing,
        take_gather,
        matmul,
        elementwise_math,
        timeseries_transformer_block,
    ],
    others = []
);

/// The time-series transformer block written with the Rust API the way the
/// Keras example writes it (`res = x + inputs` is `ops::add(&x, &inputs)`),
/// with the fixture's weights: Keras' outputs, and the same layer list.
#[test]
fn timeseries_block_from_the_rust_api() {
    use tensorweave::ops;
    let case = fixture_in("keras_ops", "timeseries_transformer_block");
    let inputs = Input::new([Some(8), Some(3)]).name("inputs").build();
    let x = LayerNormalization::new()
        .epsilon(1e-6)
        .name("ln_1")
        .call(&inputs)
        .unwrap();
    let x = Dropout::new(0.1).name("dropout").call(&x).unwrap();
    let res = ops::add(&x, &inputs).unwrap();
    let x = LayerNormalization::new()
        .epsilon(1e-6)
        .name("ln_2")
        .call(&res)
        .unwrap();
    let x = Conv1D::new(4, 1)
        .activation(Activation::Relu)
        .name("conv_1")
        .call(&x)
        .unwrap();
    let x = Conv1D::new(3, 1).name("conv_2").call(&x).unwrap();
    let out = ops::add(&x, &res).unwrap();
    let pooled = GlobalAveragePooling1D::new()
        .name("gap")
        .call(&out)
        .unwrap();
    let y = Dense::new(2)
        .activation(Activation::Softmax)
        .name("dense")
        .call(&pooled)
        .unwrap();
    let model = Model::new(&[inputs], &[y]).unwrap();
    case.check_layer_order(&model);
    case.check(&model);
}

/// Ops written by the Rust API save as the op nodes Keras writes: the
/// residual model's config lists `Add` and `Subtract` from
/// `keras.src.ops.numpy`, with a constant kept in the call's arguments.
#[test]
fn ops_save_as_keras_op_nodes() {
    use tensorweave::ops;
    let x = Input::new([Some(5), Some(4)]).name("x").build();
    let y = Dense::new(4).name("dense").call(&x).unwrap();
    let sum = ops::add(&y, &x).unwrap();
    let scaled = ops::multiply(2.0, &sum).unwrap();
    let last = ops::get_item(&scaled, &[Index::ALL, Index::At(-1)]).unwrap();
    let model = Model::new(&[x], &[last]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&model.to_json().unwrap()).unwrap();
    let layers = json["config"]["layers"].as_array().unwrap();
    let find = |class: &str| {
        layers
            .iter()
            .find(|l| l["class_name"] == class)
            .unwrap_or_else(|| panic!("no {class} in {json}"))
    };
    assert_eq!(find("Add")["module"], "keras.src.ops.numpy");
    let mul = find("Multiply");
    assert_eq!(mul["module"], "keras.src.ops.numpy");
    assert_eq!(mul["inbound_nodes"][0]["args"][0], 2.0);
    let item = find("GetItem");
    assert_eq!(item["inbound_nodes"][0]["args"][1][1], -1);
    // And it loads back to the same model.
    let again = Model::from_json(&model.to_json().unwrap()).unwrap();
    let input = Value::F32(
        ndarray::Array3::from_shape_fn((2, 5, 4), |(b, t, f)| {
            (b * 20 + t * 4 + f) as f32 * 0.05 - 1.0
        })
        .into_dyn(),
    );
    let weights = model.get_weights();
    again.set_weights(&weights).unwrap();
    assert_eq!(
        model.predict(std::slice::from_ref(&input)).unwrap()[0]
            .as_f32()
            .unwrap(),
        again.predict(&[input]).unwrap()[0].as_f32().unwrap()
    );
}
