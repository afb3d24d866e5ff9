//! The slides' network diagrams, drawn as SVG: layers as boxes (their height grows with the
//! layer's size), arrows from each layer to the next, brackets naming the parts (encoder,
//! decoder, generator, discriminator).
//!
//! [`autoencoder_diagram`] is the slides' autoencoder (Géron's figure 17-1) and stacked
//! autoencoder (17-3), [`greedy_diagram`] the phases of training one autoencoder at a time
//! (17-7), [`vae_diagram`] the variational autoencoder (17-12), [`gan_diagram`] the GAN (17-15),
//! and [`model_diagram`] any model's layers from its summary.

use crate::error::{CourseError, Result};
use crate::plot::{Figure, escape_xml as escape};
use crate::summary::ModelSummary;
use std::fmt::Write;

/// Fill colours: what a box is.
const INPUT: &str = "#cfe2f3";
const HIDDEN: &str = "#eeeeee";
const CODINGS: &str = "#fbd5a8";
const NOISE: &str = "#d9ead3";
const DECISION: &str = "#ead1dc";
/// Greedy training: the layers of phase 1, of phase 2, and so on.
const PHASES: [&str; 4] = ["#cfe2f3", "#fbd5a8", "#d9ead3", "#ead1dc"];

/// One box: a layer or a quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Written above the box (`codings`, `Dense`).
    pub label: String,
    /// Written in the box (`30`, `14×14×16`).
    pub size: String,
    /// How many values the layer holds: sets the box's height.
    pub units: usize,
    /// The box's colour (an SVG colour).
    pub fill: String,
    /// Written under the box, smaller (a layer's settings); empty for none.
    pub note: String,
    /// Whether the previous stage's boxes have arrows into it (not for an input of its own, such
    /// as the real images a discriminator also sees).
    pub fed: bool,
}

impl Node {
    /// A box labelled `label` holding `units` values.
    pub fn new(label: &str, units: usize, fill: &str) -> Node {
        Node { label: label.into(), size: units.to_string(), units, fill: fill.into(), note: String::new(), fed: true }
    }

    /// A box with no arrows into it: an input of its own in the middle of a network.
    pub fn source(label: &str, units: usize, fill: &str) -> Node {
        Node { fed: false, ..Node::new(label, units, fill) }
    }
}

/// A network drawn left to right: stages of one or more boxes (every box of a stage feeds every
/// box of the next), and brackets under spans of stages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagram {
    title: String,
    stages: Vec<Vec<Node>>,
    brackets: Vec<(usize, usize, String)>,
}

const BOX_WIDTH: f64 = 70.0;
const GAP: f64 = 56.0;
const MARGIN: f64 = 30.0;
const NOTE: f64 = 15.0;
const TITLE: f64 = 34.0;
const LABEL: f64 = 17.0;
const MIN_HEIGHT: f64 = 30.0;
const MAX_HEIGHT: f64 = 170.0;
const NODE_GAP: f64 = 14.0;
const BRACKET_ROW: f64 = 30.0;

impl Diagram {
    /// An empty diagram with a title.
    pub fn new(title: &str) -> Diagram {
        Diagram { title: title.into(), ..Diagram::default() }
    }

    /// Adds a stage of boxes.
    pub fn stage(mut self, nodes: Vec<Node>) -> Diagram {
        self.stages.push(nodes);
        self
    }

    /// Adds a stage of one box.
    pub fn layer(self, label: &str, units: usize, fill: &str) -> Diagram {
        self.stage(vec![Node::new(label, units, fill)])
    }

    /// A bracket under stages `first..=last` (0-based), named `label`.
    pub fn bracket(mut self, first: usize, last: usize, label: &str) -> Diagram {
        self.brackets.push((first, last, label.into()));
        self
    }

