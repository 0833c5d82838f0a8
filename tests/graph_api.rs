//! The functional API's graph rules: capture, errors, shared layers, nested
//! models, naming, and the compiled plan. Expected values are worked out by hand
//! in the comments.

use ndarray::{array, ArrayD, IxDyn};
use tensorweave::prelude::*;

fn arr(shape: &[usize], values: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
}

#[test]
fn embedding_then_dense_runs_and_keeps_the_mask_graph() {
    reset_names();
    let tokens = Input::new([3]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(5, 2).mask_zero(true).call(&tokens).unwrap();
    assert!(x.mask().is_some());
    let y = Dense::new(1).call(&x).unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    // The mask op is not on the path to the output, so it is not part of the model.
    assert_eq!(names, ["tokens", "embedding", "dense"]);
    model
        .set_weights(&[
            arr(&[5, 2], &(0..10).map(|v| v as f32).collect::<Vec<_>>()),
            array![[1.0f32], [10.0]].into_dyn(),
            array![0.5f32].into_dyn(),
        ])
        .unwrap();
    let out = model.predict(&[array![[1, 0, 4]].into()]).unwrap();
    // id 1 -> [2, 3] -> 2 + 30 + 0.5; id 0 -> [0, 1] -> 10.5; id 4 -> [8, 9] -> 98.5
    assert_eq!(
        out[0].as_f32().unwrap(),
        &array![[[32.5f32], [10.5], [98.5]]].into_dyn()
    );
}

#[test]
fn an_output_that_needs_an_undeclared_input_is_rejected() {
    let u = Input::new([2]).name("u").build();
    let v = Input::new([2]).name("v").build();
    let y = Dense::new(1).call(&v).unwrap();
    let err = Model::new(&[u], &[y]).unwrap_err().to_string();
    assert!(err.contains("not connected"), "{err}");
    assert!(err.contains("'v'"), "{err}");
}

#[test]
fn duplicate_layer_names_are_rejected() {
    let x = Input::new([2]).build();
    let a = Dense::new(2).name("twin").call(&x).unwrap();
    let b = Dense::new(2).name("twin").call(&a).unwrap();
    let err = Model::new(&[x], &[b]).unwrap_err().to_string();
    assert!(err.contains("\"twin\" is used 2 times"), "{err}");
}

#[test]
fn a_slash_in_a_layer_name_is_rejected() {
    let x = Input::new([2]).build();
    let y = Dense::new(2).name("a/b").call(&x).unwrap();
    let err = Model::new(&[x], &[y]).unwrap_err().to_string();
    assert!(err.contains("'a/b'"), "{err}");
}

#[test]
fn a_shared_layer_is_one_layer_with_two_nodes() {
    let left = Input::new([2]).name("left").build();
    let right = Input::new([2]).name("right").build();
    let shared = Dense::new(1).use_bias(false).name("shared").into_layer();
    let a = shared.call(&left).unwrap();
    let b = shared.call(&right).unwrap();
    assert_eq!(a.node().call_index(), 0);
    assert_eq!(b.node().call_index(), 1);
    let model = Model::new(&[left, right], &[a, b]).unwrap();
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    assert_eq!(names, ["left", "right", "shared"]);
    assert_eq!(model.count_params(), (2, 0));
    model
        .set_weights(&[array![[1.0f32], [2.0]].into_dyn()])
        .unwrap();
    let out = model
        .predict(&[array![[1.0f32, 1.0]].into(), array![[3.0f32, 0.0]].into()])
        .unwrap();
    // [1,1]·[1,2] = 3 ; [3,0]·[1,2] = 3
    assert_eq!(out[0], Value::from(array![[3.0f32]]));
    assert_eq!(out[1], Value::from(array![[3.0f32]]));
}

#[test]
fn a_layer_built_for_one_shape_rejects_another_naming_both() {
    let shared = Dense::new(1).name("proj").into_layer();
    shared.call(&Input::new([4]).build()).unwrap();
    let err = shared
        .call(&Input::new([5]).build())
        .unwrap_err()
        .to_string();
    assert!(err.contains("'proj'"), "{err}");
    assert!(err.contains("(None, 5)"), "{err}");
    assert!(err.contains('4'), "{err}");
}

#[test]
fn a_model_is_a_layer_and_shares_its_weights() {
    let inner_in = Input::new([2]).name("features").build();
    let inner_out = Dense::new(1).name("inner_dense").call(&inner_in).unwrap();
    let inner = Model::with_name("block", &[inner_in], &[inner_out]).unwrap();

    let x = Input::new([2]).name("x").build();
    let y = inner.call(&x).unwrap();
    let z = Dense::new(1).name("head").use_bias(false).call(&y).unwrap();
    let outer = Model::new(&[x], &[z]).unwrap();
    let paths: Vec<String> = outer.weight_specs().into_iter().map(|w| w.0).collect();
    assert_eq!(
        paths,
        [
            "block/inner_dense/kernel",
            "block/inner_dense/bias",
            "head/kernel"
        ]
    );

    outer
        .set_weights(&[
            array![[1.0f32], [1.0]].into_dyn(),
            array![1.0f32].into_dyn(),
            array![[2.0f32]].into_dyn(),
        ])
        .unwrap();
    // ([3,4]·[1,1] + 1) * 2 = 16
    let out = outer.predict(&[array![[3.0f32, 4.0]].into()]).unwrap();
    assert_eq!(out[0], Value::from(array![[16.0f32]]));
    // The inner model sees the same weights.
    let inner_out = inner.predict(&[array![[3.0f32, 4.0]].into()]).unwrap();
    assert_eq!(inner_out[0], Value::from(array![[8.0f32]]));
}

#[test]
fn predict_rejects_wrong_inputs_with_details() {
    let tokens = Input::new([3]).dtype(DType::I32).name("tokens").build();
    let y = Embedding::new(4, 2).name("embed").call(&tokens).unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();

    let err = model.predict(&[]).unwrap_err().to_string();
    assert!(err.contains("takes 1 input(s) (tokens), got 0"), "{err}");

    let err = model
        .predict(&[array![[1.0f32, 2.0, 3.0]].into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("int32") && err.contains("float32"), "{err}");

    let err = model
        .predict(&[array![[1, 2]].into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("(None, 3)") && err.contains("[1, 2]"), "{err}");

    let err = model
        .predict(&[array![[1, 2, 7]].into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'embed'") && err.contains("token id 7") && err.contains("0..4"),
        "{err}"
    );

    // The model still works after the failures.
    assert!(model.predict(&[array![[1, 2, 3]].into()]).is_ok());
}

#[test]
fn inputs_must_agree_on_the_batch_size() {
    let a = Input::new([1]).name("a").build();
    let b = Input::new([1]).name("b").build();
    let model = Model::new(&[a.clone(), b.clone()], &[a, b]).unwrap();
    let err = model
        .predict(&[array![[1.0f32]].into(), array![[1.0f32], [2.0]].into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch size"), "{err}");
}

#[test]
fn set_weights_checks_everything_before_writing() {
    let x = Input::new([2]).build();
    let layer = Dense::new(1).name("d").into_layer();
    let y = layer.call(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let before = model.get_weights();

    let err = model
        .set_weights(&[array![[1.0f32], [1.0]].into_dyn()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected 2 arrays") && err.contains("d/kernel"),
        "{err}"
    );

    let err = model
        .set_weights(&[
            array![[1.0f32], [1.0]].into_dyn(),
            array![1.0f32, 2.0].into_dyn(),
        ])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("d/bias") && err.contains("[1]") && err.contains("[2]"),
        "{err}"
    );
    assert_eq!(
        model.get_weights(),
        before,
        "a failed set_weights must not change the model"
    );
}

#[test]
fn automatic_names_follow_keras_and_do_not_cross_threads() {
    let build = || {
        reset_names();
        let x = Input::new([2]).build();
        let a = Dense::new(2).call(&x).unwrap();
        let b = Dense::new(2).call(&a).unwrap();
        let m = Model::new(&[x], &[b]).unwrap();
        let mut names: Vec<String> = m.layers().iter().map(|l| l.name().to_string()).collect();
        names.push(m.name().to_string());
        names
    };
    let handles: Vec<_> = (0..4).map(|_| std::thread::spawn(build)).collect();
    for h in handles {
        assert_eq!(
            h.join().unwrap(),
            ["input_layer", "dense", "dense_1", "functional"]
        );
    }
}

#[test]
fn the_plan_frees_each_intermediate_after_its_last_use() {
    let x = Input::new([2]).build();
    let a = Dense::new(2).name("a").call(&x).unwrap();
    let b = Dense::new(2).name("b").call(&a).unwrap();
    let c = Dense::new(2).name("c").call(&b).unwrap();
    let model = Model::new(&[x], &[c]).unwrap();
    let plan = model.plan();
    assert_eq!(plan.steps().len(), 3);
    let out_slot = plan.output_slots()[0];
    // step 0 (a) reads the input; step 1 (b) is the last reader of a's output, ...
    assert_eq!(plan.steps()[0].free_after(), vec![plan.input_slots()[0]]);
    assert_eq!(
        plan.steps()[1].free_after(),
        vec![plan.steps()[0].outputs()[0]]
    );
    assert_eq!(
        plan.steps()[2].free_after(),
        vec![plan.steps()[1].outputs()[0]]
    );
    assert!(!plan
        .steps()
        .iter()
        .any(|s| s.free_after().contains(&out_slot)));
}

#[test]
fn an_input_can_be_an_output_and_outputs_can_repeat() {
    let x = Input::new([2]).build();
    let y = Dense::new(1).call(&x).unwrap();
    let model = Model::new(std::slice::from_ref(&x), &[x.clone(), y.clone(), y]).unwrap();
    let out = model.predict(&[array![[1.0f32, 2.0]].into()]).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Value::from(array![[1.0f32, 2.0]]));
    assert_eq!(out[1], out[2]);
}

#[test]
fn a_model_must_start_from_inputs() {
    let x = Input::new([2]).build();
    let hidden = Dense::new(2).name("first").call(&x).unwrap();
    let y = Dense::new(1).call(&hidden).unwrap();
    let err = Model::new(&[hidden], &[y]).unwrap_err().to_string();
    assert!(
        err.contains("not made by `Input`") && err.contains("first"),
        "{err}"
    );
}
