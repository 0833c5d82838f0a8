//! `plot::to_svg` and `plot::to_dot` on the 17 fixture architectures.
//!
//! Set `TENSORWEAVE_PLOT_DIR=/some/dir` to also write every SVG and DOT file
//! there (to look at them, e.g. `rsvg-convert -o x.png x.svg`).
mod support;

use std::collections::HashSet;

use support::models;
use tensorweave::core::{FunctionalLayer, LayerRef};
use tensorweave::prelude::*;
use tensorweave::viz::plot::{to_dot, to_svg, PlotOptions};

/// Every layer of the model and of the nested models, with its id in the plot
/// (`block/dense` inside `block`), and every edge as (source id, target id).
fn layers_and_edges(layers: &[LayerRef], prefix: &str, ids: &mut Vec<(String, String)>) {
    for layer in layers {
        ids.push((
            format!("{prefix}{}", layer.name()),
            layer.name().to_string(),
        ));
        let inner = nested_layers(layer);
        if let Some(inner) = inner {
            layers_and_edges(&inner, &format!("{prefix}{}/", layer.name()), ids);
        }
    }
}

/// The layers drawn inside `layer`'s cluster: a nested model's, or those of a
/// model wrapped by `TimeDistributed`.
fn nested_layers(layer: &LayerRef) -> Option<Vec<LayerRef>> {
    let of_model = |l: &LayerRef| {
        l.read()
            .as_any()
            .downcast_ref::<FunctionalLayer>()
            .map(|f| f.graph().ordered_layers().cloned().collect::<Vec<_>>())
    };
    let wrapped: Vec<LayerRef> = layer
        .read()
        .sublayers()
        .into_iter()
        .filter(|s| s.config_key.is_some())
        .map(|s| s.layer)
        .collect();
    of_model(layer).or_else(|| match wrapped.as_slice() {
        [inner] => of_model(inner),
        _ => None,
    })
}

fn write_if_asked(name: &str, svg: &str, dot: &str) {
    if let Ok(dir) = std::env::var("TENSORWEAVE_PLOT_DIR") {
        std::fs::create_dir_all(&dir).expect("plot dir");
        std::fs::write(format!("{dir}/{name}.svg"), svg).expect("write svg");
        std::fs::write(format!("{dir}/{name}.dot"), dot).expect("write dot");
    }
}

/// Rectangles of the layer boxes: (id, x, y, w, h).
fn boxes(doc: &roxmltree::Document) -> Vec<(String, f64, f64, f64, f64)> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("layer"))
        .map(|g| {
            let rect = g
                .children()
                .find(|c| c.has_tag_name("rect"))
                .expect("box rect");
            let num = |a: &str| rect.attribute(a).expect(a).parse::<f64>().expect("number");
            (
                g.attribute("id").expect("id").to_string(),
                num("x"),
                num("y"),
                num("width"),
                num("height"),
            )
        })
        .collect()
}

#[test]
fn svg_is_well_formed_names_every_layer_and_boxes_do_not_overlap() {
    for name in models::FIXTURES {
        let model = models::build(name);
        let options = PlotOptions::default();
        let svg = to_svg(&model, &options);
        let dot = to_dot(&model, &options);
        write_if_asked(name, &svg, &dot);
        let doc = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("{name}: SVG is not well-formed XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");

        let mut ids = Vec::new();
        layers_and_edges(&model.layers(), "", &mut ids);
        let placed = boxes(&doc);
        let texts: HashSet<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        for (id, layer) in &ids {
            // A nested model is a cluster, the others are boxes.
            let drawn = doc
                .descendants()
                .any(|n| n.attribute("id") == Some(id.as_str()));
            assert!(drawn, "{name}: no element for layer {id}");
            assert!(
                texts.iter().any(|t| t.starts_with(&format!("{layer} ("))),
                "{name}: layer {layer} is not named in the SVG"
            );
        }
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                let apart =
                    a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1 || a.2 + a.4 <= b.2 || b.2 + b.4 <= a.2;
                assert!(apart, "{name}: boxes {} and {} overlap", a.0, b.0);
            }
        }
    }
}

