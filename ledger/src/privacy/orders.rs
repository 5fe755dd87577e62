//! The standard Rényi orders at which every curve is evaluated (dp-accounting's default list).

/// Number of orders in [`ORDERS`].
pub const NUM_ORDERS: usize = 156;

/// The Rényi orders: `1 + x/10` for x in 1..=99, then the integers 11..=63, then 128, 256, 512,
/// 1024. This is dp-accounting's `DEFAULT_RDP_ORDERS`; it is part of the protocol (changing it
/// changes every recorded epsilon), so it is a literal list rather than computed.
pub const ORDERS: &[f64] = &ORDER_ARRAY;

/// The same list as a fixed-size array, so curves can be plain arrays.
pub(crate) const ORDER_ARRAY: [f64; NUM_ORDERS] = [
    1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9,
    3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0, 4.1, 4.2, 4.3, 4.4, 4.5, 4.6, 4.7, 4.8,
    4.9, 5.0, 5.1, 5.2, 5.3, 5.4, 5.5, 5.6, 5.7, 5.8, 5.9, 6.0, 6.1, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7,
    6.8, 6.9, 7.0, 7.1, 7.2, 7.3, 7.4, 7.5, 7.6, 7.7, 7.8, 7.9, 8.0, 8.1, 8.2, 8.3, 8.4, 8.5, 8.6,
    8.7, 8.8, 8.9, 9.0, 9.1, 9.2, 9.3, 9.4, 9.5, 9.6, 9.7, 9.8, 9.9, 10.0, 10.1, 10.2, 10.3, 10.4,
    10.5, 10.6, 10.7, 10.8, 10.9, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0,
    22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0,
    38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0,
    54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 128.0, 256.0, 512.0, 1024.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_list_is_the_formula() {
        let mut expected: Vec<f64> = (1..100).map(|x| 1.0 + f64::from(x) / 10.0).collect();
        expected.extend((11..64).map(f64::from));
        expected.extend([128.0, 256.0, 512.0, 1024.0]);
        assert_eq!(expected.len(), NUM_ORDERS);
        for (a, b) in ORDERS.iter().zip(&expected) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
    }
}
