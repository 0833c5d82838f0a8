//! Loss and metric API behaviour: builders give Keras' configs, identifiers resolve as in
//! `compile`, and bad input is an error naming what is wrong. Ground truth from
//! `tests/fixtures/losses.json` and `metrics.json` (real Keras 3.15.1).

mod common;

use common::{assert_err_contains, dims, fixture, tensor};
use ndarray::{array, ArrayD, IxDyn};
use serde_json::json;
use tensorweave_train::losses::{
    BinaryCrossentropy, CategoricalCrossentropy, CosineSimilarity, Hinge, Huber, KlDivergence,
    MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossentropy,
};
use tensorweave_train::metrics::{Auc, BinaryAccuracy, Curve, Precision};
use tensorweave_train::{
    loss_from_config, metric_from_config, Loss, Metric, PerEntry, Prediction, Reduction, Wrt,
};

#[test]
fn loss_builders_give_the_configs_keras_gives() {
    let fx = fixture("losses.json");
    let configs: Vec<&serde_json::Value> = fx["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["config"])
        .collect();
    let built: Vec<Box<dyn Loss>> = vec![
        Box::new(CategoricalCrossentropy::new()),
        Box::new(
            CategoricalCrossentropy::new()
                .from_logits(true)
                .label_smoothing(0.1)
                .axis(1)
                .named("cce")
                .reduction(Reduction::Sum),
        ),
        Box::new(SparseCategoricalCrossentropy::new().ignore_class(Some(0))),
        Box::new(BinaryCrossentropy::new().label_smoothing(0.2)),
        Box::new(MeanSquaredError::new()),
        Box::new(MeanAbsoluteError::new().reduction(Reduction::Sum)),
        Box::new(Huber::new().delta(3.0)),
        Box::new(KlDivergence::new()),
        Box::new(Hinge::new()),
        Box::new(CosineSimilarity::new().axis(1)),
    ];
    assert_eq!(built.len(), configs.len());
    for (l, c) in built.iter().zip(configs) {
        assert_eq!(&l.config(), c);
    }
}

#[test]
fn string_identifiers_keep_their_name_and_config() {
    for (s, name) in [
        ("mse", "mse"),
        ("MSE", "MSE"),
        ("mean_squared_error", "mean_squared_error"),
        ("MeanSquaredError", "mean_squared_error"),
        ("bce", "bce"),
        ("Huber", "huber_loss"),
        ("huber", "huber"),
        ("kld", "kld"),
        ("CategoricalCrossentropy", "categorical_crossentropy"),
    ] {
        let l = loss_from_config(&json!(s)).unwrap();
        assert_eq!(l.name(), name, "{s}");
        assert_eq!(l.config(), json!(s));
        assert_eq!(l.reduction(), Reduction::SumOverBatchSize);
    }
}

#[test]
fn loss_errors_name_the_problem() {
    for (v, needle) in [
        (json!("ctc"), "ctc"),
        (json!("crossentropy"), "loss_for_shapes"),
        (
            json!({"class_name": "MeanSquaredError", "config": {"delta": 1.0}}),
            "delta",
        ),
        (
            json!({"class_name": "MeanSquaredError", "config": {"reduction": "avg"}}),
            "avg",
        ),
        (
            json!({"class_name": "MeanSquaredError", "config": {"dtype": "float16"}}),
            "float16",
        ),
    ] {
        assert_err_contains(loss_from_config(&v), &[needle]);
    }

    let y = array![[0.2f32, 0.8], [0.6, 0.4]].into_dyn();
    let labels = array![1.0f32, 2.0].into_dyn();
    let scce = SparseCategoricalCrossentropy::new();
    assert_err_contains(
        scce.per_entry(labels.view(), &Prediction::new(y.view())),
        &["label value of 2"],
    );
    let cce = CategoricalCrossentropy::new();
    let wrong = array![[1.0f32, 0.0, 0.0]].into_dyn();
    assert_err_contains(
        cce.per_entry(wrong.view(), &Prediction::new(y.view())),
        &["(1, 3)", "(2, 2)"],
    );
    let none = MeanSquaredError::new().reduction(Reduction::None);
    assert_err_contains(
        none.compute(y.view(), &Prediction::new(y.view()), None, None),
        &["none"],
    );
    let bad_logits = ArrayD::<f32>::zeros(IxDyn(&[3]));
    let pred = Prediction::with_logits(
        y.view(),
        bad_logits.view(),
        tensorweave_train::losses::Activation::Softmax,
    );
    assert!(cce.per_entry(y.view(), &pred).is_err());
}

/// `reduce` is the public building block: one can reduce hand-made per-entry values.
#[test]
fn reduce_follows_keras_divisors() {
    let per = || PerEntry {
        values: array![1.0f32, 2.0, 3.0, 4.0].into_dyn(),
        grad: array![[1.0f32], [1.0], [1.0], [1.0]].into_dyn(),
        wrt: Wrt::Output,
        reduced_axes: vec![1],
        mask: None,
    };
    let sw = array![1.0f32, 0.0, 2.0, 0.0].into_dyn();
    // sum_over_batch_size divides by the number of entries, not the sum of the weights.
    let r = tensorweave_train::reduce(per(), Some(sw.view()), None, Reduction::SumOverBatchSize)
        .unwrap();
    assert_eq!(r.value, (1.0 + 6.0) / 4.0);
    assert_eq!(
        r.grad.iter().copied().collect::<Vec<_>>(),
        vec![0.25, 0.0, 0.5, 0.0]
    );
    let r = tensorweave_train::reduce(
        per(),
        Some(sw.view()),
        None,
        Reduction::MeanWithSampleWeight,
    )
    .unwrap();
    assert_eq!(r.value, 7.0 / 3.0);
    let mask = array![true, true, false, false].into_dyn();
    let r = tensorweave_train::reduce(per(), None, Some(mask.view()), Reduction::SumOverBatchSize)
        .unwrap();
    assert_eq!(r.value, 1.5);
    let r = tensorweave_train::reduce(per(), None, Some(mask.view()), Reduction::Sum).unwrap();
    assert_eq!(r.value, 3.0);
    let mut bad = per();
    bad.reduced_axes = vec![0];
    assert!(tensorweave_train::reduce(bad, None, None, Reduction::Sum).is_err());
}

#[test]
fn metric_identifiers_resolve_as_compile_does() {
    let fx = fixture("metrics.json");
    for c in fx["cases"].as_array().unwrap() {
        if !c["metric"].is_string() {
            continue;
        }
        let m = metric_from_config(
            &c["metric"],
            &dims(&c["y_true_shape"]),
            &dims(&c["y_pred_shape"]),
        )
        .unwrap();
        assert_eq!(m.name(), c["name"].as_str().unwrap());
    }
    // Resolution uses the shapes only (Keras 3 ignores the loss).
    let probe = |yt: &[usize], yp: &[usize]| {
        let mut m = metric_from_config(&json!("Accuracy"), yt, yp).unwrap();
        let t = ArrayD::<f32>::zeros(IxDyn(yt));
        let p = ArrayD::<f32>::from_elem(IxDyn(yp), 0.7);
        m.update(t.view(), p.view(), None, None).unwrap();
        m.result()
    };
    assert_eq!(probe(&[4, 1], &[4, 1]), 0.0); // binary: 0.7 > 0.5 against label 0
    assert_eq!(probe(&[4], &[4, 3]), 1.0); // sparse: argmax 0 == label 0
    assert_eq!(probe(&[4, 3], &[4, 3]), 1.0); // categorical: argmax 0 == argmax 0
}

#[test]
fn metric_builders_and_errors() {
    let mut acc = BinaryAccuracy::new().threshold(0.7).named("acc");
    let t = tensor(&json!({"shape": [3, 1], "data": [1.0, 1.0, 0.0]}));
    let p = tensor(&json!({"shape": [3, 1], "data": [0.8, 0.7, 0.1]}));
    acc.update(t.view(), p.view(), None, None).unwrap();
    assert_eq!(acc.name(), "acc");
    assert!((acc.result() - 2.0 / 3.0).abs() < 1e-7);
    acc.reset();
    assert_eq!(acc.result(), 0.0);
    assert!(Precision::new().threshold(1.5).is_err());
    assert!(Auc::new().num_thresholds(1).is_err());
    let auc = Auc::new().curve(Curve::Pr).named("pr_auc");
    assert_eq!(auc.name(), "pr_auc");
    for (v, key) in [
        (json!("f1_score"), "f1_score"),
        (
            json!({"class_name": "AUC", "config": {"multi_label": true}}),
            "multi_label",
        ),
        (
            json!({"class_name": "Precision", "config": {"thresholds": [0.2, 0.4]}}),
            "single threshold",
        ),
        (
            json!({"class_name": "BinaryAccuracy", "config": {"thresold": 0.5}}),
            "thresold",
        ),
    ] {
        assert_err_contains(metric_from_config(&v, &[2, 1], &[2, 1]), &[key]);
    }
    let mut p = Precision::new().class_id(5);
    let y = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    assert_err_contains(p.update(y.view(), y.view(), None, None), &["class_id 5"]);
}
