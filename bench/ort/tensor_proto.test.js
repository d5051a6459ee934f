'use strict';
// Tests of the TensorProto reader/writer; no ONNX Runtime needed:
//   node --test bench/ort/
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { decodeTensorProto, encodeTensorProto, numberView } = require('./tensor_proto');

function varint(v) {
  let x = BigInt.asUintN(64, BigInt(v));
  const o = [];
  do { let b = Number(x & 0x7fn); x >>= 7n; if (x) b |= 0x80; o.push(b); } while (x);
  return o;
}
const f32 = (x) => [...new Uint8Array(Float32Array.of(x).buffer)];
const f64 = (x) => [...new Uint8Array(Float64Array.of(x).buffer)];
const dec = (bytes) => decodeTensorProto(Uint8Array.from(bytes));

test('encode then decode keeps name, type, dims and values', () => {
  const cases = [
    ['float32', Float32Array.of(1.5, -2, 3.25, 0)],
    ['int64', BigInt64Array.of(-1n, 0n, 9007199254740993n, -9223372036854775808n)],
    ['int32', Int32Array.of(-5, 7, 1 << 30, -1)],
    ['float64', Float64Array.of(Math.PI, -1e300, 0, 2)],
    ['uint8', Uint8Array.of(0, 1, 254, 255)],
  ];
  for (const [type, data] of cases) {
    const t = decodeTensorProto(encodeTensorProto({ name: `x_${type}`, type, dims: [2, 2], data }));
    assert.strictEqual(t.name, `x_${type}`);
    assert.strictEqual(t.type, type);
    assert.deepStrictEqual(t.dims, [2, 2]);
    assert.deepStrictEqual([...t.data], [...data]);
  }
});

test('dims packed or not, float_data packed or not', () => {
  let t = dec([0x0a, 2, 2, 3, 0x10, 1, 0x22, 24, ...[1, 2, 3, 4, 5, 6].flatMap(f32), 0x42, 1, 0x61]);
  assert.deepStrictEqual(t.dims, [2, 3]);
  assert.deepStrictEqual([...t.data], [1, 2, 3, 4, 5, 6]);
  assert.strictEqual(t.name, 'a');
  t = dec([0x08, 2, 0x10, 1, 0x25, ...f32(7), 0x25, ...f32(-8)]);
  assert.deepStrictEqual([...t.data], [7, -8]);
});

test('int64_data packed or not, negative and extreme values', () => {
  let t = dec([0x08, 3, 0x10, 7, 0x38, ...varint(-3), 0x38, ...varint(5), 0x38, ...varint(-9223372036854775808n)]);
  assert.strictEqual(t.type, 'int64');
  assert.deepStrictEqual([...t.data], [-3n, 5n, -9223372036854775808n]);
  const packed = [...varint(-1), ...varint(300)];
  t = dec([0x08, 2, 0x10, 7, 0x3a, packed.length, ...packed]);
  assert.deepStrictEqual([...t.data], [-1n, 300n]);
});

test('int32_data, double_data, unknown fields skipped, scalars', () => {
  let t = dec([0x08, 2, 0x10, 6, 0x28, ...varint(-7), 0x28, 5, 0x62, 2, 0x68, 0x69]);
  assert.deepStrictEqual([...t.data], [-7, 5]);
  t = dec([0x08, 1, 0x10, 11, 0x52, 8, ...f64(2.5)]);
  assert.deepStrictEqual([...t.data], [2.5]);
  t = dec([0x10, 1, 0x4a, 4, ...f32(3)]);
  assert.deepStrictEqual(t.dims, []);
  assert.deepStrictEqual([...t.data], [3]);
});

test('float16 bits read as numbers', () => {
  const t = dec([0x08, 3, 0x10, 10, 0x4a, 6, 0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c]);
  const v = numberView(t.type, t.data);
  assert.deepStrictEqual([v(0), v(1), v(2)], [1, -2, Infinity]);
});

test('malformed tensors are rejected with a reason', () => {
  assert.throws(() => dec([0x08, 2, 0x10, 1, 0x4a, 4, ...f32(3)]), /raw_data has 4 bytes, expected 8/);
  assert.throws(() => dec([0x08, 2, 0x10, 8]), /unsupported data_type 8/);
  assert.throws(() => dec([0x08, 2, 0x10, 1, 0x22, 8, 0, 0]), /truncated/);
  assert.throws(() => dec([0x08, 2, 0x10, 1, 0x25, ...f32(1)]), /has 1 values, expected 2/);
});

const DATA = '/usr/share/libonnx-testdata/data/node';
test('ONNX test data files decode and re-encode to the same values', { skip: !fs.existsSync(DATA) && `${DATA} absent` }, () => {
  let n = 0;
  for (const d of ['test_conv_with_strides_padding', 'test_gather_0', 'test_reshape_reduced_dims', 'test_cast_FLOAT_to_DOUBLE']) {
    const ds = path.join(DATA, d, 'test_data_set_0');
    if (!fs.existsSync(ds)) continue;
    for (const f of fs.readdirSync(ds)) {
      const t = decodeTensorProto(fs.readFileSync(path.join(ds, f)));
      const t2 = decodeTensorProto(encodeTensorProto(t));
      assert.deepStrictEqual(t2.dims, t.dims);
      assert.strictEqual(t2.type, t.type);
      assert.deepStrictEqual([...t2.data], [...t.data]);
      n++;
    }
  }
  assert.ok(n > 0);
});
