"""optd/_wire.py against the generated protobuf classes: the bytes it writes
parse as the TellRequest meant, and it reads every TellResponse field as
protobuf does (no server needed)."""

import datetime
import importlib.util
import math
import re
import types
import unittest
from unittest import mock

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
from optd import _proto, _wire
from optd._proto import optimizer_pb2 as pb
from optd.vectors import VectorEncoding, decode


class FieldNumbersTest(unittest.TestCase):

    def test_the_numbers_come_from_the_generated_descriptors(self):
        fields = pb.TellRequest.DESCRIPTOR.fields_by_name
        self.assertEqual(
            (_wire.GRADIENT, _wire.HESSIAN, _wire.HESSIAN_VECTOR),
            (fields["gradient"].number, fields["hessian"].number,
             fields["hessian_vector"].number))

    def test_a_missing_or_changed_field_is_an_import_error(self):
        cases = [
            (pb.TellRequest, "gradients", _wire._MESSAGE, pb.Vector, False,
             "optd.v1.TellRequest has no field 'gradients'"),
            (pb.TellRequest, "value", _wire._INT64, None, False,
             "TellRequest.value (field 3) is double in the generated "
             "stubs, not the int64"),
            (pb.Trial, "x", _wire._MESSAGE, pb.Summary, False,
             "Trial.x (field 2) is optd.v1.Vector in the generated stubs, "
             "not the optd.v1.Summary"),
            (pb.TellResponse, "trials", _wire._MESSAGE, pb.Trial, False,
             "TellResponse.trials (field 1) is repeated optd.v1.Trial in "
             "the generated stubs, not the optd.v1.Trial"),
            (pb.Trial, "trial_id", _wire._UINT64, None, True,
             "is uint64 in the generated stubs, not the repeated uint64"),
        ]
        for message, name, field_type, of, repeated, text in cases:
            with self.subTest(name=name):
                with self.assertRaisesRegex(ImportError, re.escape(text)):
                    _wire._field(message, name, field_type, of, repeated)

    def test_stubs_without_a_field_fail_the_import(self):
        # optimizer_pb2 as if TellRequest.weight had been removed.
        fields = dict(pb.TellRequest.DESCRIPTOR.fields_by_name)
        del fields["weight"]
        stubs = types.SimpleNamespace(**vars(pb))
        stubs.TellRequest = types.SimpleNamespace(
            DESCRIPTOR=types.SimpleNamespace(
                full_name="optd.v1.TellRequest", fields_by_name=fields))
        spec = importlib.util.find_spec("optd._wire")
        module = importlib.util.module_from_spec(spec)
        with mock.patch.object(_proto, "optimizer_pb2", stubs):
            with self.assertRaisesRegex(
                    ImportError, "TellRequest has no field 'weight'"):
                spec.loader.exec_module(module)


