import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  NoteError, formatCheckpoint, generateSigner, keyId, openCheckpoint, openNote, parseCheckpoint, parseNote,
  parseSignerKey, parseVerifierKey, signCheckpoint, signNote,
} from './note.ts';

// Published example of golang.org/x/mod/sumdb/note (note.go doc comment and note_test.go):
// Ed25519 is deterministic (RFC 8032), so signing must reproduce the published note byte for byte.
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = GO_TEXT + '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
// Other published verifier keys: the signed-note spec example and golang.org/x/mod's EnochRoot.
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';

test('published sumdb/note example: our signer reproduces the signature, our verifier accepts it', () => {
  const signer = parseSignerKey(GO_SKEY);
  assert.equal(signer.verifier().toString(), GO_VKEY);
  assert.equal(signNote(GO_TEXT, [signer]), GO_NOTE);
  const v = parseVerifierKey(GO_VKEY);
  assert.equal(v.keyId, 0xc74f20a3);
  const opened = openNote(GO_NOTE, [v]);
  assert.equal(opened.text, GO_TEXT);
  assert.throws(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [v]), NoteError);
  // Unknown keys are ignored, so a note with no trusted signature is rejected.
  assert.throws(() => openNote(GO_NOTE, [parseVerifierKey(ENOCH_VKEY)]), /not signed by any trusted key/);
});

test('published verifier keys parse and their key ids are the spec derivation', () => {
  for (const k of [GO_VKEY, SPEC_VKEY, ENOCH_VKEY]) assert.equal(parseVerifierKey(k).toString(), k);
  const spec = parseVerifierKey(SPEC_VKEY);
  assert.equal(keyId('example.com/foo', spec.publicKey), 0x530d903a);
  assert.throws(() => parseVerifierKey(SPEC_VKEY.replace('530d903a', '530d903b')), /does not match/);
  assert.throws(() => parseVerifierKey(SPEC_VKEY.replace('530d903a', '530D903A')), NoteError);
  assert.throws(() => parseVerifierKey('example.com/foo'), NoteError);
  assert.throws(() => parseVerifierKey(SPEC_VKEY + '!'), NoteError);
  assert.throws(() => parseVerifierKey('a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'), NoteError);
});

test('round trip: generated key, several signers, key rotation (old and new key both sign)', () => {
  const oldKey = generateSigner('warden.test/ledger');
  const newKey = generateSigner('warden.test/ledger');
  assert.notEqual(oldKey.keyId, newKey.keyId);
  const cp = { origin: 'warden.test/ledger', size: 12345, rootHash: new Uint8Array(32).fill(7), extensions: [] };
  const note = signCheckpoint(cp, [newKey, oldKey]);
  for (const trusted of [[oldKey.verifier()], [newKey.verifier()], [oldKey.verifier(), newKey.verifier()]]) {
    const got = openCheckpoint(note, trusted, 'warden.test/ledger');
    assert.equal(got.size, 12345);
    assert.deepEqual(got.rootHash, cp.rootHash);
  }
  assert.throws(() => openCheckpoint(note, [oldKey.verifier()], 'other.origin'), /origin/);
  // A signer key exports and re-imports.
  assert.equal(parseSignerKey(newKey.exportPrivate()).verifier().toString(), newKey.verifier().toString());
  assert.ok(!String(newKey).includes('PRIVATE'), 'a signer never prints its secret');
});

test('checkpoint format per c2sp.org/tlog-checkpoint', () => {
  const root = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');
  const text = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
  const c = parseCheckpoint(text);
  assert.equal(c.origin, 'example.com/behind-the-sofa');
  assert.equal(c.size, 20852163);
  assert.deepEqual(Buffer.from(c.rootHash), root);
  assert.equal(formatCheckpoint(c), text);
  assert.deepEqual(parseCheckpoint(text + 'ext line\n').extensions, ['ext line']);
  for (const bad of [
    'o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n', // leading zero
    'o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n', // no padding
    'o\n1\nAAAA\n', // 3 bytes
    'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', // no final newline
    'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n', // empty extension line
    'o\n99999999999999999999\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    '\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    'o\n1\n',
  ]) assert.throws(() => parseCheckpoint(bad), NoteError, JSON.stringify(bad));
});

test('fuzz: the note parser rejects garbage with NoteError and never throws anything else', () => {
  const v = parseSignerKey(GO_SKEY).verifier();
  const anyText = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(GO_NOTE, GO_NOTE + '\n', GO_NOTE.replace('\u2014', '-'), GO_NOTE.slice(0, -1), '\n\n', '\n\n\u2014 \n', 'a\n\n\u2014 a AAAAAAA=\n'),
  );
  fc.assert(fc.property(anyText, (input) => {
    try {
      const r = openNote(input as string | Uint8Array, [v]);
      // The only acceptable acceptance is the genuine note.
      assert.equal(r.text, GO_TEXT);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
    }
  }), { numRuns: 2000 });
});

test('fuzz: mutating any byte of a signed checkpoint makes it rejected', () => {
  const signer = generateSigner('warden.test/ledger');
  const note = signCheckpoint({ origin: 'warden.test/ledger', size: 42, rootHash: new Uint8Array(32).fill(1), extensions: [] }, [signer]);
  const bytes = Buffer.from(note, 'utf8');
  fc.assert(fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
    const mutated = Buffer.from(bytes);
    mutated[pos] ^= x;
    try {
      openCheckpoint(mutated, [signer.verifier()], 'warden.test/ledger');
      assert.fail(`mutation at ${pos} accepted`);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
    }
  }), { numRuns: 1500 });
});

test('fuzz: hostile checkpoint texts are rejected with NoteError, valid ones round-trip', () => {
  const line = fc.string({ maxLength: 40 });
  fc.assert(fc.property(fc.array(line, { maxLength: 6 }), fc.boolean(), (lines, nl) => {
    const text = lines.join('\n') + (nl ? '\n' : '');
    try {
      const c = parseCheckpoint(text);
      assert.equal(formatCheckpoint(c), text);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
    }
  }), { numRuns: 2000 });
  assert.throws(() => parseNote('x'.repeat(70_000) + '\n\n\u2014 a AAAAAAA=\n'), /too large/);
  assert.throws(() => parseNote('a\n\n' + '\u2014 a AAAAAAA=\n'.repeat(100)), /too many/);
});
