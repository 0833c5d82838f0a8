//! User-defined layers that wrap other layers, or that are recurrent, work
//! like the built-in ones: a wrapper saves to native JSON + safetensors,
//! reloads, summarizes and plots through `Layer::sublayers`; a recurrent layer
//! that describes itself (`Layer::recurrence`) and is registered can be
//! wrapped by `Bidirectional`.

use ndarray::{array, ArrayD, Axis};
use serde_json::{json, Value as Json};
use tensorweave::core::{BuildContext, Recurrence, Sublayer};
use tensorweave::io::registry::register_layer;
use tensorweave::prelude::*;
use tensorweave::{Error, Result};

/// `Scaled(layer, factor)`: calls `layer`, multiplies its output by `factor`.
#[derive(Debug)]
struct Scaled {
    inner: LayerRef,
    factor: f32,
}

impl Layer for Scaled {
    fn class_name(&self) -> &str {
        "Scaled"
    }

    fn config(&self) -> Json {
        json!({ "factor": self.factor })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        self.inner.build_with(inputs, ctx)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        self.inner.read().output_specs(inputs)
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let mut out = self.inner.read().call(inputs, ctx)?;
        let y = out.remove(0).into_f32()?.mapv(|v| v * self.factor);
        Ok(vec![Value::F32(y)])
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        vec![Sublayer::nested("layer", self.inner.clone())]
    }
}

fn scaled(inner: impl IntoLayer, factor: f32, name: &str) -> LayerRef {
    LayerRef::new(
        name,
        Scaled {
            inner: inner.into_layer(),
            factor,
        },
    )
}

fn register_scaled() {
    register_layer("user_layers>Scaled", |config, registry| {
        let name = config
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("scaled");
        let factor = config.get("factor").and_then(Json::as_f64).unwrap_or(1.0) as f32;
        let inner = config
            .get("layer")
            .ok_or_else(|| Error::Config("Scaled needs a `layer`".into()))?;
        Ok(scaled(&registry.create(inner)?, factor, name))
    });
}

#[test]
fn a_user_wrapper_saves_reloads_summarizes_and_plots() {
    register_scaled();
    let x = Input::new([2]).name("x").build();
    let dense = Dense::new(3).name("inner_dense").weights([
        array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn(),
        array![0.5f32, 0.0, -0.5].into_dyn(),
    ]);
    let y = scaled(dense, 2.0, "scaled").call(&x).unwrap();
    let model = Model::with_name("wrapped", &[x], &[y]).unwrap();
    let input: Value = array![[1.0f32, -1.0]].into();
    // 2 · ([1, -1]·W + b) = 2 · [-3 + 0.5, -3, -3 - 0.5]
    let expected = array![[-5.0f32, -6.0, -7.0]].into_dyn();
    assert_eq!(
        model.predict(std::slice::from_ref(&input)).unwrap()[0],
        Value::F32(expected.clone())
    );

    // Weights under the wrapper's and the inner layer's names.
    let paths: Vec<String> = model.weight_specs().into_iter().map(|w| w.0).collect();
    assert_eq!(
        paths,
        ["scaled/inner_dense/kernel", "scaled/inner_dense/bias"]
    );

    // The configuration nests the inner layer as a Keras layer object.
    let json: Json = serde_json::from_str(&model.to_json().unwrap()).unwrap();
    let entry = &json["config"]["layers"][1];
    assert_eq!(entry["registered_name"], "user_layers>Scaled");
    assert_eq!(entry["config"]["layer"]["class_name"], "Dense");
    assert_eq!(entry["config"]["layer"]["module"], "keras.layers");

    let dir = std::env::temp_dir().join(format!("tw-user-wrapper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.predict(&[input]).unwrap()[0], Value::F32(expected));
    std::fs::remove_dir_all(&dir).ok();

    let summary = loaded.summary();
    assert!(summary.contains("scaled (Scaled)"), "{summary}");
    assert!(summary.contains("Total params: 9"), "{summary}");
    let svg = loaded.plot(&PlotOptions::default());
    assert!(svg.contains("wraps inner_dense (Dense)"), "{svg}");
}

/// A user recurrent layer: the running sum of the input over time (from the
/// end with `go_backwards`), as its sequence or its last step; no weights.
#[derive(Debug, Clone)]
struct CumSum {
    return_sequences: bool,
    go_backwards: bool,
    units: usize,
}

impl Layer for CumSum {
    fn class_name(&self) -> &str {
        "CumSum"
    }

    fn config(&self) -> Json {
        json!({
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": false,
            "go_backwards": self.go_backwards,
        })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let x = &inputs[0];
        Ok(vec![if self.return_sequences {
            x.clone()
        } else {
            TensorSpec::f32(vec![x.shape[0], x.shape[2]])
        }])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let mut x = inputs.f32(0)?.clone();
        if self.go_backwards {
            x.invert_axis(Axis(1));
        }
        let mut acc = x.index_axis(Axis(1), 0).to_owned() * 0.0;
        for mut step in x.axis_iter_mut(Axis(1)) {
            acc += &step;
            step.assign(&acc);
        }
        Ok(vec![Value::F32(if self.return_sequences {
            x
        } else {
            acc
        })])
    }

    fn recurrence(&self) -> Option<Recurrence> {
        Some(Recurrence {
            units: self.units,
            states: 0,
            return_sequences: self.return_sequences,
            return_state: false,
            go_backwards: self.go_backwards,
        })
    }
}

#[test]
fn bidirectional_wraps_a_registered_user_recurrent_layer() {
    register_layer("user_layers>CumSum", |config, _| {
        let flag = |k: &str| config.get(k).and_then(Json::as_bool).unwrap_or(false);
        let layer = CumSum {
            return_sequences: flag("return_sequences"),
            go_backwards: flag("go_backwards"),
            units: config.get("units").and_then(Json::as_u64).unwrap_or(1) as usize,
        };
        let name = config
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("cum_sum");
        Ok(LayerRef::new(name, layer))
    });
    let x = Input::new([3, 2]).build();
    let inner = LayerRef::new(
        "running",
        CumSum {
            return_sequences: true,
            go_backwards: false,
            units: 2,
        },
    );
    let bi = Bidirectional::new(&inner).call(&x).unwrap();
    let names: Vec<String> = bi
        .layer()
        .read()
        .sublayers()
        .iter()
        .map(|s| s.layer.name().to_string())
        .collect();
    assert_eq!(names, ["forward_running", "backward_running"]);
    let model = Model::new(&[x], &[bi]).unwrap();
    let input: Value = array![[[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0]]].into();
    let out = model
        .predict(&[input])
        .unwrap()
        .remove(0)
        .into_f32()
        .unwrap();
    // Forward: running sums 1, 3, 6; backward (summed from the end, then put
    // back in input order by Bidirectional): 6, 5, 3; concatenated.
    let expected: ArrayD<f32> = array![[
        [1.0f32, 10.0, 6.0, 60.0],
        [3.0, 30.0, 5.0, 50.0],
        [6.0, 60.0, 3.0, 30.0]
    ]]
    .into_dyn();
    assert_eq!(out, expected);
}
