//! A model file with a layer class tensorweave has no constructor for is
//! opened for inspection from what it records: the Keras fixture
//! `custom_attention` (Keras 3.15.1, a user-defined `AttLayer` registered as
//! `textclf>AttLayer`) gets Keras' parameter counts and exactly Keras'
//! weights (`weights.npz`, written by `model.get_weights()`), and running it
//! is an error naming the layer; a tensorweave native file with a user layer
//! the reader does not know is described the same way.

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use tensorweave_core::{
    BuildContext, CallContext, Error, Input, Inputs, Layer, LayerRef, MemoryBudget, Model, Param,
    Result, TensorSpec, Value,
};
use tensorweave_io::described::described_layers;
use tensorweave_io::load::inspect_model_with;
use tensorweave_io::npz::read_npz_weights;
use tensorweave_io::ModelIo;
use tensorweave_layers::prelude::{Dense, IntoLayer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras/custom_attention")
        .join(name)
}

#[test]
fn a_keras_user_layer_is_described_with_keras_weights() {
    let model =
        inspect_model_with(&fixture("model.keras"), None, &MemoryBudget::default()).unwrap();
    let case: Json = serde_json::from_slice(&std::fs::read(fixture("case.json")).unwrap()).unwrap();
    let (trainable, frozen) = model.count_params();
    assert_eq!(
        trainable + frozen,
        case["params"].as_u64().unwrap() as usize
    );
    assert_eq!(
        trainable,
        case["trainable_params"].as_u64().unwrap() as usize
    );

    // Keras' get_weights() order, att_layer's three weights in place.
    let keras = read_npz_weights(&fixture("weights.npz")).unwrap();
    assert_eq!(model.get_weights(), keras);

    let described = described_layers(&model);
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].layer.name(), "att_layer");
    assert_eq!(described[0].layer.class_name(), "AttLayer");
    let att = model.layer("att_layer").unwrap();
    let graph = model.graph();
    let node = graph.nodes_of(graph.layer_id(&att).unwrap())[0];
    assert_eq!(
        graph.node(node).output_specs()[0].to_string(),
        "(None, 8) float32",
        "the output shape dense_6 records for its input"
    );

    let input = ndarray::Array2::<i32>::ones((1, 10));
    let err = model.predict(&[input.into()]).unwrap_err().to_string();
    assert!(
        err.contains("att_layer") && err.contains("textclf>AttLayer") && err.contains("not run"),
        "{err}"
    );
}

#[test]
fn loading_to_run_still_refuses_the_unknown_class() {
    let err = tensorweave_io::load::load_model(&fixture("model.keras"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown layer class 'AttLayer'"), "{err}");
}

/// `Shift`: adds a learned vector to its input.
#[derive(Debug)]
struct Shift {
    shift: Param,
}

impl Layer for Shift {
    fn class_name(&self) -> &str {
        "Shift"
    }
    fn config(&self) -> Json {
        json!({ "trainable": true })
    }
    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        let n = inputs[0].last_dim().unwrap_or(1);
        self.shift = Param::trainable("shift", ndarray::ArrayD::from_elem(vec![n], 0.5));
        Ok(())
    }
    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        Ok(vec![inputs[0].clone()])
    }
    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.values()[0].as_f32()?;
        Ok(vec![Value::F32(x + &self.shift.value)])
    }
    fn params(&self) -> Vec<&Param> {
        vec![&self.shift]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.shift]
    }
}

#[test]
fn a_native_file_with_an_unknown_user_layer_is_described() {
    let x = Input::new([3]).name("x").build();
    let shift = LayerRef::new(
        "shift",
        Shift {
            shift: Param::trainable("shift", ndarray::ArrayD::zeros(vec![0])),
        },
    );
    let h = shift.call(&x).unwrap();
    let y = Dense::new(2).name("out").into_layer().call(&h).unwrap();
    let model = Model::with_name("m", &[x], &[y]).unwrap();

    // Saved by a program that registered Shift; read by one that did not.
    let mut registry = tensorweave_io::default_registry();
    registry.register("demo>Shift", |_, _| {
        Err(Error::Config("only the writer knows Shift".into()))
    });
    let config = tensorweave_io::keras_json::model_to_keras_config_with(&model, &registry).unwrap();
    let dir = std::env::temp_dir().join(format!("tw-described-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("m.json");
    std::fs::write(&json_path, serde_json::to_string(&config).unwrap()).unwrap();
    model
        .save_weights_safetensors(dir.join("m.safetensors"))
        .unwrap();

    let seen = inspect_model_with(&json_path, None, &MemoryBudget::default()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(seen.count_params(), model.count_params());
    assert_eq!(seen.get_weights(), model.get_weights());
    let described = described_layers(&seen);
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].layer.class_name(), "Shift");
    let zeros = ndarray::Array2::<f32>::zeros((1, 3));
    let err = seen.predict(&[zeros.into()]).unwrap_err();
    for needle in ["'shift'", "demo>Shift"] {
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

/// A Keras op tensorweave does not implement (here the fixture's `NotEqual`
/// renamed to a made-up `NotEqualish`) is described as an op: it stays out of
/// the weights, and its recorded boolean output still feeds the mask.
#[test]
fn an_unknown_op_is_described_as_an_op() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras/bilstm_classifier");
    let text = std::fs::read_to_string(dir.join("model.json")).unwrap();
    assert!(text.contains("\"NotEqual\""));
    let scratch = std::env::temp_dir().join(format!("tw-described-op-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let path = scratch.join("model.json");
    std::fs::write(&path, text.replace("\"NotEqual\"", "\"NotEqualish\"")).unwrap();
    let model = inspect_model_with(
        &path,
        Some(&dir.join("weights.npz")),
        &MemoryBudget::default(),
    )
    .unwrap();
    std::fs::remove_dir_all(&scratch).ok();
    assert_eq!(
        model.get_weights(),
        read_npz_weights(&dir.join("weights.npz")).unwrap()
    );
    let described = described_layers(&model);
    assert_eq!(described.len(), 1);
    let op = described[0].layer.read();
    assert!(op.is_op());
    assert_eq!(op.class_name(), "NotEqualish");
}
