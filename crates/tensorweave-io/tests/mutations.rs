//! Structure-aware mutations of the real Keras fixtures (proptest): sizes,
//! shapes, dtypes and node references in config JSON; shapes, dtypes, lengths
//! and offsets in `.npy` and safetensors headers; truncations and byte flips
//! of HDF5 weights and `.keras` archives. Each mutated file must load or fail
//! with a one-line error — never panic.
//!
//! The fuzz targets in `fuzz/` do the same without structure, guided by
//! coverage; these run in every `cargo test`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value as Json};
use tensorweave_core::{MemoryBudget, Model, Value};
use tensorweave_io::h5_weights::keras_h5_weights_with;
use tensorweave_io::keras_archive::{
    read_keras_archive, read_keras_archive_from_with, KerasWeights,
};
use tensorweave_io::native::weights_from_safetensors;
use tensorweave_io::npy::Npy;
use tensorweave_io::ModelIo;

/// The budget the mutated files load within.
const BUDGET: MemoryBudget = MemoryBudget::new(256 << 20);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras")
}

/// A fixture with everything the mutations start from.
struct Fixture {
    name: String,
    config: Json,
    archive: Vec<u8>,
    h5: Vec<u8>,
    input: Vec<u8>,
    /// The model built from the archive, with its weights (`None` for a
    /// user-defined layer).
    model: Option<Model>,
    /// The model in the native format: JSON and safetensors bytes.
    native: Option<(String, Vec<u8>)>,
}

fn all() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("model.keras").is_file())
            .collect();
        dirs.sort();
        dirs.iter()
            .map(|dir| {
                let archive_path = dir.join("model.keras");
                let archive = read_keras_archive(&archive_path).unwrap();
                let h5 = match &archive.weights {
                    KerasWeights::H5(b) => b.clone(),
                    KerasWeights::Npz(_) => unreachable!("fixtures hold .h5 weights"),
                };
                let model = tensorweave_io::load::load_model(&archive_path, None).ok();
                let native = model.as_ref().map(|m| {
                    let base = std::env::temp_dir().join(format!(
                        "tw-mutations-{}-{}",
                        std::process::id(),
                        dir.file_name().unwrap().to_string_lossy()
                    ));
                    m.save(&base).unwrap();
                    let json = std::fs::read_to_string(base.with_extension("json")).unwrap();
                    let st = std::fs::read(base.with_extension("safetensors")).unwrap();
                    let _ = std::fs::remove_file(base.with_extension("json"));
                    let _ = std::fs::remove_file(base.with_extension("safetensors"));
                    (json, st)
                });
                Fixture {
                    name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                    config: archive.config,
                    archive: std::fs::read(&archive_path).unwrap(),
                    h5,
                    input: std::fs::read(dir.join("input_0.npy")).unwrap(),
                    model,
                    native,
                }
            })
            .collect()
    })
}

fn fixture(pick: usize) -> &'static Fixture {
    let all = all();
    &all[pick % all.len()]
}

/// Fails the case unless `message` is one line of reasonable length.
fn assert_one_line(label: &str, message: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !message.contains('\n'),
        "{label}: multi-line error {message:?}"
    );
    prop_assert!(
        message.len() < 2000,
        "{label}: error of {} bytes: {}…",
        message.len(),
        message.chars().take(300).collect::<String>()
    );
    Ok(())
}

