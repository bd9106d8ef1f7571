// gen_corpus's seeds of slice_ops_fuzzer: a slice of each kind created,
// taken through the operations that give it a state, then the direct path
// (a staged gradient, a published point read back), a finite-difference
// stencil and a purge.
#include "fuzz/gen_corpus.h"

namespace optd::fuzz::corpus {

void SliceOps() {
  const int n = kSliceElements;
  for (const SliceKindOps& kind : SliceKinds()) {
    SliceScript script;
    v1::CreateSliceRequest* create = script.add_calls()->mutable_create();
    create->mutable_key()->set_session_id("s1");
    create->mutable_key()->set_epoch(1);
    create->set_kind(kind.kind);
    create->set_dimension(n);
    create->set_begin(0);
    create->set_end(n);
    create->set_memory(3);
    create->set_cg_vectors(true);
    if (kind.configure) kind.configure(create);
    for (const v1::SliceOpRequest& op : kind.ops) {
      SliceCall* call = script.add_calls();
      call->set_same_key(true);
      call->set_next_seq(true);
      *call->mutable_apply()->add_ops() = op;
    }
    // The direct path: a staged gradient, a published point read back.
    SliceCall* put = script.add_calls();
    put->set_same_key(true);
    put->set_fit_length(true);
    put->mutable_put()->set_trial_id(9);
    put->mutable_put()->set_field(v1::SLICE_FIELD_GRADIENT);
    put->mutable_put()->mutable_values()->add_values(1.5);
    SliceCall* staged = script.add_calls();
    staged->set_same_key(true);
    staged->set_next_seq(true);
    v1::SliceOpRequest* use = staged->mutable_apply()->add_ops();
    use->set_op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
    use->set_staged_trial(9);
    v1::SliceOpRequest* publish = staged->mutable_apply()->add_ops();
    publish->set_op(v1::SLICE_OP_READ_TRIAL_POINT);
    publish->set_publish_trial(10);
    SliceCall* get = script.add_calls();
    get->set_same_key(true);
    get->mutable_get()->set_trial_id(10);
    get->mutable_get()->set_field(v1::SLICE_FIELD_POINT);
    // Finite differences: a forward stencil planned, a point read, the
    // check and the gradient from told values (one point per coordinate).
    SliceCall* stencil = script.add_calls();
    stencil->set_same_key(true);
    stencil->set_next_seq(true);
    v1::SliceOpRequest* plan = stencil->mutable_apply()->add_ops();
    plan->set_op(v1::SLICE_OP_STENCIL_PLAN);
    plan->add_scalars(1);
    plan->add_scalars(1e-3);
    v1::SliceOpRequest* points = stencil->mutable_apply()->add_ops();
    points->set_op(v1::SLICE_OP_STENCIL_POINTS);
    points->add_scalars(0);
    points->add_scalars(2);
    v1::SliceOpRequest* check = stencil->mutable_apply()->add_ops();
    check->set_op(v1::SLICE_OP_STENCIL_CHECK);
    for (int i = 0; i <= n; ++i) check->add_stencil_values(0.5 * i);
    v1::SliceOpRequest* formed = stencil->mutable_apply()->add_ops();
    *formed = *check;
    formed->set_op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
    SliceCall* del = script.add_calls();
    del->set_same_key(true);
    del->mutable_delete_()->set_purge(true);
    Write("slice_ops", kind.name, script);
  }
}

}  // namespace optd::fuzz::corpus
