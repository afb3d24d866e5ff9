//! The slides' figures: image grids, originals over reconstructions, loss curves, class-coloured
//! scatter plots, and the toy data in 3-D with its 2-D codings.
//!
//! Every helper returns a [`Figure`]: the last expression of a notebook cell shows it inline
//! (evcxr's display protocol), and [`Figure::save`] writes it to a file. Images are PNG (pixels
//! stay pixels), charts are SVG (sharp at any zoom, and text stays text). The same inputs always
//! give the same bytes, so figures are pinned by snapshot tests.
//!
//! The Rust kernel shows one output per MIME type per cell: to show two figures together, put
//! them side by side with [`Figure::row`].

use crate::data::{CLASS_NAMES, IMAGE_PIXELS, IMAGE_SIDE, Matrix};
use crate::error::{CourseError, Result};
use crate::train::{History, TrainModel, predict};
use base64::Engine;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// matplotlib's `tab10` palette, the slides' class colours.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e), RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28), RGBColor(0x94, 0x67, 0xbd), RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2), RGBColor(0x7f, 0x7f, 0x7f), RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Screen pixels per image pixel in image figures.
const IMAGE_SCALE: usize = 3;
/// Gap between images in a grid, in screen pixels.
const GAP: usize = 4;
/// The default chart size, one for every chart (d2l's habit: one figure size throughout).
const CHART_SIZE: (u32, u32) = (640, 440);

/// A rendered figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Figure {
    /// A PNG image.
    Png {
        /// The encoded file.
        bytes: Vec<u8>,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// An SVG drawing.
    Svg {
        /// The document.
        text: String,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

impl Figure {
    /// The file's bytes (PNG or SVG).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Figure::Png { bytes, .. } => bytes,
            Figure::Svg { text, .. } => text.as_bytes(),
        }
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        match *self {
            Figure::Png { width, height, .. } | Figure::Svg { width, height, .. } => (width, height),
        }
    }

    /// The file extension of this figure's format.
    pub fn extension(&self) -> &'static str {
        match self {
            Figure::Png { .. } => "png",
            Figure::Svg { .. } => "svg",
        }
    }

    /// Writes the figure to `path`, whose extension must match the format ([`Figure::extension`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !ext.eq_ignore_ascii_case(self.extension()) {
            return Err(CourseError::bad_config(
                "path",
                format!(
                    "this figure is {}, so save it to a `.{}` file (got `{}`)",
                    self.extension().to_uppercase(),
                    self.extension(),
                    path.display()
                ),
            ));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| CourseError::io(parent, e))?;
        }
        std::fs::write(path, self.bytes()).map_err(|e| CourseError::io(path, e))
    }

    /// Shows the figure as the cell's output in Jupyter (evcxr's display protocol).
    pub fn evcxr_display(&self) {
        match self {
            Figure::Png { bytes, .. } => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            Figure::Svg { text, .. } => {
                println!("EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT", text.trim())
            }
        }
    }

    /// Figures one under the other, each under its caption, in one SVG (a figure with several
    /// labelled parts: the layers of a network, the epochs of a GAN).
    pub fn column(parts: &[(String, Figure)]) -> Figure {
        const CAPTION: u32 = 24;
        let width = parts.iter().map(|(_, f)| f.size().0).max().unwrap_or(0).max(200);
        let height: u32 = parts.iter().map(|(_, f)| f.size().1 + CAPTION).sum();
        let mut text = format!(
            "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n\
             <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
        );
        let mut y = 0;
        for (caption, figure) in parts {
            let escaped = escape_xml(caption);
            text.push_str(&format!(
                "<text x=\"4\" y=\"{}\" font-family=\"sans-serif\" font-size=\"15\">{escaped}</text>\n",
                y + CAPTION - 7
            ));
            y += CAPTION;
            text.push_str(&embed(figure, 0, y));
            y += figure.size().1;
        }
        text.push_str("</svg>\n");
        Figure::Svg { text, width, height }
    }

    /// The figures side by side in one SVG, top-aligned.
    pub fn row(figures: &[Figure]) -> Figure {
        let width = figures.iter().map(|f| f.size().0).sum();
        let height = figures.iter().map(|f| f.size().1).max().unwrap_or(0);
        let mut text = format!(
            "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n"
        );
        let mut x = 0;
        for figure in figures {
            text.push_str(&embed(figure, x, 0));
            x += figure.size().0;
        }
        text.push_str("</svg>\n");
        Figure::Svg { text, width, height }
    }
}

