#!/usr/bin/env node
// Reference outputs and timings from ONNX Runtime (onnxruntime-node), for tests and benchmarks
// only: never in the product path (DESIGN §10).
//
//   NODE_PATH=~/.cache/eml/ort/node_modules node tools/ort_ref.js MODEL.onnx \
//       --input NAME=FILE.npy ... [--output-dir DIR] [--threads T] [--bench N] [--json]
//
// NAME is the graph input's name or its position (0, 1, ...), as for `eml run`. Outputs are
// written as DIR/output_<i>.npy (C order, little-endian). --bench N times N warm runs (after one
// warm-up) and cold runs (session create + first run), and prints the medians in ms; the peak
// RSS growth is VmHWM after the runs minus VmRSS before the first session was created. --threads
// sets intra-op threads (inter-op 1, sequential execution); graph optimizations stay at ORT's
// default ("all"). With --json, one JSON object goes to stdout.
//
//   node tools/ort_ref.js --batch MANIFEST.json
//
// runs many small models in this one process (tests: node's start-up dominates small runs).
// MANIFEST is a JSON array of {"model": FILE, "inputs": [FILE.npy, ...], "out": DIR}; inputs
// are fed by position. Each entry writes DIR/output_<i>.npy, or DIR/ort_error.txt with ONNX
// Runtime's message when the session or the run fails; then DIR/.done. Exit 0 unless the
// manifest itself is unusable.
'use strict';

const fs = require('fs');
const path = require('path');

function die(msg) {
	process.stderr.write(`ort_ref: ${msg}\n`);
	process.exit(2);
}

let ort;
try {
	ort = require('onnxruntime-node');
} catch (e) {
	die('onnxruntime-node is missing: run scripts/fetch-testdata ' +
	    '(and set NODE_PATH=~/.cache/eml/ort/node_modules)');
}

// ---- .npy (NumPy format 1.0-3.0, little-endian, C order) ----
const NPY = {
	'f4': ['float32', Float32Array], 'f8': ['float64', Float64Array],
	'f2': ['float16', Uint16Array], 'i8': ['int64', BigInt64Array],
	'i4': ['int32', Int32Array], 'i2': ['int16', Int16Array], 'i1': ['int8', Int8Array],
	'u1': ['uint8', Uint8Array], 'u2': ['uint16', Uint16Array], 'u4': ['uint32', Uint32Array],
	'u8': ['uint64', BigUint64Array], 'b1': ['bool', Uint8Array],
};

