//! The three web variants of one decoded image, each resized from the next larger (`large` →
//! `medium` → `thumb`, Lanczos-3 in SIMD), never upscaled, aspect kept, then encoded: JPEG q85
//! progressive with no metadata (the encoder writes none), and WebP q85 when asked for.
use crate::decode::Source;
use crate::error::ImageError;
use crate::pixels::Rgb8;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// Size labels and the longest side each is made to, largest first.
pub const SIZES: [(&str, u32); 3] = [("large", 1600), ("medium", 640), ("thumb", 160)];

pub const QUALITY: u8 = 85;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    WebP,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Jpeg => "jpeg",
            Encoding::WebP => "webp",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Jpeg => "jpg",
            Encoding::WebP => "webp",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Jpeg => "image/jpeg",
            Encoding::WebP => "image/webp",
        }
    }
}

/// One encoded variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub label: &'static str,
    pub encoding: Encoding,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// The size a variant of longest side `target` has: the source's, scaled down so its longest
/// side is `target` (rounded, at least 1 px), or the source's own when it is smaller.
pub fn fit(width: u32, height: u32, target: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= target {
        return (width, height);
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(target) + u64::from(longest) / 2) / u64::from(longest)).max(1) as u32;
    (scale(width), scale(height))
}

/// Every variant of the source in every encoding asked for, in `SIZES` order then encoding
/// order. The EXIF orientation and the ICC profile are applied to the largest variant (the
/// longest side is the same either way, and libvips too colour-manages after shrinking), so
/// they cost at most 1600 × 1600 pixels rather than the whole decode.
pub fn make(source: Source, encodings: &[Encoding]) -> Result<Vec<Variant>, ImageError> {
    let Source { image, orientation, icc } = source;
    let mut resizer = Resizer::new();
    let mut out = Vec::with_capacity(SIZES.len() * encodings.len());
    let mut current = image;
    for (i, (label, target)) in SIZES.into_iter().enumerate() {
        let (w, h) = fit(current.width, current.height, target);
        if (w, h) != (current.width, current.height) {
            current = resize(&mut resizer, &current, w, h)?;
        }
        if i == 0 {
            current = crate::colour::rgb_to_srgb(crate::pixels::orient(current, orientation), icc.as_deref());
        }
        for &encoding in encodings {
            let bytes = encode(&current, encoding)?;
            out.push(Variant { label, encoding, width: current.width, height: current.height, bytes });
        }
    }
    Ok(out)
}

fn resize(resizer: &mut Resizer, src: &Rgb8, width: u32, height: u32) -> Result<Rgb8, ImageError> {
    let failed = |e: &dyn std::fmt::Display| ImageError::Corrupt(format!("resize to {width} x {height}: {e}"));
    let from = ImageRef::new(src.width, src.height, &src.pixels, PixelType::U8x3).map_err(|e| failed(&e))?;
    let mut to = Image::new(width, height, PixelType::U8x3);
    let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    resizer.resize(&from, &mut to, &lanczos).map_err(|e| failed(&e))?;
    Ok(Rgb8 { width, height, pixels: to.into_vec() })
}

pub fn encode(img: &Rgb8, encoding: Encoding) -> Result<Vec<u8>, ImageError> {
    match encoding {
        Encoding::Jpeg => {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
            encoder.set_progressive(true);
            // Variants are at most 1600 px a side, well inside JPEG's 16-bit sizes.
            encoder
                .encode(&img.pixels, img.width as u16, img.height as u16, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| ImageError::Corrupt(format!("JPEG encoding: {e}")))?;
            Ok(out)
        }
        // encode_simple, not encode: the latter unwraps libwebp's errors.
        Encoding::WebP => webp::Encoder::from_rgb(&img.pixels, img.width, img.height)
            .encode_simple(false, f32::from(QUALITY))
            .map(|memory| memory.to_vec())
            .map_err(|e| ImageError::Corrupt(format!("WebP encoding: {e:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_aspect_and_never_grow() {
        assert_eq!(fit(6000, 4000, 1600), (1600, 1067));
        assert_eq!(fit(4000, 6000, 640), (427, 640));
        assert_eq!(fit(500, 300, 1600), (500, 300));
        assert_eq!(fit(10000, 3, 160), (160, 1), "a sliver keeps at least one pixel");
    }
}
