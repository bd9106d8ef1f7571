#!/usr/bin/env node
// A Node.js client of optd: minimizes the (extended) Rosenbrock function by
// L-BFGS over the Optimize stream, then deletes the session.
//
// It needs only the public .proto files (proto/optd/v1/optimizer.proto and
// the files it imports), loaded at run time with @grpc/proto-loader, and
// @grpc/grpc-js: no generated code.
// Vectors travel as raw little-endian float64 bytes (Vector.f64); packed
// doubles (Vector.values) work too and are simpler where speed does not
// matter.
//
//   npm ci --prefix examples/node
//   node examples/node/rosenbrock.js localhost:50051 [--n=2] [--keep]
//
// Prints the one-line report, the full report, and last a JSON line with
// the session id, counts, value and x. Exits 0 when the session converged,
// 1 on any error ("CODE: message", CODE the gRPC status name).
//
// Its sessions tell client gradients, so every trial carries x. It does not
// read compact trials (Trial.delta: a base point from the answer with one
// element set), which finite-difference, gradient-check and data-parallel
// sessions hand out.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// optimizer.proto imports its messages as "optd/v1/vector.proto" etc.:
// loaded by that name with proto/ as the include directory, so that they
// resolve.
const PROTO_DIR = path.join(__dirname, '..', '..', 'proto');
const PROTO = 'optd/v1/optimizer.proto';
const MAX_MESSAGE_BYTES = 2 ** 30 + 2 ** 20;  // 1 GiB + 1 MiB, as the server

function parseArgs(argv) {
  const args = {address: process.env.OPTD_ADDRESS || 'localhost:50051',
                n: 2, keep: false};
  for (const arg of argv) {
    if (arg.startsWith('--n=')) args.n = Number(arg.slice(4));
    else if (arg === '--keep') args.keep = true;
    else if (!arg.startsWith('--')) args.address = arg;
    else throw new Error(`unknown flag ${arg}`);
  }
  if (!Number.isInteger(args.n) || args.n < 2 || args.n % 2 !== 0) {
    throw new Error(`--n=${args.n}: the dimension must be even and >= 2`);
  }
  return args;
}

// Vector.f64 <-> arrays of numbers (8 little-endian bytes per element).
function encodeF64(values) {
  const bytes = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => bytes.writeDoubleLE(v, 8 * i));
  return {f64: bytes};
}

function decode(vector) {
  if (vector.f64 && vector.f64.length) {
    const out = new Array(vector.f64.length / 8);
    for (let i = 0; i < out.length; ++i) out[i] = vector.f64.readDoubleLE(8 * i);
    return out;
  }
  return vector.values;
}

// The extended Rosenbrock function (Moré, Garbow & Hillstrom 1981, problem
// 21) and its gradient, with the arithmetic of `optctl demo`.
function rosenbrock(x) {
  let f = 0;
  const g = new Array(x.length).fill(0);
  for (let i = 0; i + 1 < x.length; i += 2) {
    const a = 1 - x[i];
    const b = x[i + 1] - x[i] * x[i];
    f += a * a + 100 * b * b;
    g[i] = -2 * a - 400 * x[i] * b;
    g[i + 1] = 200 * b;
  }
  return {f, g};
}

function codeName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) ||
         String(code);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    fail(`usage: rosenbrock.js [HOST:PORT] [--n=N] [--keep]: ${e.message}`);
  }
  const definition = protoLoader.loadSync(PROTO, {
    includeDirs: [PROTO_DIR],
    keepCase: true,  // field names as in the .proto (trial_id, not trialId)
    longs: String,   // int64/uint64 as decimal strings: exact
    enums: String,   // enum values by name
    defaults: true,
    oneofs: true,
  });
  const optd = grpc.loadPackageDefinition(definition).optd.v1;
  const client = new optd.Optimizer(args.address,
                                    grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });

  const x0 = Array.from({length: args.n}, (_, i) => (i % 2 === 0 ? -1.2 : 1));
  const stream = client.Optimize();
  stream.on('error', (e) => fail(`${codeName(e.code)}: ${e.details}`));
  stream.on('data', (response) => {
    if (response.error_code !== 0) {  // a refused request; the stream stays
      stream.end();
      fail(`${codeName(response.error_code)}: ${response.error_message}`);
    }
    if (response.trials.length === 0) {  // the session has ended
      stream.end();
      finish(client, args, response.session_id, response.summary);
      return;
    }
    // Evaluate the trial and tell the result on the same stream.
    const trial = response.trials[0];
    const {f, g} = rosenbrock(decode(trial.x));
    stream.write({tell: {trial_id: trial.trial_id, value: f,
                         gradient: encodeF64(g)}});
  });
  // The first message opens the session: solver L-BFGS with every default
  // (scipy's L-BFGS-B), vectors back as raw float64 bytes.
  stream.write({create: {
    x0: encodeF64(x0),
    lbfgs: {},
    vector_encoding: 'VECTOR_ENCODING_F64',
    labels: {example: 'node'},
  }});
}

function finish(client, args, sessionId, summary) {
  console.log(summary.brief_report);
  process.stdout.write(summary.full_report);
  const result = {
    session_id: sessionId,
    success: summary.success,
    message: summary.message,
    iterations: Number(summary.iterations),
    evaluations: Number(summary.evaluations),
    value: summary.value,
    x: decode(summary.x),
  };
  const done = (error) => {
    if (error) fail(`${codeName(error.code)}: ${error.details}`);
    console.log(JSON.stringify(result));
    client.close();
    process.exitCode = summary.success ? 0 : 1;
  };
  if (args.keep) {
    done(null);
  } else {
    client.DeleteSession({session_id: sessionId}, {deadline: Date.now() + 10000},
                         (error) => done(error));
  }
}

main();