function readNpy(file) {
	const b = fs.readFileSync(file);
	if (b.length < 10 || b.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not a .npy file`);
	const major = b[6];
	let hlen, off;
	if (major === 1) { hlen = b.readUInt16LE(8); off = 10; } else { hlen = b.readUInt32LE(8); off = 12; }
	const hdr = b.toString('latin1', off, off + hlen);
	const m = /'descr':\s*'([<|])([a-z][0-9])'.*'fortran_order':\s*False.*'shape':\s*\(([^)]*)\)/.exec(hdr);
	if (!m || !NPY[m[2]]) die(`${file}: unsupported .npy header`);
	const dims = m[3].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
	const [type, Ctor] = NPY[m[2]];
	const count = dims.reduce((a, d) => a * d, 1);
	const start = off + hlen;
	const bytes = Buffer.from(b.subarray(start, start + count * Ctor.BYTES_PER_ELEMENT));
	const data = new Ctor(bytes.buffer, bytes.byteOffset, count);
	if (type === 'bool') return new ort.Tensor('bool', Uint8Array.from(data), dims);
	if (type === 'float16') return new ort.Tensor('float16', data, dims);
	return new ort.Tensor(type, data, dims);
}

function writeNpy(file, t) {
	const codes = {float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4',
		int16: '<i2', int8: '|i1', uint8: '|u1', uint16: '<u2', uint32: '<u4', uint64: '<u8',
		bool: '|b1'};
	const code = codes[t.type];
	if (!code) die(`output type ${t.type} cannot be written as .npy`);
	const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
	let dict = `{'descr': '${code}', 'fortran_order': False, 'shape': ${shape}, }`;
	const total = 10 + dict.length + 1;
	dict += ' '.repeat((64 - total % 64) % 64) + '\n';
	const head = Buffer.alloc(10);
	head.write('\x93NUMPY', 0, 'latin1');
	head[6] = 1; head[7] = 0;
	head.writeUInt16LE(dict.length, 8);
	let d = t.data;
	if (t.type === 'bool') d = Uint8Array.from(d, v => (v ? 1 : 0));
	const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
	fs.writeFileSync(file, Buffer.concat([head, Buffer.from(dict, 'latin1'), body]));
}

function rssKb(field) {
	const s = fs.readFileSync('/proc/self/status', 'utf8');
	const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
	return m ? Number(m[1]) : 0;
}

function median(a) {
	const s = [...a].sort((x, y) => x - y);
	const n = s.length;
	return n === 0 ? 0 : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function batch(manifest) {
	const entries = JSON.parse(fs.readFileSync(manifest, 'utf8'));
	const opts = {executionMode: 'sequential', interOpNumThreads: 1, intraOpNumThreads: 1};
	for (const e of entries) {
		fs.mkdirSync(e.out, {recursive: true});
		try {
			const session = await ort.InferenceSession.create(fs.readFileSync(e.model), opts);
			const feeds = {};
			e.inputs.forEach((f, i) => { feeds[session.inputNames[i]] = readNpy(f); });
			const res = await session.run(feeds);
			session.outputNames.forEach((n, i) => writeNpy(path.join(e.out, `output_${i}.npy`), res[n]));
			await session.release();
		} catch (err) {
			fs.writeFileSync(path.join(e.out, 'ort_error.txt'), String(err && err.message ? err.message : err));
		}
		fs.writeFileSync(path.join(e.out, '.done'), '');
	}
}

async function main() {
	const args = process.argv.slice(2);
	if (args[0] === '--batch') {
		if (args.length !== 2) die('usage: ort_ref.js --batch MANIFEST.json');
		return batch(args[1]);
	}
	let model = null, outDir = null, threads = 0, bench = 0, json = false, cold = 3;
	const inputs = [];
	for (let i = 0; i < args.length; i++) {
		const a = args[i];
		const next = () => { if (i + 1 >= args.length) die(`${a} needs a value`); return args[++i]; };
		if (a === '--input') inputs.push(next());
		else if (a === '--output-dir') outDir = next();
		else if (a === '--threads') threads = Number(next());
		else if (a === '--bench') bench = Number(next());
		else if (a === '--cold') cold = Number(next());
		else if (a === '--json') json = true;
		else if (a.startsWith('--')) die(`unknown option ${a}`);
		else if (model === null) model = a;
		else die('one model only');
	}
	if (model === null) die('usage: ort_ref.js MODEL.onnx --input NAME=FILE.npy ... [--output-dir DIR] [--threads T] [--bench N] [--json]');

	const opts = {executionMode: 'sequential', interOpNumThreads: 1};
	if (threads > 0) opts.intraOpNumThreads = threads;
	const rssBefore = rssKb('VmRSS');
	const bytes = fs.readFileSync(model);
	const t0 = process.hrtime.bigint();
	const session = await ort.InferenceSession.create(bytes, opts);
	const feeds = {};
	for (const spec of inputs) {
		const eq = spec.indexOf('=');
		if (eq <= 0) die(`--input wants NAME=FILE, got ${spec}`);
		let name = spec.slice(0, eq);
		if (/^[0-9]+$/.test(name) && !session.inputNames.includes(name)) {
			const k = Number(name);
			if (k >= session.inputNames.length) die(`no graph input at position ${k}`);
			name = session.inputNames[k];
		}
		if (!session.inputNames.includes(name)) die(`no graph input named ${name}`);
		feeds[name] = readNpy(spec.slice(eq + 1));
	}
	let res = await session.run(feeds);
	const firstMs = Number(process.hrtime.bigint() - t0) / 1e6;

	const report = {outputs: [], threads};
	if (outDir !== null) {
		fs.mkdirSync(outDir, {recursive: true});
		session.outputNames.forEach((n, i) => {
			const f = path.join(outDir, `output_${i}.npy`);
			writeNpy(f, res[n]);
			report.outputs.push({name: n, file: f, type: res[n].type, dims: res[n].dims});
		});
	}
	if (bench > 0) {
		res = await session.run(feeds); // warm-up
		const warm = [];
		for (let i = 0; i < bench; i++) {
			const s = process.hrtime.bigint();
			await session.run(feeds);
			warm.push(Number(process.hrtime.bigint() - s) / 1e6);
		}
		const colds = [firstMs];
		for (let i = 1; i < cold; i++) {
			const s = process.hrtime.bigint();
			const s2 = await ort.InferenceSession.create(bytes, opts);
			await s2.run(feeds);
			colds.push(Number(process.hrtime.bigint() - s) / 1e6);
			await s2.release();
		}
		report.warm_ms_median = median(warm);
		report.warm_ms_min = Math.min(...warm);
		report.cold_ms_median = median(colds);
		report.runs = bench;
	}
	report.peak_rss_growth_bytes = Math.max(0, rssKb('VmHWM') - rssBefore) * 1024;
	report.ort_version = require('onnxruntime-node/package.json').version;
	if (json) {
		process.stdout.write(JSON.stringify(report) + '\n');
	} else {
		for (const o of report.outputs) console.log(`${o.file}: ${o.type} [${o.dims.join(', ')}]`);
		if (bench > 0)
			console.log(`median warm ${report.warm_ms_median.toFixed(3)} ms, cold ${report.cold_ms_median.toFixed(3)} ms ` +
			            `(${bench} runs, ${threads || 'default'} threads), peak RSS growth ${report.peak_rss_growth_bytes} B`);
	}
	await session.release();
}

main().catch(e => die(String(e && e.message ? e.message : e)));
