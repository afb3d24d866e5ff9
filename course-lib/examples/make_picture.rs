//! Draws the course's own test picture for lesson 05's "denoise your own picture":
//! `data/pictures/sneaker.png`, a dark sneaker on a light, unevenly lit ground, the kind of photo a
//! student takes with a phone (so that the loader's inversion, cropping and resizing all work).
//!
//! `cargo run --release -p course-lib --example make_picture`

use course_lib::rng::Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (240u32, 160u32);
    let mut rng = Rng::new(2026);
    let inside_upper = |x: f64, y: f64| {
        // The upper: from the heel (left) rising to the ankle, sloping down to the toe (right).
        let top = if x < 70.0 { 40.0 } else if x < 120.0 { 40.0 + (x - 70.0) * 0.5 } else { 65.0 + (x - 120.0) * 0.25 };
        (25.0..205.0).contains(&x) && y > top && y < 112.0
    };
    let inside_sole = |x: f64, y: f64| (20.0..215.0).contains(&x) && (112.0..128.0).contains(&y);
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            // Light ground, brighter at the top left, with sensor noise.
            let mut v = 225.0 - 0.12 * xf - 0.10 * yf + 3.0 * rng.normal();
            if inside_upper(xf, yf) {
                v = 60.0 + 4.0 * rng.normal();
                // Laces: lighter stripes across the tongue.
                if (85.0..125.0).contains(&xf) && ((yf - 50.0) % 9.0) < 2.0 && yf < 90.0 {
                    v = 170.0;
                }
            } else if inside_sole(xf, yf) {
                v = 120.0 + 4.0 * rng.normal();
            }
            pixels.push(v.clamp(0.0, 255.0) as u8);
        }
    }
    let out = course_lib::data::pictures_dir().join("sneaker.png");
    std::fs::create_dir_all(out.parent().unwrap())?;
    image::GrayImage::from_raw(w, h, pixels).ok_or("size")?.save(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
