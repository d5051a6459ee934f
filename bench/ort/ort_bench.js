#!/usr/bin/env node
'use strict';
// Times one ONNX model under ONNX Runtime (onnxruntime-node, CPU) at each
// graph-optimisation level, and optionally checks ORT's outputs against the
// outputs another engine (layoutdb's runtime) wrote for the same inputs.
// Benchmark tool only: nothing in the C++ build or its tests uses it.
//
//   node bench/ort/ort_bench.js --model M.onnx --inputs DIR [--outputs DIR]
//        [--threads N] [--repeat R] [--warmup W] [--levels L1,L2,..] [--json]
//   (--help for all options)

const fs = require('fs');
const os = require('os');
const path = require('path');
const { decodeTensorProto, numberView } = require('./tensor_proto');

const ALL_LEVELS = ['disabled', 'basic', 'extended', 'layout', 'all'];
const DEFAULT_LEVELS = ['disabled', 'basic', 'extended', 'all'];

const USAGE = `usage: node bench/ort/ort_bench.js --model M.onnx --inputs DIR [options]

  --model M.onnx     the ONNX model
  --inputs DIR       folder of input_0.pb, input_1.pb, ... (ONNX TensorProto; the
                     name field picks the model input, else the file's position)
  --outputs DIR      folder of output_0.pb, ... in the model's output order (or
                     named as the model's outputs), written by another engine
                     for the same inputs: each level's outputs are compared with
                     them (max abs / rel diff; per output for level 'disabled')
  --threads N        intraOpNumThreads (default: CPUs this process may use, ${availableCpus()})
  --repeat R         timed runs per level (default 50)
  --warmup W         warm-up runs per level (default 5)
  --levels L,..      graph optimisation levels (default ${DEFAULT_LEVELS.join(',')};
                     known: ${ALL_LEVELS.join(',')})
  --no-spin          ORT's intra-op workers block instead of spinning between
                     parallel sections (session.intra_op.allow_spinning=0)
  --gap-ms G         pause before each timed run of a level (default 60 with
                     spinning workers and threads > 1, else 0): lets the other
                     levels' spinning workers go to sleep
  --settle S         untimed runs of a level right before each timed run of it
                     (default 1 with spinning workers and threads > 1, else 0)
  --json             print one JSON object instead of the tables
  --verbose          let ORT print its warnings (default: errors only)
  -h, --help         this text`;

