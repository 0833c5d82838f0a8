//! Graphviz DOT text in the shape of Keras' `model_to_dot`: HTML-table labels
//! (black header `name (Class)`, white output-shape cell), `penwidth=2` edges,
//! nested models as dashed clusters. Mask edges are dashed and grey; edges of
//! shared layers carry `[node][tensor]` tail labels and `node k` head labels.

use std::fmt::Write;

use super::scene::{Block, BoxInfo, Item};
use super::svg::{escape, escape_controls};

/// A quoted DOT id: control characters escaped (`\u{0}`) and backslashes doubled
/// ([`escape_controls`]: Graphviz refuses a NUL inside a quoted string, and
/// distinct names stay distinct ids), quotes escaped.
fn quote(id: &str) -> String {
    format!("\"{}\"", escape_controls(id).replace('"', "\\\""))
}

/// Text for a cell of an HTML-like label: escaped, and a no-break space for
/// empty text (Graphviz rejects an empty `<b></b>` or `<font></font>`).
fn cell_text(text: &str) -> String {
    if text.is_empty() {
        "&#160;".to_string()
    } else {
        escape(text)
    }
}

fn label(info: &BoxInfo) -> String {
    let mut t =
        String::from(r#"<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">"#);
    let _ = write!(
        t,
        r#"<tr><td bgcolor="black"><font point-size="16" color="white"><b>{}</b> ({})</font></td></tr>"#,
        cell_text(&info.name),
        escape(&info.class_name)
    );
    for line in &info.lines {
        let _ = write!(
            t,
            r#"<tr><td bgcolor="white"><font point-size="14">{}</font></td></tr>"#,
            cell_text(line)
        );
    }
    t.push_str("</table>>");
    t
}

fn write_nodes(out: &mut String, block: &Block, indent: &str) {
    for item in &block.items {
        match item {
            Item::Box(info) => {
                let _ = writeln!(
                    out,
                    "{indent}{} [label={}, fontname=\"Helvetica\", border=\"0\", margin=\"0\"];",
                    quote(&info.id),
                    label(info)
                );
            }
            Item::Cluster(info, inner) => {
                let _ = writeln!(
                    out,
                    "{indent}subgraph {} {{",
                    quote(&format!("cluster_{}", info.id))
                );
                let _ = writeln!(
                    out,
                    "{indent}  graph [style=\"dashed\", label={}, labeljust=\"l\"];",
                    quote(&format!("{} ({})", info.name, info.class_name))
                );
                write_nodes(out, inner, &format!("{indent}  "));
                write_edges(out, inner, &format!("{indent}  "));
                let _ = writeln!(out, "{indent}}}");
            }
        }
    }
}

fn write_edges(out: &mut String, block: &Block, indent: &str) {
    for e in &block.edges {
        let (Some(src), Some(dst)) = (
            block.exit(e.src, e.src_output),
            block.entry(e.dst, e.dst_input),
        ) else {
            continue;
        };
        let mut attrs = vec!["penwidth=\"2\"".to_string()];
        if e.mask {
            attrs.push("style=\"dashed\"".into());
            attrs.push("color=\"gray50\"".into());
        }
        if let Some(t) = &e.tail {
            attrs.push(format!("taillabel={}", quote(t)));
        }
        if let Some(h) = &e.head {
            attrs.push(format!("headlabel={}", quote(h)));
        }
        let _ = writeln!(
            out,
            "{indent}{} -> {} [{}];",
            quote(&src.id),
            quote(&dst.id),
            attrs.join(", ")
        );
    }
}

/// The DOT document of `block`.
pub fn render(block: &Block, dpi: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&block.name));
    let _ = writeln!(
        out,
        "  graph [rankdir=\"TB\", concentrate=\"true\", dpi=\"{dpi}\", splines=\"ortho\"];"
    );
    out.push_str("  node [shape=\"record\"];\n");
    write_nodes(&mut out, block, "  ");
    write_edges(&mut out, block, "  ");
    out.push_str("}\n");
    out
}