    /// The SVG drawing.
    pub fn draw(&self) -> Result<Figure> {
        if self.stages.is_empty() || self.stages.iter().any(|s| s.is_empty()) {
            return Err(CourseError::Plot { problem: "a diagram needs at least one stage, and every stage at least one box".into() });
        }
        if let Some((a, b, _)) = self.brackets.iter().find(|(a, b, _)| a > b || *b >= self.stages.len()) {
            return Err(CourseError::Plot { problem: format!("a bracket spans stages {a}..={b}, but the diagram has stages 0..={}", self.stages.len() - 1) });
        }
        let max_units = self.stages.iter().flatten().map(|n| n.units).max().unwrap_or(1).max(1) as f64;
        let height_of = |n: &Node| MIN_HEIGHT + (MAX_HEIGHT - MIN_HEIGHT) * (n.units as f64 / max_units).sqrt();
        let note_of = |n: &Node| if n.note.is_empty() { 0.0 } else { NOTE };
        let stage_height = |s: &[Node]| s.iter().map(|n| height_of(n) + LABEL + note_of(n)).sum::<f64>() + NODE_GAP * (s.len() - 1) as f64;
        let body = self.stages.iter().map(|s| stage_height(s)).fold(0.0, f64::max);
        let rows = if self.brackets.len() > 1 { 2.0 } else { self.brackets.len() as f64 };
        let width = 2.0 * MARGIN + self.stages.len() as f64 * BOX_WIDTH + (self.stages.len() - 1) as f64 * GAP;
        let width = width.max(8.0 * self.title.chars().count() as f64 + 2.0 * MARGIN);
        let height = TITLE + body + rows * BRACKET_ROW + MARGIN;
        let mid = TITLE + body / 2.0;

        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\">\n\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"{MARGIN}\" y=\"22\" font-size=\"16\">{title}</text>\n",
            w = width.round(),
            h = height.round(),
            title = escape(&self.title)
        );
        // Each box's (left x, top y, height), stage by stage.
        let mut boxes: Vec<Vec<(f64, f64, f64)>> = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let x = MARGIN + i as f64 * (BOX_WIDTH + GAP);
            let mut y = mid - stage_height(stage) / 2.0;
            let mut placed = Vec::new();
            for node in stage {
                let h = height_of(node);
                let top = y + LABEL;
                let _ = write!(
                    svg,
                    "<text x=\"{cx:.1}\" y=\"{ly:.1}\" font-size=\"12\" text-anchor=\"middle\">{label}</text>\n\
                     <rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{BOX_WIDTH}\" height=\"{h:.1}\" rx=\"5\" fill=\"{fill}\" stroke=\"#444\"/>\n\
                     <text x=\"{cx:.1}\" y=\"{ty:.1}\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">{size}</text>\n",
                    cx = x + BOX_WIDTH / 2.0,
                    ly = top - 4.0,
                    label = escape(&node.label),
                    fill = escape(&node.fill),
                    ty = top + h / 2.0 + 4.5,
                    size = escape(&node.size),
                );
                if !node.note.is_empty() {
                    let _ = writeln!(
                        svg,
                        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\" text-anchor=\"middle\">{}</text>",
                        x + BOX_WIDTH / 2.0,
                        top + h + 12.0,
                        escape(&node.note)
                    );
                }
                placed.push((x, top, h));
                y = top + h + note_of(node) + NODE_GAP;
            }
            boxes.push(placed);
        }
        for (i, pair) in boxes.windows(2).enumerate() {
            for &(x0, y0, h0) in &pair[0] {
                for (&(x1, y1, h1), _) in pair[1].iter().zip(&self.stages[i + 1]).filter(|(_, node)| node.fed) {
                    let _ = writeln!(
                        svg,
                        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#555\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>",
                        x0 + BOX_WIDTH + 3.0,
                        y0 + h0 / 2.0,
                        x1 - 3.0,
                        y1 + h1 / 2.0
                    );
                }
            }
        }
        for (k, (first, last, label)) in self.brackets.iter().enumerate() {
            let y = TITLE + body + 8.0 + (k % 2) as f64 * BRACKET_ROW;
            let x0 = MARGIN + *first as f64 * (BOX_WIDTH + GAP);
            let x1 = MARGIN + *last as f64 * (BOX_WIDTH + GAP) + BOX_WIDTH;
            let _ = write!(
                svg,
                "<path d=\"M{x0:.1},{y:.1} v6 H{x1:.1} v-6\" fill=\"none\" stroke=\"#444\"/>\n\
                 <text x=\"{cx:.1}\" y=\"{ty:.1}\" font-size=\"13\" text-anchor=\"middle\">{label}</text>\n",
                cx = (x0 + x1) / 2.0,
                ty = y + 21.0,
                label = escape(label)
            );
        }
        svg.push_str("</svg>\n");
        Ok(Figure::Svg { text: svg, width: width.round() as u32, height: height.round() as u32 })
    }

    /// Shows the diagram as the cell's output in Jupyter (evcxr's display protocol).
    pub fn evcxr_display(&self) {
        match self.draw() {
            Ok(figure) => figure.evcxr_display(),
            Err(e) => println!("{e}"),
        }
    }
}

