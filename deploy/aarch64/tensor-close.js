#!/usr/bin/env node
// tensor-close GOT WANT [RTOL ATOL]: exit 0 when the float32 tensors GOT and WANT (each a .npy
// file or an ONNX TensorProto .pb file, as in the ONNX test data sets) have the same number of
// elements and |got - want| <= RTOL*|want| + ATOL everywhere (defaults 1e-3, 1e-4: the tolerance
// of tests/unit/test_engine_ops.c's MNIST check); exit 1 otherwise, with the worst element.
// Used by deploy/aarch64/build-and-check to compare the aarch64 eml's outputs under qemu-user.
'use strict';
const fs = require('fs');

function fail(msg) {
  process.stderr.write(`tensor-close: ${msg}\n`);
  process.exit(2);
}

function readNpy(buf) {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail('not a .npy file');
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, off);
  if (!/'descr':\s*'<f4'/.test(header)) fail('.npy is not little-endian float32');
  if (/'fortran_order':\s*True/.test(header)) fail('.npy in Fortran order');
  const n = (buf.length - off) / 4;
  if (!Number.isInteger(n)) fail('.npy data is not a whole number of floats');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(off + 4 * i);
  return out;
}

// ONNX TensorProto (onnx.proto): data_type = 2 (varint, FLOAT is 1), float_data = 4 (packed or
// not), raw_data = 9 (little-endian bytes). Other fields are skipped by wire type.
function readPb(buf) {
  let pos = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (pos >= buf.length) fail('truncated varint');
      const b = buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
      if (shift > 63n) fail('varint too long');
    }
  };
  let dtype = 0, raw = null;
  const floats = [];
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3, wt = key & 7;
    if (wt === 0) {
      const v = varint();
      if (field === 2) dtype = Number(v);
    } else if (wt === 1) {
      pos += 8;
    } else if (wt === 5) {
      if (field === 4) floats.push(buf.readFloatLE(pos));
      pos += 4;
    } else if (wt === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) fail('truncated field');
      if (field === 9) raw = buf.subarray(pos, pos + len);
      if (field === 4)
        for (let i = 0; i + 4 <= len; i += 4) floats.push(buf.readFloatLE(pos + i));
      pos += len;
    } else fail(`unsupported wire type ${wt}`);
  }
  if (pos !== buf.length) fail('truncated TensorProto');
  if (dtype !== 1) fail('TensorProto is not FLOAT');
  if (raw) {
    if (raw.length % 4) fail('raw_data is not a whole number of floats');
    const out = new Float32Array(raw.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = raw.readFloatLE(4 * i);
    return out;
  }
  return Float32Array.from(floats);
}

function read(path) {
  const buf = fs.readFileSync(path);
  return path.endsWith('.npy') ? readNpy(buf) : readPb(buf);
}

const [got, want, rtolS, atolS] = process.argv.slice(2);
if (!got || !want) fail('usage: tensor-close GOT WANT [RTOL ATOL]');
const rtol = rtolS === undefined ? 1e-3 : Number(rtolS);
const atol = atolS === undefined ? 1e-4 : Number(atolS);
const g = read(got), w = read(want);
if (g.length !== w.length || g.length === 0) {
  process.stderr.write(`tensor-close: ${g.length} elements vs ${w.length}\n`);
  process.exit(1);
}
let worst = -1, excess = 0;
for (let i = 0; i < g.length; i++) {
  const d = Math.abs(g[i] - w[i]) - (rtol * Math.abs(w[i]) + atol);
  if (!(d <= 0) && (worst < 0 || !(d <= excess))) {
    worst = i;
    excess = d;
  }
}
if (worst >= 0) {
  process.stderr.write(`tensor-close: element ${worst}: ${g[worst]} vs ${w[worst]}\n`);
  process.exit(1);
}
process.stdout.write(`tensor-close: ${g.length} elements within ${rtol}*|want| + ${atol}\n`);