/// `text` as SVG (XML) character data or attribute value.
pub(crate) fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `figure` as an element of an enclosing SVG, its top left corner at `(x, y)`.
fn embed(figure: &Figure, x: u32, y: u32) -> String {
    let (w, h) = figure.size();
    match figure {
        Figure::Png { bytes, .. } => format!(
            "<image x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" \
             style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        Figure::Svg { text: inner, .. } => {
            // A nested <svg> keeps the inner drawing's own coordinates.
            let body = inner.trim().strip_prefix("<svg").unwrap_or(inner);
            format!("<svg x=\"{x}\" y=\"{y}\"{body}\n")
        }
    }
}

fn plot_err(err: impl std::fmt::Display) -> CourseError {
    CourseError::Plot { problem: err.to_string() }
}

/// Grey level of a pixel in `[0, 1]` under matplotlib's `binary` colour map: 0 white, 1 black.
fn binary_cmap(p: f32) -> u8 {
    255 - (p.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn encode_png(pixels: &[u8], width: usize, height: usize) -> Result<Figure> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(plot_err)?;
        writer.write_image_data(pixels).map_err(plot_err)?;
    }
    Ok(Figure::Png { bytes, width: width as u32, height: height as u32 })
}

fn check_image(image: &[f32], what: &str) -> Result<()> {
    if image.len() != IMAGE_PIXELS {
        return Err(CourseError::shape(
            what,
            format!("a 28×28 image ({IMAGE_PIXELS} values)"),
            format!("{} values", image.len()),
        ));
    }
    Ok(())
}

/// Images in a grid of `rows` rows, in reading order, 28×28 each, ink dark on white.
pub fn image_grid(images: &[&[f32]], rows: usize) -> Result<Figure> {
    if images.is_empty() {
        return Err(CourseError::shape("image_grid", "at least one image", "none"));
    }
    for image in images {
        check_image(image, "image_grid")?;
    }
    let cols = images.len().div_ceil(rows.max(1)).max(1);
    tile_grid(images, IMAGE_SIDE, IMAGE_SIDE, cols, IMAGE_SCALE, false)
}

/// Tiles of `height × width` values in a grid of `cols` columns, each value drawn as a
/// `scale × scale` square, dark for high values (matplotlib's `binary` map). With `normalize`,
/// each tile is stretched to its own range first (feature maps have no fixed scale); otherwise
/// values are read in [0, 1].
pub fn tile_grid(tiles: &[&[f32]], height: usize, width: usize, cols: usize, scale: usize, normalize: bool) -> Result<Figure> {
    if height == 0 || width == 0 || scale == 0 {
        return Err(CourseError::bad_config("tile_grid", "tiles need a height, a width and a scale of at least 1"));
    }
    if let Some(bad) = tiles.iter().find(|t| t.len() != height * width) {
        return Err(CourseError::shape("tile_grid", format!("tiles of {height}×{width} = {} values", height * width), format!("{} values", bad.len())));
    }
    let cols = cols.max(1);
    let rows = tiles.len().div_ceil(cols).max(1);
    let (tile_w, tile_h) = (width * scale, height * scale);
    let image_w = cols * tile_w + (cols + 1) * GAP;
    let image_h = rows * tile_h + (rows + 1) * GAP;
    let mut pixels = vec![255u8; image_w * image_h];
    for (k, tile) in tiles.iter().enumerate() {
        let (r, c) = (k / cols, k % cols);
        let (x0, y0) = (GAP + c * (tile_w + GAP), GAP + r * (tile_h + GAP));
        let (lo, hi) = if normalize {
            tile.iter().filter(|v| v.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        } else {
            (0.0, 1.0)
        };
        let span = if hi > lo { hi - lo } else { 1.0 };
        for y in 0..tile_h {
            for x in 0..tile_w {
                let v = tile[(y / scale) * width + x / scale];
                let p = if normalize { (v - lo) / span } else { v };
                pixels[(y0 + y) * image_w + x0 + x] = binary_cmap(p);
            }
        }
        // A thin frame, so that white clothes on white ground still show their tile.
        for i in 0..tile_w {
            for (x, y) in [(x0 + i, y0), (x0 + i, y0 + tile_h - 1)] {
                pixels[y * image_w + x] = pixels[y * image_w + x].min(225);
            }
        }
        for i in 0..tile_h {
            for (x, y) in [(x0, y0 + i), (x0 + tile_w - 1, y0 + i)] {
                pixels[y * image_w + x] = pixels[y * image_w + x].min(225);
            }
        }
    }
    encode_png(&pixels, image_w, image_h)
}

/// One image (the slides' `plot_image`). Lessons 02 on.
pub fn plot_image(image: &[f32]) -> Result<Figure> {
    image_grid(&[image], 1)
}

/// The first `n` images of `x` in rows of at most `per_row`.
pub fn plot_images(x: &Matrix, n: usize, per_row: usize) -> Result<Figure> {
    x.check()?;
    if n == 0 || x.rows == 0 {
        return Err(CourseError::shape("plot_images", "n of 1 or more, and a matrix with images", format!("n = {n} of {} images", x.rows)));
    }
    let n = n.min(x.rows);
    let images: Vec<&[f32]> = (0..n).map(|i| x.at(i)).collect();
    image_grid(&images, n.div_ceil(per_row.max(1)))
}

/// Originals (top row) over their reconstructions (bottom row).
pub fn reconstruction_grid(originals: &Matrix, reconstructions: &Matrix, n_images: usize) -> Result<Figure> {
    originals.check()?;
    reconstructions.check()?;
    if originals.rows != reconstructions.rows || originals.cols != reconstructions.cols {
        return Err(CourseError::shape(
            "reconstruction_grid",
            format!("reconstructions shaped like the originals ({} × {})", originals.rows, originals.cols),
            format!("{} × {}", reconstructions.rows, reconstructions.cols),
        ));
    }
    let n = n_images.min(originals.rows);
    let images: Vec<&[f32]> =
        (0..n).map(|i| originals.at(i)).chain((0..n).map(|i| reconstructions.at(i))).collect();
    image_grid(&images, 2)
}

/// The same `n` images as each model reconstructs them: one captioned row for the originals,
/// then one per `(name, reconstructions)` (lesson 04's stacked and convolutional autoencoders
/// side by side, lesson 06's family of autoencoders).
pub fn compare_reconstructions(originals: &Matrix, models: &[(&str, &Matrix)], n: usize) -> Result<Figure> {
    originals.check()?;
    if n == 0 || originals.rows == 0 {
        return Err(CourseError::shape("compare_reconstructions", "n of 1 or more, and originals to show", format!("n = {n} of {} originals", originals.rows)));
    }
    let n = n.min(originals.rows);
    for (name, m) in models {
        m.check()?;
        if m.rows < n {
            return Err(CourseError::shape("compare_reconstructions", format!("{n} reconstructions, one per original shown"), format!("{} for {name}", m.rows)));
        }
    }
    let row = |m: &Matrix| -> Result<Figure> {
        let images: Vec<&[f32]> = (0..n).map(|i| m.at(i)).collect();
        image_grid(&images, 1)
    };
    let mut parts = vec![("originals".to_owned(), row(originals)?)];
    for (name, m) in models {
        if m.cols != originals.cols {
            return Err(CourseError::shape("compare_reconstructions", format!("{} values per image, as the originals", originals.cols), format!("{} for {name}", m.cols)));
        }
        parts.push(((*name).to_owned(), row(m)?));
    }
    Ok(Figure::column(&parts))
}

/// The slides' `show_reconstructions(model, n_images=5)`: the first `n_images` of `images`
/// (the validation set in the slides) over the model's reconstructions of them. Lessons 02, 04-06.
pub fn show_reconstructions<M: TrainModel>(model: &M, images: &Matrix, n_images: usize) -> Result<Figure> {
    let originals = images.head(n_images);
    let reconstructions = predict(model, &originals)?;
    reconstruction_grid(&originals, &reconstructions, n_images)
}

/// The finite range of `values`, padded by 5% (and widened if it is a single value).
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    (lo - pad)..(hi + pad)
}

fn svg_figure(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<Figure> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Figure::Svg { text, width: size.0, height: size.1 })
}

