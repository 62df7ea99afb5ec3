//! An 8-bit sRGB image, the one shape every decoder's output is brought to, and the conversions
//! that bring it there.

/// Interleaved 8-bit RGB, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

pub fn from_grey(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|&g| [g, g, g]).collect()
}

/// Grey and alpha, flattened onto white.
pub fn from_grey_alpha(ga: &[u8]) -> Vec<u8> {
    ga.chunks_exact(2).flat_map(|p| [over_white(p[0], p[1]); 3]).collect()
}

/// RGBA flattened onto white: the variants are JPEG (no alpha), and a product shot with a
/// transparent background belongs on the white of a product page, not on black.
pub fn from_rgba(rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
    for p in rgba.chunks_exact(4) {
        out.extend_from_slice(&[over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3])]);
    }
    out
}

/// Ink amounts (0 = none, as the JPEG decoder gives them after undoing Adobe's inversion) to RGB,
/// the naive way: without the source's ICC profile there is no better one.
pub fn from_cmyk(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = 255 - u32::from(p[3]);
        let channel = |ink: u8| ((255 - u32::from(ink)) * k / 255) as u8;
        out.extend_from_slice(&[channel(p[0]), channel(p[1]), channel(p[2])]);
    }
    out
}

fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

/// EXIF orientation (1–8) applied, so the pixels stand as the camera was held.
pub fn orient(img: Rgb8, orientation: u32) -> Rgb8 {
    if !(2..=8).contains(&orientation) {
        return img;
    }
    let (w, h) = (img.width as usize, img.height as usize);
    // 5–8 swap the axes.
    let (ow, oh) = if orientation >= 5 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; img.pixels.len()];
    for y in 0..oh {
        for x in 0..ow {
            // Where the output pixel (x, y) comes from in the stored image.
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let (d, s) = ((y * ow + x) * 3, (sy * w + sx) * 3);
            out[d..d + 3].copy_from_slice(&img.pixels[s..s + 3]);
        }
    }
    Rgb8 { width: ow as u32, height: oh as u32, pixels: out }
}

/// The orientation tag of an EXIF block (a TIFF structure), 1 when absent or unreadable.
pub fn exif_orientation(exif: Option<&[u8]>) -> u32 {
    let Some(raw) = exif else { return 1 };
    // Some writers keep the APP1 identifier in the block.
    let tiff = raw.strip_prefix(b"Exif\0\0").unwrap_or(raw);
    exif::Reader::new()
        .read_raw(tiff.to_vec())
        .ok()
        .and_then(|e| e.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0)))
        .unwrap_or(1)
}

/// The APP1 payload a camera writes for `orientation`: an Exif block holding that one tag
/// (big-endian TIFF), what `exif_orientation` reads. For the tests, the demo and the benchmark,
/// which make photos a camera turned.
pub fn exif_block(orientation: u16) -> Vec<u8> {
    let mut block = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    block.extend_from_slice(&orientation.to_be_bytes());
    block.extend_from_slice(&[0; 6]);
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 × 2 image whose pixels are numbered 0..6 in reading order.
    fn numbered() -> Rgb8 {
        Rgb8 { width: 3, height: 2, pixels: (0..6u8).flat_map(|n| [n, n, n]).collect() }
    }

    fn order(img: &Rgb8) -> Vec<u8> {
        img.pixels.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn each_orientation_puts_the_pixels_where_exif_says() {
        // Stored:  0 1 2 / 3 4 5
        let expected: [(u32, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (o, dims, pixels) in expected {
            let out = orient(numbered(), o);
            assert_eq!(((out.width, out.height), order(&out)), (dims, pixels.to_vec()), "orientation {o}");
        }
    }

    #[test]
    fn the_orientation_written_is_the_one_read() {
        for o in 1..=8u16 {
            assert_eq!(exif_orientation(Some(&exif_block(o))), u32::from(o));
            assert_eq!(exif_orientation(Some(&exif_block(o)[6..])), u32::from(o), "without the identifier");
        }
        assert_eq!(exif_orientation(Some(&exif_block(6)[..20])), 1, "a cut block reads as upright");
        assert_eq!(exif_orientation(None), 1);
    }

    #[test]
    fn transparency_lands_on_white_and_ink_on_paper() {
        assert_eq!(from_rgba(&[10, 20, 30, 0, 10, 20, 30, 255]), vec![255, 255, 255, 10, 20, 30]);
        assert_eq!(from_grey_alpha(&[0, 128]), vec![127, 127, 127]);
        assert_eq!(from_cmyk(&[0, 255, 255, 0, 0, 0, 0, 255]), vec![255, 0, 0, 0, 0, 0], "red ink, then black");
    }
}
