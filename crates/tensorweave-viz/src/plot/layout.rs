//! A small layered (Sugiyama-style) layout for directed acyclic graphs, drawn top
//! to bottom.
//!
//! 1. Ranks: longest path from the sources, then every unit that is not a source
//!    moves down next to its nearest consumer (shorter edges, as Graphviz'
//!    network simplex would give).
//! 2. Edges spanning several ranks get one dummy vertex per crossed rank.
//! 3. Order within ranks: barycenter sweeps down and up, keeping the order with
//!    the fewest crossings.
//! 4. Ports: the edges leaving (entering) a box are spread along its bottom
//!    (top) side in the order of their other ends.
//! 5. x: repeated sweeps that move every unit towards the ports it connects to,
//!    each rank solved exactly as a weighted isotonic regression (pool adjacent
//!    violators) under the minimum separations, so boxes never overlap.
//! 6. y: rows as high as their highest unit, separated by a fixed gap. Edges run
//!    vertically inside rows and bend only in the gaps between rows, so they
//!    cannot cross a box.

use std::collections::VecDeque;

/// Where an edge attaches to a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Port {
    /// Spread automatically along the bottom (source) or top (target) side.
    Auto,
    /// A fixed point relative to the unit's top-left corner (a cluster's inner
    /// input box, or the exit of one of its outputs).
    Fixed(f64, f64),
}

/// A box to place.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Placed in a rank of its own below everything else (a cluster's exits).
    pub last: bool,
}

/// A directed edge between two units.
#[derive(Debug, Clone)]
pub struct LEdge {
    /// Source unit.
    pub src: usize,
    /// Attachment on the source.
    pub src_port: Port,
    /// Target unit.
    pub dst: usize,
    /// Attachment on the target.
    pub dst_port: Port,
}

/// Spacing parameters.
#[derive(Debug, Clone, Copy)]
pub struct Spacing {
    /// Horizontal gap between boxes.
    pub node_gap: f64,
    /// Width reserved for an edge passing through a rank.
    pub dummy_w: f64,
    /// Vertical gap between rows.
    pub rank_gap: f64,
    /// Vertical gap above the row of `last` units (a cluster's exits).
    pub last_gap: f64,
}

/// The result: unit positions and edge routes, in a frame starting at (0, 0).
#[derive(Debug, Clone)]
pub struct Placement {
    /// Top-left corner of every unit.
    pub pos: Vec<(f64, f64)>,
    /// Every edge as points; consecutive points with equal x are joined by a
    /// straight line, the others by a curve with vertical tangents.
    pub routes: Vec<Vec<(f64, f64)>>,
    /// Where each edge starts (index of its source port among the source's
    /// auto ports) — used to stagger labels.
    pub src_slot: Vec<usize>,
    /// Index of each edge's target port among the target's auto ports.
    pub dst_slot: Vec<usize>,
    /// Where each edge leaves its source's row (below the source).
    pub leave: Vec<(f64, f64)>,
    /// Where each edge enters its target's row (above the target, or above the
    /// cluster whose inner box it reaches).
    pub enter: Vec<(f64, f64)>,
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
}

#[derive(Debug, Clone)]
struct Vertex {
    unit: Option<usize>,
    rank: usize,
    w: f64,
    h: f64,
}

#[derive(Debug, Clone)]
struct Segment {
    from: usize,
    to: usize,
    edge: usize,
    /// Port offsets from the vertex centres (filled in after ordering).
    from_dx: f64,
    to_dx: f64,
}