/// Curves `(name, y values)` against 1, 2, 3, ... (epochs), one colour each, with a legend.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<f64>)]) -> Result<Figure> {
    let n = series.iter().map(|(_, ys)| ys.len()).max().unwrap_or(0).max(1);
    let xs: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    xy_chart(title, x_label, y_label, &xs, series)
}

/// Curves `(name, y values)` against the shared `xs`, one colour each, with the legend in a
/// column of its own beside the plot (where it never covers a curve). When the xs are the whole
/// numbers 1, 2, 3, ... (epochs), the axis labels are those numbers, once each.
pub fn xy_chart(title: &str, x_label: &str, y_label: &str, xs: &[f64], series: &[(String, Vec<f64>)]) -> Result<Figure> {
    if let Some((name, ys)) = series.iter().find(|(_, ys)| ys.len() > xs.len()) {
        return Err(CourseError::shape("xy_chart", format!("at most one value per x ({}) in each series", xs.len()), format!("{} values in {name}", ys.len())));
    }
    let x_range = padded_range(xs.iter().copied());
    let y_range = padded_range(series.iter().flat_map(|(_, ys)| ys.iter().copied()));
    let whole = xs.iter().all(|x| x.fract() == 0.0);
    let legend_width = 10 + 7 * series.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0).min(40) as u32 + 30;
    let size = (CHART_SIZE.0 + legend_width, CHART_SIZE.1);
    svg_figure(size, |root| {
        let (plot_area, legend_area) = root.split_horizontally(CHART_SIZE.0);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range.clone(), y_range)
            .map_err(plot_err)?;
        let span = x_range.end - x_range.start;
        let ticks = if whole && span <= 12.0 { xs.len().max(2) } else { 8 };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(ticks)
            .x_label_formatter(&|x| if whole { format!("{x:.0}") } else { format!("{x:.2}") })
            .draw()
            .map_err(plot_err)?;
        for (k, (_, ys)) in series.iter().enumerate() {
            let color = TAB10[k % 10];
            let points: Vec<(f64, f64)> = xs.iter().zip(ys).filter(|(_, y)| y.is_finite()).map(|(&x, &y)| (x, y)).collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2))).map_err(plot_err)?;
            if points.len() <= 60 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
            }
        }
        for (k, (name, _)) in series.iter().enumerate() {
            let y = 60 + 22 * k as i32;
            let color = TAB10[k % 10];
            legend_area.draw(&PathElement::new(vec![(4, y), (24, y)], color.stroke_width(2))).map_err(plot_err)?;
            legend_area.draw(&Text::new(name.as_str(), (30, y - 7), ("sans-serif", 13).into_font())).map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A histogram of `values` in `bins` equal bins over `range`, as percentages of the values, with
/// a dashed vertical line at `mark` (the book's `plot_percent_hist` with its mean line).
pub fn histogram(values: &[f32], bins: usize, range: (f64, f64), title: &str, x_label: &str, y_label: &str, mark: Option<f64>) -> Result<Figure> {
    let (lo, hi) = range;
    if bins == 0 || !(hi > lo) {
        return Err(CourseError::bad_config("histogram", "give at least one bin and a range with its low end below its high end"));
    }
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v as f64 - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let total = values.len().max(1) as f64;
    let shares: Vec<f64> = counts.iter().map(|&c| 100.0 * c as f64 / total).collect();
    let top = shares.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
    svg_figure((420, 300), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(plot_err)?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).x_labels(bins + 1).draw().map_err(plot_err)?;
        chart
            .draw_series(shares.iter().enumerate().map(|(b, &share)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0 + 0.1 * width, 0.0), (x0 + 0.9 * width, share)], TAB10[0].filled())
            }))
            .map_err(plot_err)?;
        if let Some(m) = mark.filter(|m| m.is_finite()) {
            chart.draw_series(DashedLineSeries::new(vec![(m, 0.0), (m, top)], 6, 4, BLACK.stroke_width(2))).map_err(plot_err)?;
        }
        Ok(())
    })
}

