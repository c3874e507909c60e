//! HMAC-SHA256 with one of two implementations, the same bytes either way: with the `sha2`
//! feature (default builds) RustCrypto's `hmac` and `sha2`, which use the CPU's SHA
//! instructions where there are any (about twice the decision rate of the benchmark in
//! `benches/decision.rs` on a host with SHA-NI); without it the dependency-free
//! `hmac-sha256`, for the minimal build of old or small hosts.

#[cfg(feature = "sha2")]
mod backend {
    use hmac::{Hmac, KeyInit, Mac as _};
    use sha2::Sha256;

    #[derive(Clone)]
    pub struct Mac(Hmac<Sha256>);

    impl Mac {
        pub fn new(key: &[u8]) -> Mac {
            // HMAC takes keys of any length (a long one is hashed first): this cannot fail.
            Mac(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key"))
        }

        pub fn update(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }

        pub fn finalize(self) -> [u8; 32] {
            self.0.finalize().into_bytes().into()
        }

        /// Constant-time comparison with `expected`.
        pub fn verify(self, expected: &[u8; 32]) -> bool {
            self.0.verify_slice(expected).is_ok()
        }
    }
}

#[cfg(not(feature = "sha2"))]
mod backend {
    #[derive(Clone)]
    pub struct Mac(hmac_sha256::HMAC);

    impl Mac {
        pub fn new(key: &[u8]) -> Mac {
            Mac(hmac_sha256::HMAC::new(key))
        }

        pub fn update(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }

        pub fn finalize(self) -> [u8; 32] {
            self.0.finalize()
        }

        /// Constant-time comparison with `expected`.
        pub fn verify(self, expected: &[u8; 32]) -> bool {
            self.0.finalize_verify(expected)
        }
    }
}

pub use backend::Mac;

#[cfg(test)]
mod tests {
    use super::Mac;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = Mac::new(key);
        mac.update(data);
        mac.finalize()
    }

    // RFC 4231 test cases 1, 2 and 6 (a key longer than a block): whichever implementation
    // this build has must give these bytes, so both builds talk to each other.
    #[test]
    fn rfc_4231_vectors() {
        assert_eq!(
            hex(&mac(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&mac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&mac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn verify_accepts_the_mac_and_refuses_one_changed_bit() {
        let good = mac(b"public", b"poll");
        let mut bad = good;
        bad[31] ^= 1;
        let mut m = Mac::new(b"public");
        m.update(b"poll");
        assert!(m.clone().verify(&good));
        assert!(!m.verify(&bad));
    }
}
