/**
 * Known-answer tests: the RFC 6962 test vectors published by the certificate-transparency
 * projects (github.com/transparency-dev/merkle: testonly/constants.go, testonly/reference_test.go,
 * proof/verify_test.go, rfc6962/rfc6962_test.go). Values copied from there, not computed here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CompactRange, EMPTY_ROOT, ProofError, consistencyProof, hashChildren, hashLeaf, inclusionProof,
  merkleTreeHash, perfectCover, rootAt, verifyConsistency, verifyInclusion, type NodeId, type NodeSource,
} from './merkle.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);

/** RootHashes(): index = tree size. */
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** NodeHashes(): [level][index] of every perfect subtree of the 8-leaf tree. */
const NODES = [
  ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7', '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f', '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1'],
  ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0'],
  ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];

/** Inclusion proofs (0-based index, size, proof): proof/verify_test.go and testonly/reference_test.go. */
const INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 2, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7']],
  [1, 2, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];

/** Consistency proofs (size1, size2, proof): proof/verify_test.go. */
const CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [6, 7, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];

/** A node source holding the published NodeHashes, i.e. what the ledger would have stored. */
const publishedNodes: NodeSource = {
  async getNodes(ids: readonly NodeId[]) {
    return ids.map(({ level, index }) => {
      const h = NODES[level]?.[index];
      if (!h) throw new Error(`no node ${level}/${index}`);
      return hex(h);
    });
  },
};

/** A node source built by our own appender (CompactRange), to check it stores the same nodes. */
function appendedNodes(leaves: Uint8Array[]): { source: NodeSource; range: CompactRange } {
  const map = new Map<string, Uint8Array>();
  const range = new CompactRange();
  for (const l of leaves) for (const n of range.append(hashLeaf(l))) map.set(`${n.level}/${n.index}`, n.hash);
  return {
    range,
    source: { async getNodes(ids) { return ids.map(({ level, index }) => { const h = map.get(`${level}/${index}`); if (!h) throw new Error('missing'); return h; }); } },
  };
}

