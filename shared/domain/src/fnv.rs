//! FNV-1a (32-bit): a hash that is the same in every build and language, for spreading keys
//! over a fixed number of partitions (the open-orders index's shards, a stream's shards).
pub fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::fnv1a(""), 0x811c_9dc5);
        assert_eq!(super::fnv1a("a"), 0xe40c_292c);
    }
}