/// The learning curves of a training run: every series of the history (loss, val_loss,
/// metrics), like `pd.DataFrame(history.history).plot()`.
pub fn plot_history(history: &History) -> Result<Figure> {
    let series: Vec<(String, Vec<f64>)> = history.names.iter().map(|n| (n.clone(), history.series(n))).collect();
    line_chart("Learning curves", "epoch", "value", &series)
}

/// Some series of one history (the VAE's `binary_crossentropy` and `latent_loss`, say), by
/// epoch. An unknown name is an error that lists the history's series.
pub fn plot_series(history: &History, names: &[&str], title: &str) -> Result<Figure> {
    let mut curves = Vec::new();
    for name in names {
        let ys = history.series(name);
        if ys.is_empty() {
            return Err(CourseError::bad_config("series", format!("the history has no series `{name}`; it has: {}", history.names.join(", "))));
        }
        curves.push(((*name).to_owned(), ys));
    }
    line_chart(title, "epoch", "value", &curves)
}

/// One series (`"loss"`, `"val_loss"`, ...) of several training runs, to compare them: for
/// instance two learning rates, or tied and untied weights.
pub fn compare_histories(runs: &[(&str, &History)], series: &str) -> Result<Figure> {
    let curves: Vec<(String, Vec<f64>)> = runs.iter().map(|(name, h)| (name.to_string(), h.series(series))).collect();
    if curves.iter().all(|(_, ys)| ys.is_empty()) {
        let names = runs.first().map(|(_, h)| h.names.join(", ")).unwrap_or_default();
        return Err(CourseError::bad_config("series", format!("no run has a series `{series}`; the histories have: {names}")));
    }
    line_chart(series, "epoch", series, &curves)
}

