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
    pub fingerprint: String,
    pub public_key: String,
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

/// An ASCII-armored detached signature of `data` (for `repomd.xml.asc`).
pub fn detached_signature(
    secret_key: &str,
    server_key: &Secret,
    data: &[u8],
) -> CoreResult<String> {
    let (key, _) = SignedSecretKey::from_string(secret_key).map_err(crypto)?;
    let password = Password::from(server_key.expose());
    let sig = DetachedSignature::sign_binary_data(
        OsRng,
        &key.primary_key,
        &password,
        HashAlgorithm::Sha256,
        data,
    )
    .map_err(crypto)?;
    sig.to_armored_string(ArmorOptions::default())
        .map_err(crypto)
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
