//! SVG drawing: lays every block out (nested models first, each as one rigid
//! cluster inside its parent) and writes boxes, clusters and edges.

use std::fmt::Write;

use super::layout::{layered, LEdge, Port, Spacing, Unit};
use super::scene::{Block, BoxInfo, Item, Kind};

const HEADER_FONT: f64 = 13.0;
const BODY_FONT: f64 = 12.0;
const LABEL_FONT: f64 = 10.0;
/// Advance of a monospace glyph, as a fraction of the font size (DejaVu Sans
/// Mono, Menlo and Consolas are all about 0.6 em).
const CHAR_W: f64 = 0.6;
const PAD_X: f64 = 10.0;
const HEADER_H: f64 = 22.0;
const LINE_H: f64 = 16.0;
const CLUSTER_PAD_X: f64 = 16.0;
const CLUSTER_PAD_TOP: f64 = 30.0;
const CLUSTER_PAD_BOTTOM: f64 = 12.0;
const MARGIN: f64 = 20.0;
const TITLE_H: f64 = 28.0;
const SPACING: Spacing = Spacing {
    node_gap: 28.0,
    dummy_w: 14.0,
    rank_gap: 52.0,
    last_gap: 16.0,
};

/// A box at its final place.
struct PlacedBox<'a> {
    info: &'a BoxInfo,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// A cluster frame at its final place.
struct PlacedCluster<'a> {
    info: &'a BoxInfo,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// An edge route at its final place.
struct PlacedEdge {
    points: Vec<(f64, f64)>,
    mask: bool,
    arrow: bool,
    /// Label text, port slot (to stagger labels) and anchor.
    tail: Option<(String, usize, (f64, f64))>,
    head: Option<(String, usize, (f64, f64))>,
}

/// A laid-out block, in its own frame (0, 0)–(w, h).
struct Laid<'a> {
    w: f64,
    h: f64,
    boxes: Vec<PlacedBox<'a>>,
    clusters: Vec<PlacedCluster<'a>>,
    edges: Vec<PlacedEdge>,
    /// Entry point of every model input (top centre of its `InputLayer`).
    in_ports: Vec<(f64, f64)>,
    /// Exit point of every model output (on the bottom border).
    out_ports: Vec<(f64, f64)>,
}

impl Laid<'_> {
    fn shift(&mut self, dx: f64, dy: f64) {
        for b in &mut self.boxes {
            b.x += dx;
            b.y += dy;
        }
        for c in &mut self.clusters {
            c.x += dx;
            c.y += dy;
        }
        for e in &mut self.edges {
            for p in &mut e.points {
                p.0 += dx;
                p.1 += dy;
            }
            for (_, _, p) in e.tail.iter_mut().chain(e.head.iter_mut()) {
                p.0 += dx;
                p.1 += dy;
            }
        }
    }
}

fn text_w(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * CHAR_W
}

fn header(info: &BoxInfo) -> String {
    format!("{} ({})", info.name, info.class_name)
}

fn box_size(info: &BoxInfo) -> (f64, f64) {
    let mut w = text_w(&header(info), HEADER_FONT);
    for line in &info.lines {
        w = w.max(text_w(line, BODY_FONT));
    }
    let body = if info.lines.is_empty() {
        0.0
    } else {
        info.lines.len() as f64 * LINE_H + 8.0
    };
    (w + 2.0 * PAD_X, HEADER_H + body)
}

