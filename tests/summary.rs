//! `model.summary()` against Keras 3.15.1.
//!
//! Every fixture's `summary.txt` is Keras' own output
//! (`model.summary(line_length=120)`). The fixture models were built in one Keras
//! session, so their auto names carry suffixes (`embedding_4`, `not_equal_3`)
//! while our builders start every model from fresh name counters. The tests map
//! our names to Keras' by pairing `model.layers()` with the layer list of the
//! fixture's `model.json` (the same order, checked by class and by base name),
//! apply the mapping to the summary's *content* (row names and "Connected to"),
//! and then compare the rendered text byte for byte, layout included.
mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value as Json;
use support::models;
use tensorweave::core::{FunctionalLayer, LayerRef};
use tensorweave::prelude::*;
use tensorweave::viz::summary::{summary_with, Summary, SummaryOptions};
use tensorweave::viz::ModelInspect;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras")
        .join(name)
}

fn keras_summary(name: &str) -> String {
    let text = std::fs::read_to_string(fixture_dir(name).join("summary.txt")).expect("summary.txt");
    format!("{}\n", text.trim_end_matches('\n'))
}

fn model_json(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture_dir(name).join("model.json")).expect("model.json");
    serde_json::from_str(&text).expect("model.json parses")
}

/// `embedding_4` -> `embedding`; `conv1d_1` -> `conv1d`.
fn base_name(name: &str) -> &str {
    match name.rsplit_once('_') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// Pairs our layers with the Keras config's layer list, recursing into nested
/// models, and records our name -> Keras name.
fn map_names(ours: &[LayerRef], keras: &[Json], map: &mut HashMap<String, String>) {
    assert_eq!(
        ours.len(),
        keras.len(),
        "layer count differs: ours {:?}",
        ours.iter().map(|l| l.name()).collect::<Vec<_>>()
    );
    for (layer, entry) in ours.iter().zip(keras) {
        let keras_name = entry["name"].as_str().expect("layer name");
        let keras_class = entry["class_name"].as_str().expect("class name");
        let our_class = layer.class_name();
        let class_ok = our_class == keras_class || keras_class == "AttLayer";
        assert!(
            class_ok,
            "{} is {our_class}, Keras has {keras_name} {keras_class}",
            layer.name()
        );
        assert_eq!(
            base_name(layer.name()),
            base_name(keras_name),
            "order differs"
        );
        if let Some(previous) = map.insert(layer.name().to_string(), keras_name.to_string()) {
            assert_eq!(
                previous,
                keras_name,
                "{} maps to two Keras names",
                layer.name()
            );
        }
        let inner = layer
            .read()
            .as_any()
            .downcast_ref::<FunctionalLayer>()
            .map(|f| f.graph().ordered_layers().cloned().collect::<Vec<_>>());
        if let Some(inner) = inner {
            let inner_keras = entry["config"]["layers"].as_array().expect("nested layers");
            map_names(&inner, inner_keras, map);
        }
    }
}

/// Our summary content of fixture `name`, in Keras' names.
fn summary_in_keras_names(name: &str, expand_nested: bool) -> Summary {
    let model = models::build(name);
    let json = model_json(name);
    let mut map = HashMap::new();
    map_names(
        &model.layers(),
        json["config"]["layers"].as_array().expect("layers"),
        &mut map,
    );
    let mut summary = Summary::of(&model, expand_nested);
    let rename = |n: &mut String| {
        let keras = map
            .get(n.as_str())
            .unwrap_or_else(|| panic!("no Keras name for {n}"));
        *n = keras.clone();
    };
    for row in &mut summary.rows {
        rename(&mut row.name);
        for c in &mut row.connected_to {
            rename(&mut c.layer);
        }
    }
    summary.model_name = json["config"]["name"]
        .as_str()
        .expect("model name")
        .to_string();
    summary
}

fn diff(ours: &str, keras: &str) -> String {
    let mut out = String::new();
    for (i, (a, b)) in ours.lines().zip(keras.lines()).enumerate() {
        if a != b {
            out.push_str(&format!("line {}:\n ours:  {a}\n keras: {b}\n", i + 1));
        }
    }
    let (na, nb) = (ours.lines().count(), keras.lines().count());
    if na != nb {
        out.push_str(&format!("{na} lines, Keras has {nb}\n"));
    }
    out
}

fn width(line_length: usize) -> SummaryOptions {
    SummaryOptions {
        line_length: Some(line_length),
        ..SummaryOptions::default()
    }
}

#[test]
fn all_fixture_summaries_match_keras_byte_for_byte() {
    let mut failures = Vec::new();
    for name in models::FIXTURES {
        let ours = summary_in_keras_names(name, false)
            .render(&width(120))
            .expect("renders");
        let keras = keras_summary(name);
        if ours != keras {
            failures.push(format!("== {name}\n{}", diff(&ours, &keras)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixture_rows_totals_and_structure() {
    // The content checks behind the text comparison, in our own names.
    for name in models::FIXTURES {
        let model = models::build(name);
        let summary = Summary::of(&model, false);
        let names: Vec<String> = model
            .layers()
            .iter()
            .map(|l| l.name().to_string())
            .collect();
        let rows: Vec<String> = summary.rows.iter().map(|r| r.name.clone()).collect();
        assert_eq!(rows, names, "{name}");
        let json = model_json(name);
        let case: Json = serde_json::from_str(
            &std::fs::read_to_string(fixture_dir(name).join("case.json")).expect("case.json"),
        )
        .expect("case.json parses");
        assert_eq!(
            summary.trainable_params + summary.non_trainable_params,
            case["params"].as_u64().expect("params") as usize,
            "{name}"
        );
        assert_eq!(
            summary.trainable_params,
            case["trainable_params"].as_u64().expect("trainable") as usize,
            "{name}"
        );
        // Sequential-like models are the 3-column tables.
        let keras = keras_summary(name);
        let keras_columns = keras.lines().nth(1).expect("top rule").matches('┳').count() + 1;
        assert_eq!(summary.sequential_like, keras_columns == 3, "{name}");
        assert_eq!(
            json["config"]["layers"].as_array().expect("layers").len(),
            rows.len()
        );
    }
}

#[test]
fn shared_layers_list_every_call() {
    // siamese_shared: the shared embedding and Bidirectional show both calls.
    let summary = summary_in_keras_names("siamese_shared", false);
    let bidi = summary
        .rows
        .iter()
        .find(|r| r.class_name == "Bidirectional")
        .expect("bidirectional row");
    let text: Vec<String> = bidi
        .connected_to
        .iter()
        .map(|c| format!("{}[{}][{}]", c.layer, c.node_index, c.tensor_index))
        .collect();
    // Keras (summary.txt): data tensor, then the mask passed with it, per call.
    assert_eq!(
        text,
        [
            "embedding_8[0][0]",
            "not_equal_7[0][0]",
            "embedding_8[1][0]",
            "not_equal_8[0][0]"
        ]
    );
}

#[test]
fn default_widths_match_keras() {
    // Keras' defaults (108 columns, or 88 when sequential-like), with a
    // terminal wide enough not to cap them.
    let siamese = summary_in_keras_names("siamese_shared", false)
        .render(&SummaryOptions::default())
        .unwrap();
    assert_eq!(
        siamese,
        SIAMESE_DEFAULT,
        "{}",
        diff(&siamese, SIAMESE_DEFAULT)
    );
    let td = summary_in_keras_names("timedistributed_model", false)
        .render(&SummaryOptions::default())
        .unwrap();
    assert_eq!(
        td,
        TIMEDISTRIBUTED_DEFAULT,
        "{}",
        diff(&td, TIMEDISTRIBUTED_DEFAULT)
    );
}

#[test]
fn expand_nested_matches_keras() {
    let options = SummaryOptions {
        line_length: Some(120),
        expand_nested: true,
        ..SummaryOptions::default()
    };
    let ours = summary_in_keras_names("nested_multi_output", true)
        .render(&options)
        .unwrap();
    assert_eq!(
        ours,
        NESTED_EXPANDED_120,
        "{}",
        diff(&ours, NESTED_EXPANDED_120)
    );
}

#[test]
fn show_trainable_matches_keras() {
    let options = SummaryOptions {
        show_trainable: true,
        ..SummaryOptions::default()
    };
    let ours = summary_in_keras_names("shape_ops", false)
        .render(&options)
        .unwrap();
    assert_eq!(
        ours,
        SHAPE_OPS_TRAINABLE,
        "{}",
        diff(&ours, SHAPE_OPS_TRAINABLE)
    );
    // At 100 columns, long cells and the "Trainable" header are cut with `…`.
    let options = SummaryOptions {
        show_trainable: true,
        line_length: Some(100),
        ..SummaryOptions::default()
    };
    let ours = summary_in_keras_names("nested_multi_output", false)
        .render(&options)
        .unwrap();
    assert_eq!(
        ours,
        NESTED_TRAINABLE_100,
        "{}",
        diff(&ours, NESTED_TRAINABLE_100)
    );
}

#[test]
fn model_summary_uses_our_names_and_errors_on_narrow_widths() {
    let model = models::build("bilstm_sequences");
    let text = model.summary();
    assert!(text.starts_with(&format!("Model: \"{}\"\n", model.name())));
    assert!(text.contains("│ embedding (Embedding) "));
    assert!(text.contains("│ embedding[0][0],"));
    assert!(text.contains(" Total params: 1,040 (4.06 KB)\n"));
    let err = summary_with(&model, &width(20)).unwrap_err();
    assert!(err.to_string().contains("line_length"), "{err}");
    let bad_positions = SummaryOptions {
        positions: Some(vec![0.5, 1.0]),
        ..SummaryOptions::default()
    };
    assert!(summary_with(&model, &bad_positions).is_err());
}

/// Control characters in names (a hostile file, or a careless one) are shown
/// escaped: every line of the table keeps its width and no raw control
/// character reaches the terminal.
#[test]
fn control_characters_in_names_do_not_break_the_table() {
    let x = Input::new([3]).name("in\u{0}put").build();
    let y = Dense::new(2).name("a\nb\u{1b}[31m").call(&x).unwrap();
    let z = Dense::new(2).name("tab\there").call(&y).unwrap();
    let model = Model::with_name("m\r", &[x], &[z]).unwrap();
    let text = model.summary();
    assert!(text.starts_with("Model: \"m\\r\"\n"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(text.contains("in\\u{0}put (InputLayer)"), "{text}");
    assert!(text.contains("a\\nb\\u{1b}[31m (Dense)"), "{text}");
    assert!(text.contains("tab\\there (Dense)"), "{text}");
    let table: Vec<&str> = text
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with(' '))
        .collect();
    let width = table[0].chars().count();
    assert!(
        table.len() > 5 && table.iter().all(|l| l.chars().count() == width),
        "{text}"
    );
}

// Keras 3.15.1 output for the fixtures' own `model.keras` files, produced with
// (COLUMNS=200, so that the terminal does not cap the width):
//
//     m = keras.saving.load_model(f"tests/fixtures/keras/{name}/model.keras")
//     lines = []
//     m.summary(print_fn=lambda s, **k: lines.append(s), **kwargs)
//     print("".join(lines), end="")
/// Keras: siamese_shared {}
const SIAMESE_DEFAULT: &str = r#"Model: "functional_9"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                  ┃ Output Shape              ┃         Param # ┃ Connected to               ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│ left (InputLayer)             │ (None, 10)                │               0 │ -                          │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ right (InputLayer)            │ (None, 10)                │               0 │ -                          │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ embedding_8 (Embedding)       │ (None, 10, 8)             │             320 │ left[0][0], right[0][0]    │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ not_equal_7 (NotEqual)        │ (None, 10)                │               0 │ left[0][0]                 │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ not_equal_8 (NotEqual)        │ (None, 10)                │               0 │ right[0][0]                │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ bidirectional_7               │ (None, 8)                 │             416 │ embedding_8[0][0],         │
│ (Bidirectional)               │                           │                 │ not_equal_7[0][0],         │
│                               │                           │                 │ embedding_8[1][0],         │
│                               │                           │                 │ not_equal_8[0][0]          │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ subtract (Subtract)           │ (None, 8)                 │               0 │ bidirectional_7[0][0],     │
│                               │                           │                 │ bidirectional_7[1][0]      │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ multiply (Multiply)           │ (None, 8)                 │               0 │ bidirectional_7[0][0],     │
│                               │                           │                 │ bidirectional_7[1][0]      │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ concatenate (Concatenate)     │ (None, 32)                │               0 │ bidirectional_7[0][0],     │
│                               │                           │                 │ bidirectional_7[1][0],     │
│                               │                           │                 │ subtract[0][0],            │
│                               │                           │                 │ multiply[0][0]             │
├───────────────────────────────┼───────────────────────────┼─────────────────┼────────────────────────────┤
│ dense_1 (Dense)               │ (None, 1)                 │              33 │ concatenate[0][0]          │
└───────────────────────────────┴───────────────────────────┴─────────────────┴────────────────────────────┘
 Total params: 769 (3.00 KB)
 Trainable params: 769 (3.00 KB)
 Non-trainable params: 0 (0.00 B)
"#;

/// Keras: timedistributed_model {}
const TIMEDISTRIBUTED_DEFAULT: &str = r#"Model: "functional_15"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ document (InputLayer)                │ (None, 3, 6)                │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ time_distributed_1 (TimeDistributed) │ (None, 3, 4)                │             528 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ global_average_pooling1d_1           │ (None, 4)                   │               0 │
│ (GlobalAveragePooling1D)             │                             │                 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_7 (Dense)                      │ (None, 2)                   │              10 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 538 (2.10 KB)
 Trainable params: 538 (2.10 KB)
 Non-trainable params: 0 (0.00 B)
"#;

/// Keras: nested_multi_output {'expand_nested': True, 'line_length': 120}
const NESTED_EXPANDED_120: &str = r#"Model: "functional_12"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                      ┃ Output Shape                 ┃           Param # ┃ Connected to                  ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│ x (InputLayer)                    │ (None, 6)                    │                 0 │ -                             │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ dense_5 (Dense)                   │ (None, 5)                    │                35 │ x[0][0]                       │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ block (Functional)                │ (None, 5)                    │                45 │ x[0][0]                       │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│    └ features (InputLayer)        │ (None, 6)                    │                 0 │ -                             │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│    └ dense_4 (Dense)              │ (None, 5)                    │                35 │ -                             │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│    └ layer_normalization          │ (None, 5)                    │                10 │ -                             │
│ (LayerNormalization)              │                              │                   │                               │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ batch_normalization               │ (None, 5)                    │                20 │ dense_5[0][0]                 │
│ (BatchNormalization)              │                              │                   │                               │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ add (Add)                         │ (None, 5)                    │                 0 │ block[0][0],                  │
│                                   │                              │                   │ batch_normalization[0][0]     │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ activation (Activation)           │ (None, 5)                    │                 0 │ add[0][0]                     │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ average (Average)                 │ (None, 5)                    │                 0 │ add[0][0], activation[0][0]   │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ head_a (Dense)                    │ (None, 2)                    │                12 │ average[0][0]                 │
├───────────────────────────────────┼──────────────────────────────┼───────────────────┼───────────────────────────────┤
│ head_b (Dense)                    │ (None, 3)                    │                18 │ average[0][0]                 │
└───────────────────────────────────┴──────────────────────────────┴───────────────────┴───────────────────────────────┘
 Total params: 130 (520.00 B)
 Trainable params: 120 (480.00 B)
 Non-trainable params: 10 (40.00 B)
"#;

/// Keras: shape_ops {'show_trainable': True}
const SHAPE_OPS_TRAINABLE: &str = r#"Model: "functional_16"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┓
┃ Layer (type)                  ┃ Output Shape              ┃          Param # ┃ Connected to              ┃ Trainable ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━┩
│ frames (InputLayer)           │ (None, 10, 4)             │                0 │ -                         │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ conv1d_4 (Conv1D)             │ (None, 10, 4)             │               52 │ frames[0][0]              │     Y     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ conv1d_5 (Conv1D)             │ (None, 5, 4)              │               36 │ conv1d_4[0][0]            │     Y     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ average_pooling1d             │ (None, 3, 4)              │                0 │ conv1d_5[0][0]            │     -     │
│ (AveragePooling1D)            │                           │                  │                           │           │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ permute (Permute)             │ (None, 4, 3)              │                0 │ average_pooling1d[0][0]   │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ not_equal_13 (NotEqual)       │ (None, 10, 4)             │                0 │ frames[0][0]              │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ reshape (Reshape)             │ (None, 12)                │                0 │ permute[0][0]             │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ masking (Masking)             │ (None, 10, 4)             │                0 │ frames[0][0]              │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ any (Any)                     │ (None, 10)                │                0 │ not_equal_13[0][0]        │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ dense_8 (Dense)               │ (None, 3)                 │               39 │ reshape[0][0]             │     Y     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ lstm_7 (LSTM)                 │ (None, 10, 3)             │               96 │ masking[0][0], any[0][0]  │     Y     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ repeat_vector (RepeatVector)  │ (None, 2, 3)              │                0 │ dense_8[0][0]             │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ cropping1d (Cropping1D)       │ (None, 2, 3)              │                0 │ lstm_7[0][0]              │     -     │
├───────────────────────────────┼───────────────────────────┼──────────────────┼───────────────────────────┼───────────┤
│ concatenate_3 (Concatenate)   │ (None, 4, 3)              │                0 │ repeat_vector[0][0],      │     -     │
│                               │                           │                  │ cropping1d[0][0]          │           │
└───────────────────────────────┴───────────────────────────┴──────────────────┴───────────────────────────┴───────────┘
 Total params: 223 (892.00 B)
 Trainable params: 223 (892.00 B)
 Non-trainable params: 0 (0.00 B)
"#;

/// Keras: nested_multi_output {'show_trainable': True, 'line_length': 100}
const NESTED_TRAINABLE_100: &str = r#"Model: "functional_12"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)             ┃ Output Shape         ┃       Param # ┃ Connected to         ┃ Traina… ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ x (InputLayer)           │ (None, 6)            │             0 │ -                    │    -    │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ dense_5 (Dense)          │ (None, 5)            │            35 │ x[0][0]              │    Y    │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ block (Functional)       │ (None, 5)            │            45 │ x[0][0]              │    Y    │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ batch_normalization      │ (None, 5)            │            20 │ dense_5[0][0]        │    Y    │
│ (BatchNormalization)     │                      │               │                      │         │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ add (Add)                │ (None, 5)            │             0 │ block[0][0],         │    -    │
│                          │                      │               │ batch_normalization… │         │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ activation (Activation)  │ (None, 5)            │             0 │ add[0][0]            │    -    │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ average (Average)        │ (None, 5)            │             0 │ add[0][0],           │    -    │
│                          │                      │               │ activation[0][0]     │         │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ head_a (Dense)           │ (None, 2)            │            12 │ average[0][0]        │    Y    │
├──────────────────────────┼──────────────────────┼───────────────┼──────────────────────┼─────────┤
│ head_b (Dense)           │ (None, 3)            │            18 │ average[0][0]        │    Y    │
└──────────────────────────┴──────────────────────┴───────────────┴──────────────────────┴─────────┘
 Total params: 130 (520.00 B)
 Trainable params: 120 (480.00 B)
 Non-trainable params: 10 (40.00 B)
"#;

/// Keras' summaries of a `Sequential` model (no `InputLayer` row) and of
/// models loaded compiled after training (`Optimizer params`, counted in the
/// total, the step counter as int64): `tests/fixtures/keras_summary`, written
/// by `make_summary.py`. Our summary of each loaded archive equals Keras'
/// summary of the model it saved, byte for byte.
#[test]
fn sequential_and_optimizer_summaries_match_keras() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_summary");
    for name in [
        "sequential_uncompiled",
        "sequential_sgd_trained",
        "functional_adam_trained",
    ] {
        let dir = root.join(name);
        let model = Model::from_keras(dir.join("model.keras"), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let keras = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
        let keras = format!("{}\n", keras.trim_end_matches('\n'));
        let ours = model.summary();
        assert_eq!(ours, keras, "{name}:\n{}", diff(&ours, &keras));
    }
}

/// Keras' width rule: the default line length is at most the terminal's
/// width minus 4, cells wrapping as rich wraps them (`make_narrow.py`, the
/// same archives summarized by Keras with `COLUMNS` = 100, 80 and 60).
#[test]
fn the_default_width_follows_the_terminal_as_in_keras() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_summary");
    for name in [
        "sequential_uncompiled",
        "sequential_sgd_trained",
        "functional_adam_trained",
    ] {
        let dir = root.join(name);
        let model = Model::from_keras(dir.join("model.keras"), None).unwrap();
        for columns in [100, 80, 60] {
            let file = dir.join(format!("loaded_summary_columns_{columns}.txt"));
            let keras = std::fs::read_to_string(&file).unwrap();
            let keras = format!("{}\n", keras.trim_end_matches('\n'));
            let options = SummaryOptions {
                terminal_width: Some(columns),
                ..SummaryOptions::default()
            };
            let ours = model.summary_with(&options).unwrap();
            assert_eq!(ours, keras, "{name} at {columns}:\n{}", diff(&ours, &keras));
        }
    }
}

/// A model trained here summarizes as Keras' after `fit`: the optimizer's
/// variables (SGD with momentum: the step counter, the learning rate, one
/// slot per weight) appear once it has taken a step.
#[test]
fn a_trained_model_counts_its_optimizer_like_keras() {
    use tensorweave::train::{loss_from_config, optimizer_from_config, Trainer};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_summary/sequential_sgd_trained");
    let tokens = Input::new([Some(12)])
        .dtype(DType::I32)
        .name("input_layer")
        .build();
    // The fixture's second model of its session: Keras named it so.
    let e = Embedding::new(50, 8)
        .name("embedding_1")
        .call(&tokens)
        .unwrap();
    let h = Bidirectional::new(Lstm::new(6))
        .name("bidirectional_1")
        .call(&e)
        .unwrap();
    let y = Dense::new(3)
        .activation(Activation::Softmax)
        .name("dense_1")
        .call(&h)
        .unwrap();
    let model = Model::with_name("sequential", &[tokens], &[y]).unwrap();
    model.set_sequential(true);
    let opt = optimizer_from_config(&serde_json::json!({
        "class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}
    }))
    .unwrap();
    let loss = loss_from_config(&serde_json::json!("sparse_categorical_crossentropy")).unwrap();
    let mut trainer = Trainer::new(&model, opt, vec![Some(loss)]).unwrap();
    assert!(!model.summary().contains("Optimizer params"));
    let x = ndarray::Array2::from_shape_fn((4, 12), |(r, t)| ((r * 7 + t) % 49 + 1) as i32);
    let y = ndarray::Array1::from_shape_fn(4, |r| (r % 3) as f32);
    trainer
        .train_on_batch(&[Value::I32(x.into_dyn())], &[y.into_dyn()], None)
        .unwrap();
    let keras = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    let keras = format!("{}\n", keras.trim_end_matches('\n'));
    let ours = model.summary();
    assert_eq!(ours, keras, "{}", diff(&ours, &keras));
}
