//! Each repo's OpenPGP key: generation, the secret key locked at rest with the server key,
//! RPM signatures (the `rpm` crate) and detached signatures for `repomd.xml`.

use std::path::Path;

use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::{hash::HashAlgorithm, sym::SymmetricKeyAlgorithm};
use pgp::types::{KeyDetails, Password, S2kParams, StringToKey};
use rand::{rngs::OsRng, RngCore};

use crate::config::SigningKeyType;
use crate::secret::Secret;
use crate::{CoreError, CoreResult};

/// A new key: fingerprint (upper-case hex), armored public key, armored secret key locked with
/// `server_key`.
pub struct NewKey {
    /// The key's fingerprint, upper-case hex.
    pub fingerprint: String,
    /// The public key, ASCII-armored.
    pub public_key: String,
    /// The secret key, ASCII-armored, locked with the server key.
    pub secret_key: String,
}

fn crypto(e: impl std::fmt::Display) -> CoreError {
    CoreError::internal(format!("OpenPGP: {e}"))
}

/// Generates a signing key for `user_id` ("Kiln owner/repo <…>"). RSA takes a second or more:
/// call from a blocking thread.
pub fn generate(kind: SigningKeyType, user_id: &str, server_key: &Secret) -> CoreResult<NewKey> {
    let mut rng = OsRng;
    let key_type = match kind {
        SigningKeyType::Rsa4096 => KeyType::Rsa(4096),
        SigningKeyType::Ed25519 => KeyType::Ed25519Legacy,
    };
    // The server key is long and random: the S2K needs no stretching, only the cipher.
    let mut iv = vec![0u8; SymmetricKeyAlgorithm::AES256.block_size()];
    rng.fill_bytes(&mut iv);
    let s2k = S2kParams::Cfb {
        sym_alg: SymmetricKeyAlgorithm::AES256,
        s2k: StringToKey::new_iterated(&mut rng, HashAlgorithm::Sha256, 0),
        iv: iv.into(),
    };
    let params = SecretKeyParamsBuilder::default()
        .key_type(key_type)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_owned())
        .preferred_hash_algorithms(smallvec::smallvec![HashAlgorithm::Sha256])
        .passphrase(Some(server_key.expose().to_owned()))
        .s2k(Some(s2k))
        .build()
        .map_err(crypto)?;
    let secret = params.generate(rng).map_err(crypto)?;
    let public = secret.to_public_key();
    Ok(NewKey {
        fingerprint: hex::encode_upper(secret.fingerprint().as_bytes()),
        public_key: public
            .to_armored_string(ArmorOptions::default())
            .map_err(crypto)?,
        secret_key: secret
            .to_armored_string(ArmorOptions::default())
            .map_err(crypto)?,
    })
}

/// The RPM signer for a stored (locked) secret key.
pub fn rpm_signer(
    secret_key: &str,
    server_key: &Secret,
) -> CoreResult<rpm::signature::pgp::Signer> {
    Ok(rpm::signature::pgp::Signer::from_asc(secret_key)
        .map_err(crypto)?
        .with_key_passphrase(server_key.expose()))
}

/// Signs the RPM at `path` in place (only its signature header is rewritten when the file has
/// the reserved space rpmbuild leaves; otherwise the file is rewritten).
pub fn sign_rpm(path: &Path, signer: &rpm::signature::pgp::Signer) -> CoreResult<()> {
    match rpm::Package::resign_in_place(path, signer.clone()) {
        Ok(()) => Ok(()),
        Err(rpm::Error::InsufficientReservedSpace { .. }) => {
            let mut pkg = rpm::Package::open(path).map_err(crypto)?;
            pkg.sign(signer.clone()).map_err(crypto)?;
            let tmp = path.with_extension("signing");
            pkg.write_file(&tmp).map_err(crypto)?;
            std::fs::rename(&tmp, path).map_err(crypto)?;
            Ok(())
        }
        Err(e) => Err(crypto(e)),
    }
}

/// A repo's secret key unlocked for detached signatures (`repomd.xml.asc`, made on every
/// publish), kept in memory between publishes. RSA keys sign through aws-lc, several times
/// faster than the pure-Rust `rsa` crate the OpenPGP library uses; the OpenPGP packet is still
/// made by that library, and other key types sign through it.
pub struct Signer {
    secret: SignedSecretKey,
    password: Password,
    rsa: Option<aws_lc_rs::rsa::KeyPair>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.secret.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Unlocks the stored (locked) `secret_key` with the server key.
    pub fn new(secret_key: &str, server_key: &Secret) -> CoreResult<Signer> {
        use pgp::types::{PlainSecretParams, PublicParams};
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let (secret, _) = SignedSecretKey::from_string(secret_key).map_err(crypto)?;
        let password = Password::from(server_key.expose());
        let rsa_key = secret
            .primary_key
            .unlock(&password, |public, plain| {
                Ok(match (public, plain) {
                    (PublicParams::RSA(p), PlainSecretParams::RSA(s)) => {
                        let (d, p1, p2, _) = s.to_bytes();
                        let big = rsa::BigUint::from_bytes_be;
                        Some(rsa::RsaPrivateKey::from_components(
                            p.key.n().clone(),
                            p.key.e().clone(),
                            big(&d),
                            vec![big(&p1), big(&p2)],
                        )?)
                    }
                    _ => None,
                })
            })
            .map_err(crypto)?
            .map_err(crypto)?;
        let rsa = match rsa_key {
            Some(k) => {
                let der = k.to_pkcs1_der().map_err(crypto)?;
                Some(aws_lc_rs::rsa::KeyPair::from_der(der.as_bytes()).map_err(crypto)?)
            }
            None => None,
        };
        Ok(Signer {
            secret,
            password,
            rsa,
        })
    }

