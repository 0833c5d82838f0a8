//! What a new user writes first, from the README and the docs, compiles and
//! does what a Keras user expects: arrays of any dimension and views go in,
//! NumPy's int64 token ids go in (checked), the prelude leaves `std`'s names
//! alone, shapes print as Keras prints them, and `predict` takes a batch size.

use std::error::Error;

use ndarray::{array, Array2, Array3};
use tensorweave::prelude::*;

/// The prelude's glob import must not shadow `std::error::Error` (E0404)
/// nor `Result`: this function's signature is what the README shows.
#[test]
fn prelude_leaves_std_error_and_result_alone() -> Result<(), Box<dyn Error>> {
    let x = Input::new([4]).build();
    let y = Dense::new(2).call(&x)?;
    let model = Model::new(&[x], &[y])?;
    let out = model.predict(&[Array2::<f32>::zeros((3, 4)).into()])?;
    assert_eq!(out[0].shape(), &[3, 2]);
    Ok(())
}

/// Keras: `Embedding(5, 2, weights=[table])` with `table` a 2-D NumPy array.
/// An `Array2`, a view of one, and an `ArrayD` all work.
#[test]
fn embedding_weights_take_any_dimension_and_views() -> Result<(), Box<dyn Error>> {
    let table = array![
        [0.0f32, 0.5],
        [1.0, 1.5],
        [2.0, 2.5],
        [3.0, 3.5],
        [4.0, 4.5]
    ];
    let ids = Value::from(array![[3i32, 1]]);
    for layer in [
        Embedding::new(5, 2).weights(table.clone()),
        Embedding::new(5, 2).weights(table.view()),
        Embedding::new(5, 2).weights(&table),
        Embedding::new(5, 2).weights(table.clone().into_dyn()),
    ] {
        let x = Input::new([2]).dtype(DType::I32).build();
        let y = layer.call(&x)?;
        let model = Model::new(&[x], &[y])?;
        let out = model.predict(std::slice::from_ref(&ids))?;
        assert_eq!(
            out[0].as_f32()?,
            &array![[[3.0f32, 3.5], [1.0, 1.5]]].into_dyn(),
            "rows 3 and 1 of the table"
        );
    }
    Ok(())
}

/// `Value` comes from owned arrays and views of f32, i32 and bool, and from
/// NumPy's default int64 (narrowed with a check).
#[test]
fn values_come_from_views_and_int64() -> Result<(), Box<dyn Error>> {
    let floats = Array3::<f32>::ones((2, 3, 4));
    assert_eq!(Value::from(floats.view()), Value::from(floats.clone()));
    let ids = array![[1i64, 2, 3], [4, 5, 0]];
    let from_owned = Value::try_from(ids.clone())?;
    let from_view = Value::try_from(ids.view())?;
    assert_eq!(from_owned, Value::from(array![[1i32, 2, 3], [4, 5, 0]]));
    assert_eq!(from_view, from_owned);
    let mask = array![[true, false]];
    assert_eq!(Value::from(mask.view()).dtype(), DType::Bool);

    let too_big = array![[1i64, 3_000_000_000]];
    let err = Value::try_from(too_big).unwrap_err().to_string();
    assert!(
        err.contains("3000000000") && err.contains("position 1"),
        "the id that does not fit and where it is are named: {err}"
    );
    Ok(())
}

/// Keras prints `(None, 100, 64)`; so do `{}` and `{:?}` of a tensor's shape.
#[test]
fn shapes_print_as_keras_prints_them() -> Result<(), Box<dyn Error>> {
    let x = Input::new([100]).dtype(DType::I32).build();
    let e = Embedding::new(50, 64).call(&x)?;
    assert_eq!(format!("{}", e.shape()), "(None, 100, 64)");
    assert_eq!(format!("{:?}", e.shape()), "(None, 100, 64)");
    let v = Dense::new(1).call(&GlobalAveragePooling1D::new().call(&e)?)?;
    assert_eq!(v.shape().to_string(), "(None, 1)");
    assert_eq!(format_dims(&[32, 2]), "(32, 2)");
    assert_eq!(format_dims(&[7]), "(7,)");
    Ok(())
}

/// Keras: `model.predict(x, batch_size=...)` returns the same arrays as one
/// call; the last batch may be short.
#[test]
fn predict_takes_a_batch_size() -> Result<(), Box<dyn Error>> {
    set_random_seed(7);
    let x = Input::new([3]).build();
    let y = Dense::new(2).activation(Activation::Tanh).call(&x)?;
    let model = Model::new(&[x], &[y])?;
    let rows = Array2::from_shape_fn((7, 3), |(i, j)| (i * 3 + j) as f32 / 10.0);
    let whole = model.predict(&[rows.view().into()])?;
    let batched = model.predict_in_batches(&[rows.into()], 3)?;
    assert_eq!(batched, whole);
    Ok(())
}