/// A heat map of `rows` (one row per epoch, say, one value in [0, 1] per column), darker for
/// larger values, the columns labelled by `columns` and the rows numbered from 1. Lesson 08's
/// class histograms over the epochs.
pub fn heatmap(rows: &[Vec<f64>], columns: &[&str], title: &str, row_label: &str, value_label: &str) -> Result<Figure> {
    let cols = columns.len();
    if rows.is_empty() || cols == 0 || rows.iter().any(|r| r.len() != cols) {
        return Err(CourseError::shape("heatmap", format!("rows of {cols} values, one per column label"), format!("{} rows", rows.len())));
    }
    let (left, top, cell_w) = (70i32, 40i32, 64i32);
    let cell_h = (360 / rows.len() as i32).clamp(6, 28);
    let width = (left + cell_w * cols as i32 + 20) as u32;
    let height = (top + cell_h * rows.len() as i32 + 110) as u32;
    let max = rows.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max).max(1e-12);
    svg_figure((width, height), |root| {
        let font = ("sans-serif", 13).into_font();
        root.draw(&Text::new(title.to_owned(), (left, 12), ("sans-serif", 16).into_font())).map_err(plot_err)?;
        for (r, row) in rows.iter().enumerate() {
            let y = top + r as i32 * cell_h;
            if rows.len() <= 30 || (r + 1) % 5 == 0 || r == 0 {
                root.draw(&Text::new(format!("{}", r + 1), (left - 28, y + cell_h / 2 - 6), font.clone())).map_err(plot_err)?;
            }
            for (c, &v) in row.iter().enumerate() {
                let shade = (v / max).clamp(0.0, 1.0);
                let color = RGBColor((255.0 - 224.0 * shade) as u8, (255.0 - 136.0 * shade) as u8, (255.0 - 75.0 * shade) as u8);
                let x = left + c as i32 * cell_w;
                root.draw(&Rectangle::new([(x, y), (x + cell_w - 1, y + cell_h - 1)], color.filled())).map_err(plot_err)?;
            }
        }
        let bottom = top + cell_h * rows.len() as i32;
        for (c, name) in columns.iter().enumerate() {
            let x = left + c as i32 * cell_w + 4;
            let style = font.clone().transform(FontTransform::Rotate90);
            root.draw(&Text::new((*name).to_owned(), (x + 16, bottom + 6), style)).map_err(plot_err)?;
        }
        root.draw(&Text::new(row_label.to_owned(), (4, top - 18), font.clone())).map_err(plot_err)?;
        root.draw(&Text::new(format!("darker: larger {value_label} (darkest {max:.2})"), (left, bottom + 92), font)).map_err(plot_err)?;
        Ok(())
    })
}

fn check_points(points: &Matrix, what: &str) -> Result<()> {
    points.check()?;
    if points.cols != 2 {
        return Err(CourseError::shape(what, "2-D points (2 columns)", format!("{} columns", points.cols)));
    }
    Ok(())
}