/// Lays out `units` connected by `edges` (which must form a DAG).
pub fn layered(units: &[Unit], edges: &[LEdge], spacing: Spacing) -> Placement {
    let n = units.len();
    let ranks = assign_ranks(units, edges);

    // Vertices: units, then dummies; segments between adjacent ranks.
    let mut verts: Vec<Vertex> = units
        .iter()
        .zip(&ranks)
        .map(|(u, &r)| Vertex {
            unit: Some(0),
            rank: r,
            w: u.w,
            h: u.h,
        })
        .collect();
    for (i, v) in verts.iter_mut().enumerate() {
        v.unit = Some(i);
    }
    let mut segs: Vec<Segment> = Vec::new();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
    for (ei, e) in edges.iter().enumerate() {
        let (rs, rd) = (ranks[e.src], ranks[e.dst]);
        let mut chain = vec![e.src];
        for r in rs + 1..rd {
            verts.push(Vertex {
                unit: None,
                rank: r,
                w: spacing.dummy_w,
                h: 0.0,
            });
            chain.push(verts.len() - 1);
        }
        chain.push(e.dst);
        for pair in chain.windows(2) {
            segs.push(Segment {
                from: pair[0],
                to: pair[1],
                edge: ei,
                from_dx: 0.0,
                to_dx: 0.0,
            });
        }
        chains.push(chain);
    }
    let n_ranks = verts.iter().map(|v| v.rank + 1).max().unwrap_or(0);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); n_ranks];
    for (i, v) in verts.iter().enumerate() {
        layers[v.rank].push(i);
    }
    let mut ups: Vec<Vec<usize>> = vec![Vec::new(); verts.len()];
    let mut downs: Vec<Vec<usize>> = vec![Vec::new(); verts.len()];
    for (si, s) in segs.iter().enumerate() {
        downs[s.from].push(si);
        ups[s.to].push(si);
    }

    order_ranks(&mut layers, &verts, &segs, &ups, &downs);
    let mut slot = vec![0usize; verts.len()];
    for layer in &layers {
        for (i, &v) in layer.iter().enumerate() {
            slot[v] = i;
        }
    }
    let (src_slot, dst_slot) = assign_ports(units, edges, &verts, &mut segs, &ups, &downs, &slot);
    let xs = assign_x(&layers, &verts, &segs, &ups, &downs, spacing);

    // Rows.
    let mut row_top = vec![0.0; n_ranks];
    let mut row_h = vec![0.0f64; n_ranks];
    for v in &verts {
        row_h[v.rank] = row_h[v.rank].max(v.h);
    }
    let mut last_row = vec![true; n_ranks];
    for v in &verts {
        if v.unit.is_none_or(|u| !units[u].last) {
            last_row[v.rank] = false;
        }
    }
    let mut y = 0.0;
    for r in 0..n_ranks {
        if r > 0 {
            y += if last_row[r] {
                spacing.last_gap
            } else {
                spacing.rank_gap
            };
        }
        row_top[r] = y;
        y += row_h[r];
    }
    let height = y;
    let min_left = verts
        .iter()
        .zip(&xs)
        .map(|(v, x)| x - v.w / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = if min_left.is_finite() { -min_left } else { 0.0 };
    let width = verts
        .iter()
        .zip(&xs)
        .map(|(v, x)| x + v.w / 2.0 + shift)
        .fold(0.0, f64::max);

    let top = |v: usize| row_top[verts[v].rank] + (row_h[verts[v].rank] - verts[v].h) / 2.0;
    let pos: Vec<(f64, f64)> = (0..n)
        .map(|i| (xs[i] + shift - verts[i].w / 2.0, top(i)))
        .collect();

    let mut routes = Vec::with_capacity(edges.len());
    let mut leave = Vec::with_capacity(edges.len());
    let mut enter = Vec::with_capacity(edges.len());
    for (ei, e) in edges.iter().enumerate() {
        let chain = &chains[ei];
        let first = segs.iter().find(|s| s.edge == ei && s.from == e.src);
        let last = segs.iter().find(|s| s.edge == ei && s.to == e.dst);
        let (Some(first), Some(last)) = (first, last) else {
            routes.push(Vec::new());
            leave.push((0.0, 0.0));
            enter.push((0.0, 0.0));
            continue;
        };
        let mut pts = Vec::new();
        let sx = xs[e.src] + shift + first.from_dx;
        let sy = match e.src_port {
            Port::Fixed(_, dy) => pos[e.src].1 + dy,
            Port::Auto => pos[e.src].1 + units[e.src].h,
        };
        let src_rank = ranks[e.src];
        pts.push((sx, sy));
        pts.push((sx, row_top[src_rank] + row_h[src_rank]));
        leave.push((sx, row_top[src_rank] + row_h[src_rank]));
        for &d in chain.iter().skip(1).take(chain.len().saturating_sub(2)) {
            let r = verts[d].rank;
            let x = xs[d] + shift;
            pts.push((x, row_top[r]));
            pts.push((x, row_top[r] + row_h[r]));
        }
        let tx = xs[e.dst] + shift + last.to_dx;
        let ty = match e.dst_port {
            Port::Fixed(_, dy) => pos[e.dst].1 + dy,
            Port::Auto => pos[e.dst].1,
        };
        pts.push((tx, row_top[ranks[e.dst]]));
        enter.push((tx, row_top[ranks[e.dst]]));
        pts.push((tx, ty));
        pts.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9);
        routes.push(pts);
    }
    Placement {
        pos,
        routes,
        src_slot,
        dst_slot,
        leave,
        enter,
        width,
        height,
    }
}

