//! The layer cipher, AES-256-CTR then HMAC-SHA256 over the ciphertext, streamed through a
//! three-stage pipeline so that both cores work: the caller's thread reads, hashes and runs
//! AES-CTR; one thread runs the HMAC; one thread hashes and writes. Chunks travel through
//! bounded channels, so memory stays at a few MiB whatever the layer size.
//!
//! Decryption writes plaintext only into a staging file that is handed out after the HMAC
//! and the plaintext digest both verified ([`decrypt_to_staging`]); ocicrypt itself releases
//! plaintext before it has checked the HMAC.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use aws_lc_rs::{cipher, hmac, rand};
use zoll_oci::{Algorithm, Digest, Hasher};

use crate::error::{CryptError, Result};
use crate::options::{PrivateOptions, PublicOptions};

/// Bytes per pipeline chunk; a multiple of the AES block so every chunk starts on a counter.
const CHUNK: usize = 1 << 20;
/// Chunks queued per stage.
const QUEUE: usize = 4;

/// What encrypting a layer produced.
#[derive(Debug)]
pub struct EncryptedLayer {
    /// Digest and size of the ciphertext blob.
    pub digest: Digest,
    pub size: u64,
    pub private: PrivateOptions,
    pub public: PublicOptions,
}

/// Encrypts the plaintext layer `input`, whose descriptor says `plain_digest` and
/// `plain_size`, into `output` with a fresh key and nonce. The plaintext is verified against
/// its descriptor on the way; on a mismatch the error is returned and `output` holds garbage.
pub fn encrypt(
    input: impl Read + Send,
    output: impl Write + Send,
    plain_digest: &Digest,
    plain_size: u64,
) -> Result<EncryptedLayer> {
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 16];
    rand::fill(&mut key).map_err(|_| CryptError::Crypto("random key"))?;
    rand::fill(&mut nonce).map_err(|_| CryptError::Crypto("random nonce"))?;
    let private = PrivateOptions {
        key,
        nonce,
        digest: plain_digest.clone(),
    };
    let ctr = CtrKey::new(&private.key, private.nonce)?;
    let run = run_pipeline(
        input,
        output,
        Stage {
            expected: plain_digest,
            expected_size: plain_size,
            mac_before_transform: false,
        },
        &private.key,
        |offset, chunk| ctr.apply(offset, chunk),
        Algorithm::Sha256,
    )?;
    Ok(EncryptedLayer {
        digest: run.output_digest,
        size: run.size,
        public: PublicOptions {
            hmac: run.mac,
            nonce: None,
        },
        private,
    })
}

/// Decrypts the ciphertext blob `input` (descriptor `cipher_digest`, `cipher_size`) into
/// `output` and returns the plaintext's digest. Everything written is unauthenticated until
/// this returns `Ok`: callers must write to a staging place (see [`decrypt_to_staging`]).
///
/// The HMAC authenticates the data. The digest in the private options is only a claim:
/// skopeo writes the source digest there even when it compressed the layer on the way, so
/// the decrypted layer is named by the digest of what was actually decrypted (as skopeo
/// does), and [`VerifiedLayer::claimed_digest_matched`] says whether the claim held.
pub(crate) fn decrypt_unstaged(
    input: impl Read + Send,
    output: impl Write + Send,
    cipher_digest: &Digest,
    cipher_size: u64,
    private: &PrivateOptions,
    public: &PublicOptions,
) -> Result<Digest> {
    let nonce = public.nonce.unwrap_or(private.nonce);
    let ctr = CtrKey::new(&private.key, nonce)?;
    let run = run_pipeline(
        input,
        output,
        Stage {
            expected: cipher_digest,
            expected_size: cipher_size,
            mac_before_transform: true,
        },
        &private.key,
        |offset, chunk| ctr.apply(offset, chunk),
        private.digest.algorithm(),
    )?;
    if !zoll_stdx::ct::eq(&run.mac, &public.hmac) {
        return Err(CryptError::HmacMismatch);
    }
    Ok(run.output_digest)
}

