//! Test images made by encoders (so every shape is exact and nothing binary is checked in), and
//! hostile ones made by editing good ones.
#![allow(dead_code)]

/// A smooth RGB picture with a red left edge and a blue right edge, so orientation shows.
pub fn rgb(width: u32, height: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            px.extend_from_slice(&[(255.0 * (1.0 - fx)) as u8, (128.0 * fy) as u8, (255.0 * fx) as u8]);
        }
    }
    px
}

fn jpeg_of(width: u32, height: u32, pixels: &[u8], color: jpeg_encoder::ColorType, exif: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    if let Some(orientation) = exif {
        encoder.add_app_segment(1, image_resizer::pixels::exif_block(orientation)).expect("APP1");
    }
    encoder.encode(pixels, width as u16, height as u16, color).expect("encode");
    out
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_of(width, height, &rgb(width, height), jpeg_encoder::ColorType::Rgb, None)
}

pub fn jpeg_oriented(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    jpeg_of(width, height, &rgb(width, height), jpeg_encoder::ColorType::Rgb, Some(orientation))
}

/// Every pixel the same ink (cyan, magenta, yellow, black), Adobe-style CMYK.
pub fn cmyk_jpeg(width: u32, height: u32, ink: [u8; 4]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| ink).collect();
    jpeg_of(width, height, &pixels, jpeg_encoder::ColorType::Cmyk, None)
}

pub fn grey_jpeg(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).map(|i| (i % 251) as u8).collect();
    jpeg_of(width, height, &pixels, jpeg_encoder::ColorType::Luma, None)
}

/// Every pixel `rgb`, with an embedded ICC profile.
pub fn jpeg_with_profile(width: u32, height: u32, rgb: [u8; 3], icc: &[u8]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| rgb).collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
    encoder.add_icc_profile(icc).expect("ICC");
    encoder.encode(&pixels, width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

pub fn png(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == png::ColorType::Indexed {
        encoder.set_palette(vec![255, 0, 0, 0, 0, 255]);
    }
    let mut writer = encoder.write_header().expect("header");
    writer.write_image_data(pixels).expect("data");
    writer.finish().expect("finish");
    out
}

/// 16-bit RGBA: the left half opaque green, the right half transparent.
pub fn png_rgba16(width: u32, height: u32) -> Vec<u8> {
    let mut px = Vec::new();
    for _ in 0..height {
        for x in 0..width {
            let alpha: u16 = if x < width / 2 { 0xFFFF } else { 0 };
            for c in [0u16, 0xFFFF, 0, alpha] {
                px.extend_from_slice(&c.to_be_bytes());
            }
        }
    }
    png(width, height, png::ColorType::Rgba, png::BitDepth::Sixteen, &px)
}

pub fn webp(width: u32, height: u32) -> Vec<u8> {
    webp::Encoder::from_rgb(&rgb(width, height), width, height).encode(90.0).to_vec()
}

/// A real JPEG whose frame header claims another size: a decompression bomb's header.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    claiming(jpeg(64, 64), 0xC0, width, height)
}

/// The same, progressive: its decoder would hold every coefficient at full size.
pub fn progressive_jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive(true);
    encoder.encode(&rgb(64, 64), 64, 64, jpeg_encoder::ColorType::Rgb).expect("encode");
    claiming(out, 0xC2, width, height)
}

fn claiming(mut b: Vec<u8>, marker: u8, width: u16, height: u16) -> Vec<u8> {
    let sof = b.windows(2).position(|w| w == [0xFF, marker]).expect("SOF");
    b[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    b
}

/// A real PNG whose IHDR claims another size (its CRC no longer matches: the probe must refuse
/// it before any decoder would look).
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut b = png(2, 2, png::ColorType::Rgb, png::BitDepth::Eight, &[0; 12]);
    b[16..20].copy_from_slice(&width.to_be_bytes());
    b[20..24].copy_from_slice(&height.to_be_bytes());
    b
}

/// A grey PNG claiming another size: small to decode, three times larger as RGB.
pub fn grey_png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut b = png(2, 2, png::ColorType::Grayscale, png::BitDepth::Eight, &[0; 4]);
    b[16..20].copy_from_slice(&width.to_be_bytes());
    b[20..24].copy_from_slice(&height.to_be_bytes());
    b
}

pub fn heic() -> Vec<u8> {
    let mut b = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    b.extend_from_slice(&[0; 64]);
    b
}

pub fn avif() -> Vec<u8> {
    let mut b = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec();
    b.extend_from_slice(&[0; 64]);
    b
}

/// Decodes a JPEG variant, for checking what was written.
pub fn decode_jpeg(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(bytes);
    let px = d.decode().expect("decodes");
    let info = d.info().expect("info");
    (u32::from(info.width), u32::from(info.height), px)
}
