//! What `Trainer::fit` does besides Keras' fixtures (`keras_fit.rs` checks
//! those number for number): seeded shuffling, TerminateOnNaN, ModelCheckpoint
//! with `save_best_only`, a user's own callback, and the errors for data that
//! does not fit.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD};
use tensorweave::prelude::*;
use tensorweave::train::{
    loss_from_config, optimizer_from_config, Callback, Control, Dataset, FitOptions, Logs,
    ModelCheckpoint, TerminateOnNaN, Trainer, Verbosity,
};

/// A small regression model, the same initial weights every time.
fn model() -> Model {
    let x = Input::new([3]).build();
    let h = Dense::new(4)
        .activation(Activation::Tanh)
        .seed(1)
        .call(&x)
        .unwrap();
    let y = Dense::new(1).seed(2).call(&h).unwrap();
    Model::new(&[x], &[y]).unwrap()
}

fn data(rows: usize) -> (Vec<Value>, Vec<ArrayD<f32>>) {
    let x = Array2::from_shape_fn((rows, 3), |(r, c)| ((r * 3 + c) as f32 * 0.37).sin());
    let y = Array2::from_shape_fn((rows, 1), |(r, _)| (r as f32 * 0.5).cos());
    (vec![Value::F32(x.into_dyn())], vec![y.into_dyn()])
}

fn trainer(model: &Model, lr: f64) -> Trainer {
    let opt = optimizer_from_config(&serde_json::json!({
        "class_name": "SGD", "config": {"learning_rate": lr}
    }))
    .unwrap();
    let loss = loss_from_config(&serde_json::json!("mse")).unwrap();
    Trainer::new(model, opt, vec![Some(loss)])
        .unwrap()
        .threads(1)
}

fn options(epochs: usize) -> FitOptions {
    FitOptions {
        batch_size: 4,
        epochs,
        verbosity: Verbosity::Silent,
        ..FitOptions::default()
    }
}

#[test]
fn a_shuffle_seed_repeats_its_order_and_another_seed_changes_it() {
    let (x, y) = data(12);
    let run = |shuffle: Option<u64>| {
        let m = model();
        let o = FitOptions {
            shuffle,
            ..options(3)
        };
        trainer(&m, 0.1).fit(&x, &y, None, &o).unwrap();
        m.get_weights()
    };
    let (a, b, c, plain) = (run(Some(7)), run(Some(7)), run(Some(8)), run(None));
    assert_eq!(a, b, "the same seed trains the same");
    assert_ne!(a, c, "another seed orders the rows otherwise");
    assert_ne!(a, plain, "shuffled differs from in order");
}

#[test]
fn terminate_on_nan_stops_after_the_first_non_finite_loss() {
    let m = model();
    let (x, mut y) = data(12);
    y[0][[5, 0]] = f32::NAN;
    let mut stop = TerminateOnNaN::new();
    let history = trainer(&m, 0.1)
        .fit_with(&x, &y, None, &options(5), &mut [&mut stop])
        .unwrap();
    assert_eq!(
        stop.stopped_at_batch,
        Some(1),
        "row 5 is in the second batch"
    );
    assert_eq!(history.batches.len(), 2);
    assert_eq!(history.epochs.len(), 1);
}