/// Lays out a block; `nested` blocks get exits for their outputs.
fn lay_out<'a>(block: &'a Block, nested: bool) -> Laid<'a> {
    // Inner clusters first.
    let mut inner: Vec<Option<Laid<'a>>> = Vec::with_capacity(block.items.len());
    let mut units = Vec::with_capacity(block.items.len());
    for item in &block.items {
        match item {
            Item::Box(info) => {
                let (w, h) = box_size(info);
                units.push(Unit { w, h, last: false });
                inner.push(None);
            }
            Item::Cluster(info, b) => {
                let mut laid = lay_out(b, true);
                let label_w = text_w(&header(info), HEADER_FONT) + 2.0 * CLUSTER_PAD_X;
                if laid.w < label_w {
                    let dx = (label_w - laid.w) / 2.0;
                    laid.shift(dx, 0.0);
                    for p in laid.in_ports.iter_mut().chain(laid.out_ports.iter_mut()) {
                        p.0 += dx;
                    }
                    laid.w = label_w;
                }
                units.push(Unit {
                    w: laid.w,
                    h: laid.h,
                    last: false,
                });
                inner.push(Some(laid));
            }
        }
    }
    let mut edges: Vec<LEdge> = block
        .edges
        .iter()
        .map(|e| LEdge {
            src: e.src,
            src_port: match inner.get(e.src).and_then(Option::as_ref) {
                Some(laid) => laid
                    .out_ports
                    .get(e.src_output)
                    .map_or(Port::Auto, |&(x, y)| Port::Fixed(x, y)),
                None => Port::Auto,
            },
            dst: e.dst,
            dst_port: match inner.get(e.dst).and_then(Option::as_ref) {
                Some(laid) => laid
                    .in_ports
                    .get(e.dst_input)
                    .or(laid.in_ports.first())
                    .map_or(Port::Auto, |&(x, y)| Port::Fixed(x, y)),
                None => Port::Auto,
            },
        })
        .collect();
    let n_real_edges = edges.len();
    let mut exits = Vec::new();
    if nested {
        for &(src, out) in &block.outputs {
            units.push(Unit {
                w: 0.0,
                h: 0.0,
                last: true,
            });
            let exit = units.len() - 1;
            exits.push(exit);
            edges.push(LEdge {
                src,
                src_port: match inner.get(src).and_then(Option::as_ref) {
                    Some(laid) => laid
                        .out_ports
                        .get(out)
                        .map_or(Port::Auto, |&(x, y)| Port::Fixed(x, y)),
                    None => Port::Auto,
                },
                dst: exit,
                dst_port: Port::Fixed(0.0, 0.0),
            });
        }
    }
    let placed = layered(&units, &edges, SPACING);

    let (ox, oy) = if nested {
        (CLUSTER_PAD_X, CLUSTER_PAD_TOP)
    } else {
        (0.0, 0.0)
    };
    let w = placed.width + 2.0 * ox;
    let h = if nested {
        // The exit row has no height: the content ends there.
        placed.height + oy + CLUSTER_PAD_BOTTOM
    } else {
        placed.height
    };
    let mut laid = Laid {
        w,
        h,
        boxes: Vec::new(),
        clusters: Vec::new(),
        edges: Vec::new(),
        in_ports: Vec::new(),
        out_ports: Vec::new(),
    };
    for (i, (item, sub)) in block.items.iter().zip(inner).enumerate() {
        let (x, y) = placed.pos[i];
        let (x, y) = (x + ox, y + oy);
        match (item, sub) {
            (Item::Box(info), _) | (Item::Cluster(info, _), None) => {
                laid.boxes.push(PlacedBox {
                    info,
                    x,
                    y,
                    w: units[i].w,
                    h: units[i].h,
                });
            }
            (Item::Cluster(info, _), Some(mut sub)) => {
                sub.shift(x, y);
                laid.clusters.push(PlacedCluster {
                    info,
                    x,
                    y,
                    w: sub.w,
                    h: sub.h,
                });
                laid.clusters.append(&mut sub.clusters);
                laid.boxes.append(&mut sub.boxes);
                laid.edges.append(&mut sub.edges);
            }
        }
    }
    for (ei, route) in placed.routes.iter().enumerate() {
        let points: Vec<(f64, f64)> = route.iter().map(|&(x, y)| (x + ox, y + oy)).collect();
        if ei < n_real_edges {
            let e = &block.edges[ei];
            laid.edges.push(PlacedEdge {
                points,
                mask: e.mask,
                arrow: true,
                tail: e.tail.clone().map(|t| {
                    let (x, y) = placed.leave[ei];
                    (t, placed.src_slot[ei], (x + ox, y + oy))
                }),
                head: e.head.clone().map(|t| {
                    let (x, y) = placed.enter[ei];
                    (t, placed.dst_slot[ei], (x + ox, y + oy))
                }),
            });
        } else {
            // Towards an exit: continue down to the cluster's border.
            let mut points = points;
            if let Some(&(x, _)) = points.last() {
                points.push((x, h));
                laid.out_ports.push((x, h));
            }
            laid.edges.push(PlacedEdge {
                points,
                mask: false,
                arrow: false,
                tail: None,
                head: None,
            });
        }
    }
    for &input in &block.inputs {
        let (x, y) = placed.pos.get(input).copied().unwrap_or((0.0, 0.0));
        let uw = units.get(input).map_or(0.0, |u| u.w);
        laid.in_ports.push((x + ox + uw / 2.0, y + oy));
    }
    let _ = exits;
    laid
}

/// Writes control characters escaped as Rust does (`\n`, `\u{0}`) and backslashes as `\\`: an id that keeps
/// distinct names distinct and holds no character XML or Graphviz refuses.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// An id attribute: [`escape_controls`], then XML-escaped.
fn id_attr(id: &str) -> String {
    escape(&escape_controls(id))
}

/// XML-escapes text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn path_d(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    let Some(&(x0, y0)) = points.first() else {
        return d;
    };
    let _ = write!(d, "M{x0:.1},{y0:.1}");
    for pair in points.windows(2) {
        let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
        if (ax - bx).abs() < 0.05 {
            let _ = write!(d, " L{bx:.1},{by:.1}");
        } else {
            let my = (ay + by) / 2.0;
            let _ = write!(d, " C{ax:.1},{my:.1} {bx:.1},{my:.1} {bx:.1},{by:.1}");
        }
    }
    d
}

fn header_fill(kind: Kind) -> &'static str {
    match kind {
        Kind::Input => "#1f4e79",
        Kind::Op => "#6b6b6b",
        Kind::Model => "#5b3a8c",
        Kind::Layer => "#222222",
    }
}

