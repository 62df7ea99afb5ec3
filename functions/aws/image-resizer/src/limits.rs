//! The limits an image must pass before any pixel is decoded, and the one decision made from the
//! header: at which DCT scale to decode a JPEG.
use crate::error::ImageError;
use crate::probe::{Format, Header};
use serve::{ConfigError, Env};

/// The longest side of the largest variant: nothing is decoded at more than this needs.
pub const LARGEST_VARIANT: u32 = 1600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_image_bytes: u64,
    pub max_pixels: u64,
    pub max_decode_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_image_bytes: 40_000_000, max_pixels: 50_000_000, max_decode_bytes: 128 * 1024 * 1024 }
    }
}

impl Limits {
    /// `MAX_IMAGE_BYTES` (40 MB), `MAX_IMAGE_PIXELS` (50 MP), `MAX_DECODE_BYTES` (128 MiB).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            max_image_bytes: env.number("MAX_IMAGE_BYTES", d.max_image_bytes as usize)? as u64,
            max_pixels: env.number("MAX_IMAGE_PIXELS", d.max_pixels as usize)? as u64,
            max_decode_bytes: env.number("MAX_DECODE_BYTES", d.max_decode_bytes as usize)? as u64,
        })
    }

    pub fn check_size(&self, bytes: u64) -> Result<(), ImageError> {
        if bytes > self.max_image_bytes {
            return Err(ImageError::TooManyBytes { bytes, limit: self.max_image_bytes });
        }
        Ok(())
    }

    /// How to decode an image with this header, or why not to.
    pub fn plan(&self, h: &Header) -> Result<Plan, ImageError> {
        if h.pixels() > self.max_pixels {
            return Err(ImageError::TooManyPixels {
                width: h.width,
                height: h.height,
                pixels: h.pixels(),
                limit: self.max_pixels,
            });
        }
        let denominator = if h.format == Format::Jpeg { dct_denominator(h.width.max(h.height)) } else { 1 };
        let (width, height) = (h.width.div_ceil(denominator), h.height.div_ceil(denominator));
        let pixels = u64::from(width) * u64::from(height);
        let output = pixels * u64::from(h.channels) * u64::from(h.bytes_per_channel);
        // What is held at once: the decoder's output, a progressive JPEG's coefficients, and
        // the 8-bit RGB copy of an output that is not 8-bit RGB already.
        let conversion = if h.channels == 3 && h.bytes_per_channel == 1 { 0 } else { pixels * 3 };
        let decode_bytes = output + h.coefficient_bytes + conversion;
        if decode_bytes > self.max_decode_bytes {
            return Err(ImageError::DecodeTooLarge { bytes: decode_bytes, limit: self.max_decode_bytes });
        }
        Ok(Plan { denominator, width, height, decode_bytes })
    }
}

/// A decode: at 1/`denominator` scale (JPEG's DCT scaling: 1, 2, 4 or 8), to `width` × `height`,
/// holding `decode_bytes` at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub denominator: u32,
    pub width: u32,
    pub height: u32,
    pub decode_bytes: u64,
}

/// The largest DCT reduction whose longest side still covers the largest variant (or the
/// source, when that is smaller): a 6000-px photo decodes at 1/2 (3000 px), not at full size.
fn dct_denominator(longest: u32) -> u32 {
    let needed = longest.min(LARGEST_VARIANT);
    [8, 4, 2].into_iter().find(|d| longest.div_ceil(*d) >= needed).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Header {
        Header { format: Format::Jpeg, width, height, channels: 3, bytes_per_channel: 1, coefficient_bytes: 0 }
    }

    #[test]
    fn jpegs_decode_at_the_smallest_scale_that_covers_the_large_variant() {
        let l = Limits::default();
        assert_eq!(l.plan(&jpeg(6000, 4000)).map(|p| (p.denominator, p.width, p.height)), Ok((2, 3000, 2000)));
        assert_eq!(l.plan(&jpeg(4000, 6400)).map(|p| (p.denominator, p.width, p.height)), Ok((4, 1000, 1600)));
        assert_eq!(l.plan(&jpeg(3199, 2000)).map(|p| p.denominator), Ok(2), "1/2 rounds up to 1600");
        assert_eq!(l.plan(&jpeg(3198, 2000)).map(|p| p.denominator), Ok(1), "1/2 would give 1599");
        assert_eq!(l.plan(&jpeg(500, 300)).map(|p| p.denominator), Ok(1), "never below the source when small");
    }

    #[test]
    fn pixels_and_decoded_bytes_are_limited_from_the_header() {
        let l = Limits { max_image_bytes: 1000, max_pixels: 1_000_000, max_decode_bytes: 3_000_000 };
        assert_eq!(l.plan(&jpeg(1001, 1000)).map_err(|e| e.code()), Err("too_many_pixels"));
        let png16 = Header {
            format: Format::Png,
            width: 1000,
            height: 1000,
            channels: 4,
            bytes_per_channel: 2,
            coefficient_bytes: 0,
        };
        assert_eq!(l.plan(&png16).map_err(|e| e.code()), Err("decode_too_large"), "8 MB of RGBA16");
        let scaled = Limits { max_pixels: 100_000_000, max_decode_bytes: 13_000_000, ..l };
        assert_eq!(scaled.plan(&jpeg(8000, 8000)).map(|p| p.decode_bytes), Ok(2000 * 2000 * 3), "after DCT scaling");
        let grey = Header {
            format: Format::Png,
            width: 1000,
            height: 1000,
            channels: 1,
            bytes_per_channel: 1,
            coefficient_bytes: 0,
        };
        assert_eq!(scaled.plan(&grey).map(|p| p.decode_bytes), Ok(1_000_000 + 3_000_000), "grey, and its RGB copy");
        let progressive = Header { coefficient_bytes: 9_500_000, ..jpeg(4000, 3000) };
        assert_eq!(
            scaled.plan(&progressive).map_err(|e| e.code()),
            Err("decode_too_large"),
            "coefficients at full size"
        );
        assert_eq!(l.check_size(1001).map_err(|e| e.code()), Err("too_many_bytes"));
    }
}