    /// The key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.secret.fingerprint().as_bytes())
    }

    /// An ASCII-armored detached signature of `data`.
    pub fn sign(&self, data: &[u8]) -> CoreResult<String> {
        let sig = DetachedSignature::sign_binary_data(
            OsRng,
            self,
            &self.password,
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(crypto)?;
        sig.to_armored_string(ArmorOptions::default())
            .map_err(crypto)
    }
}

impl pgp::types::KeyDetails for Signer {
    fn version(&self) -> pgp::types::KeyVersion {
        self.secret.primary_key.version()
    }
    fn legacy_key_id(&self) -> pgp::types::KeyId {
        self.secret.primary_key.legacy_key_id()
    }
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        self.secret.primary_key.fingerprint()
    }
    fn algorithm(&self) -> pgp::crypto::public_key::PublicKeyAlgorithm {
        self.secret.primary_key.algorithm()
    }
    fn created_at(&self) -> pgp::types::Timestamp {
        self.secret.primary_key.created_at()
    }
    fn legacy_v3_expiration_days(&self) -> Option<u16> {
        self.secret.primary_key.legacy_v3_expiration_days()
    }
    fn public_params(&self) -> &pgp::types::PublicParams {
        self.secret.primary_key.public_params()
    }
}

impl pgp::types::SigningKey for Signer {
    fn sign(
        &self,
        key_pw: &Password,
        hash: HashAlgorithm,
        digest: &[u8],
    ) -> pgp::errors::Result<pgp::types::SignatureBytes> {
        match &self.rsa {
            Some(pair) if hash == HashAlgorithm::Sha256 => {
                let lc_err = |_| pgp::errors::Error::Message {
                    message: "aws-lc RSA signature failed".into(),
                    backtrace: None,
                };
                let digest =
                    aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA256)
                        .map_err(lc_err)?;
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &digest, &mut out)
                    .map_err(lc_err)?;
                Ok(pgp::types::SignatureBytes::Mpis(vec![
                    pgp::types::Mpi::from_slice(&out),
                ]))
            }
            _ => self.secret.primary_key.sign(key_pw, hash, digest),
        }
    }

    fn hash_alg(&self) -> HashAlgorithm {
        HashAlgorithm::Sha256
    }
}

/// The fingerprint of an armored public key.
pub fn fingerprint(public_key: &str) -> CoreResult<String> {
    let (key, _) = SignedPublicKey::from_string(public_key).map_err(crypto)?;
    Ok(hex::encode_upper(key.fingerprint().as_bytes()))
}

/// Reads the server key from config, or from `DATA_DIR/signing.key`, creating it (0600) on
/// first start.
pub fn server_key(config: &crate::Config) -> anyhow::Result<Secret> {
    if let Some(k) = &config.signing.server_key {
        if k.expose().len() < 16 {
            anyhow::bail!("signing.server_key must be at least 16 characters");
        }
        return Ok(k.clone());
    }
    let path = config.data_dir.join("signing.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(text.trim()));
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let key = crate::secret::new_token("");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    opts.open(&path)?.write_all(key.expose().as_bytes())?;
    tracing::info!(path = %path.display(), "created the signing server key; keep a backup of it");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// repomd.xml.asc verifies with the repo's public key whichever path signed it (aws-lc for
    /// RSA, the OpenPGP library for Ed25519), and not for other content.
    #[test]
    fn detached_signatures_verify_for_rsa_and_ed25519() {
        let server = Secret::new("a server key that is long enough");
        for kind in [SigningKeyType::Rsa4096, SigningKeyType::Ed25519] {
            let key = generate(kind, "Kiln test <test@example.org>", &server).expect("key");
            let signer = Signer::new(&key.secret_key, &server).expect("unlock");
            assert_eq!(signer.fingerprint(), key.fingerprint);
            assert_eq!(signer.rsa.is_some(), kind == SigningKeyType::Rsa4096);
            let asc = signer.sign(b"<repomd/>").expect("sign");
            assert!(asc.starts_with("-----BEGIN PGP SIGNATURE-----"), "{asc}");
            let (sig, _) = DetachedSignature::from_string(&asc).expect("parse");
            let (public, _) = SignedPublicKey::from_string(&key.public_key).expect("public");
            sig.verify(&public.primary_key, b"<repomd/>")
                .expect("the signature verifies");
            assert!(sig.verify(&public.primary_key, b"<repomd/> ").is_err());
            // The wrong server key cannot unlock it.
            assert!(
                Signer::new(&key.secret_key, &Secret::new("another server key, long")).is_err()
            );
        }
    }
}