fn check_sizes(what: &str, sizes: &[usize], min_len: usize) -> Result<()> {
    if sizes.len() < min_len || sizes.contains(&0) {
        return Err(CourseError::bad_config(what, format!("needs at least {min_len} layer sizes, none of them 0 (got {sizes:?}); the slide's stacked autoencoder is &[784, 100, 30, 100, 784]")));
    }
    Ok(())
}

/// An autoencoder of the layer sizes `sizes`, input to output (`&[3, 2, 3]`: the slides' first
/// autoencoder; `&[784, 100, 30, 100, 784]`: the stacked one). The smallest layer is the codings;
/// the encoder is everything up to it, the decoder everything after.
pub fn autoencoder_diagram(sizes: &[usize]) -> Result<Figure> {
    check_sizes("sizes", sizes, 3)?;
    let coding = (1..sizes.len() - 1).min_by_key(|&i| sizes[i]).unwrap_or(1);
    let names: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    let mut d = Diagram::new(&format!("Autoencoder {}", names.join("-")));
    for (i, &units) in sizes.iter().enumerate() {
        d = match i {
            0 => d.layer("inputs", units, INPUT),
            _ if i == sizes.len() - 1 => d.layer("outputs (≈ inputs)", units, INPUT),
            _ if i == coding => d.layer("codings", units, CODINGS),
            _ => d.layer("hidden", units, HIDDEN),
        };
    }
    d.bracket(0, coding, "encoder (recognition network)").bracket(coding, sizes.len() - 1, "decoder (generative network)").draw()
}

/// Training one autoencoder at a time (the slide's "한 번에 오토인코더 한 개씩 훈련하기", Géron's
/// figure 17-7) for the encoder sizes `sizes` (`&[784, 100, 30]`): phase k trains an
/// autoencoder `sizes[k-1] → sizes[k] → sizes[k-1]` on the codings of phase k-1; the last phase
/// stacks the encoders in order and the decoders in reverse. Colours follow the phases.
pub fn greedy_diagram(sizes: &[usize]) -> Result<Figure> {
    check_sizes("sizes", sizes, 2)?;
    if sizes.len() > PHASES.len() + 1 {
        return Err(CourseError::bad_config("sizes", format!("draws at most {} phases ({} sizes); got {}", PHASES.len(), PHASES.len() + 1, sizes.len())));
    }
    let mut parts = Vec::new();
    for k in 1..sizes.len() {
        let input = if k == 1 { "images".to_owned() } else { format!("phase {}'s codings", k - 1) };
        let d = Diagram::new(&format!("{} → {} → {}", sizes[k - 1], sizes[k], sizes[k - 1]))
            .layer(&input, sizes[k - 1], HIDDEN)
            .layer("hidden", sizes[k], PHASES[k - 1])
            .layer("outputs", sizes[k - 1], PHASES[k - 1])
            .bracket(0, 1, "encoder")
            .bracket(1, 2, "decoder");
        parts.push((format!("Phase {k}: an autoencoder trained on {input}"), d.draw()?));
    }
    let n = sizes.len();
    let mut stack = Diagram::new(&format!("{}-{}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"), sizes.iter().rev().skip(1).map(|s| s.to_string()).collect::<Vec<_>>().join("-")));
    stack = stack.layer("inputs", sizes[0], HIDDEN);
    for k in 1..n {
        stack = stack.layer(&format!("phase {k}"), sizes[k], PHASES[k - 1]);
    }
    for k in (1..n).rev() {
        stack = stack.layer(&format!("phase {k}"), sizes[k - 1], PHASES[k - 1]);
    }
    stack = stack.bracket(0, n - 1, "the encoders, in order").bracket(n - 1, 2 * n - 2, "the decoders, in reverse");
    parts.push((format!("Phase {}: the stacked autoencoder", n), stack.draw()?));
    Ok(Figure::column(&parts))
}

