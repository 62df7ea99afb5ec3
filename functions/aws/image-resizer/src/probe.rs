//! Reading an image's header, and only its header: what format it is, how large it claims to be,
//! and what decoding it would cost. Every limit is checked from here, before a decoder allocates
//! a pixel, so a bomb (a tiny file claiming 60 000 × 60 000 pixels) costs a few hundred bytes of
//! reading. The parsers are deliberately small: they read the fields the limits need and reject
//! any shape the decoders behind them do not handle, so those decoders never see it.
use crate::error::ImageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Channels the decoder produces (a PNG with a tRNS chunk gains an alpha channel).
    pub channels: u32,
    pub bytes_per_channel: u32,
    /// What a progressive JPEG's decoder holds besides its output: every DCT coefficient of
    /// the whole image at full size (2 bytes each), whatever scale it is decoded at.
    pub coefficient_bytes: u64,
}

impl Header {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads the header of `bytes`. Formats we recognise but do not decode (HEIC, AVIF, GIF, TIFF,
/// BMP, arithmetic-coded or lossless JPEG, animated WebP) are `unsupported_format`.
pub fn probe(bytes: &[u8]) -> Result<Header, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return jpeg(bytes);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return png(bytes);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return webp(bytes);
    }
    Err(recognised_but_unsupported(bytes).map_or(ImageError::NotAnImage, ImageError::UnsupportedFormat))
}

fn recognised_but_unsupported(bytes: &[u8]) -> Option<String> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = String::from_utf8_lossy(&bytes[8..12]).into_owned();
        return match brand.as_str() {
            "heic" | "heix" | "hevc" | "heim" | "heis" | "hevm" | "hevs" | "mif1" | "msf1" => {
                Some(format!("HEIF ({brand})"))
            }
            "avif" | "avis" => Some(format!("AVIF ({brand})")),
            _ => None,
        };
    }
    [(&b"GIF8"[..], "GIF"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"BM", "BMP")]
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| name.to_string())
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// Walks the JPEG's marker segments to the frame header (SOFn), then on to the first scan
/// (SOS). A JPEG whose entropy-coded data has no end-of-image marker after that scan is
/// truncated: refused, not decoded into grey padding.
fn jpeg(b: &[u8]) -> Result<Header, ImageError> {
    let mut at = 2;
    let mut frame: Option<Header> = None;
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (b.get(at), b.get(at + 1)) else {
            return Err(if at >= b.len() {
                ImageError::Truncated("the JPEG ends before its first scan".into())
            } else {
                ImageError::BadHeader(format!("no JPEG marker at byte {at}"))
            });
        };
        at += 2;
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue; // standalone markers carry no length
        }
        if marker == 0xD9 {
            return Err(ImageError::BadHeader("the JPEG ends before any scan".into()));
        }
        let len = be16(b, at).ok_or_else(|| ImageError::Truncated("the JPEG ends inside a marker".into()))? as usize;
        if len < 2 {
            return Err(ImageError::BadHeader(format!("marker 0x{marker:02X} has length {len}")));
        }
        match marker {
            0xC0..=0xC2 => frame = Some(jpeg_frame(b, at + 2, marker)?),
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let kind = if marker == 0xC3 {
                    "lossless"
                } else if marker >= 0xC9 {
                    "arithmetic-coded"
                } else {
                    "hierarchical"
                };
                return Err(ImageError::UnsupportedFormat(format!("{kind} JPEG")));
            }
            0xDA => {
                let header =
                    frame.ok_or_else(|| ImageError::BadHeader("a JPEG scan before its frame header".into()))?;
                // Searched from the end, where the marker is unless something trails the image.
                let scan = at + len;
                if !b.get(scan..).is_some_and(|rest| rest.windows(2).rev().any(|w| w == [0xFF, 0xD9])) {
                    return Err(ImageError::Truncated("the JPEG has no end-of-image marker".into()));
                }
                return Ok(header);
            }
            _ => {}
        }
        at += len;
    }
}