/// Kahn's order of the units (edges point down).
fn topo_order(n: usize, edges: &[LEdge]) -> Vec<usize> {
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        if e.src < n && e.dst < n {
            indeg[e.dst] += 1;
            out[e.src].push(e.dst);
        }
    }
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(u) = queue.pop_front() {
        order.push(u);
        for &v in &out[u] {
            indeg[v] -= 1;
            if indeg[v] == 0 {
                queue.push_back(v);
            }
        }
    }
    // A cycle cannot come from a captured graph; place any leftovers anyway.
    for i in 0..n {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    order
}

fn assign_ranks(units: &[Unit], edges: &[LEdge]) -> Vec<usize> {
    let n = units.len();
    let order = topo_order(n, edges);
    let mut rank = vec![0usize; n];
    let preds = |v: usize| edges.iter().filter(move |e| e.dst == v).map(|e| e.src);
    let succs = |v: usize| edges.iter().filter(move |e| e.src == v).map(|e| e.dst);
    for &v in &order {
        if let Some(r) = preds(v).map(|p| rank[p] + 1).max() {
            rank[v] = r;
        }
    }
    // Pull units down next to their consumers (sources stay on top).
    for &v in order.iter().rev() {
        if units[v].last || preds(v).next().is_none() {
            continue;
        }
        if let Some(r) = succs(v).filter(|&s| !units[s].last).map(|s| rank[s]).min() {
            if r > rank[v] + 1 {
                rank[v] = r - 1;
            }
        }
    }
    let bottom = (0..n)
        .filter(|&v| !units[v].last)
        .map(|v| rank[v] + 1)
        .max()
        .unwrap_or(0);
    for v in 0..n {
        if units[v].last {
            rank[v] = bottom;
        }
    }
    rank
}

fn crossings(layers: &[Vec<usize>], segs: &[Segment], verts: &[Vertex], slot: &[usize]) -> usize {
    let mut total = 0;
    for r in 0..layers.len().saturating_sub(1) {
        let between: Vec<(usize, usize)> = segs
            .iter()
            .filter(|s| verts[s.from].rank == r)
            .map(|s| (slot[s.from], slot[s.to]))
            .collect();
        for (i, a) in between.iter().enumerate() {
            for b in &between[i + 1..] {
                if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                    total += 1;
                }
            }
        }
    }
    total
}