/// The variational autoencoder (Géron's figure 17-12) with `inputs` pixels, encoder layers
/// `hidden` (the decoder mirrors them) and `codings` Gaussian codings: the encoder gives a mean
/// μ and a log-variance γ, the codings are sampled from them, the decoder reconstructs.
pub fn vae_diagram(inputs: usize, hidden: &[usize], codings: usize) -> Result<Figure> {
    check_sizes("inputs and codings", &[inputs, codings], 2)?;
    if hidden.contains(&0) {
        return Err(CourseError::bad_config("hidden", "layer sizes must be at least 1 (the slide's are [150, 100])"));
    }
    let mut d = Diagram::new(&format!("Variational autoencoder, {codings} codings z = μ + exp(γ/2)·ε")).layer("inputs", inputs, INPUT);
    for &h in hidden {
        d = d.layer("hidden", h, HIDDEN);
    }
    let coding_stage = hidden.len() + 1;
    d = d
        .stage(vec![Node::new("mean μ", codings, CODINGS), Node::new("log-variance γ", codings, CODINGS), Node::source("noise ε ~ N(0, 1)", codings, NOISE)])
        .layer("codings z", codings, CODINGS);
    for &h in hidden.iter().rev() {
        d = d.layer("hidden", h, HIDDEN);
    }
    let last = coding_stage + 1 + hidden.len() + 1;
    d.layer("outputs (≈ inputs)", inputs, INPUT)
        .bracket(0, coding_stage, "encoder")
        .bracket(coding_stage + 1, last, "decoder")
        .draw()
}

/// The GAN (Géron's figure 17-15) of the slide's shapes: random codings through the generator's
/// layers `generator` to a fake image of `image` pixels; real and fake images through the
/// discriminator's layers `discriminator` to one probability, "real".
pub fn gan_diagram(codings: usize, generator: &[usize], image: usize, discriminator: &[usize]) -> Result<Figure> {
    check_sizes("codings and image", &[codings, image], 2)?;
    if generator.contains(&0) || discriminator.contains(&0) {
        return Err(CourseError::bad_config("generator, discriminator", "layer sizes must be at least 1 (the slide's are [100, 150] and [150, 100])"));
    }
    let mut d = Diagram::new("GAN: the generator against the discriminator").layer("codings z ~ N(0, 1)", codings, NOISE);
    for &h in generator {
        d = d.layer("hidden", h, HIDDEN);
    }
    let images = generator.len() + 1;
    d = d.stage(vec![Node::new("fake images", image, CODINGS), Node::source("real images", image, INPUT)]);
    for &h in discriminator {
        d = d.layer("hidden", h, HIDDEN);
    }
    let last = images + discriminator.len() + 1;
    d.layer("P(real)", 1, DECISION).bracket(0, images, "generator").bracket(images, last, "discriminator").draw()
}

/// Any model's layers, one box per row of its summary (the layer's kind above, its output shape
/// inside): `model_diagram(&conv.summary())`.
pub fn model_diagram(summary: &ModelSummary) -> Result<Figure> {
    if summary.rows.is_empty() {
        return Err(CourseError::Plot { problem: format!("{} has no layers to draw", summary.name) });
    }
    let mut d = Diagram::new(&summary.name);
    for row in &summary.rows {
        let units = row.output_shape.iter().product::<usize>().max(1);
        let size = row.output_shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("×");
        // `Conv2D 3×3/1 same, selu`: the layer's type above the box, its settings under it.
        let (kind, settings) = row.kind.split_once(' ').unwrap_or((&row.kind, ""));
        d = d.stage(vec![Node { label: kind.into(), size, units, fill: HIDDEN.into(), note: settings.into(), fed: true }]);
    }
    d.draw()
}
