//! Property tests of the image header probe and of the upload keys: any bytes are a header or a
//! typed `ImageError`, a header built with known dimensions reads back as them, a JPEG or WebP
//! cut short is refused, never read; any key decodes once or is `bad_key`. Inputs and case
//! count: `property-inputs`.
use image_resizer::error::ImageError;
use image_resizer::keys::{Upload, decode_event_key};
use image_resizer::probe::{Format, Header, probe};
use proptest::prelude::*;

const PHOTO: &str = "aws/s3/objects/acme-product-media/uploads/TSH-001-BLK-M/front (1).jpg";

/// The checked-in photo's header (its markers up to the scan) with a little of the scan and the
/// end marker: the real segments (EXIF, tables, frame) without 100 KB of entropy-coded data.
fn photo_header() -> Vec<u8> {
    let photo = property_inputs::fixture(PHOTO);
    let sos = photo.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a scan");
    let mut b = photo[..(sos + 64).min(photo.len())].to_vec();
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

/// A JPEG frame header and an empty scan: baseline or progressive, 1, 3 or 4 components.
fn jpeg(progressive: bool, width: u16, height: u16, sampling: &[u8]) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, if progressive { 0xC2 } else { 0xC0 }];
    b.extend_from_slice(&(8 + 3 * sampling.len() as u16).to_be_bytes());
    b.push(8);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&width.to_be_bytes());
    b.push(sampling.len() as u8);
    for (i, hv) in sampling.iter().enumerate() {
        b.extend_from_slice(&[i as u8 + 1, *hv, 0]);
    }
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0xD9]);
    b
}

fn png(width: u32, height: u32, depth: u8, colour: u8, trns: bool) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[depth, colour, 0, 0, 0, 0, 0, 0, 0]);
    if trns {
        b.extend_from_slice(b"\0\0\0\x02tRNS\0\0\0\0\0\0");
    }
    b.extend_from_slice(b"\0\0\0\0IDAT\0\0\0\0");
    b
}

/// A lossless WebP (`VP8L`) of the given size, its RIFF length its own.
fn webp(width: u32, height: u32) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14);
    let mut b = b"RIFF\0\0\0\0WEBPVP8L\x05\0\0\0\x2f".to_vec();
    b.extend_from_slice(&bits.to_le_bytes());
    b.push(0);
    let riff = (b.len() as u32 - 8).to_le_bytes();
    b[4..8].copy_from_slice(&riff);
    b
}

/// A progressive JPEG's coefficients: 64 of 2 bytes per 8 × 8 block of each component, over
/// whole MCUs.
fn coefficients(width: u16, height: u16, sampling: &[u8]) -> u64 {
    let (h_max, v_max) = (
        sampling.iter().map(|s| u64::from(s >> 4)).max().unwrap_or(1),
        sampling.iter().map(|s| u64::from(s & 15)).max().unwrap_or(1),
    );
    let (mcus_x, mcus_y) = (u64::from(width).div_ceil(8 * h_max), u64::from(height).div_ceil(8 * v_max));
    sampling.iter().map(|s| mcus_x * u64::from(s >> 4) * mcus_y * u64::from(s & 15) * 64 * 2).sum()
}