fn order_ranks(
    layers: &mut [Vec<usize>],
    verts: &[Vertex],
    segs: &[Segment],
    ups: &[Vec<usize>],
    downs: &[Vec<usize>],
) {
    let mut slot = vec![0usize; verts.len()];
    let refresh = |layers: &[Vec<usize>], slot: &mut Vec<usize>| {
        for layer in layers {
            for (i, &v) in layer.iter().enumerate() {
                slot[v] = i;
            }
        }
    };
    refresh(layers, &mut slot);
    let sweep = |layers: &mut [Vec<usize>], slot: &mut Vec<usize>, down: bool| {
        let n = layers.len();
        let ranks: Vec<usize> = if down {
            (1..n).collect()
        } else {
            (0..n.saturating_sub(1)).rev().collect()
        };
        for r in ranks {
            let mut keyed: Vec<(f64, usize, usize)> = layers[r]
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let others: Vec<usize> = if down {
                        ups[v].iter().map(|&s| segs[s].from).collect()
                    } else {
                        downs[v].iter().map(|&s| segs[s].to).collect()
                    };
                    let key = if others.is_empty() {
                        i as f64
                    } else {
                        others.iter().map(|&o| slot[o] as f64).sum::<f64>() / others.len() as f64
                    };
                    (key, i, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            layers[r] = keyed.into_iter().map(|k| k.2).collect();
            for (i, &v) in layers[r].iter().enumerate() {
                slot[v] = i;
            }
        }
    };
    let mut best = layers.to_vec();
    let mut best_cross = crossings(layers, segs, verts, &slot);
    for it in 0..24 {
        sweep(layers, &mut slot, it % 2 == 0);
        let c = crossings(layers, segs, verts, &slot);
        if c < best_cross {
            best_cross = c;
            best = layers.to_vec();
        }
        if best_cross == 0 {
            break;
        }
    }
    layers.clone_from_slice(&best);
}

/// Spreads the auto ports of every unit; returns the slot of every edge at its
/// source and at its target.
fn assign_ports(
    units: &[Unit],
    edges: &[LEdge],
    verts: &[Vertex],
    segs: &mut [Segment],
    ups: &[Vec<usize>],
    downs: &[Vec<usize>],
    slot: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let mut src_slot = vec![0; edges.len()];
    let mut dst_slot = vec![0; edges.len()];
    for (v, vert) in verts.iter().enumerate() {
        let Some(u) = vert.unit else { continue };
        let w = units[u].w;
        // Bottom side.
        let mut out: Vec<usize> = downs[v].clone();
        out.sort_by_key(|&s| (slot[segs[s].to], segs[s].edge));
        let spread = |k: usize, n: usize| {
            if n <= 1 {
                0.0
            } else {
                let step = (w * 0.8 / n as f64).min(56.0);
                (k as f64 - (n as f64 - 1.0) / 2.0) * step
            }
        };
        let n_out = out.len();
        for (k, &s) in out.iter().enumerate() {
            let e = &edges[segs[s].edge];
            segs[s].from_dx = match e.src_port {
                Port::Fixed(dx, _) => dx - w / 2.0,
                Port::Auto => spread(k, n_out),
            };
            src_slot[segs[s].edge] = k;
        }
        let mut inc: Vec<usize> = ups[v].clone();
        inc.sort_by_key(|&s| (slot[segs[s].from], segs[s].edge));
        let n_in = inc.len();
        for (k, &s) in inc.iter().enumerate() {
            let e = &edges[segs[s].edge];
            segs[s].to_dx = match e.dst_port {
                Port::Fixed(dx, _) => dx - w / 2.0,
                Port::Auto => spread(k, n_in),
            };
            dst_slot[segs[s].edge] = k;
        }
    }
    (src_slot, dst_slot)
}

fn assign_x(
    layers: &[Vec<usize>],
    verts: &[Vertex],
    segs: &[Segment],
    ups: &[Vec<usize>],
    downs: &[Vec<usize>],
    spacing: Spacing,
) -> Vec<f64> {
    let sep = |a: usize, b: usize| {
        let gap = if verts[a].unit.is_none() || verts[b].unit.is_none() {
            spacing.node_gap / 2.0
        } else {
            spacing.node_gap
        };
        (verts[a].w + verts[b].w) / 2.0 + gap
    };
    let mut xs = vec![0.0; verts.len()];
    for layer in layers {
        let mut x = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                x += sep(layer[i - 1], v);
            }
            xs[v] = x;
        }
        let mid = x / 2.0;
        for &v in layer {
            xs[v] -= mid;
        }
    }
    let weight = |s: &Segment| match (verts[s.from].unit, verts[s.to].unit) {
        (None, None) => 8.0,
        (Some(_), Some(_)) => 1.0,
        _ => 2.0,
    };
    for it in 0..60 {
        let mode = it % 3; // 0: from above, 1: from below, 2: both
        let ranks: Vec<usize> = if mode == 1 {
            (0..layers.len()).rev().collect()
        } else {
            (0..layers.len()).collect()
        };
        for r in ranks {
            let layer = &layers[r];
            if layer.is_empty() {
                continue;
            }
            let mut targets = Vec::with_capacity(layer.len());
            let mut weights = Vec::with_capacity(layer.len());
            for &v in layer {
                let (mut sum, mut wsum) = (0.0, 0.0);
                if mode != 1 {
                    for &s in &ups[v] {
                        let sg = &segs[s];
                        let w = weight(sg);
                        sum += w * (xs[sg.from] + sg.from_dx - sg.to_dx);
                        wsum += w;
                    }
                }
                if mode != 0 {
                    for &s in &downs[v] {
                        let sg = &segs[s];
                        let w = weight(sg);
                        sum += w * (xs[sg.to] + sg.to_dx - sg.from_dx);
                        wsum += w;
                    }
                }
                if wsum > 0.0 {
                    targets.push(sum / wsum);
                    weights.push(wsum);
                } else {
                    targets.push(xs[v]);
                    weights.push(0.05);
                }
            }
            let seps: Vec<f64> = layer.windows(2).map(|p| sep(p[0], p[1])).collect();
            let placed = place_in_order(&targets, &weights, &seps);
            for (&v, x) in layer.iter().zip(placed) {
                xs[v] = x;
            }
        }
    }
    xs
}