/// A decrypted layer that passed every check, still in its staging file. Dropping it
/// removes the file.
#[derive(Debug)]
pub struct VerifiedLayer {
    pub file: tempfile::NamedTempFile,
    /// Digest of the decrypted bytes.
    pub digest: Digest,
    pub size: u64,
    /// Whether the private options' digest named these bytes.
    pub claimed_digest_matched: bool,
}

/// Decrypts into a new file in `staging_dir`. The file is returned only after the HMAC
/// verified; on any error it is deleted before this returns.
pub fn decrypt_to_staging(
    input: impl Read + Send,
    staging_dir: &Path,
    cipher_digest: &Digest,
    cipher_size: u64,
    private: &PrivateOptions,
    public: &PublicOptions,
) -> Result<VerifiedLayer> {
    let mut file = tempfile::Builder::new()
        .prefix(".zoll-decrypt-")
        .tempfile_in(staging_dir)?;
    let digest = decrypt_unstaged(
        input,
        file.as_file_mut(),
        cipher_digest,
        cipher_size,
        private,
        public,
    )?;
    file.as_file_mut().sync_data()?;
    Ok(VerifiedLayer {
        file,
        claimed_digest_matched: digest == private.digest,
        digest,
        size: cipher_size,
    })
}

/// AES-256-CTR where any chunk can be processed given its byte offset (the counter is the
/// nonce plus the block index, carried over all 128 bits as Go's and OpenSSL's CTR do).
struct CtrKey {
    enc: cipher::EncryptingKey,
    nonce: u128,
}

impl CtrKey {
    fn new(key: &[u8; 32], nonce: [u8; 16]) -> Result<Self> {
        let unbound = cipher::UnboundCipherKey::new(&cipher::AES_256, key)
            .map_err(|_| CryptError::Crypto("AES key"))?;
        Ok(CtrKey {
            enc: cipher::EncryptingKey::ctr(unbound).map_err(|_| CryptError::Crypto("AES-CTR"))?,
            nonce: u128::from_be_bytes(nonce),
        })
    }

    fn apply(&self, offset: u64, chunk: &mut [u8]) -> Result<()> {
        debug_assert_eq!(offset % 16, 0);
        let counter = self.nonce.wrapping_add(u128::from(offset / 16));
        let ctx = cipher::EncryptionContext::Iv128(counter.to_be_bytes().into());
        self.enc
            .less_safe_encrypt(chunk, ctx)
            .map(|_| ())
            .map_err(|_| CryptError::Crypto("AES-CTR"))
    }
}

struct Stage<'a> {
    /// Digest and size the input must have.
    expected: &'a Digest,
    expected_size: u64,
    /// Decryption MACs the input (ciphertext); encryption MACs the output.
    mac_before_transform: bool,
}

struct RunResult {
    mac: [u8; 32],
    output_digest: Digest,
    size: u64,
}

enum ToSink {
    Chunk(Arc<Vec<u8>>),
}

/// Chunk buffers handed back by the last stage that used them, so the reader fills warm
/// memory instead of a fresh (page-faulting, kernel-zeroed) MiB per chunk.
#[derive(Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    /// A buffer of `CHUNK` bytes, reused when one is free.
    fn take(&self) -> Vec<u8> {
        let reused = self.0.lock().expect("not poisoned").pop();
        let mut buf = reused.unwrap_or_default();
        buf.resize(CHUNK, 0);
        buf
    }

    /// Called by each holder when done: the last one returns the buffer. (Two holders
    /// letting go at once may both miss; that buffer is simply freed.)
    fn give(&self, chunk: Arc<Vec<u8>>) {
        if let Ok(buf) = Arc::try_unwrap(chunk) {
            let mut free = self.0.lock().expect("not poisoned");
            if free.len() < 2 * QUEUE + 2 {
                free.push(buf);
            }
        }
    }
}

