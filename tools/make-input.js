#!/usr/bin/env node
// Writes a deterministic float32 tensor as .npy (demo and test inputs):
//   node tools/make-input.js OUT.npy D0,D1,... [SEED]
// Values are uniform in [0, 1) from a seeded xorshift generator, so runs are reproducible.
'use strict';
const fs = require('fs');
const [out, shapeText, seedText] = process.argv.slice(2);
if (!out || !shapeText) {
	process.stderr.write('usage: make-input.js OUT.npy D0,D1,... [SEED]\n');
	process.exit(2);
}
const shape = shapeText.split(',').map((s) => parseInt(s, 10));
if (shape.some((d) => !(d >= 0))) {
	process.stderr.write('make-input: bad shape\n');
	process.exit(2);
}
const n = shape.reduce((a, b) => a * b, 1);
let s = (parseInt(seedText || '1', 10) >>> 0) || 1;
const data = new Float32Array(n);
for (let i = 0; i < n; i++) {
	s ^= s << 13; s >>>= 0;
	s ^= s >>> 17;
	s ^= s << 5; s >>>= 0;
	data[i] = (s >>> 8) / 16777216;
}
const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
const pad = 64 - ((10 + header.length + 1) % 64);
header += ' '.repeat(pad % 64) + '\n';
const h = Buffer.alloc(10);
h.write('\x93NUMPY', 0, 'latin1');
h[6] = 1; h[7] = 0;
h.writeUInt16LE(header.length, 8);
fs.writeFileSync(out, Buffer.concat([h, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