#[test]
fn model_checkpoint_saves_only_improving_epochs_and_fills_the_path() {
    let dir = std::env::temp_dir().join(format!("tensorweave-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir
        .join("model-{epoch:02d}-{loss:.3f}")
        .display()
        .to_string();
    let m = model();
    let (x, y) = data(12);
    let mut checkpoint = ModelCheckpoint::new(
        &template,
        Box::new(|model: &Model, path: &std::path::Path| model.save(path)),
    )
    .monitor("loss")
    .save_best_only(true);
    let history = trainer(&m, 0.05)
        .fit_with(&x, &y, None, &options(4), &mut [&mut checkpoint])
        .unwrap();
    let losses = history.epoch_values("loss");
    let mut best = f32::INFINITY;
    let improving: Vec<usize> = (0..losses.len())
        .filter(|&e| {
            let better = losses[e] < best;
            best = best.min(losses[e]);
            better
        })
        .collect();
    assert_eq!(checkpoint.saved.len(), improving.len(), "{losses:?}");
    for (path, &epoch) in checkpoint.saved.iter().zip(&improving) {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name, format!("model-{:02}-{:.3}", epoch + 1, losses[epoch]));
        let reloaded = Model::load(path).unwrap();
        assert_eq!(reloaded.count_params(), m.count_params());
    }
    // The last saved file holds the weights at the end of the best epoch.
    let last = Model::load(checkpoint.saved.last().unwrap()).unwrap();
    if improving.last() == Some(&(losses.len() - 1)) {
        assert_eq!(last.get_weights(), m.get_weights());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A user's callback: counts batches and halves the learning rate after
/// each epoch through the control it is given.
#[derive(Default)]
struct Halving {
    batches: usize,
    rates: Vec<f32>,
}

impl Callback for Halving {
    fn on_train_batch_end(
        &mut self,
        _: usize,
        _: &Logs,
        _: &mut Control<'_>,
    ) -> tensorweave::Result<()> {
        self.batches += 1;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        _: usize,
        _: &mut Logs,
        ctl: &mut Control<'_>,
    ) -> tensorweave::Result<()> {
        let lr = ctl.optimizer.current_learning_rate();
        self.rates.push(lr);
        ctl.optimizer.set_learning_rate(lr / 2.0)
    }
}

#[test]
fn a_user_callback_sees_every_batch_and_can_change_the_learning_rate() {
    let m = model();
    let (x, y) = data(10);
    let mut cb = Halving::default();
    let mut t = trainer(&m, 0.08);
    t.fit_with(&x, &y, None, &options(3), &mut [&mut cb])
        .unwrap();
    assert_eq!(cb.batches, 9, "3 batches (4, 4, 2) per epoch");
    assert_eq!(cb.rates, vec![0.08, 0.04, 0.02]);
    assert_eq!(t.optimizer().current_learning_rate(), 0.01);
}

#[test]
fn data_that_does_not_fit_is_an_error_naming_it() {
    let m = model();
    let (x, y) = data(8);
    let mut t = trainer(&m, 0.1);
    let short = vec![y[0].slice(ndarray::s![..5, ..]).to_owned().into_dyn()];
    let err = t
        .fit(&x, &short, None, &options(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("8 rows") && err.contains("5"), "{err}");
    let split = FitOptions {
        validation_split: 1.5,
        ..options(1)
    };
    let err = t.fit(&x, &y, None, &split).unwrap_err().to_string();
    assert!(err.contains("validation_split"), "{err}");
    let classes = FitOptions {
        class_weight: Some(BTreeMap::from([(0, 1.0)])),
        ..options(1)
    };
    let labels = vec![ArrayD::from_elem(vec![8, 1], 3.0f32)];
    let err = t.fit(&x, &labels, None, &classes).unwrap_err().to_string();
    assert!(err.contains("class 3"), "{err}");
    let err = t
        .evaluate(&Dataset::new(x.clone(), y.clone()), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_size"), "{err}");
    // Nothing was trained by the failed calls.
    assert_eq!(t.optimizer().iterations(), 0);
}

#[test]
fn an_untrained_model_saved_as_keras_loads_back_with_its_weights() {
    let m = model();
    let path = std::env::temp_dir().join(format!(
        "tensorweave-untrained-{}.keras",
        std::process::id()
    ));
    m.save_keras(&path).unwrap();
    let back = Model::from_keras(&path, None).unwrap();
    assert_eq!(back.get_weights(), m.get_weights());
    let (x, _) = data(3);
    assert_eq!(back.predict(&x).unwrap()[0], m.predict(&x).unwrap()[0]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_activity_regularizer_inside_a_wrapper_is_refused_by_name() {
    let x = Input::new([Some(4), Some(3)]).build();
    let inner = Lstm::new(2).activity_regularizer(serde_json::json!({
        "class_name": "L2", "config": {"l2": 0.01}
    }));
    let y = Bidirectional::new(inner).call(&x).unwrap();
    let m = Model::new(&[x], &[y]).unwrap();
    let xs = vec![Value::F32(ArrayD::from_elem(vec![2, 4, 3], 0.5))];
    let ys = vec![ArrayD::from_elem(vec![2, 4], 0.1f32)];
    let err = trainer(&m, 0.1)
        .fit(&xs, &ys, None, &options(1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("activity_regularizer") && err.contains("forward_lstm"),
        "{err}"
    );
}

#[test]
fn a_lambda_layer_is_an_error_that_says_how_to_replace_it() {
    let config = serde_json::json!({
        "module": "keras.layers", "class_name": "Lambda", "registered_name": null,
        "config": {"name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}
    });
    let err = tensorweave::io::default_registry()
        .create(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'lambda'") && err.contains("Python code") && err.contains("register_layer"),
        "{err}"
    );
}
