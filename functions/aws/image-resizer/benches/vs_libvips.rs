//! image-resizer against libvips, side by side in one run: the same three variants (1600, 640,
//! 160 px; JPEG q85 progressive, metadata stripped) of the same files, median time per file.
//! libvips runs in-process through pyvips (benches/libvips.py), in the faster of its two ways;
//! the ratio is libvips' time over ours, so above 1 is faster than libvips at its best.
//!
//! Also measured, on the 24 MP photo, the choices the function made: jpeg-decoder at DCT scale
//! against jpeg-decoder in full and zune-jpeg (SIMD, no scaling), Lanczos-3 against Catmull-Rom,
//! progressive against baseline JPEG.
//!
//! Needs libvips and pyvips: `apt-get install libvips-tools` and `pip install pyvips` (a venv's
//! python in `PYVIPS_PYTHON`). Run: `cargo bench -p image-resizer --bench vs_libvips`.
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image_resizer::limits::{Limits, Plan};
use image_resizer::pixels::Rgb8;
use image_resizer::variants::{self, Encoding, SIZES};
use image_resizer::{decode, probe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Something with a photo's entropy (smooth regions, edges, fine texture and sensor noise), so
/// entropy decoding costs what it costs on a real photo.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut px = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 17) as f32 - 8.0;
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let texture = 40.0 * ((x as f32 * 0.07).sin() * (y as f32 * 0.05).cos());
            let edge = if (fx - 0.5).powi(2) + (fy - 0.5).powi(2) < 0.08 { 60.0 } else { 0.0 };
            let c = |base: f32| (base + texture + edge + noise).clamp(0.0, 255.0) as u8;
            px.extend_from_slice(&[c(200.0 * fx), c(90.0 + 80.0 * fy), c(160.0 - 120.0 * fx * fy)]);
        }
    }
    px
}

fn jpeg(width: u32, height: u32, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 92);
    if let Some(o) = orientation {
        encoder.add_app_segment(1, image_resizer::pixels::exif_block(o)).expect("APP1");
    }
    encoder.encode(&photo(width, height), width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("jpeg");
    out
}

fn png_rgba(width: u32, height: u32) -> Vec<u8> {
    let rgb = photo(width, height);
    let rgba: Vec<u8> = rgb.chunks(3).enumerate().flat_map(|(i, p)| [p[0], p[1], p[2], (i % 256) as u8]).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    let mut writer = encoder.write_header().expect("png");
    writer.write_image_data(&rgba).expect("png");
    writer.finish().expect("png");
    out
}

fn median_secs(iterations: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    f(); // warm-up
    let mut times = Vec::with_capacity(iterations);
    let mut bytes = 0;
    for _ in 0..iterations {
        let start = Instant::now();
        bytes = std::hint::black_box(f());
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], bytes)
}

/// The function's own path: probe, limits, one decode at the planned scale, three variants.
fn ours(bytes: &[u8]) -> usize {
    let limits = Limits::default();
    let header = probe::probe(bytes).expect("probe");
    let plan = limits.plan(&header).expect("plan");
    let source = decode::decode(bytes, &header, &plan, &limits).expect("decode");
    variants::make(source, &[Encoding::Jpeg]).expect("variants").iter().map(|v| v.bytes.len()).sum()
}

#[derive(Clone, Copy)]
enum Decoder {
    /// jpeg-decoder at the planned DCT scale: the function's choice.
    Scaled,
    /// jpeg-decoder at full size.
    Full,
    /// zune-jpeg (SIMD), which has no DCT scaling: full size.
    Zune,
}