fn run_pipeline(
    mut input: impl Read + Send,
    mut output: impl Write + Send,
    stage: Stage<'_>,
    mac_key: &[u8; 32],
    transform: impl Fn(u64, &mut [u8]) -> Result<()> + Sync,
    output_algorithm: Algorithm,
) -> Result<RunResult> {
    let (mac_tx, mac_rx) = sync_channel::<Arc<Vec<u8>>>(QUEUE);
    let (sink_tx, sink_rx) = sync_channel::<ToSink>(QUEUE);
    let key = hmac::Key::new(hmac::HMAC_SHA256, mac_key);
    let pool = Pool::default();

    std::thread::scope(|scope| {
        let pool = &pool;
        let mac = scope.spawn(move || mac_stage(key, mac_rx, pool));
        let sink = scope.spawn(move || sink_stage(&mut output, sink_rx, output_algorithm, pool));
        let read = read_stage(&mut input, &stage, &transform, mac_tx, sink_tx, pool);
        let mac = mac.join().expect("HMAC thread");
        let sink = sink.join().expect("sink thread");
        // A failed sink closes its channel and the reader stops with a send error: report the
        // sink's own error, which says why.
        let output_digest = sink?;
        let size = read?;
        Ok(RunResult {
            mac,
            output_digest,
            size,
        })
    })
}

fn mac_stage(key: hmac::Key, rx: Receiver<Arc<Vec<u8>>>, pool: &Pool) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(&key);
    for chunk in rx {
        ctx.update(&chunk);
        pool.give(chunk);
    }
    ctx.sign()
        .as_ref()
        .try_into()
        .expect("HMAC-SHA256 is 32 bytes")
}

fn sink_stage(
    output: &mut (impl Write + Send),
    rx: Receiver<ToSink>,
    algorithm: Algorithm,
    pool: &Pool,
) -> Result<Digest> {
    let mut hasher = Hasher::new(algorithm);
    for ToSink::Chunk(chunk) in rx {
        hasher.update(&chunk);
        output.write_all(&chunk)?;
        pool.give(chunk);
    }
    output.flush()?;
    Ok(hasher.finish())
}

/// Reads the input in chunks, checks digest and size, transforms and fans chunks out.
fn read_stage(
    input: &mut (impl Read + Send),
    stage: &Stage<'_>,
    transform: &(impl Fn(u64, &mut [u8]) -> Result<()> + Sync),
    mac_tx: SyncSender<Arc<Vec<u8>>>,
    sink_tx: SyncSender<ToSink>,
    pool: &Pool,
) -> Result<u64> {
    let mut hasher = Hasher::new(stage.expected.algorithm());
    let mut offset = 0u64;
    loop {
        let mut chunk = pool.take();
        let n = fill(input, &mut chunk)?;
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        if offset + n as u64 > stage.expected_size {
            return Err(CryptError::SizeMismatch {
                expected: stage.expected_size,
                actual: offset + n as u64,
            });
        }
        hasher.update(&chunk);
        let closed = || CryptError::Io(std::io::Error::other("pipeline stage stopped"));
        if stage.mac_before_transform {
            let mut plain = pool.take();
            plain.truncate(n);
            plain.copy_from_slice(&chunk);
            let shared = Arc::new(chunk);
            mac_tx.send(Arc::clone(&shared)).map_err(|_| closed())?;
            transform(offset, &mut plain)?;
            sink_tx
                .send(ToSink::Chunk(Arc::new(plain)))
                .map_err(|_| closed())?;
        } else {
            transform(offset, &mut chunk)?;
            let shared = Arc::new(chunk);
            mac_tx.send(Arc::clone(&shared)).map_err(|_| closed())?;
            sink_tx.send(ToSink::Chunk(shared)).map_err(|_| closed())?;
        }
        offset += n as u64;
        if n < CHUNK {
            break;
        }
    }
    if offset != stage.expected_size {
        return Err(CryptError::SizeMismatch {
            expected: stage.expected_size,
            actual: offset,
        });
    }
    let digest = hasher.finish();
    if &digest != stage.expected {
        return Err(CryptError::DigestMismatch {
            expected: stage.expected.clone(),
            actual: digest,
        });
    }
    Ok(offset)
}

/// Reads until `buf` is full or the input ends.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}
