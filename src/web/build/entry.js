// The only cryptography dave's web page uses, from the audited @noble libraries.
export { blake3 } from '@noble/hashes/blake3.js';
export { ed25519 } from '@noble/curves/ed25519.js';