/// The alternatives: a decoder, then the chain with this filter and encoding.
fn alternative(bytes: &[u8], decoder: Decoder, filter: FilterType, progressive: bool) -> usize {
    let limits = Limits::default();
    let header = probe::probe(bytes).expect("probe");
    let full = Plan { denominator: 1, width: header.width, height: header.height, decode_bytes: 0 };
    let mut current = match decoder {
        Decoder::Scaled => {
            decode::decode(bytes, &header, &limits.plan(&header).expect("plan"), &limits).expect("decode").image
        }
        Decoder::Full => decode::decode(bytes, &header, &full, &limits).expect("decode").image,
        Decoder::Zune => {
            let mut zune = zune_jpeg::JpegDecoder::new(bytes);
            let pixels = zune.decode().expect("zune decode");
            let (w, h) = zune.dimensions().expect("dimensions");
            Rgb8 { width: w as u32, height: h as u32, pixels }
        }
    };
    let mut resizer = Resizer::new();
    let mut total = 0;
    for (_, target) in SIZES {
        let (w, h) = variants::fit(current.width, current.height, target);
        if (w, h) != (current.width, current.height) {
            let from = ImageRef::new(current.width, current.height, &current.pixels, PixelType::U8x3).expect("image");
            let mut to = Image::new(w, h, PixelType::U8x3);
            let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
            resizer.resize(&from, &mut to, &options).expect("resize");
            current = Rgb8 { width: w, height: h, pixels: to.into_vec() };
        }
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, variants::QUALITY);
        encoder.set_progressive(progressive);
        encoder.encode(&current.pixels, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
        total += out.len();
    }
    total
}

/// libvips' best median per file, from pyvips.
fn libvips(iterations: usize, files: &[PathBuf]) -> Result<Vec<(f64, &'static str)>, String> {
    let python = std::env::var("PYVIPS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/libvips.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(iterations.to_string())
        .args(files)
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{python} benches/libvips.py: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut best = Vec::new();
    for file in files {
        let name = file.to_string_lossy();
        let ways = text.lines().filter(|l| l.starts_with(name.as_ref())).filter_map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let (_bytes, secs) = (parts.next()?, parts.next()?.parse::<f64>().ok()?);
            let way = if parts.next()?.ends_with("chain") { "chain" } else { "apart" };
            Some((secs, way))
        });
        best.push(ways.min_by(|a, b| a.0.total_cmp(&b.0)).ok_or_else(|| format!("no libvips time for {name}"))?);
    }
    Ok(best)
}

fn main() {
    let iterations: usize = std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    let dir = std::env::temp_dir().join("image-resizer-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let inputs = [
        ("photo-24mp.jpg", jpeg(6000, 4000, None)),
        ("phone-12mp-rotated.jpg", jpeg(4032, 3024, Some(6))),
        ("photo-2mp.jpg", jpeg(1920, 1080, None)),
        ("cutout-3mp-alpha.png", png_rgba(2000, 1500)),
    ];
    let mut files = Vec::new();
    for (name, bytes) in &inputs {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write input");
        files.push(path);
    }
    println!("image-resizer vs libvips {iterations} iterations each, median per file (three JPEG variants)");
    let vips = match libvips(iterations, &files) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "libvips side failed: {e}\n(apt-get install libvips-tools; pip install pyvips; PYVIPS_PYTHON=that python)"
            );
            std::process::exit(1);
        }
    };
    println!("{:<26} {:>10} {:>16} {:>8}", "file", "ours ms", "libvips ms", "ratio");
    for ((name, bytes), (vips_secs, way)) in inputs.iter().zip(&vips) {
        let (secs, _) = median_secs(iterations, || ours(bytes));
        println!("{name:<26} {:>10.1} {:>10.1} {way:>5} {:>8.2}", secs * 1e3, vips_secs * 1e3, vips_secs / secs);
    }
    let photo = &inputs[0].1;
    println!("\nchoices, on {} (ms; ratio to the function's own choice):", inputs[0].0);
    let (chosen, _) = median_secs(iterations, || alternative(photo, Decoder::Scaled, FilterType::Lanczos3, true));
    let others = [
        ("jpeg-decoder in full, not at DCT scale", Decoder::Full, FilterType::Lanczos3, true),
        ("zune-jpeg (SIMD, full size only)", Decoder::Zune, FilterType::Lanczos3, true),
        ("Catmull-Rom instead of Lanczos-3", Decoder::Scaled, FilterType::CatmullRom, true),
        ("baseline instead of progressive", Decoder::Scaled, FilterType::Lanczos3, false),
    ];
    println!("  {:<40} {:>8.1}", "chosen: DCT scale, Lanczos-3, progressive", chosen * 1e3);
    for (what, decoder, filter, progressive) in others {
        let (secs, _) = median_secs(iterations, || alternative(photo, decoder, filter, progressive));
        println!("  {what:<40} {:>8.1} {:>6.2}", secs * 1e3, secs / chosen);
    }
}