/// JSON pointers to every leaf and container of `value`.
fn pointers(value: &Json, at: String, out: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Replacement values that stay small: they exercise parsing, graph building
/// and shape inference without asking for memory.
fn small_value(choice: usize) -> Json {
    let values = [
        json!(0),
        json!(1),
        json!(-1),
        json!(3),
        json!(0.5),
        json!(null),
        json!(""),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!([null]),
        json!([0]),
        json!([null, 0]),
        json!([1, 2, 3, 4, 5, 6, 7]),
        json!("float16"),
        json!("int32"),
        json!("bool"),
        json!(["dense", 7, 0]),
        json!(["nowhere", 0, 0]),
        json!("__keras_tensor__"),
        json!("Functional"),
    ];
    values[choice % values.len()].clone()
}

/// Sizes a hostile config might declare: these must be refused by budget
/// checks before any allocation.
fn huge_value(choice: usize) -> Json {
    let values = [
        json!(2_147_483_648u64),
        json!(4_294_967_297u64),
        json!(10_000_000_000u64),
        json!(1_000_000_000_000u64),
        json!(9_223_372_036_854_775_808u64),
        json!(18_446_744_073_709_551_615u64),
        json!(1e300),
        json!(-9_223_372_036_854_775_808i64),
    ];
    values[choice % values.len()].clone()
}

/// Config keys whose values are sizes (or lists of sizes).
const SIZE_KEYS: [&str; 14] = [
    "units",
    "input_dim",
    "output_dim",
    "filters",
    "kernel_size",
    "pool_size",
    "strides",
    "n",
    "batch_shape",
    "target_shape",
    "dims",
    "shape",
    "input_shape",
    "size",
];

/// Whether the pointer names a size: a size key, or an element of one.
fn is_size(ptr: &str) -> bool {
    let mut parts = ptr.rsplit('/');
    let last = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    SIZE_KEYS.contains(&last) || (last.parse::<usize>().is_ok() && SIZE_KEYS.contains(&parent))
}

/// `config` with up to three mutations: each replaces the value at one
/// pointer (chosen by index; among sizes only when `sizes_only`) by
/// `value(choice)`, or removes it.
fn mutate_config(
    config: &Json,
    edits: &[(usize, usize, bool)],
    value: fn(usize) -> Json,
    sizes_only: bool,
) -> Json {
    let mut config = config.clone();
    for &(at, choice, remove) in edits {
        let mut ptrs = Vec::new();
        pointers(&config, String::new(), &mut ptrs);
        if sizes_only {
            ptrs.retain(|p| is_size(p));
            if ptrs.is_empty() {
                continue;
            }
        }
        let ptr = &ptrs[at % ptrs.len()];
        if ptr.is_empty() {
            continue;
        }
        if remove {
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            match config.pointer_mut(parent) {
                Some(Json::Object(map)) => {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Json::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
                _ => {}
            }
        } else if let Some(slot) = config.pointer_mut(ptr) {
            *slot = value(choice);
        }
    }
    config
}

/// Builds the mutated config; when it builds, loads the fixture's weights
/// into it and runs it on the fixture's input. All of it may fail; none of
/// it may panic (a panic fails the proptest case and is shrunk).
fn exercise_config(f: &Fixture, config: &Json) -> Result<(), TestCaseError> {
    let registry = tensorweave_io::default_registry();
    let model = match tensorweave_io::model_from_keras_config(config, &registry) {
        Ok(m) => m,
        Err(e) => return assert_one_line(&f.name, &e.to_string()),
    };
    if let Err(e) = keras_h5_weights_with(&model, &f.h5, &BUDGET) {
        return assert_one_line(&f.name, &e.to_string());
    }
    let Ok(npy) = Npy::from_bytes(f.input.clone(), "input_0.npy", &BUDGET) else {
        return Ok(());
    };
    let inputs = match model.inputs().first().map(|t| t.dtype()) {
        Some(tensorweave_core::DType::I32) => npy.to_i32().map(Value::I32),
        _ => npy.to_f32().map(Value::F32),
    };
    if let Ok(x) = inputs {
        if model.inputs().len() == 1 {
            if let Err(e) = model.predict(&[x]) {
                assert_one_line(&f.name, &e.to_string())?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    /// Small values in the sizes of the config (units, dims, kernel sizes,
    /// batch shapes): zero, negative, fractional, null, lists.
    #[test]
    fn config_size_mutations_with_small_values_never_panic(
        pick in 0usize..64,
        edits in prop::collection::vec((0usize..100_000, 0usize..64, any::<bool>()), 1..3),
    ) {
        let f = fixture(pick);
        let config = mutate_config(&f.config, &edits, small_value, true);
        exercise_config(f, &config)?;
    }

    /// Small values anywhere in the config (names, node references, shapes,
    /// dtypes, options), or keys removed.
    #[test]
    fn config_mutations_never_panic(
        pick in 0usize..64,
        edits in prop::collection::vec((0usize..100_000, 0usize..64, any::<bool>()), 1..4),
    ) {
        let f = fixture(pick);
        let config = mutate_config(&f.config, &edits, small_value, false);
        exercise_config(f, &config)?;
    }

    /// An `.npy` whose header's shape, dtype or order was changed, or that was
    /// cut or extended: read and converted, or refused.
    #[test]
    fn npy_header_mutations_never_panic(
        pick in 0usize..64,
        shape in prop::collection::vec(prop_oneof![0u64..12, Just(u64::MAX), Just(1 << 40), Just(1 << 62)], 0..5),
        descr in prop::sample::select(vec!["<f4", "<f8", "<i4", "<i8", "|b1", "|u1", ">i2", "<f2", "<c8", "O", "<U3", ""]),
        fortran in any::<bool>(),
        data_len in prop_oneof![Just(None), (0usize..400).prop_map(Some)],
    ) {
        let f = fixture(pick);
        let data_start = 10 + u16::from_le_bytes([f.input[8], f.input[9]]) as usize;
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        let data = &f.input[data_start..];
        let data = match data_len { Some(n) => &data[..n.min(data.len())], None => data };
        bytes.extend(data);
        match Npy::from_bytes(bytes, "x.npy", &BUDGET) {
            Ok(npy) => {
                let _ = npy.to_f32();
                let _ = npy.to_i32();
                let _ = npy.to_bool();
            }
            Err(e) => assert_one_line("npy", &e.to_string())?,
        }
    }

    /// Safetensors whose header had a tensor's shape, dtype or offsets changed,
    /// or whose length field or data was cut: read for the model, or refused
    /// with a message that names a tensor or the header.
    #[test]
    fn safetensors_header_mutations_never_panic(
        pick in 0usize..64,
        tensor in 0usize..64,
        field in 0usize..6,
        number in prop_oneof![0u64..100, Just(u64::MAX), Just(1 << 40), Just(u32::MAX as u64)],
        cut in prop_oneof![Just(None), (0usize..100_000).prop_map(Some)],
    ) {
        let f = fixture(pick);
        let (Some(model), Some((_, st))) = (&f.model, &f.native) else { return Ok(()); };
        let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Map<String, Json> = serde_json::from_slice(&st[8..8 + n]).unwrap();
        let names: Vec<String> = header.keys().filter(|k| *k != "__metadata__").cloned().collect();
        let mut length_field = None;
        if let Some(name) = names.get(tensor % names.len().max(1)) {
            let entry = header.get_mut(name).unwrap();
            match field {
                0 => entry["shape"] = json!([number]),
                1 => entry["shape"].as_array_mut().unwrap().push(json!(number)),
                2 => entry["dtype"] = json!(["F16", "I64", "BOOL", "Q9", "BF16"][number as usize % 5]),
                3 => entry["data_offsets"][0] = json!(number),
                4 => entry["data_offsets"][1] = json!(number),
                _ => length_field = Some(number),
            }
        }
        let text = serde_json::to_vec(&Json::Object(header)).unwrap();
        let mut bytes = length_field.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
        bytes.extend(&text);
        bytes.extend(&st[8 + n..]);
        if let Some(c) = cut {
            bytes.truncate(c);
        }
        if let Err(e) = weights_from_safetensors(model, &bytes, Path::new("w.safetensors"), &BUDGET) {
            let message = e.to_string();
            assert_one_line("safetensors", &message)?;
            prop_assert!(
                message.contains("tensor '") || message.contains("header") || message.contains("weight '")
                    || message.contains("bytes"),
                "names nothing: {message}"
            );
        }
    }

    /// HDF5 weights cut short or with bytes changed: read for the model, or
    /// refused.
    #[test]
    fn h5_byte_mutations_never_panic(
        pick in 0usize..64,
        flips in prop::collection::vec((0usize..1_000_000, any::<u8>()), 0..6),
        cut in prop_oneof![Just(None), (0usize..1_000_000).prop_map(Some)],
    ) {
        let f = fixture(pick);
        let Some(model) = &f.model else { return Ok(()); };
        let mut bytes = f.h5.clone();
        for &(at, b) in &flips {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        if let Err(e) = keras_h5_weights_with(model, &bytes, &BUDGET) {
            assert_one_line("h5", &e.to_string())?;
        }
    }

    /// `.keras` archives cut short or with bytes changed: read, built and
    /// loaded, or refused.
    #[test]
    fn keras_archive_byte_mutations_never_panic(
        pick in 0usize..64,
        flips in prop::collection::vec((0usize..1_000_000, any::<u8>()), 0..6),
        cut in prop_oneof![Just(None), (0usize..1_000_000).prop_map(Some)],
    ) {
        let f = fixture(pick);
        let mut bytes = f.archive.clone();
        for &(at, b) in &flips {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        match read_keras_archive_from_with(std::io::Cursor::new(bytes), "m.keras", &BUDGET) {
            Ok(archive) => {
                let registry = tensorweave_io::default_registry();
                if let Ok(model) = tensorweave_io::model_from_keras_config(&archive.config, &registry) {
                    if let Err(e) = archive.load_weights_into_with(&model, &BUDGET) {
                        assert_one_line("keras", &e.to_string())?;
                    }
                }
            }
            Err(e) => assert_one_line("keras", &e.to_string())?,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Huge sizes in the config (units, dims, kernel sizes, batch shapes,
    /// `n`): the model must be refused by a budget or shape check before
    /// anything is allocated (an abort would end the test process).
    #[test]
    fn config_size_mutations_never_panic_or_abort(
        pick in 0usize..64,
        edits in prop::collection::vec((0usize..100_000, 0usize..64, Just(false)), 1..3),
    ) {
        let f = fixture(pick);
        let config = mutate_config(&f.config, &edits, huge_value, true);
        exercise_config(f, &config)?;
    }
}