/// 2-D points coloured by class with the tab10 palette and a legend of the class names beside the
/// plot (the slides' `plt.scatter(X[:, 0], X[:, 1], c=y, s=10, cmap="tab10")`). Lesson 03.
pub fn scatter_classes(points: &Matrix, labels: &[u8], title: &str) -> Result<Figure> {
    scatter_with_thumbnails(points, labels, title, None)
}

/// The book's richer figure: the class scatter, with some images drawn at their points (one
/// wherever no other thumbnail is near), so that a student sees what each cluster holds.
/// `images` has one row per point. Lesson 03.
pub fn scatter_thumbnails(points: &Matrix, labels: &[u8], images: &Matrix, title: &str) -> Result<Figure> {
    images.check()?;
    if images.rows != points.rows {
        return Err(CourseError::shape(
            "scatter_thumbnails",
            format!("one image per point ({})", points.rows),
            format!("{} images", images.rows),
        ));
    }
    scatter_with_thumbnails(points, labels, title, Some(images))
}

/// Size of the class scatter figures, and the width of their legend column.
const SCATTER_SIZE: (u32, u32) = (860, 640);
const LEGEND_WIDTH: u32 = 150;

fn scatter_with_thumbnails(points: &Matrix, labels: &[u8], title: &str, images: Option<&Matrix>) -> Result<Figure> {
    check_points(points, "scatter_classes")?;
    if labels.len() != points.rows {
        return Err(CourseError::shape(
            "scatter_classes",
            format!("one label per point ({})", points.rows),
            format!("{} labels", labels.len()),
        ));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(CourseError::shape("scatter_classes", "labels 0 to 9 (Fashion-MNIST's classes)", format!("label {bad}")));
    }
    let x_range = padded_range((0..points.rows).map(|i| points.at(i)[0] as f64));
    let y_range = padded_range((0..points.rows).map(|i| points.at(i)[1] as f64));
    let mut thumbnails: Vec<(i32, i32, usize)> = Vec::new();
    let figure = svg_figure(SCATTER_SIZE, |root| {
        let (plot_area, legend_area) = root.split_horizontally(SCATTER_SIZE.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x_range, y_range)
            .map_err(plot_err)?;
        chart.configure_mesh().disable_mesh().draw().map_err(plot_err)?;
        let alpha = if images.is_some() { 0.5 } else { 0.9 };
        for class in 0..10u8 {
            let color = TAB10[class as usize];
            let pts = (0..points.rows)
                .filter(|&i| labels[i] == class)
                .map(|i| (points.at(i)[0] as f64, points.at(i)[1] as f64));
            chart.draw_series(pts.map(|p| Circle::new(p, 2, color.mix(alpha).filled()))).map_err(plot_err)?;
        }
        if images.is_some() {
            // The book's rule: show an image where no shown image is closer than a fraction of
            // the plot's size.
            let min_gap = 30.0f64;
            for i in 0..points.rows {
                let (px, py) = chart.backend_coord(&(points.at(i)[0] as f64, points.at(i)[1] as f64));
                let far = thumbnails.iter().all(|&(x, y, _)| (((x - px).pow(2) + (y - py).pow(2)) as f64).sqrt() > min_gap);
                if far {
                    thumbnails.push((px, py, i));
                }
            }
        }
        for class in 0..10usize {
            let y = 60 + 24 * class as i32;
            legend_area.draw(&Circle::new((14, y), 5, TAB10[class].filled())).map_err(plot_err)?;
            legend_area
                .draw(&Text::new(CLASS_NAMES[class], (26, y - 7), ("sans-serif", 14).into_font()))
                .map_err(plot_err)?;
        }
        Ok(())
    })?;
    let (Some(images), Figure::Svg { mut text, width, height }) = (images, figure.clone()) else {
        return Ok(figure);
    };
    // plotters' SVG backend cannot draw bitmaps: add each thumbnail as an <image> before the end.
    let side = 24;
    let mut extra = String::new();
    for &(x, y, i) in &thumbnails {
        let Figure::Png { bytes, .. } = image_grid_plain(images.at(i))? else { continue };
        extra.push_str(&format!(
            "<image x=\"{}\" y=\"{}\" width=\"{side}\" height=\"{side}\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
            x - side / 2,
            y - side / 2,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ));
    }
    let end = text.rfind("</svg>").unwrap_or(text.len());
    text.insert_str(end, &extra);
    Ok(Figure::Svg { text, width, height })
}