#[test]
fn dot_names_every_layer_and_edge() {
    for name in models::FIXTURES {
        let model = models::build(name);
        let dot = to_dot(&model, &PlotOptions::default());
        assert!(dot.starts_with(&format!("digraph \"{}\" {{", model.name())));
        let mut ids = Vec::new();
        layers_and_edges(&model.layers(), "", &mut ids);
        let nested: HashSet<String> = model
            .layers()
            .iter()
            .filter(|l| nested_layers(l).is_some())
            .map(|l| l.name().to_string())
            .collect();
        for (id, _) in &ids {
            if nested.contains(id) {
                assert!(
                    dot.contains(&format!("subgraph \"cluster_{id}\"")),
                    "{name}: {id}"
                );
            } else {
                assert!(
                    dot.contains(&format!("\"{id}\" [label=<")),
                    "{name}: no node {id}"
                );
            }
        }
        // Every tensor passed to a call of the top-level graph is an edge.
        let graph = model.graph();
        for ix in graph.nodes() {
            let target = graph.node_layer(ix);
            let masks = graph.node_masks(ix).into_iter().flatten();
            let sources = graph.node_inputs(ix).into_iter().chain(masks);
            for t in sources {
                let (src, dst) = (graph.node_layer(t.node).name(), target.name());
                let ends = |id: &str, end: &str| {
                    // Edges into or out of a cluster end at the inner box.
                    if nested.contains(id) {
                        format!("\"{id}/")
                    } else {
                        format!("\"{id}\"{end}")
                    }
                };
                let from = ends(src, " -> ");
                let to = ends(dst, " [");
                let found = dot
                    .lines()
                    .any(|l| l.trim_start().starts_with(&from) && l.contains(&to));
                assert!(found, "{name}: no edge {src} -> {dst}");
            }
        }
    }
}

#[test]
fn shared_layers_are_one_box_with_labelled_edges() {
    let model = models::build("siamese_shared");
    let svg = to_svg(&model, &PlotOptions::default());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let placed = boxes(&doc);
    assert_eq!(placed.iter().filter(|b| b.0 == "embedding").count(), 1);
    assert_eq!(placed.iter().filter(|b| b.0 == "bidirectional").count(), 1);
    // Two calls of the shared Bidirectional: data and mask edges into each.
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge-label"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(labels.iter().filter(|&&l| l == "node 1").count(), 3); // left/right into embedding: node 0 and 1
    assert!(labels.contains(&"[1][0]"));
    let masks = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge mask"))
        .count();
    assert_eq!(masks, 2);
    let dot = to_dot(&model, &PlotOptions::default());
    assert!(dot.contains("\"embedding\" -> \"bidirectional\" [penwidth=\"2\", taillabel=\"[1][0]\", headlabel=\"node 1\"];"));
}

#[test]
fn nested_models_are_clusters_unless_collapsed() {
    let model = models::build("nested_multi_output");
    let svg = to_svg(&model, &PlotOptions::default());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let cluster = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("cluster"))
        .expect("a cluster");
    assert_eq!(cluster.attribute("id"), Some("block"));
    let placed = boxes(&doc);
    let inner: Vec<_> = placed
        .iter()
        .filter(|b| b.0.starts_with("block/"))
        .collect();
    assert_eq!(inner.len(), 3);
    // The inner boxes lie inside the cluster frame; the outer ones outside it.
    let rect = cluster.children().find(|c| c.has_tag_name("rect")).unwrap();
    let num = |a: &str| rect.attribute(a).unwrap().parse::<f64>().unwrap();
    let (cx, cy, cw, ch) = (num("x"), num("y"), num("width"), num("height"));
    for b in &placed {
        let inside = b.1 >= cx && b.2 >= cy && b.1 + b.3 <= cx + cw && b.2 + b.4 <= cy + ch;
        let disjoint = b.1 + b.3 <= cx || cx + cw <= b.1 || b.2 + b.4 <= cy || cy + ch <= b.2;
        if b.0.starts_with("block/") {
            assert!(inside, "{} outside its cluster", b.0);
        } else {
            assert!(disjoint, "{} overlaps the cluster", b.0);
        }
    }
    let collapsed = PlotOptions {
        expand_nested: false,
        ..PlotOptions::default()
    };
    let svg = to_svg(&model, &collapsed);
    assert!(!svg.contains("class=\"cluster\""));
    assert!(svg.contains("block (Functional)"));
}

#[test]
fn wrappers_name_their_inner_layer_and_names_are_escaped() {
    let model = models::build("timedistributed_model");
    let svg = to_svg(&model, &PlotOptions::default());
    // The sentence encoder inside TimeDistributed is drawn as a cluster of its layers.
    assert!(svg.contains("time_distributed (TimeDistributed)"), "{svg}");
    assert!(svg.contains("id=\"time_distributed/lstm\""), "{svg}");
    let model = models::build("bilstm_sequences");
    let svg = to_svg(&model, &PlotOptions::default());
    assert!(svg.contains("LSTM: forward_lstm + backward_lstm, merge_mode=concat"));

    let x = Input::new([3]).name("a<&>\"b").build();
    let y = Dense::new(2).name("d'x").call(&x).unwrap();
    let model = Model::with_name("m&m", &[x], &[y]).unwrap();
    let svg = to_svg(&model, &PlotOptions::default());
    roxmltree::Document::parse(&svg).expect("escaped names keep the SVG well-formed");
    assert!(svg.contains("a&lt;&amp;&gt;&quot;b (InputLayer)"));
    let dot = to_dot(&model, &PlotOptions::default());
    assert!(dot.contains("\"a<&>\\\"b\" [label=<<table"));
    assert!(dot.contains("<b>a&lt;&amp;&gt;&quot;b</b>"));
}