class EncodeTellTest(unittest.TestCase):

    def test_matches_the_generated_message(self):
        rng = np.random.default_rng(7)
        g = rng.standard_normal(1000)
        h = rng.standard_normal(9)
        cases = [
            ("rosen-1", 5, 1.5, False, False, [(4, g)], VectorEncoding.F64),
            ("s", 300, None, False, False, [(4, g)], VectorEncoding.F32),
            ("s", 7, math.inf, True, False, [], VectorEncoding.F64),
            ("s", 0, None, False, True, [], VectorEncoding.F64),
            ("s", 2**40, -0.0, False, False, [(4, g[:3]), (8, h)],
             VectorEncoding.F64),
            ("s", 9, 2.0, False, False, [(9, g[:10].astype(np.float32))],
             VectorEncoding.F64),
        ]
        for sid, trial, value, failed, stop, vectors, encoding in cases:
            with self.subTest(trial=trial, encoding=encoding):
                raw = _wire.encode_tell(sid, trial, value, failed, stop,
                                        vectors, encoding)
                expected = pb.TellRequest(session_id=sid, trial_id=trial,
                                          failed=failed, stop=stop)
                if value is not None:
                    expected.value = value
                names = {4: "gradient", 8: "hessian", 9: "hessian_vector"}
                for field, array in vectors:
                    target = getattr(expected, names[field])
                    if encoding == VectorEncoding.F32:
                        target.f32 = np.asarray(array, "<f4").tobytes()
                    else:
                        target.f64 = np.asarray(array, "<f8").tobytes()
                self.assertEqual(pb.TellRequest.FromString(raw), expected)

    def test_worker_note_and_weight_match_the_generated_message(self):
        cases = [("w-1", "", None), ("", "checkpoint at /tmp/ü", None),
                 ("", "", 0.25), ("worker" * 21, "n" * 4096, 1e300),
                 ("w", "x", 1.0)]
        for worker_id, note, weight in cases:
            with self.subTest(worker_id=worker_id[:8], weight=weight):
                raw = _wire.encode_tell("s", 3, 1.0, False, False, [],
                                        VectorEncoding.F64, worker_id, note,
                                        weight)
                expected = pb.TellRequest(session_id="s", trial_id=3,
                                          value=1.0, worker_id=worker_id,
                                          note=note)
                if weight is not None:
                    expected.weight = weight
                parsed = pb.TellRequest.FromString(raw)
                self.assertEqual(parsed, expected)
                self.assertEqual(parsed.HasField("weight"),
                                 weight is not None)

    def test_residuals_and_a_jacobian_match_the_generated_message(self):
        fields = pb.TellRequest.DESCRIPTOR.fields_by_name
        self.assertEqual((_wire.RESIDUALS, _wire.JACOBIAN),
                         (fields["residuals"].number,
                          fields["jacobian"].number))
        r = np.array([1.5, -2.0, 3.25])
        jac = np.arange(6.0).reshape(3, 2)  # m x n, row-major on the wire
        for encoding in (VectorEncoding.F64, VectorEncoding.F32):
            with self.subTest(encoding=encoding):
                raw = _wire.encode_tell(
                    "s", 4, None, False, False,
                    [(_wire.RESIDUALS, r), (_wire.JACOBIAN, jac)], encoding)
                parsed = pb.TellRequest.FromString(raw)
                np.testing.assert_array_equal(decode(parsed.residuals), r)
                np.testing.assert_array_equal(decode(parsed.jacobian),
                                              [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
                self.assertFalse(parsed.HasField("gradient"))
        # A Fortran-ordered Jacobian still goes row by row.
        raw = _wire.encode_tell("s", 4, None, False, False,
                                [(_wire.JACOBIAN, np.asfortranarray(jac))],
                                VectorEncoding.F64)
        np.testing.assert_array_equal(
            decode(pb.TellRequest.FromString(raw).jacobian),
            jac.reshape(-1))

    def test_a_non_contiguous_array_is_sent_in_c_order(self):
        a = np.arange(12.0).reshape(3, 4).T  # Fortran order
        raw = _wire.encode_tell("s", 1, None, False, False, [(4, a)],
                                VectorEncoding.F64)
        sent = decode(pb.TellRequest.FromString(raw).gradient)
        np.testing.assert_array_equal(sent, np.ascontiguousarray(a).ravel())


class DecodeTellResponseTest(unittest.TestCase):

    def test_reads_what_protobuf_writes(self):
        x = np.linspace(-1, 1, 50)
        response = pb.TellResponse(state=pb.SESSION_STATE_RUNNING,
                                   duplicate=True)
        t = response.trials.add(trial_id=12, wants=pb.EVALUATION_GRADIENT)
        t.x.f32 = x.astype("<f4").tobytes()
        t = response.trials.add(trial_id=13,
                                wants=pb.EVALUATION_HESSIAN_VECTOR)
        t.x.values.extend(x.tolist())
        t.vector.f64 = (2 * x).astype("<f8").tobytes()
        t.lease_expire_time.seconds = 1700000000
        trials, state, summary, duplicate = _wire.decode_tell_response(
            response.SerializeToString())
        self.assertEqual(state, pb.SESSION_STATE_RUNNING)
        self.assertTrue(duplicate)
        self.assertIsNone(summary)
        self.assertEqual([t[0] for t in trials], [12, 13])
        self.assertEqual(trials[0][1].dtype, np.float32)
        np.testing.assert_array_equal(trials[0][1], x.astype(np.float32))
        np.testing.assert_array_equal(trials[1][1], x)
        self.assertEqual(trials[1][2], pb.EVALUATION_HESSIAN_VECTOR)
        np.testing.assert_array_equal(trials[1][3], 2 * x)
        self.assertIsNone(trials[0][3])
        self.assertFalse(trials[0][1].flags.writeable)
        # batch_index, batch_size, lease expiry
        self.assertEqual(trials[0][4:], (0, 0, None))
        self.assertEqual(trials[1][4:6], (0, 0))
        self.assertEqual(trials[1][6], datetime.datetime(
            2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc))

    def test_reads_batch_places_and_lease_times(self):
        response = pb.TellResponse(state=pb.SESSION_STATE_RUNNING)
        for k in range(3):
            t = response.trials.add(trial_id=40 + k, wants=pb.EVALUATION_VALUE,
                                    batch_index=k + 1, batch_size=7)
            t.x.f64 = np.full(2, float(k)).tobytes()
            t.lease_expire_time.seconds = 1700000000 + k
            t.lease_expire_time.nanos = 250000000
        trials, _, _, _ = _wire.decode_tell_response(
            response.SerializeToString())
        self.assertEqual([t[4] for t in trials], [1, 2, 3])
        self.assertEqual({t[5] for t in trials}, {7})
        for k, trial in enumerate(trials):
            self.assertEqual(trial[6], response.trials[k].lease_expire_time
                             .ToDatetime(tzinfo=datetime.timezone.utc))

    def test_reads_point_deltas_and_base_points(self):
        x = np.array([0.5, -1.0, 3.0])
        response = pb.TellResponse(state=pb.SESSION_STATE_RUNNING)
        response.base_points.add(trial_id=7).x.f64 = x.tobytes()
        t = response.trials.add(trial_id=9, wants=pb.EVALUATION_VALUE,
                                batch_index=2, batch_size=7)
        t.delta.base_trial_id = 7
        t.delta.coordinate = 0  # present although 0
        t.delta.value = -0.0
        t = response.trials.add(trial_id=10, wants=pb.EVALUATION_VALUE)
        t.delta.base_trial_id = 7
        t.delta.coordinate = 2
        t.delta.value = 3.0000457763671875
        t = response.trials.add(trial_id=11, wants=pb.EVALUATION_GRADIENT)
        t.delta.base_trial_id = 7  # the base point itself
        raw = response.SerializeToString()
        trials, state, summary, duplicate, bases, iterate = (
            _wire.decode_tell_answer(raw))
        self.assertIsNone(iterate)
        self.assertEqual(list(bases), [7])
        np.testing.assert_array_equal(bases[7], x)
        self.assertEqual(trials[0][7][:2], (7, 0))
        self.assertEqual(math.copysign(1, trials[0][7][2]), -1.0)
        self.assertEqual(trials[1][7], (7, 2, 3.0000457763671875))
        self.assertEqual(trials[2][7], (7, None, 0.0))
        self.assertEqual(trials[0][4:6], (2, 7))
        for trial in trials:
            self.assertEqual(trial[1].size, 0)
        # decode_tell_response keeps its shape: no deltas, 7 fields.
        old, _, _, _ = _wire.decode_tell_response(raw)
        self.assertEqual([len(t) for t in old], [7, 7, 7])

    def test_the_final_answer_carries_the_summary(self):
        response = pb.TellResponse(state=pb.SESSION_STATE_CONVERGED)
        response.summary.reason = pb.TERMINATION_REASON_GRADIENT_TOLERANCE
        response.summary.message = "CONVERGENCE"
        response.summary.x.f64 = np.ones(3).tobytes()
        trials, state, summary, duplicate = _wire.decode_tell_response(
            response.SerializeToString())
        self.assertEqual(trials, [])
        self.assertEqual(state, pb.SESSION_STATE_CONVERGED)
        self.assertEqual(summary, response.summary)
        self.assertFalse(duplicate)


if __name__ == "__main__":
    unittest.main()
