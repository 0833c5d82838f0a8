//! The functional API's graph rules: capture, errors, sharing, naming.

use ndarray::{array, ArrayD, IxDyn};
use tensorweave::prelude::*;

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
    assert_eq!(names, ["tokens", "embedding", "dense"]);
    model
        .set_weights(&[
            ArrayD::from_shape_vec(IxDyn(&[5, 2]), (0..10).map(|v| v as f32).collect()).unwrap(),
            array![[1.0f32], [10.0]].into_dyn(),
            array![0.5f32].into_dyn(),
        ])
        .unwrap();
    let out = model.predict(&[array![[1, 0, 4]].into()]).unwrap();
    // row 1 = [2, 3] -> 2 + 30 + 0.5; row 0 = [0, 1] -> 10.5; row 4 = [8, 9] -> 98.5
    assert_eq!(
        out[0].as_f32().unwrap(),
        &array![[[32.5f32], [10.5], [98.5]]].into_dyn()
    );
}
