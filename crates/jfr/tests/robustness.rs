//! Hostile input never panics: truncated, mutated and random recordings
//! return `Ok` or `Err`, in bounded time.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;

fn fixture() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(common::jdk_fixture)
}

fn synthetic() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| common::synthetic_chunk(common::Options::default()))
}

fn mutate(data: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut mutated = data.to_vec();
    for &(position, byte) in edits {
        let index = position % mutated.len();
        mutated[index] = byte;
    }
    mutated
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn truncated_fixture_does_not_panic(len in 0usize..200_000) {
        let data = fixture();
        let _ = vispyr_jfr::parse(&data[..len.min(data.len())]);
    }

    #[test]
    fn mutated_fixture_does_not_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let _ = vispyr_jfr::parse(&mutate(fixture(), &edits));
    }

    #[test]
    fn mutated_fixture_pools_and_events_do_not_panic(
        edits in prop::collection::vec((any::<bool>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        // Most of the file is metadata; aim edits at the constant pools and
        // events instead: between the header and the metadata, and the tail.
        let data = fixture();
        let metadata_offset = u64::from_be_bytes(data[24..32].try_into().unwrap()) as usize;
        let tail_start = data.len() - data.len() / 4;
        let edits: Vec<_> = edits
            .into_iter()
            .map(|(head, position, byte)| {
                let index = if head {
                    68 + position % (metadata_offset - 68)
                } else {
                    tail_start + position % (data.len() - tail_start)
                };
                (index, byte)
            })
            .collect();
        let _ = vispyr_jfr::parse(&mutate(data, &edits));
    }

    #[test]
    fn mutated_synthetic_chunk_does_not_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mutated = mutate(synthetic(), &edits);
        let _ = vispyr_jfr::parse(&mutated);
        let _ = vispyr_jfr::parse(&mutated[..cut % (mutated.len() + 1)]);
    }

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = vispyr_jfr::parse(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_do_not_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut data = synthetic()[..68].to_vec();
        data.extend_from_slice(&tail);
        let _ = vispyr_jfr::parse(&data);
    }

    #[test]
    fn random_bytes_behind_gzip_magic_do_not_panic(tail in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut data = vec![0x1f, 0x8b];
        data.extend_from_slice(&tail);
        let _ = vispyr_jfr::parse(&data);
    }
}