test('RFC 6962 hasher vectors', () => {
  assert.equal(toHex(EMPTY_ROOT), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(toHex(hashLeaf(new Uint8Array())), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  assert.equal(toHex(hashLeaf(Buffer.from('L123456'))), '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56');
  assert.equal(toHex(hashChildren(Buffer.from('N123'), Buffer.from('N456'))), 'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb');
});

test('MTH of the published leaves matches the published roots for sizes 0..8', () => {
  for (let n = 0; n <= 8; n++) assert.equal(toHex(merkleTreeHash(LEAVES.slice(0, n))), ROOTS[n], `size ${n}`);
});

test('the appender (CompactRange) stores exactly the published node hashes and roots', () => {
  const range = new CompactRange();
  for (let i = 0; i < 8; i++) {
    for (const n of range.append(hashLeaf(LEAVES[i]))) assert.equal(toHex(n.hash), NODES[n.level][n.index], `node ${n.level}/${n.index}`);
    assert.equal(toHex(range.root()), ROOTS[i + 1], `root at size ${i + 1}`);
  }
});

test('roots from stored nodes (perfect cover) match for every size', async () => {
  for (let n = 0; n <= 8; n++) assert.equal(toHex(await rootAt(publishedNodes, n)), ROOTS[n]);
  assert.deepEqual(perfectCover(0, 7), [{ level: 2, index: 0 }, { level: 1, index: 2 }, { level: 0, index: 6 }]);
});

test('inclusion proofs: generated from stored nodes equal the published ones, and verify', async () => {
  for (const [index, size, want] of INCLUSION) {
    const got = await inclusionProof(publishedNodes, index, size);
    assert.deepEqual(got.map(toHex), want, `proof ${index}/${size}`);
    const { source } = appendedNodes(LEAVES.slice(0, size));
    assert.deepEqual((await inclusionProof(source, index, size)).map(toHex), want);
    verifyInclusion(hashLeaf(LEAVES[index]), index, size, want.map(hex), hex(ROOTS[size]));
  }
});

test('consistency proofs: generated from stored nodes equal the published ones, and verify', async () => {
  for (const [m, n, want] of CONSISTENCY) {
    const got = await consistencyProof(publishedNodes, m, n);
    assert.deepEqual(got.map(toHex), want, `proof ${m}->${n}`);
    verifyConsistency(m, n, want.map(hex), hex(ROOTS[m]), hex(ROOTS[n]));
  }
});

/** The corruptions of proof/verify_test.go: each must be rejected. */
test('corrupted inclusion proofs are rejected', () => {
  const some = hex('abacaba000000000000000000000000000000000000000000060061e00123456');
  for (const [index, size, wantHex] of INCLUSION.filter(([, s]) => s > 1)) {
    const proof = wantHex.map(hex);
    const root = hex(ROOTS[size]);
    const leaf = hashLeaf(LEAVES[index]);
    const probes: [string, () => void][] = [
      ['index - 1', () => verifyInclusion(leaf, index - 1, size, proof, root)],
      ['index + 1', () => verifyInclusion(leaf, index + 1, size, proof, root)],
      ['index ^ 2', () => verifyInclusion(leaf, index ^ 2, size, proof, root)],
      ['size * 2', () => verifyInclusion(leaf, index, size * 2, proof, root)],
      ['size / 2', () => verifyInclusion(leaf, index, Math.floor(size / 2), proof, root)],
      ['wrong leaf', () => verifyInclusion(hashLeaf(Buffer.from('WrongLeaf')), index, size, proof, root)],
      ['empty root', () => verifyInclusion(leaf, index, size, proof, EMPTY_ROOT)],
      ['random root', () => verifyInclusion(leaf, index, size, proof, some)],
      ['trailing garbage', () => verifyInclusion(leaf, index, size, [...proof, new Uint8Array()], root)],
      ['trailing root', () => verifyInclusion(leaf, index, size, [...proof, root], root)],
      ['preceding root', () => verifyInclusion(leaf, index, size, [root, ...proof], root)],
      ['removed component', () => verifyInclusion(leaf, index, size, proof.slice(0, -1), root)],
      ['inserted component', () => verifyInclusion(leaf, index, size, [proof[0], some, ...proof.slice(1)], root)],
      ...proof.map((_, i): [string, () => void] => [`flipped bit in proof[${i}]`, () => {
        const bad = proof.map((p) => p.slice()); bad[i][0] ^= 8; verifyInclusion(leaf, index, size, bad, root);
      }]),
    ];
    for (const [desc, probe] of probes) assert.throws(probe, ProofError, `${index}/${size}: ${desc} accepted`);
  }
});

test('corrupted consistency proofs are rejected', () => {
  for (const [m, n, wantHex] of CONSISTENCY.filter(([, , p]) => p.length > 0)) {
    const proof = wantHex.map(hex);
    const r1 = hex(ROOTS[m]);
    const r2 = hex(ROOTS[n]);
    const probes: [string, () => void][] = [
      ['size1 - 1', () => verifyConsistency(m - 1, n, proof, r1, r2)],
      ['size1 + 1', () => verifyConsistency(m + 1, n, proof, r1, r2)],
      ['size1 ^ 2', () => verifyConsistency(m ^ 2, n, proof, r1, r2)],
      ['size2 * 2', () => verifyConsistency(m, n * 2, proof, r1, r2)],
      ['size2 / 2', () => verifyConsistency(m, Math.floor(n / 2), proof, r1, r2)],
      ['swapped roots', () => verifyConsistency(m, n, proof, r2, r1)],
      ['empty proof', () => verifyConsistency(m, n, [], r1, r2)],
      ['trailing root1', () => verifyConsistency(m, n, [...proof, r1], r1, r2)],
      ['trailing root2', () => verifyConsistency(m, n, [...proof, r2], r1, r2)],
      ['preceding root1', () => verifyConsistency(m, n, [r1, ...proof], r1, r2)],
      ['preceding proof[0]', () => verifyConsistency(m, n, [proof[0], ...proof], r1, r2)],
      ['truncated', () => verifyConsistency(m, n, proof.slice(0, -1), r1, r2)],
      ...proof.map((_, i): [string, () => void] => [`flipped bit in proof[${i}]`, () => {
        const bad = proof.map((p) => p.slice()); bad[i][0] ^= 16; verifyConsistency(m, n, bad, r1, r2);
      }]),
    ];
    for (const [desc, probe] of probes) assert.throws(probe, ProofError, `${m}->${n}: ${desc} accepted`);
  }
});

test('consistency edge cases (verify_test.go TestVerifyConsistency)', () => {
  const h = hex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const other = hashLeaf(Buffer.from('x'));
  assert.throws(() => verifyConsistency(1, 1, [], h, other), ProofError);
  verifyConsistency(1, 1, [], other, other);
  verifyConsistency(0, 1, [], EMPTY_ROOT, other);
  assert.throws(() => verifyConsistency(1, 0, [], other, other), ProofError);
  assert.throws(() => verifyConsistency(2, 1, [], other, other), ProofError);
  assert.throws(() => verifyConsistency(1, 2, [], other, other), ProofError);
  assert.throws(() => verifyConsistency(0, 0, [h], h, h), ProofError);
  assert.throws(() => verifyConsistency(1, 1, [h], h, h), ProofError);
});

test('property: every proof from stored nodes verifies, for random sizes up to 300', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), async (size, a, b) => {
    const leaves = Array.from({ length: size }, (_, i) => Buffer.from(`leaf ${i}`));
    const { source, range } = appendedNodes(leaves);
    const root = range.root();
    assert.equal(toHex(root), toHex(merkleTreeHash(leaves)));
    const index = a % size;
    const proof = await inclusionProof(source, index, size);
    assert.ok(proof.length <= Math.ceil(Math.log2(size)));
    verifyInclusion(hashLeaf(leaves[index]), index, size, proof, root);
    const old = 1 + (b % size);
    const cproof = await consistencyProof(source, old, size);
    verifyConsistency(old, size, cproof, await rootAt(source, old), root);
  }), { numRuns: 150 });
});
