'use strict';
// Minimal, dependency-free reader/writer for ONNX TensorProto files (the
// input_N.pb / output_N.pb files of the ONNX test data sets).
//
// Protobuf wire format, onnx.proto TensorProto fields used here:
//   1 dims        repeated int64 (packed or not)
//   2 data_type   int32 (TensorProto.DataType)
//   4 float_data  repeated float  (packed or not)
//   5 int32_data  repeated int32  (packed or not; also int8/uint8/int16/uint16/bool/float16 bits)
//   7 int64_data  repeated int64  (packed or not)
//   8 name        string
//   9 raw_data    bytes (little-endian, row-major)
//  10 double_data repeated double (packed or not)
//  11 uint64_data repeated uint64 (packed or not; also uint32)
// Every other field is skipped.  Tensors with `data_location = EXTERNAL` and
// string tensors are not supported.

// TensorProto.DataType -> { ort: onnxruntime-js tensor type, Array: typed array, size }
const DTYPES = {
  1: { name: 'float', ort: 'float32', Array: Float32Array, size: 4 },
  2: { name: 'uint8', ort: 'uint8', Array: Uint8Array, size: 1 },
  3: { name: 'int8', ort: 'int8', Array: Int8Array, size: 1 },
  4: { name: 'uint16', ort: 'uint16', Array: Uint16Array, size: 2 },
  5: { name: 'int16', ort: 'int16', Array: Int16Array, size: 2 },
  6: { name: 'int32', ort: 'int32', Array: Int32Array, size: 4 },
  7: { name: 'int64', ort: 'int64', Array: BigInt64Array, size: 8 },
  9: { name: 'bool', ort: 'bool', Array: Uint8Array, size: 1 },
  10: { name: 'float16', ort: 'float16', Array: Uint16Array, size: 2 },
  11: { name: 'double', ort: 'float64', Array: Float64Array, size: 8 },
  12: { name: 'uint32', ort: 'uint32', Array: Uint32Array, size: 4 },
  13: { name: 'uint64', ort: 'uint64', Array: BigUint64Array, size: 8 },
};
const ORT_TO_ONNX = {};
for (const [k, v] of Object.entries(DTYPES)) ORT_TO_ONNX[v.ort] = Number(k);

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
  }
  eof() { return this.pos >= this.buf.length; }
  // varint as BigInt (exact for 64-bit values)
  varintBig() {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error('varint longer than 10 bytes');
  }
  // varint as a Number (tags, lengths, small enums); exact up to 2^53
  varint() {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }
  bytes(n) {
    if (this.pos + n > this.buf.length) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wireType) {
    switch (wireType) {
      case 0: this.varintBig(); break;
      case 1: this.bytes(8); break;
      case 2: this.bytes(this.varint()); break;
      case 5: this.bytes(4); break;
      default: throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
  }
}

const toInt64 = (u) => BigInt.asIntN(64, u);

// Reads a repeated scalar field, packed (wire type 2) or one element (other).
// `one(reader)` reads one element in its unpacked wire form.
function readRepeated(r, wireType, expectedWire, one, out) {
  if (wireType === 2 && expectedWire !== 2) {
    const sub = new Reader(r.bytes(r.varint()));
    while (!sub.eof()) out.push(one(sub));
  } else if (wireType === expectedWire) {
    out.push(one(r));
  } else {
    throw new Error(`unexpected wire type ${wireType} for repeated field`);
  }
}

const readF32 = (r) => { const b = r.bytes(4); return r.view.getFloat32(b.byteOffset - r.buf.byteOffset, true); };
const readF64 = (r) => { const b = r.bytes(8); return r.view.getFloat64(b.byteOffset - r.buf.byteOffset, true); };

/**
 * Decodes one serialized TensorProto.
 * @param {Uint8Array} buf
 * @returns {{name: string, dataType: number, type: string, dims: number[], data: TypedArray}}
 *   `type` is the onnxruntime-js tensor type name ('float32', 'int64', ...).
 */
