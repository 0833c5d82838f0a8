use super::*;
use ndarray::array;
use ndarray_npy::WriteNpyExt;

fn npy_of<T: ndarray_npy::WritableElement>(a: ArrayD<T>) -> Vec<u8> {
    let mut out = Vec::new();
    a.write_npy(&mut out).unwrap();
    out
}

/// An .npy with the given header dict and data bytes (version 1.0).
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let text = format!("{header}\n");
    bytes.extend((text.len() as u16).to_le_bytes());
    bytes.extend(text.as_bytes());
    bytes.extend(data);
    bytes
}

fn budget() -> MemoryBudget {
    MemoryBudget::default()
}

#[test]
fn numpy_files_read_back_exactly() {
    let a = array![[1.5f32, -2.0], [3.0, 4.25]].into_dyn();
    let npy = Npy::from_bytes(npy_of(a.clone()), "a.npy", &budget()).unwrap();
    assert_eq!(npy.shape(), &[2, 2]);
    assert_eq!(npy.dtype(), NpyDtype::F32);
    assert_eq!(npy.to_f32().unwrap(), a);

    let ids = array![[1i64, 2, 3]].into_dyn();
    let npy = Npy::from_bytes(npy_of(ids), "ids.npy", &budget()).unwrap();
    assert_eq!(npy.to_i32().unwrap(), array![[1i32, 2, 3]].into_dyn());
    assert_eq!(npy.to_f32().unwrap(), array![[1.0f32, 2.0, 3.0]].into_dyn());

    let mask = array![true, false].into_dyn();
    let npy = Npy::from_bytes(npy_of(mask.clone()), "m.npy", &budget()).unwrap();
    assert_eq!(npy.to_bool().unwrap(), mask);
}

#[test]
fn fortran_order_and_big_endian_are_honoured() {
    // Column-major [[1, 2], [3, 4]] is stored 1, 3, 2, 4.
    let data: Vec<u8> = [1i32, 3, 2, 4]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let bytes = raw(
        "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 2), }",
        &data,
    );
    let npy = Npy::from_bytes(bytes, "f.npy", &budget()).unwrap();
    assert_eq!(npy.to_i32().unwrap(), array![[1i32, 2], [3, 4]].into_dyn());
}

#[test]
fn a_lying_shape_is_an_error_naming_shape_and_size_not_an_allocation() {
    // The case: a small file claiming (10^12, 10) int32.
    let bytes = raw(
        "{'descr': '<i4', 'fortran_order': False, 'shape': (1000000000000, 10), }",
        &[0u8; 200],
    );
    let len = bytes.len();
    let err = Npy::from_bytes(bytes, "tokens.npy", &budget())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(1000000000000, 10)"), "{err}");
    assert!(err.contains(&format!("the file ({len} bytes)")), "{err}");
    assert!(err.contains("truncated or its header lies"), "{err}");
    assert!(err.len() < 300, "{err}");
}

#[test]
fn overflowing_shapes_and_extra_data_are_errors() {
    let bytes = raw(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 3), }",
        &[],
    );
    let err = Npy::from_bytes(bytes, "x.npy", &budget())
        .unwrap_err()
        .to_string();
    assert!(err.contains("64-bit"), "{err}");
    let bytes = raw(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    let err = Npy::from_bytes(bytes, "x.npy", &budget())
        .unwrap_err()
        .to_string();
    assert!(err.contains("disagrees with the data"), "{err}");
    let bytes = raw(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        &[],
    );
    let err = Npy::from_bytes(bytes, "x.npy", &budget())
        .unwrap_err()
        .to_string();
    assert!(err.contains("too large to count"), "{err}");
}

#[test]
fn the_budget_bounds_the_converted_array() {
    let a = ArrayD::<f32>::zeros(vec![100, 10]);
    let err = Npy::from_bytes(npy_of(a), "x.npy", &MemoryBudget::new(3000)).unwrap_err();
    for needle in ["(100, 10)", "memory budget"] {
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

#[test]
fn types_are_converted_only_where_meaningful() {
    let f = Npy::from_bytes(npy_of(array![1.5f64].into_dyn()), "f.npy", &budget()).unwrap();
    let err = f.to_i32().unwrap_err().to_string();
    assert!(err.contains("float64 values, not integers"), "{err}");
    let big = Npy::from_bytes(npy_of(array![1u64 << 40].into_dyn()), "b.npy", &budget()).unwrap();
    let err = big.to_i32().unwrap_err().to_string();
    assert!(
        err.contains("1099511627776") && err.contains("int32"),
        "{err}"
    );
    let h = raw(
        "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }",
        &[0, 0],
    );
    let err = Npy::from_bytes(h, "h.npy", &budget())
        .unwrap()
        .to_f32()
        .unwrap_err()
        .to_string();
    assert!(err.contains("float16"), "{err}");
    let b = raw(
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
        &[1, 7],
    );
    let err = Npy::from_bytes(b, "b.npy", &budget())
        .unwrap()
        .to_bool()
        .unwrap_err()
        .to_string();
    assert!(err.contains("byte 7"), "{err}");
}

#[test]
fn malformed_headers_are_named() {
    for (bytes, needle) in [
        (b"hello".to_vec(), "not an .npy file"),
        (b"\x93NUMPY".to_vec(), "truncated inside its header"),
        (b"\x93NUMPY\x09\x00\x00\x00".to_vec(), "version 9.0"),
        (
            b"\x93NUMPY\x01\x00\xff\xff{".to_vec(),
            "header claims 65535 bytes",
        ),
        (
            raw(
                "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                &[0; 8],
            ),
            "dtype '<c8'",
        ),
        (
            raw(
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                &[0; 4],
            ),
            "structured",
        ),
        (
            raw("{'descr': '<f4', 'shape': (1,), }", &[0; 4]),
            "no 'fortran_order'",
        ),
        (
            raw(
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",
                &[0; 4],
            ),
            "neither True",
        ),
        (
            raw(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }",
                &[0; 4],
            ),
            "not a tuple",
        ),
        (
            raw(&format!("{{'{}': 1}}", "k".repeat(10_000)), &[]),
            "unknown key",
        ),
    ] {
        let err = Npy::from_bytes(bytes, "x.npy", &budget())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(err.len() < 300, "{err}");
    }
}