fn jpeg_frame(b: &[u8], at: usize, marker: u8) -> Result<Header, ImageError> {
    let short = || ImageError::Truncated("the JPEG ends inside its frame header".into());
    let precision = *b.get(at).ok_or_else(short)?;
    let height = be16(b, at + 1).ok_or_else(short)?;
    let width = be16(b, at + 3).ok_or_else(short)?;
    let components = u32::from(*b.get(at + 5).ok_or_else(short)?);
    if precision != 8 {
        return Err(ImageError::UnsupportedFormat(format!("{precision}-bit JPEG (SOF 0x{marker:02X})")));
    }
    if width == 0 || height == 0 {
        return Err(ImageError::BadHeader(format!("JPEG frame of {width} x {height}")));
    }
    if !matches!(components, 1 | 3 | 4) {
        return Err(ImageError::BadHeader(format!("JPEG with {components} components")));
    }
    // Component specifications: id, sampling factors (H << 4 | V), quantisation table.
    let sampling: Vec<(u32, u32)> = (0..components as usize)
        .map(|i| b.get(at + 7 + 3 * i).map(|hv| (u32::from(hv >> 4).max(1), u32::from(hv & 0x0F).max(1))))
        .collect::<Option<_>>()
        .ok_or_else(short)?;
    let coefficient_bytes = if marker == 0xC2 { coefficients(width, height, &sampling) * 2 } else { 0 };
    Ok(Header { format: Format::Jpeg, width, height, channels: components, bytes_per_channel: 1, coefficient_bytes })
}

/// DCT coefficients of a frame: per component, its 8 × 8 blocks over whole MCUs, 64 each.
fn coefficients(width: u32, height: u32, sampling: &[(u32, u32)]) -> u64 {
    let h_max = sampling.iter().map(|s| s.0).max().unwrap_or(1);
    let v_max = sampling.iter().map(|s| s.1).max().unwrap_or(1);
    let (mcus_x, mcus_y) = (u64::from(width.div_ceil(8 * h_max)), u64::from(height.div_ceil(8 * v_max)));
    sampling.iter().map(|(h, v)| mcus_x * u64::from(*h) * mcus_y * u64::from(*v) * 64).sum()
}

/// The IHDR chunk, which the PNG specification puts first.
fn png(b: &[u8]) -> Result<Header, ImageError> {
    let short = || ImageError::Truncated("the PNG ends inside its header".into());
    if b.get(12..16).ok_or_else(short)? != b"IHDR" {
        return Err(ImageError::BadHeader("the PNG does not start with IHDR".into()));
    }
    let width = be32(b, 16).ok_or_else(short)?;
    let height = be32(b, 20).ok_or_else(short)?;
    let depth = *b.get(24).ok_or_else(short)?;
    let color = *b.get(25).ok_or_else(short)?;
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(ImageError::BadHeader(format!("PNG of {width} x {height}")));
    }
    let channels = match color {
        0 => 1,
        2 => 3,
        3 => 4,
        4 => 2,
        6 => 4,
        other => return Err(ImageError::BadHeader(format!("PNG colour type {other}"))),
    };
    let bytes_per_channel = if depth == 16 { 2 } else { 1 };
    // Transparency of a grey or RGB image is its own chunk before the data: it adds alpha.
    let channels = if matches!(color, 0 | 2) && png_has_trns(b) { channels + 1 } else { channels };
    Ok(Header { format: Format::Png, width, height, channels, bytes_per_channel, coefficient_bytes: 0 })
}

/// Whether a tRNS chunk comes before the image data (chunks walked by their lengths).
fn png_has_trns(b: &[u8]) -> bool {
    let mut at = 8;
    while let (Some(len), Some(kind)) = (be32(b, at), b.get(at + 4..at + 8)) {
        match kind {
            b"tRNS" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => at = at.saturating_add(12).saturating_add(len as usize),
        }
    }
    false
}

