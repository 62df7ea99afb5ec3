//! One decode per source image, at the plan's scale, to 8-bit sRGB, with the EXIF orientation to
//! apply (after the first resize, on far fewer pixels). Only called after the header passed the
//! limits, and each decoder's output must have the size the header promised.
use crate::colour;
use crate::error::ImageError;
use crate::limits::{Limits, Plan};
use crate::pixels::{self, Rgb8};
use crate::probe::{Format, Header};
use std::io::Cursor;

/// A decoded upload: its pixels as stored, its EXIF orientation (1–8) and its ICC profile, both
/// applied later to the largest variant (on far fewer pixels than the decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub image: Rgb8,
    pub orientation: u32,
    /// The RGB profile to convert from; None for sRGB (or CMYK, converted in decoding).
    pub icc: Option<Vec<u8>>,
}

pub fn decode(bytes: &[u8], header: &Header, plan: &Plan, limits: &Limits) -> Result<Source, ImageError> {
    let max = usize::try_from(limits.max_decode_bytes).unwrap_or(usize::MAX);
    let Decoded { image: img, exif, icc } = match header.format {
        Format::Jpeg => jpeg(bytes, plan, max)?,
        Format::Png => png(bytes, max)?,
        Format::WebP => webp(bytes, max)?,
    };
    if (img.width, img.height) != (plan.width, plan.height) {
        let (w, h) = (img.width, img.height);
        let planned = format!("{} x {}", plan.width, plan.height);
        return Err(ImageError::Corrupt(format!("decodes to {w} x {h}, not the {planned} its header says")));
    }
    Ok(Source { image: img, orientation: pixels::exif_orientation(exif.as_deref()), icc })
}

struct Decoded {
    image: Rgb8,
    exif: Option<Vec<u8>>,
    icc: Option<Vec<u8>>,
}

fn jpeg(bytes: &[u8], plan: &Plan, max: usize) -> Result<Decoded, ImageError> {
    let corrupt = |e: jpeg_decoder::Error| ImageError::Corrupt(format!("JPEG: {e}"));
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(max);
    // The decoder takes the first scale at which either side covers the request: asking for the
    // planned longest side only (the other unbounded) selects the planned scale, even for a
    // sliver whose short side rounds up. The probe accepted only 16-bit sizes.
    let (w, h) = if plan.width >= plan.height {
        decoder.scale(plan.width as u16, u16::MAX).map_err(corrupt)?
    } else {
        decoder.scale(u16::MAX, plan.height as u16).map_err(corrupt)?
    };
    let raw = decoder.decode().map_err(corrupt)?;
    let info = decoder.info().ok_or_else(|| ImageError::Corrupt("JPEG without a frame".into()))?;
    let icc = decoder.icc_profile();
    // Only an RGB profile is carried on to the variants: a grey one is not applied (grey stays
    // grey), and CMYK is converted here, through its profile when it has one (naively when not).
    let (rgb, icc) = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => (raw, icc),
        jpeg_decoder::PixelFormat::L8 => (pixels::from_grey(&raw), None),
        jpeg_decoder::PixelFormat::CMYK32 => {
            (colour::cmyk_to_srgb(&raw, icc.as_deref()).unwrap_or_else(|| pixels::from_cmyk(&raw)), None)
        }
        jpeg_decoder::PixelFormat::L16 => return Err(ImageError::UnsupportedFormat("16-bit JPEG".into())),
    };
    checked(u32::from(w), u32::from(h), rgb, decoder.exif_data().map(<[u8]>::to_vec), icc)
}

fn png(bytes: &[u8], max: usize) -> Result<Decoded, ImageError> {
    let corrupt = |e: png::DecodingError| match e {
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated(format!("PNG: {io}"))
        }
        e => ImageError::Corrupt(format!("PNG: {e}")),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: max });
    // Palettes and low bit depths expanded, 16-bit reduced to 8.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let size = reader.output_buffer_size().ok_or(ImageError::DecodeTooLarge { bytes: u64::MAX, limit: max as u64 })?;
    if size > max {
        return Err(ImageError::DecodeTooLarge { bytes: size as u64, limit: max as u64 });
    }
    let mut raw = vec![0; size];
    let frame = reader.next_frame(&mut raw).map_err(corrupt)?;
    raw.truncate(frame.buffer_size());
    let rgb = match frame.color_type {
        png::ColorType::Rgb => raw,
        png::ColorType::Rgba => pixels::from_rgba(&raw),
        png::ColorType::Grayscale => pixels::from_grey(&raw),
        png::ColorType::GrayscaleAlpha => pixels::from_grey_alpha(&raw),
        png::ColorType::Indexed => return Err(ImageError::Corrupt("PNG palette not expanded".into())),
    };
    let info = reader.info();
    let exif = info.exif_metadata.as_ref().map(|e| e.to_vec());
    let grey = matches!(frame.color_type, png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha);
    let icc = info.icc_profile.as_ref().filter(|_| !grey).map(|p| p.to_vec());
    checked(frame.width, frame.height, rgb, exif, icc)
}

fn webp(bytes: &[u8], max: usize) -> Result<Decoded, ImageError> {
    let corrupt = |e: image_webp::DecodingError| match e {
        image_webp::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated(format!("WebP: {io}"))
        }
        e => ImageError::Corrupt(format!("WebP: {e}")),
    };
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
    decoder.set_memory_limit(max);
    let (w, h) = decoder.dimensions();
    let size = decoder.output_buffer_size().ok_or(ImageError::DecodeTooLarge { bytes: u64::MAX, limit: max as u64 })?;
    let mut raw = vec![0; size];
    decoder.read_image(&mut raw).map_err(corrupt)?;
    let rgb = if decoder.has_alpha() { pixels::from_rgba(&raw) } else { raw };
    let exif = decoder.exif_metadata().map_err(corrupt)?;
    let icc = decoder.icc_profile().map_err(corrupt)?;
    checked(w, h, rgb, exif, icc)
}

/// A decoder that returned fewer bytes than its dimensions need is not trusted further.
fn checked(
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    exif: Option<Vec<u8>>,
    icc: Option<Vec<u8>>,
) -> Result<Decoded, ImageError> {
    if pixels.len() != width as usize * height as usize * 3 {
        return Err(ImageError::Corrupt(format!("{} bytes for {width} x {height} RGB", pixels.len())));
    }
    Ok(Decoded { image: Rgb8 { width, height, pixels }, exif, icc })
}
