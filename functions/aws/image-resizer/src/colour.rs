//! Colour management. A photo with an embedded ICC profile (Display P3 from a phone, Adobe RGB
//! from a camera, a print shop's CMYK) is converted to sRGB: the variants carry no profile, and
//! a browser reads a file without one as sRGB, so unconverted P3 would look washed out. A
//! profile that cannot be read is ignored with a warning, as a browser would ignore it.
use crate::pixels::Rgb8;
use moxcms::{ColorProfile, Layout, TransformOptions};

fn transform(icc: &[u8], from: Layout, pixels: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let source = ColorProfile::new_from_slice(icc)
        .inspect_err(|e| tracing::warn!(error = ?e, "unreadable ICC profile ignored: taken as sRGB"))
        .ok()?;
    let to_srgb = source
        .create_transform_8bit(from, &ColorProfile::new_srgb(), Layout::Rgb, TransformOptions::default())
        .inspect_err(|e| tracing::warn!(error = ?e, "ICC profile without a transform to sRGB ignored"))
        .ok()?;
    let mut out = vec![0; out_len];
    to_srgb.transform(pixels, &mut out).inspect_err(|e| tracing::warn!(error = ?e, "ICC transform failed")).ok()?;
    Some(out)
}

/// RGB in the profile's colour space, as sRGB; unchanged without a usable profile.
pub fn rgb_to_srgb(img: Rgb8, icc: Option<&[u8]>) -> Rgb8 {
    match icc.and_then(|icc| transform(icc, Layout::Rgb, &img.pixels, img.pixels.len())) {
        Some(pixels) => Rgb8 { pixels, ..img },
        None => img,
    }
}

/// CMYK ink amounts (0 = none) through a CMYK profile to sRGB; None without a usable one.
pub fn cmyk_to_srgb(cmyk: &[u8], icc: Option<&[u8]>) -> Option<Vec<u8>> {
    transform(icc?, Layout::Rgba, cmyk, cmyk.len() / 4 * 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_gamut_pixels_are_moved_into_srgb_and_bad_profiles_ignored() {
        let adobe = ColorProfile::new_adobe_rgb().encode().expect("an Adobe RGB profile");
        let img = Rgb8 { width: 1, height: 1, pixels: vec![40, 160, 60] };
        let out = rgb_to_srgb(img.clone(), Some(&adobe));
        // Adobe RGB's green is more saturated than sRGB's: the same numbers are a purer green,
        // so in sRGB red and blue fall away from it while green stays about where it was.
        assert!(out.pixels[0] < 20 && out.pixels[2] < 55 && out.pixels[1] >= 150, "{:?}", out.pixels);
        assert_eq!(rgb_to_srgb(img.clone(), Some(b"not a profile")), img);
        assert_eq!(rgb_to_srgb(img.clone(), None), img);
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], Some(b"not a profile")), None);
    }
}