function decodeTensorProto(buf) {
  const r = new Reader(buf);
  const dims = [];
  let dataType = 0;
  let name = '';
  let raw = null;
  let dataLocation = 0;
  const floatData = [];
  const int32Data = [];
  const int64Data = [];
  const doubleData = [];
  const uint64Data = [];
  while (!r.eof()) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    switch (field) {
      case 1: readRepeated(r, wire, 0, (s) => Number(toInt64(s.varintBig())), dims); break;
      case 2: dataType = r.varint(); break;
      case 4: readRepeated(r, wire, 5, readF32, floatData); break;
      case 5: readRepeated(r, wire, 0, (s) => Number(BigInt.asIntN(32, s.varintBig())), int32Data); break;
      case 7: readRepeated(r, wire, 0, (s) => toInt64(s.varintBig()), int64Data); break;
      case 8: name = Buffer.from(r.bytes(r.varint())).toString('utf8'); break;
      case 9: raw = r.bytes(r.varint()); break;
      case 10: readRepeated(r, wire, 1, readF64, doubleData); break;
      case 11: readRepeated(r, wire, 0, (s) => s.varintBig(), uint64Data); break;
      case 14: dataLocation = r.varint(); break;
      default: r.skip(wire);
    }
  }
  if (dataLocation === 1) throw new Error(`tensor '${name}': external data is not supported`);
  const dt = DTYPES[dataType];
  if (!dt) throw new Error(`tensor '${name}': unsupported data_type ${dataType}`);
  const count = dims.reduce((a, b) => a * b, 1);
  let data;
  if (raw) {
    if (raw.length !== count * dt.size) {
      throw new Error(`tensor '${name}': raw_data has ${raw.length} bytes, expected ${count * dt.size} for dims [${dims}]`);
    }
    // copy into an aligned buffer (the slice of the file may be unaligned)
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    data = new dt.Array(copy.buffer, 0, count);
    if (!isLittleEndianHost()) throw new Error('big-endian hosts are not supported');
  } else {
    let src;
    switch (dataType) {
      case 1: src = floatData; break;
      case 7: src = int64Data; break;
      case 11: src = doubleData; break;
      case 12: src = uint64Data.map((v) => Number(v)); break;
      case 13: src = uint64Data; break;
      default: src = int32Data; // int8/uint8/int16/uint16/int32/bool/float16 bits
    }
    if (src.length !== count) {
      throw new Error(`tensor '${name}': has ${src.length} values, expected ${count} for dims [${dims}]`);
    }
    data = dt.Array.from(src);
  }
  return { name, dataType, type: dt.ort, dims, data };
}

let littleEndian = null;
function isLittleEndianHost() {
  if (littleEndian === null) littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return littleEndian;
}

class Writer {
  constructor() { this.chunks = []; }
  push(b) { this.chunks.push(b); }
  varint(v) {
    let x = BigInt.asUintN(64, BigInt(v));
    const out = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      out.push(b);
    } while (x !== 0n);
    this.push(Uint8Array.from(out));
  }
  tag(field, wire) { this.varint(field * 8 + wire); }
  bytesField(field, bytes) {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.push(bytes);
  }
  finish() { return Buffer.concat(this.chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))); }
}

/**
 * Encodes a tensor as a TensorProto (dims unpacked as onnx's own writer does,
 * data in raw_data, little-endian).
 * @param {{name: string, type: string, dims: number[], data: TypedArray}} t
 *   `type` is an onnxruntime-js tensor type name ('float32', 'int64', ...).
 * @returns {Buffer}
 */
function encodeTensorProto(t) {
  const dataType = ORT_TO_ONNX[t.type];
  if (!dataType) throw new Error(`encodeTensorProto: unsupported type '${t.type}'`);
  const dt = DTYPES[dataType];
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new Error(`encodeTensorProto: ${t.data.length} values for dims [${t.dims}]`);
  }
  if (!isLittleEndianHost()) throw new Error('big-endian hosts are not supported');
  const w = new Writer();
  for (const d of t.dims) { w.tag(1, 0); w.varint(d); }
  w.tag(2, 0); w.varint(dataType);
  if (t.name) w.bytesField(8, Buffer.from(t.name, 'utf8'));
  const typed = t.data instanceof dt.Array ? t.data : dt.Array.from(t.data);
  w.bytesField(9, new Uint8Array(typed.buffer, typed.byteOffset, count * dt.size));
  return w.finish();
}

// IEEE half -> Number
function halfToNumber(h) {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Element `i` of a tensor's data as a Number (float16 bits decoded). */
function numberView(type, data) {
  if (type === 'float16') return (i) => halfToNumber(data[i]);
  if (type === 'int64' || type === 'uint64') return (i) => Number(data[i]);
  return (i) => data[i];
}

module.exports = { decodeTensorProto, encodeTensorProto, numberView, DTYPES };