/// The first chunk: `VP8 ` (lossy), `VP8L` (lossless) or `VP8X` (extended, with a canvas size
/// and flags).
fn webp(b: &[u8]) -> Result<Header, ImageError> {
    let short = || ImageError::Truncated("the WebP ends inside its header".into());
    // The RIFF header says how long the file is: shorter is truncated, whatever the decoder says.
    let riff = u64::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]])) + 8;
    if (b.len() as u64) < riff {
        return Err(ImageError::Truncated(format!("the WebP is {} of its {riff} bytes", b.len())));
    }
    let chunk = b.get(12..16).ok_or_else(short)?;
    let data = 20;
    let (width, height, channels) = match chunk {
        b"VP8 " => {
            if b.get(data + 3..data + 6).ok_or_else(short)? != [0x9D, 0x01, 0x2A] {
                return Err(ImageError::BadHeader("VP8 frame without its start code".into()));
            }
            let w = le16(b, data + 6).ok_or_else(short)? & 0x3FFF;
            let h = le16(b, data + 8).ok_or_else(short)? & 0x3FFF;
            (w, h, 3)
        }
        b"VP8L" => {
            if *b.get(data).ok_or_else(short)? != 0x2F {
                return Err(ImageError::BadHeader("VP8L without its signature".into()));
            }
            let bits =
                u32::from_le_bytes(b.get(data + 1..data + 5).ok_or_else(short)?.try_into().map_err(|_| short())?);
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
        }
        b"VP8X" => {
            let flags = *b.get(data).ok_or_else(short)?;
            if flags & 0x02 != 0 {
                return Err(ImageError::UnsupportedFormat("animated WebP".into()));
            }
            let w = le24(b, data + 4).ok_or_else(short)? + 1;
            let h = le24(b, data + 7).ok_or_else(short)? + 1;
            (w, h, if flags & 0x10 != 0 { 4 } else { 3 })
        }
        other => return Err(ImageError::BadHeader(format!("WebP chunk {:?}", String::from_utf8_lossy(other)))),
    };
    if width == 0 || height == 0 {
        return Err(ImageError::BadHeader(format!("WebP of {width} x {height}")));
    }
    Ok(Header { format: Format::WebP, width, height, channels, bytes_per_channel: 1, coefficient_bytes: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal VP8 header: RIFF, WEBP, the chunk, frame tag, start code, 640 × 480.
    fn vp8() -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a\x80\x02\xe0\x01".to_vec();
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn every_prefix_of_a_header_is_an_error_or_a_header_never_a_panic() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x02\x80\0\0\x01\xe0\x08\x02\0\0\0".to_vec();
        png.extend_from_slice(b"\0\0\0\0\0\0\0\x01tRNS\0\0\0\0\0");
        let jpeg =
            b"\xff\xd8\xff\xc2\0\x11\x08\x01\xe0\x02\x80\x03\x01\x22\0\x02\x11\x01\x03\x11\x01\xff\xda\0\x02\xff\xd9"
                .to_vec();
        for full in [vp8(), png, jpeg] {
            for cut in 0..=full.len() {
                let mut b = full[..cut].to_vec();
                if b.len() >= 8 && b.starts_with(b"RIFF") {
                    // A RIFF size that agrees with the cut, so the chunk parser itself is reached.
                    let size = (b.len() as u32).saturating_sub(8).to_le_bytes();
                    b[4..8].copy_from_slice(&size);
                }
                let _ = probe(&b);
            }
        }
    }

    #[test]
    fn headers_say_what_decoding_holds() {
        let mut b = vp8();
        let size = (b.len() as u32 - 8).to_le_bytes();
        b[4..8].copy_from_slice(&size);
        let h = probe(&b).expect("VP8");
        assert_eq!((h.width, h.height, h.channels), (640, 480, 3));
        // 640 × 480 progressive 4:2:0: 80 × 60 luma blocks and a quarter of that per chroma.
        let jpeg =
            b"\xff\xd8\xff\xc2\0\x11\x08\x01\xe0\x02\x80\x03\x01\x22\0\x02\x11\x01\x03\x11\x01\xff\xda\0\x02\xff\xd9";
        assert_eq!(probe(jpeg).map(|h| h.coefficient_bytes), Ok((4800 + 2 * 1200) * 64 * 2));
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x02\x80\0\0\x01\xe0\x08\x00\0\0\0\0\0\0\0".to_vec();
        assert_eq!(probe(&png).map(|h| h.channels), Ok(1), "grey");
        png.extend_from_slice(b"\0\0\0\x02tRNS\0\0\0\0\0\0");
        assert_eq!(probe(&png).map(|h| h.channels), Ok(2), "grey with transparency gains alpha");
    }
}