/// Synthetic images with the header each must give.
fn image() -> impl Strategy<Value = (Vec<u8>, Header)> {
    let sampling = prop::sample::select(vec![vec![0x11], vec![0x22, 0x11, 0x11], vec![0x11, 0x11, 0x11, 0x11]]);
    let jpegs = (any::<bool>(), 1u16.., 1u16.., sampling).prop_map(|(progressive, w, h, s)| {
        let bytes = jpeg(progressive, w, h, &s);
        let coefficient_bytes = if progressive { coefficients(w, h, &s) } else { 0 };
        let channels = s.len() as u32;
        let header = Header {
            format: Format::Jpeg,
            width: w.into(),
            height: h.into(),
            channels,
            bytes_per_channel: 1,
            coefficient_bytes,
        };
        (bytes, header)
    });
    let colours = prop::sample::select(vec![(0u8, 1u32), (2, 3), (3, 4), (4, 2), (6, 4)]);
    let pngs = (
        1u32..=i32::MAX as u32,
        1u32..=i32::MAX as u32,
        prop::sample::select(vec![1u8, 8, 16]),
        colours,
        any::<bool>(),
    )
        .prop_map(|(w, h, depth, (colour, channels), trns)| {
            let channels = if trns && matches!(colour, 0 | 2) { channels + 1 } else { channels };
            let header = Header {
                format: Format::Png,
                width: w,
                height: h,
                channels,
                bytes_per_channel: if depth == 16 { 2 } else { 1 },
                coefficient_bytes: 0,
            };
            (png(w, h, depth, colour, trns), header)
        });
    let webps = (1u32..=16384, 1u32..=16384).prop_map(|(w, h)| {
        (
            webp(w, h),
            Header {
                format: Format::WebP,
                width: w,
                height: h,
                channels: 4,
                bytes_per_channel: 1,
                coefficient_bytes: 0,
            },
        )
    });
    prop_oneof![jpegs, pngs, webps]
}

fn seeds() -> Vec<Vec<u8>> {
    vec![photo_header(), jpeg(true, 640, 480, &[0x22, 0x11, 0x11]), png(640, 480, 8, 2, true), webp(640, 480)]
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn any_bytes_are_a_header_or_refused(bytes in property_inputs::mutations(seeds())) {
        match probe(&bytes) {
            Ok(h) => {
                prop_assert!(h.width > 0 && h.height > 0 && (1..=4).contains(&h.channels) && (1..=2).contains(&h.bytes_per_channel), "{:?}", h);
                let magic = match h.format { Format::Jpeg => &b"\xff\xd8\xff"[..], Format::Png => b"\x89PNG", Format::WebP => b"RIFF" };
                prop_assert!(bytes.starts_with(magic));
                prop_assert!(h.coefficient_bytes == 0 || h.format == Format::Jpeg, "only a JPEG holds coefficients");
            }
            Err(e) => prop_assert!(matches!(e, ImageError::Empty | ImageError::NotAnImage | ImageError::UnsupportedFormat(_)
                | ImageError::BadHeader(_) | ImageError::Truncated(_)), "{:?}", e),
        }
    }

    #[test]
    fn a_header_reads_as_it_was_written_and_a_cut_one_is_refused((bytes, header) in image(), cut in any::<prop::sample::Index>()) {
        prop_assert_eq!(probe(&bytes), Ok(header));
        let mut short = bytes[..cut.index(bytes.len())].to_vec();
        if short.len() >= 8 && header.format == Format::WebP {
            // The RIFF length still says the whole file, as a cut-off upload's does.
            short[4..8].copy_from_slice(&bytes[4..8]);
        }
        match (probe(&short), header.format) {
            (Ok(h), Format::Png) => prop_assert_eq!(h, Header { channels: h.channels, ..header }, "a PNG's IHDR is all the probe reads"),
            (Ok(h), _) => prop_assert!(false, "{} of {} bytes read as {:?}", short.len(), bytes.len(), h),
            (Err(_), _) => {}
        }
    }

    #[test]
    fn event_keys_decode_once_or_are_bad_keys(key in prop_oneof![any::<String>(), "uploads/[A-Za-z0-9%+/._ -]{0,24}"], etag in "[0-9a-fA-F\"]{0,16}") {
        match decode_event_key(&key) {
            Err(e) => prop_assert_eq!(e.code(), "bad_key"),
            Ok(decoded) => match Upload::parse(&decoded) {
                Ok(Some(up)) => {
                    prop_assert!(decoded.starts_with("uploads/") && decoded.contains(up.stem.as_str()) && !up.stem.is_empty());
                    if let Ok(prefix) = up.variant_prefix(&etag) {
                        prop_assert!(prefix.starts_with(&up.all_versions_prefix()) && prefix.ends_with('/'));
                        prop_assert!(up.is_variant(&format!("{prefix}large.jpg")), "{} is not a variant of its own upload", prefix);
                    }
                }
                Ok(None) => prop_assert!(!decoded.starts_with("uploads/")),
                Err(e) => prop_assert_eq!(e.code(), "bad_key"),
            },
        }
    }
}