/// One image at its own size (28×28), no frame: for thumbnails.
fn image_grid_plain(image: &[f32]) -> Result<Figure> {
    check_image(image, "thumbnail")?;
    let pixels: Vec<u8> = image.iter().map(|&p| binary_cmap(p)).collect();
    encode_png(&pixels, IMAGE_SIDE, IMAGE_SIDE)
}

/// The 2-D codings of the toy data, axes `z1` and `z2` (the book's figure 17-2, right). Lesson 01.
pub fn plot_codings_2d(codings: &Matrix, title: &str) -> Result<Figure> {
    check_points(codings, "plot_codings_2d")?;
    let pts: Vec<(f64, f64)> = (0..codings.rows).map(|i| (codings.at(i)[0] as f64, codings.at(i)[1] as f64)).collect();
    let x_range = padded_range(pts.iter().map(|p| p.0));
    let y_range = padded_range(pts.iter().map(|p| p.1));
    svg_figure((420, 360), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x_range, y_range)
            .map_err(plot_err)?;
        chart.configure_mesh().x_desc("z1").y_desc("z2").draw().map_err(plot_err)?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, TAB10[0].filled()))).map_err(plot_err)?;
        Ok(())
    })
}

/// The toy data in 3-D (the book's figure 17-2, left). Lesson 01.
pub fn plot_toy_3d(x: &Matrix, title: &str) -> Result<Figure> {
    x.check()?;
    if x.cols != 3 {
        return Err(CourseError::shape("plot_toy_3d", "3-D points (3 columns)", format!("{} columns", x.cols)));
    }
    let col = |k: usize| (0..x.rows).map(move |i| x.at(i)[k] as f64);
    let (xr, yr, zr) = (padded_range(col(0)), padded_range(col(1)), padded_range(col(2)));
    svg_figure((420, 360), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .build_cartesian_3d(xr, zr, yr)
            .map_err(plot_err)?;
        chart.with_projection(|mut p| {
            p.yaw = 0.6;
            p.pitch = 0.35;
            p.scale = 0.85;
            p.into_matrix()
        });
        chart.configure_axes().light_grid_style(BLACK.mix(0.1)).max_light_lines(3).draw().map_err(plot_err)?;
        // Plotters' 3-D y axis is vertical: draw x3 upward, like the book.
        let pts: Vec<(f64, f64, f64)> = (0..x.rows).map(|i| {
            let r = x.at(i);
            (r[0] as f64, r[2] as f64, r[1] as f64)
        }).collect();
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, TAB10[0].filled()))).map_err(plot_err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_bytes() {
        let x = crate::data::toy_3d_data(1);
        assert_eq!(plot_toy_3d(&x, "t").unwrap(), plot_toy_3d(&x, "t").unwrap());
        let img = vec![0.5f32; IMAGE_PIXELS];
        assert_eq!(plot_image(&img).unwrap(), plot_image(&img).unwrap());
    }

    #[test]
    fn png_starts_with_the_signature_and_has_the_grid_size() {
        let img = vec![1.0f32; IMAGE_PIXELS];
        let fig = image_grid(&[&img, &img, &img], 1).unwrap();
        assert!(fig.bytes().starts_with(b"\x89PNG"));
        assert_eq!(fig.size(), (3 * 84 + 4 * 4, 84 + 2 * 4));
    }

    #[test]
    fn wrong_inputs_are_errors() {
        assert!(plot_image(&[0.0; 10]).unwrap_err().to_string().contains("28×28"));
        let pts = Matrix::new(2, 3, vec![0.0; 6]).unwrap();
        assert!(scatter_classes(&pts, &[0, 1], "x").is_err());
        let fig = plot_image(&vec![0.0; IMAGE_PIXELS]).unwrap();
        assert!(fig.save("/tmp/figure.svg").unwrap_err().to_string().contains(".png"));
    }

    #[test]
    fn row_nests_figures() {
        let x = crate::data::toy_3d_data(1);
        let a = plot_toy_3d(&x, "a").unwrap();
        let b = plot_image(&vec![0.0; IMAGE_PIXELS]).unwrap();
        let row = Figure::row(&[a.clone(), b.clone()]);
        assert_eq!(row.size(), (a.size().0 + b.size().0, a.size().1.max(b.size().1)));
        assert_eq!(row.extension(), "svg");
    }
}