#[test]
fn nested_twice_and_shared_nested_models_are_drawn() {
    // inner -> middle -> outer, and `middle` called on two inputs.
    let a = Input::new([4]).name("a").build();
    let d = Dense::new(4).call(&a).unwrap();
    let inner = Model::with_name("inner", &[a], &[d]).unwrap();
    let b = Input::new([4]).name("b").build();
    let h = inner.call(&b).unwrap();
    let h = Dense::new(3).call(&h).unwrap();
    let middle = Model::with_name("middle", &[b], &[h]).unwrap();
    let x1 = Input::new([4]).name("x1").build();
    let x2 = Input::new([4]).name("x2").build();
    let y1 = middle.call(&x1).unwrap();
    let y2 = middle.call(&x2).unwrap();
    let out = Add::new().call_many(&[&y1, &y2]).unwrap();
    let model = Model::with_name("outer", &[x1, x2], &[out]).unwrap();

    let svg = to_svg(&model, &PlotOptions::default());
    write_if_asked(
        "nested_twice",
        &svg,
        &to_dot(&model, &PlotOptions::default()),
    );
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let clusters: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("cluster"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    assert_eq!(clusters, ["middle", "middle/inner"]);
    let placed = boxes(&doc);
    for (i, a) in placed.iter().enumerate() {
        for b in &placed[i + 1..] {
            let apart =
                a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1 || a.2 + a.4 <= b.2 || b.2 + b.4 <= a.2;
            assert!(apart, "boxes {} and {} overlap", a.0, b.0);
        }
    }
    // Both calls of `middle` enter at its input `b`, labelled with the call.
    let dot = to_dot(&model, &PlotOptions::default());
    assert!(
        dot.contains("\"x1\" -> \"middle/b\" [penwidth=\"2\", headlabel=\"node 0\"];"),
        "{dot}"
    );
    assert!(dot.contains("\"x2\" -> \"middle/b\" [penwidth=\"2\", headlabel=\"node 1\"];"));
    assert!(dot.contains("\"middle/dense_1\" -> \"add\" [penwidth=\"2\", taillabel=\"[1][0]\"];"));
    assert!(dot.contains("\"middle/b\" -> \"middle/inner/a\""));
}

/// Names a hostile file may carry: NUL and other control characters, an empty
/// name, quotes, a trailing backslash, HTML. Graphviz rejects a raw NUL in a
/// quoted id and an empty `<b></b>` or `<font></font>` in an HTML label (checked
/// by hand with `dot -Tsvg`, Graphviz 2.43); the DOT written must contain neither,
/// and distinct names must stay distinct ids.
#[test]
fn hostile_names_give_dot_and_svg_that_parse() {
    let x = Input::new([3]).name("x\u{0}y").build();
    let a = Dense::new(2).name("").call(&x).unwrap();
    let b = Dense::new(2).name("x\u{1}y").call(&x).unwrap();
    let c = Dense::new(2).name("tail\\").call(&x).unwrap();
    let d = Dense::new(2).name("<i>\"q\"\n<i>").call(&x).unwrap();
    let y = Concatenate::new().call_many(&[&a, &b, &c, &d]).unwrap();
    let model = Model::with_name("m\u{0}", &[x], &[y]).unwrap();

    let dot = to_dot(&model, &PlotOptions::default());
    write_if_asked(
        "hostile_names",
        &to_svg(&model, &PlotOptions::default()),
        &dot,
    );
    assert!(!dot.chars().any(|c| c.is_control() && c != '\n'), "{dot:?}");
    assert!(
        !dot.contains("<b></b>") && !dot.contains("\"></font>"),
        "{dot}"
    );
    assert!(dot.starts_with("digraph \"m\\u{0}\" {"), "{dot}");
    let ids = [
        "\"x\\u{0}y\"",
        "\"x\\u{1}y\"",
        "\"\"",
        "\"tail\\\\\"",
        "\"<i>\\\"q\\\"\\n<i>\"",
    ];
    for id in ids {
        assert!(
            dot.contains(&format!("{id} [label=<")),
            "no node {id} in {dot}"
        );
    }
    assert!(dot.contains("<b>&#160;</b> (Dense)"), "{dot}");
    assert!(
        dot.contains("<b>&lt;i&gt;&quot;q&quot;\n&lt;i&gt;</b>"),
        "{dot}"
    );

    let svg = to_svg(&model, &PlotOptions::default());
    let doc = roxmltree::Document::parse(&svg).expect("hostile names keep the SVG well-formed");
    let ids: HashSet<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("id"))
        .collect();
    for id in ["x\\u{0}y", "x\\u{1}y", "", "tail\\\\", "<i>\"q\"\\n<i>"] {
        assert!(ids.contains(id), "no layer with id {id:?} in {svg}");
    }
}