/// Positions x_0 < x_1 < … with x_{i+1} - x_i >= seps[i], minimising
/// Σ w_i (x_i - t_i)²: pool adjacent violators on y_i = x_i - offset_i.
fn place_in_order(targets: &[f64], weights: &[f64], seps: &[f64]) -> Vec<f64> {
    let n = targets.len();
    let mut offset = vec![0.0; n];
    for i in 1..n {
        offset[i] = offset[i - 1] + seps.get(i - 1).copied().unwrap_or(0.0);
    }
    // Blocks: (weighted mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        let w = weights[i].max(1e-6);
        blocks.push((targets[i] - offset[i], w, 1));
        while blocks.len() > 1 {
            let len = blocks.len();
            let (m2, w2, c2) = blocks[len - 1];
            let (m1, w1, c1) = blocks[len - 2];
            if m1 <= m2 {
                break;
            }
            blocks.truncate(len - 2);
            blocks.push(((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2));
        }
    }
    let mut out = Vec::with_capacity(n);
    for (m, _, c) in blocks {
        for _ in 0..c {
            let i = out.len();
            out.push(m + offset[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(w: f64) -> Unit {
        Unit {
            w,
            h: 20.0,
            last: false,
        }
    }

    fn edge(src: usize, dst: usize) -> LEdge {
        LEdge {
            src,
            src_port: Port::Auto,
            dst,
            dst_port: Port::Auto,
        }
    }

    const SPACING: Spacing = Spacing {
        node_gap: 20.0,
        dummy_w: 10.0,
        rank_gap: 40.0,
        last_gap: 10.0,
    };

    #[test]
    fn isotonic_placement_keeps_order_and_gaps() {
        // Both want x = 0; with a gap of 10 the optimum is -5 and 5.
        let x = place_in_order(&[0.0, 0.0], &[1.0, 1.0], &[10.0]);
        assert_eq!(x, vec![-5.0, 5.0]);
        // Already apart: unchanged.
        let x = place_in_order(&[0.0, 30.0], &[1.0, 1.0], &[10.0]);
        assert_eq!(x, vec![0.0, 30.0]);
    }

    #[test]
    fn diamond_has_no_overlap_and_long_edges_get_dummies() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3, 0 -> 3 (spans two ranks).
        let units = vec![unit(60.0), unit(60.0), unit(60.0), unit(60.0)];
        let edges = vec![edge(0, 1), edge(0, 2), edge(1, 3), edge(2, 3), edge(0, 3)];
        let p = layered(&units, &edges, SPACING);
        // Rows: 0 at y=0, 1 and 2 at y=60, 3 at y=120.
        assert_eq!(p.pos[0].1, 0.0);
        assert_eq!(p.pos[1].1, 60.0);
        assert_eq!(p.pos[3].1, 120.0);
        let (a, b) = (p.pos[1].0, p.pos[2].0);
        assert!((a - b).abs() >= 60.0 + 20.0 - 1e-9);
        // The long edge passes rank 1 away from both boxes.
        let route = &p.routes[4];
        let mid_x = route.iter().find(|pt| pt.1 == 60.0).map(|pt| pt.0).unwrap();
        for &x in &[a, b] {
            assert!(mid_x < x - 5.0 || mid_x > x + 60.0 + 5.0);
        }
    }
}