/// The whole SVG document of `block` (the top-level model).
pub fn render(block: &Block, title: &str) -> String {
    let mut laid = lay_out(block, false);
    let title_w = text_w(title, 14.0);
    let content_w = laid.w.max(title_w);
    if laid.w < content_w {
        laid.shift((content_w - laid.w) / 2.0, 0.0);
    }
    laid.shift(MARGIN, MARGIN + TITLE_H);
    let width = content_w + 2.0 * MARGIN;
    let height = laid.h + 2.0 * MARGIN + TITLE_H;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    s.push_str(concat!(
        "<defs>\n",
        r##"<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333333"/></marker>"##,
        "\n",
        r##"<marker id="arrow-mask" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a8a8a"/></marker>"##,
        "\n</defs>\n"
    ));
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold" fill="#222222">{}</text>"##,
        MARGIN,
        MARGIN + 12.0,
        escape(title)
    );

    // Clusters, outermost first (they were collected parent before child).
    for c in &laid.clusters {
        let _ = writeln!(
            s,
            r##"<g class="cluster" id="{id}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="10" fill="#f5f5fa" fill-opacity="0.6" stroke="#666666" stroke-width="1.2" stroke-dasharray="6 4"/><text x="{tx:.1}" y="{ty:.1}" font-size="{HEADER_FONT}" font-weight="bold" fill="#5b3a8c">{label}</text></g>"##,
            id = id_attr(&c.info.id),
            x = c.x,
            y = c.y,
            w = c.w,
            h = c.h,
            tx = c.x + CLUSTER_PAD_X,
            ty = c.y + 19.0,
            label = escape(&header(c.info)),
        );
    }
    // Edges.
    for e in &laid.edges {
        let (stroke, dash, marker) = if e.mask {
            ("#8a8a8a", r#" stroke-dasharray="5 4""#, "arrow-mask")
        } else {
            ("#333333", "", "arrow")
        };
        let end = if e.arrow {
            format!(r#" marker-end="url(#{marker})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            r#"<path class="{class}" d="{d}" fill="none" stroke="{stroke}" stroke-width="1.6"{dash}{end}/>"#,
            class = if e.mask { "edge mask" } else { "edge" },
            d = path_d(&e.points),
        );
    }
    // Boxes.
    for b in &laid.boxes {
        let fill = header_fill(b.info.kind);
        let _ = writeln!(
            s,
            r##"<g class="layer" id="{id}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="4" fill="#ffffff" stroke="#222222" stroke-width="1.2"/><path d="M{x:.1},{hb:.1} V{r4:.1} Q{x:.1},{y:.1} {x4:.1},{y:.1} H{xr4:.1} Q{xr:.1},{y:.1} {xr:.1},{r4:.1} V{hb:.1} Z" fill="{fill}"/><text x="{tx:.1}" y="{ty:.1}" font-size="{HEADER_FONT}" font-weight="bold" fill="#ffffff">{header}</text>"##,
            id = id_attr(&b.info.id),
            x = b.x,
            y = b.y,
            w = b.w,
            h = b.h,
            hb = b.y + HEADER_H,
            r4 = b.y + 4.0,
            x4 = b.x + 4.0,
            xr4 = b.x + b.w - 4.0,
            xr = b.x + b.w,
            tx = b.x + PAD_X,
            ty = b.y + 15.5,
            header = escape(&header(b.info)),
        );
        for (i, line) in b.info.lines.iter().enumerate() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="{BODY_FONT}" fill="#222222">{}</text>"##,
                b.x + PAD_X,
                b.y + HEADER_H + 16.0 + i as f64 * LINE_H,
                escape(line)
            );
        }
        s.push_str("</g>\n");
    }
    // Edge labels on top, on the side the edge comes from (head) or goes to
    // (tail), so that labels of converging edges do not cover each other.
    for e in &laid.edges {
        let fill = if e.mask { "#8a8a8a" } else { "#555555" };
        if let Some((text, slot, (x, y))) = &e.tail {
            let towards = e.points.iter().map(|p| p.0).find(|px| (px - x).abs() > 0.5);
            let left = towards.is_some_and(|px| px < *x);
            label(
                &mut s,
                text,
                fill,
                *x,
                y + 11.0 + (slot % 2) as f64 * 10.0,
                left,
            );
        }
        if let Some((text, slot, (x, y))) = &e.head {
            let from = e
                .points
                .iter()
                .rev()
                .map(|p| p.0)
                .find(|px| (px - x).abs() > 0.5);
            let left = from.is_some_and(|px| px < *x);
            label(
                &mut s,
                text,
                fill,
                *x,
                y - 5.0 - (slot % 2) as f64 * 10.0,
                left,
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn label(s: &mut String, text: &str, fill: &str, x: f64, y: f64, left: bool) {
    let (x, anchor) = if left {
        (x - 4.0, "end")
    } else {
        (x + 4.0, "start")
    };
    let _ = writeln!(
        s,
        r##"<text class="edge-label" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{LABEL_FONT}" fill="{fill}" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
        escape(text)
    );
}