function availableCpus() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function die(msg, code = 2) {
  process.stderr.write(`ort_bench: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const o = { threads: availableCpus(), repeat: 50, warmup: 5, levels: DEFAULT_LEVELS, json: false, spin: true };
  const needValue = (i) => {
    if (i + 1 >= argv.length) die(`${argv[i]} needs a value\n${USAGE}`);
    return argv[i + 1];
  };
  const posInt = (flag, v, min) => {
    if (!/^\d+$/.test(v) || Number(v) < min) die(`${flag} expects an integer >= ${min}, got '${v}'`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--model': o.model = needValue(i); i++; break;
      case '--inputs': o.inputs = needValue(i); i++; break;
      case '--outputs': o.outputs = needValue(i); i++; break;
      case '--threads': o.threads = posInt(a, needValue(i), 1); i++; break;
      case '--repeat': o.repeat = posInt(a, needValue(i), 1); i++; break;
      case '--warmup': o.warmup = posInt(a, needValue(i), 0); i++; break;
      case '--levels': {
        o.levels = needValue(i).split(',').filter(Boolean); i++;
        for (const l of o.levels) if (!ALL_LEVELS.includes(l)) die(`unknown level '${l}' (known: ${ALL_LEVELS.join(', ')})`);
        if (o.levels.length === 0) die('--levels is empty');
        break;
      }
      case '--json': o.json = true; break;
      case '--verbose': o.verbose = true; break;
      case '--no-spin': o.spin = false; break;
      case '--settle': o.settle = posInt(a, needValue(i), 0); i++; break;
      case '--gap-ms': o.gapMs = posInt(a, needValue(i), 0); i++; break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: die(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  // defaults of the switch between sessions (see switchTo in main)
  if (o.gapMs === undefined) o.gapMs = o.spin && o.threads > 1 ? 60 : 0;
  if (o.settle === undefined) o.settle = o.spin && o.threads > 1 ? 1 : 0;
  if (!o.model) die(`--model is required\n${USAGE}`);
  if (!o.inputs) die(`--inputs is required\n${USAGE}`);
  return o;
}

// Reads DIR/<prefix>_0.pb, _1.pb, ... until the first missing index.
function readNumberedTensors(dir, prefix) {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) die(`'${dir}' is not a folder`);
  const out = [];
  for (let i = 0; ; i++) {
    const f = path.join(dir, `${prefix}_${i}.pb`);
    if (!fs.existsSync(f)) break;
    try {
      out.push({ file: f, ...decodeTensorProto(fs.readFileSync(f)) });
    } catch (e) {
      die(`${f}: ${e.message}`);
    }
  }
  if (out.length === 0) die(`no ${prefix}_0.pb in '${dir}'`);
  return out;
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    die(`cannot load onnxruntime-node (${e.message.split('\n')[0]}).\n` +
        `Install it first: (cd ${path.relative(process.cwd(), __dirname) || '.'} && npm ci --ignore-scripts --no-audit --no-fund)`);
  }
  return null;
}

function buildFeeds(ort, session, tensors) {
  const names = session.inputNames;
  const feeds = {};
  tensors.forEach((t, i) => {
    let name = t.name;
    if (!name) {
      if (i >= names.length) die(`${t.file}: no name and the model has only ${names.length} input(s)`);
      name = names[i];
    } else if (!names.includes(name)) {
      die(`${t.file}: the model has no input '${name}' (inputs: ${names.join(', ')})`);
    }
    if (feeds[name]) die(`${t.file}: input '${name}' given twice`);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  });
  const missing = names.filter((n) => !feeds[n]);
  if (missing.length) die(`no input file for model input(s): ${missing.join(', ')}`);
  return feeds;
}

// Linear-interpolated percentile (numpy's default) of a sorted array.
function percentile(sorted, p) {
  if (sorted.length === 1) return sorted[0];
  const x = (sorted.length - 1) * p;
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

const round1 = (v) => Math.round(v * 10) / 10;

function stats(samplesUs) {
  const s = [...samplesUs].sort((a, b) => a - b);
  return {
    median_us: round1(percentile(s, 0.5)),
    p10_us: round1(percentile(s, 0.1)),
    p90_us: round1(percentile(s, 0.9)),
    min_us: round1(s[0]),
  };
}

// max |a-b| and max |a-b| / max(|ref|, 1e-6) over all elements; a NaN on
// one side only counts as an infinite difference.
function compareTensors(got, ref) {
  const sameShape = got.dims.length === ref.dims.length && got.dims.every((d, i) => d === ref.dims[i]);
  if (!sameShape) return { error: `shape [${got.dims}] vs reference [${ref.dims}]` };
  const a = numberView(got.type, got.data);
  const b = numberView(ref.type, ref.data);
  let maxAbs = 0;
  let maxRel = 0;
  let maxRef = 0;
  let mismatchedNaN = 0;
  const n = got.data.length;
  for (let i = 0; i < n; i++) {
    const x = a(i);
    const y = b(i);
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) mismatchedNaN++;
      continue;
    }
    if (x === y) { maxRef = Math.max(maxRef, Math.abs(y)); continue; } // also equal infinities
    const d = Math.abs(x - y);
    if (d > maxAbs) maxAbs = d;
    const r = d / Math.max(Math.abs(y), 1e-6);
    if (r > maxRel) maxRel = r;
    maxRef = Math.max(maxRef, Math.abs(y));
  }
  if (mismatchedNaN) { maxAbs = Infinity; maxRel = Infinity; }
  return { max_abs_diff: maxAbs, max_rel_diff: maxRel, max_abs_ref: maxRef, nan_mismatches: mismatchedNaN };
}

function fmt(v) {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? v.toPrecision(4) : v.toExponential(2);
}

function table(rows, header) {
  const all = [header, ...rows].map((r) => r.map(String));
  const w = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  return all.map((r, i) => {
    const line = r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  ');
    return i === 0 ? `${line}\n${w.map((x) => '-'.repeat(x)).join('  ')}` : line;
  }).join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(o.model)) die(`model '${o.model}' not found`);
  const ort = loadOrt();
  ort.env.logLevel = o.verbose ? 'warning' : 'error';
  const version = (ort.env && ort.env.versions && ort.env.versions.node) ||
    require('onnxruntime-node/package.json').version;
  const inputs = readNumberedTensors(o.inputs, 'input');
  const refs = o.outputs ? readNumberedTensors(o.outputs, 'output') : null;

  // One session per level, all alive at once so the timed runs can interleave.
  const sessions = [];
  for (const level of o.levels) {
    const t0 = process.hrtime.bigint();
    let session;
    try {
      session = await ort.InferenceSession.create(o.model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: o.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: level,
        logSeverityLevel: o.verbose ? 2 : 3, // 2 = warning, 3 = error
        ...(o.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      });
    } catch (e) {
      die(`ORT cannot load '${o.model}' at level '${level}': ${e.message}`, 1);
    }
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    sessions.push({ level, session, feeds: buildFeeds(ort, session, inputs), samples: [], load_ms: loadMs });
  }

  const run = async (s) => {
    try {
      return await s.session.run(s.feeds);
    } catch (e) {
      return die(`ORT run failed at level '${s.level}': ${e.message}`, 1);
    }
  };
  const outNames = sessions[0].session.outputNames;
  // The reference tensor for model output i: by name when a reference file
  // names one of the model's outputs, else by position (the model's order).
  const refFor = (name, i) => refs.find((x) => x.name === name) ||
    (i < refs.length && !outNames.includes(refs[i].name) ? refs[i] : null);

  // One untimed run per level: its outputs against the reference (fusions
  // and the NCHWc layout change the rounding, so each level is checked).
  const results = {};
  const levelDiff = {};
  for (const s of sessions) {
    const res = await run(s);
    results[s.level] = res;
    if (!refs) continue;
    let abs = 0;
    let rel = 0;
    outNames.forEach((name, i) => {
      const ref = refFor(name, i);
      const c = ref ? compareTensors(res[name], ref) : { error: 'no reference' };
      if (c.error) { abs = Infinity; rel = Infinity; return; }
      abs = Math.max(abs, c.max_abs_diff);
      rel = Math.max(rel, c.max_rel_diff);
    });
    levelDiff[s.level] = { max_abs_diff: abs, max_rel_diff: rel };
  }
  // Per-output detail for the unoptimised graph (or the first level asked for).
  const outLevel = results.disabled ? 'disabled' : sessions[0].level;
  const outputs = outNames.map((name, i) => {
    const t = results[outLevel][name];
    const rec = { name, type: t.type, shape: [...t.dims], max_abs_diff: null, max_rel_diff: null };
    if (refs) {
      const ref = refFor(name, i);
      if (!ref) rec.error = `no reference for output ${i} '${name}' in '${o.outputs}'`;
      else Object.assign(rec, compareTensors(t, ref));
    }
    return rec;
  });
  if (refs && refs.length > outNames.length) {
    process.stderr.write(`ort_bench: warning: '${o.outputs}' has ${refs.length} output files, the model ${outNames.length} outputs\n`);
  }

  // Warm-up, then timed runs, round-robin over the levels with a rotating
  // first level, so slow drift of the machine hits every level alike.
  // ORT's intra-op workers spin for ~30 ms of CPU after each run (ORT's
  // default, allow_spinning=1): a run right after another session's run
  // shares the cores with that session's spinning worker and measures 2-4x
  // slow on a 2-core machine.  So before each timed run the previous
  // session's spin is let die out (--gap-ms) and this session gets untimed
  // runs (--settle) to be in the same warm state as in back-to-back runs.
  const L = sessions.length;
  const switchTo = async (s) => {
    if (o.gapMs > 0) await new Promise((res) => setTimeout(res, o.gapMs));
    for (let u = 0; u < o.settle; u++) await run(s);
  };
  for (let w = 0; w < o.warmup; w++) {
    for (let k = 0; k < L; k++) await run(sessions[(w + k) % L]);
  }
  for (let r = 0; r < o.repeat; r++) {
    for (let k = 0; k < L; k++) {
      const s = sessions[(r + k) % L];
      if (L > 1) await switchTo(s);
      const t0 = process.hrtime.bigint();
      await s.session.run(s.feeds);
      const t1 = process.hrtime.bigint();
      s.samples.push(Number(t1 - t0) / 1e3);
    }
  }

  const levels = sessions.map((s) => ({
    level: s.level, ...stats(s.samples), load_ms: round1(s.load_ms),
    ...(refs ? levelDiff[s.level] : {}),
  }));
  const result = {
    engine: 'onnxruntime-node',
    version,
    model: o.model,
    threads: o.threads,
    inter_op_threads: 1,
    execution_mode: 'sequential',
    repeat: o.repeat,
    warmup: o.warmup,
    spinning: o.spin,
    gap_ms: L > 1 ? o.gapMs : 0,
    settle_runs: L > 1 ? o.settle : 0,
    levels,
    outputs_level: outLevel,
    outputs,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) + '\n');
  } else {
    console.log(`onnxruntime-node ${version}  model ${o.model}`);
    console.log(`threads ${o.threads} (intra-op${o.spin ? ', spinning' : ', no spinning'}), inter-op 1, sequential; ` +
      `${o.warmup} warm-up + ${o.repeat} timed runs per level` +
      (L > 1 ? `, round-robin (${o.gapMs} ms gap + ${o.settle} untimed run before each)` : '') + '\n');
    console.log(table(levels.map((l) => [l.level, l.median_us, l.p10_us, l.p90_us, l.load_ms,
      ...(refs ? [fmt(l.max_abs_diff)] : [])]),
      ['level', 'median_us', 'p10_us', 'p90_us', 'load_ms', ...(refs ? ['max_abs_diff'] : [])]));
    console.log();
    const header = refs ? ['output', 'shape', 'max_abs_diff', 'max_rel_diff', 'max_abs_ref'] : ['output', 'type', 'shape'];
    console.log(table(outputs.map((x) => (refs
      ? [x.name, `[${x.shape}]`, x.error ? `ERROR: ${x.error}` : fmt(x.max_abs_diff), fmt(x.max_rel_diff), fmt(x.max_abs_ref)]
      : [x.name, x.type, `[${x.shape}]`])), header));
    if (refs) console.log(`\n(ORT outputs at level '${outLevel}' vs ${o.outputs}; rel = |a-b| / max(|ref|, 1e-6))`);
  }
  if (outputs.some((x) => x.error)) process.exitCode = 1;
}

main().catch((e) => die(e.stack || String(e), 1));
