#include "client/session.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/vector_codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace optd::client {
namespace {

// Doubles this client sends travel as f64 bytes, or as packed values when the
// session asked for VALUES; never rounded to float32 here (the server does
// that, to nearest, for a float32 state).
v1::Vector EncodeOutgoing(absl::Span<const double> x,
                          v1::VectorEncoding encoding) {
  return encoding == v1::VECTOR_ENCODING_VALUES ? EncodeValues(x)
                                                : EncodeF64(x);
}

absl::StatusOr<Wants> DecodeWants(v1::Evaluation wants) {
  switch (wants) {
    case v1::EVALUATION_VALUE:
      return Wants::kValue;
    case v1::EVALUATION_GRADIENT:
      return Wants::kGradient;
    case v1::EVALUATION_VALUE_AND_GRADIENT:
      return Wants::kValueAndGradient;
    case v1::EVALUATION_HESSIAN:
      return Wants::kHessian;
    case v1::EVALUATION_HESSIAN_VECTOR:
      return Wants::kHessianVector;
    case v1::EVALUATION_RESIDUALS:
      return Wants::kResiduals;
    case v1::EVALUATION_JACOBIAN:
      return Wants::kJacobian;
    case v1::EVALUATION_RESIDUALS_AND_JACOBIAN:
      return Wants::kResidualsAndJacobian;
    case v1::EVALUATION_JACOBIAN_VECTOR:
      return Wants::kJacobianVector;
    case v1::EVALUATION_JACOBIAN_TRANSPOSE_VECTOR:
      return Wants::kJacobianTransposeVector;
    default:
      return absl::UnimplementedError(
          absl::StrCat("the server asks for ", v1::Evaluation_Name(wants),
                       ", which this client cannot tell"));
  }
}

// The point trial `trial` stands for: its x, or (v1::Trial.delta) its base
// point with one element set. `decoded_base` caches the base's decoding
// across the trials of one answer (they share one base).
absl::StatusOr<std::vector<double>> DecodePoint(
    const v1::Trial& trial,
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points,
    std::pair<uint64_t, std::vector<double>>* decoded_base) {
  if (!trial.has_delta()) return DecodeVector(trial.x());
  const v1::PointDelta& delta = trial.delta();
  if (decoded_base->second.empty() ||
      decoded_base->first != delta.base_trial_id()) {
    const v1::Vector* base = nullptr;
    for (const v1::BasePoint& point : base_points) {
      if (point.trial_id() == delta.base_trial_id()) base = &point.x();
    }
    for (const v1::Trial& other : trials) {
      if (other.trial_id() == delta.base_trial_id() && !other.has_delta()) {
        base = &other.x();
      }
    }
    if (base == nullptr) {
      return absl::DataLossError(absl::StrCat(
          "trial ", trial.trial_id(), " is built from trial ",
          delta.base_trial_id(), ", whose point the answer does not carry"));
    }
    OPTD_ASSIGN_OR_RETURN(std::vector<double> x, DecodeVector(*base));
    *decoded_base = {delta.base_trial_id(), std::move(x)};
  }
  std::vector<double> x = decoded_base->second;
  if (delta.has_coordinate()) {
    if (delta.coordinate() < 0 ||
        delta.coordinate() >= static_cast<int64_t>(x.size())) {
      return absl::DataLossError(absl::StrCat(
          "trial ", trial.trial_id(), " moves coordinate ", delta.coordinate(),
          " of a point of ", x.size(), " elements"));
    }
    // The exact value, as the element of a whole point would hold it.
    x[static_cast<size_t>(delta.coordinate())] = delta.value();
  }
  return x;
}

absl::StatusOr<Trial> DecodeOne(
    const v1::Trial& trial,
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points,
    std::pair<uint64_t, std::vector<double>>* decoded_base) {
  Trial t;
  t.id = trial.trial_id();
  t.batch_index = trial.batch_index();
  t.batch_size = std::max(1, trial.batch_size());
  OPTD_ASSIGN_OR_RETURN(t.wants, DecodeWants(trial.wants()));
  OPTD_ASSIGN_OR_RETURN(t.x,
                        DecodePoint(trial, trials, base_points, decoded_base));
  if (t.wants == Wants::kHessianVector || t.wants == Wants::kJacobianVector ||
      t.wants == Wants::kJacobianTransposeVector) {
    OPTD_ASSIGN_OR_RETURN(t.vector, DecodeVector(trial.vector()));
  }
  return t;
}

// What DecodeTrials would refuse, found without building any point from a
// delta: so that Session::Create can decode its first trials later.
absl::Status CheckTrials(
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points) {
  std::pair<uint64_t, std::vector<double>> decoded_base;
  for (const v1::Trial& trial : trials) {
    if (!trial.has_delta()) {
      OPTD_RETURN_IF_ERROR(
          DecodeOne(trial, trials, base_points, &decoded_base).status());
      continue;
    }
    OPTD_RETURN_IF_ERROR(DecodeWants(trial.wants()).status());
    // A delta trial of the base already decoded needs only its coordinate
    // checked; the first one decodes (and so checks) the base.
    if (decoded_base.second.empty() ||
        decoded_base.first != trial.delta().base_trial_id() ||
        (trial.delta().has_coordinate() &&
         static_cast<uint64_t>(trial.delta().coordinate()) >=
             decoded_base.second.size())) {
      OPTD_RETURN_IF_ERROR(
          DecodeOne(trial, trials, base_points, &decoded_base).status());
    }
  }
  return absl::OkStatus();
}

template <typename Response>
absl::StatusOr<Answer> DecodeAnswer(const std::string& session_id,
                                    const Response& response) {
  Answer answer;
  OPTD_ASSIGN_OR_RETURN(
      answer.trials, DecodeTrials(response.trials(), response.base_points()));
  answer.state = response.state();
  if (response.has_summary()) {
    OPTD_ASSIGN_OR_RETURN(answer.summary,
                          DecodeSummary(session_id, response.summary()));
  }
  return answer;
}

}  // namespace

absl::string_view WantsName(Wants w) {
  switch (w) {
    case Wants::kValue:
      return "value";
    case Wants::kGradient:
      return "gradient";
    case Wants::kValueAndGradient:
      return "value and gradient";
    case Wants::kHessian:
      return "hessian";
    case Wants::kResiduals:
      return "residuals";
    case Wants::kJacobian:
      return "jacobian";
    case Wants::kResidualsAndJacobian:
      return "residuals and jacobian";
    case Wants::kJacobianVector:
      return "jacobian-vector product";
    case Wants::kJacobianTransposeVector:
      return "jacobian-transpose-vector product";
    case Wants::kHessianVector:
      break;
  }
  return "hessian-vector product";
}

absl::StatusOr<std::vector<Trial>> DecodeTrials(
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points) {
  std::vector<Trial> decoded;
  decoded.reserve(trials.size());
  std::pair<uint64_t, std::vector<double>> decoded_base;
  for (const v1::Trial& trial : trials) {
    OPTD_ASSIGN_OR_RETURN(Trial t,
                          DecodeOne(trial, trials, base_points, &decoded_base));
    decoded.push_back(std::move(t));
  }
  return decoded;
}

absl::StatusOr<std::vector<Trial>> DecodeTrials(
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials) {
  return DecodeTrials(trials, {});
}

absl::StatusOr<Trial> DecodeTrial(
    int index, const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points) {
  std::pair<uint64_t, std::vector<double>> decoded_base;
  return DecodeOne(trials.Get(index), trials, base_points, &decoded_base);
}

absl::StatusOr<Result> DecodeSummary(const std::string& session_id,
                                     const v1::Summary& summary) {
  Result result;
  result.session_id = session_id;
  OPTD_ASSIGN_OR_RETURN(result.x, DecodeVector(summary.x()));
  result.value = summary.value();
  result.gradient_max_norm = summary.gradient_max_norm();
  result.iterations = summary.iterations();
  result.evaluations = summary.evaluations();
  result.reason = summary.reason();
  result.message = summary.message();
  result.success = summary.success();
  result.wall_seconds = summary.wall_seconds();
  result.brief_report = summary.brief_report();
  result.full_report = summary.full_report();
  if (summary.has_least_squares()) {
    const v1::LeastSquaresResult& from = summary.least_squares();
    LeastSquaresResult& to = result.least_squares.emplace();
    to.cost = from.cost();
    OPTD_ASSIGN_OR_RETURN(to.fun, DecodeVector(from.fun()));
    OPTD_ASSIGN_OR_RETURN(to.jac, DecodeVector(from.jac()));
    OPTD_ASSIGN_OR_RETURN(to.grad, DecodeVector(from.grad()));
    OPTD_ASSIGN_OR_RETURN(to.covariance, DecodeVector(from.covariance()));
    to.optimality = from.optimality();
    to.nfev = from.nfev();
    to.njev = from.njev();
    to.status = from.status();
    to.success = from.success();
    to.jacobian_rank = from.jacobian_rank();
    to.jacobian_vector_products = from.jacobian_vector_products();
    to.jacobian_transpose_vector_products =
        from.jacobian_transpose_vector_products();
    to.lsmr_iterations = from.lsmr_iterations();
    to.active_mask.assign(from.active_mask().begin(), from.active_mask().end());
    to.method = from.method();
  }
  if (summary.has_curvature()) result.curvature = summary.curvature();
  return result;
}

SolverSpec SolverSpec::Lbfgs(const v1::LbfgsOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_lbfgs() = options;
  return spec;
}

SolverSpec SolverSpec::TrustRegion(const v1::TrustRegionOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_trust_region() = options;
  return spec;
}

SolverSpec SolverSpec::Adam(const v1::AdamOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_adam() = options;
  return spec;
}

SolverSpec SolverSpec::AdamW(const v1::AdamOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_adamw() = options;
  return spec;
}

SolverSpec SolverSpec::Sgd(const v1::SgdOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_sgd() = options;
  return spec;
}

SolverSpec SolverSpec::Rmsprop(const v1::RmspropOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_rmsprop() = options;
  return spec;
}

SolverSpec SolverSpec::Adagrad(const v1::AdagradOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_adagrad() = options;
  return spec;
}

SolverSpec SolverSpec::Adamax(const v1::AdamaxOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_adamax() = options;
  return spec;
}

SolverSpec SolverSpec::Nadam(const v1::NadamOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_nadam() = options;
  return spec;
}

SolverSpec SolverSpec::Radam(const v1::RadamOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_radam() = options;
  return spec;
}

SolverSpec SolverSpec::Lion(const v1::LionOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_lion() = options;
  return spec;
}

SolverSpec SolverSpec::Adafactor(const v1::AdafactorOptions& options,
                                 const std::vector<v1::Layer>& layers) {
  SolverSpec spec;
  *spec.solver_.mutable_adafactor() = options;
  spec.solver_.mutable_layers()->Add(layers.begin(), layers.end());
  return spec;
}

SolverSpec SolverSpec::LeastSquares(const v1::LeastSquaresOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_least_squares() = options;
  return spec;
}

SolverSpec SolverSpec::Curvature(const v1::CurvatureOptions& options) {
  SolverSpec spec;
  *spec.solver_.mutable_curvature() = options;
  return spec;
}

absl::string_view SolverSpec::name() const {
  const google::protobuf::FieldDescriptor* field =
      solver_.GetDescriptor()->FindFieldByNumber(solver_.solver_case());
  return field == nullptr ? absl::string_view() : field->name();
}

void SolverSpec::AddTo(v1::CreateSessionRequest* request) const {
  request->MergeFrom(solver_);
}

v1::TellRequest MakeTellRequest(uint64_t trial_id, const Evaluation& evaluation,
                                v1::VectorEncoding encoding) {
  v1::TellRequest request;
  request.set_trial_id(trial_id);
  if (evaluation.value.has_value()) request.set_value(*evaluation.value);
  if (!evaluation.gradient.empty()) {
    *request.mutable_gradient() = EncodeOutgoing(evaluation.gradient, encoding);
  }
  if (!evaluation.hessian.empty()) {
    *request.mutable_hessian() = EncodeOutgoing(evaluation.hessian, encoding);
  }
  if (!evaluation.hessian_vector.empty()) {
    *request.mutable_hessian_vector() =
        EncodeOutgoing(evaluation.hessian_vector, encoding);
  }
  if (!evaluation.residuals.empty()) {
    *request.mutable_residuals() =
        EncodeOutgoing(evaluation.residuals, encoding);
  }
  if (!evaluation.jacobian_vector.empty()) {
    *request.mutable_jacobian_vector() =
        EncodeOutgoing(evaluation.jacobian_vector, encoding);
  }
  if (!evaluation.jacobian_transpose_vector.empty()) {
    *request.mutable_jacobian_transpose_vector() =
        EncodeOutgoing(evaluation.jacobian_transpose_vector, encoding);
  }
  if (!evaluation.jacobian.empty()) {
    *request.mutable_jacobian() = EncodeOutgoing(evaluation.jacobian, encoding);
  }
  request.set_failed(evaluation.failed);
  request.set_note(evaluation.note);
  if (evaluation.weight.has_value()) request.set_weight(*evaluation.weight);
  return request;
}

v1::CreateSessionRequest MakeCreateSessionRequest(
    absl::Span<const double> x0, const SolverSpec& solver,
    const SessionOptions& options) {
  v1::CreateSessionRequest request;
  request.set_session_id(options.session_id);
  *request.mutable_x0() = EncodeOutgoing(x0, options.encoding);
  solver.AddTo(&request);
  request.mutable_labels()->insert(options.labels.begin(),
                                   options.labels.end());
  request.set_vector_encoding(options.encoding);
  request.set_shards(options.shards);
  if (options.checkpoint_interval.has_value()) {
    request.mutable_durability()->set_checkpoint_interval(
        *options.checkpoint_interval);
  }
  if (!options.lower.empty()) {
    *request.mutable_bounds()->mutable_lower() =
        EncodeOutgoing(options.lower, options.encoding);
  }
  if (!options.upper.empty()) {
    *request.mutable_bounds()->mutable_upper() =
        EncodeOutgoing(options.upper, options.encoding);
  }
  request.set_gradient_source(options.gradient_source);
  if (options.gradient_check.has_value()) {
    *request.mutable_gradient_check() = *options.gradient_check;
  }
  if (options.data_parallel_workers > 1) {
    request.mutable_data_parallel()->set_workers(options.data_parallel_workers);
  }
  return request;
}

struct Session::FirstTrials {
  google::protobuf::RepeatedPtrField<v1::Trial> trials;
  google::protobuf::RepeatedPtrField<v1::BasePoint> base_points;
  std::once_flag once;
  std::vector<Trial> decoded;
};

Session::Session(const Client& client, std::string id,
                 v1::VectorEncoding encoding,
                 std::shared_ptr<FirstTrials> first_trials)
    : client_(client),
      id_(std::move(id)),
      encoding_(encoding),
      first_trials_(std::move(first_trials)) {}

const std::vector<Trial>& Session::first_trials() const {
  static const std::vector<Trial>* const kNone = new std::vector<Trial>();
  if (first_trials_ == nullptr) return *kNone;
  FirstTrials& first = *first_trials_;
  std::call_once(first.once, [&first] {
    // Create checked them (CheckTrials): decoding cannot fail.
    absl::StatusOr<std::vector<Trial>> decoded =
        DecodeTrials(first.trials, first.base_points);
    if (decoded.ok()) first.decoded = *std::move(decoded);
    first.trials.Clear();
    first.base_points.Clear();
  });
  return first.decoded;
}

absl::StatusOr<Session> Session::Create(const Client& client,
                                        absl::Span<const double> x0,
                                        const SolverSpec& solver,
                                        const SessionOptions& options) {
  return Create(client, MakeCreateSessionRequest(x0, solver, options),
                options.direct);
}

absl::StatusOr<Session> Session::Create(const Client& client,
                                        const v1::CreateSessionRequest& request,
                                        bool direct) {
  grpc::ClientContext context;
  client.PrepareUnaryContext(&context);
  v1::CreateSessionResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(client.stub().CreateSession(&context, request, &response)));
  OPTD_RETURN_IF_ERROR(CheckTrials(response.trials(), response.base_points()));
  auto first = std::make_shared<FirstTrials>();
  first->trials.Swap(response.mutable_trials());
  first->base_points.Swap(response.mutable_base_points());
  Session session(client, response.session_id(), request.vector_encoding(),
                  std::move(first));
  if (direct && request.shards() > 1) {
    OPTD_RETURN_IF_ERROR(session.EnableDirectPath());
  }
  return session;
}

absl::Status Session::EnableDirectPath() {
  OPTD_ASSIGN_OR_RETURN(v1::Session described, client_.GetSession(id_));
  OPTD_ASSIGN_OR_RETURN(direct_, DirectPath::Connect(client_, described));
  return absl::OkStatus();
}

absl::Status Session::FillFromSlices(
    const google::protobuf::RepeatedPtrField<v1::Trial>& sent,
    std::vector<Trial>* trials) const {
  for (int i = 0; i < sent.size() && i < static_cast<int>(trials->size());
       ++i) {
    if (!sent[i].on_slices()) continue;
    Trial& trial = (*trials)[i];
    OPTD_ASSIGN_OR_RETURN(trial.x,
                          direct_->Get(id_, trial.id, v1::SLICE_FIELD_POINT));
    if (trial.wants == Wants::kHessianVector) {
      OPTD_ASSIGN_OR_RETURN(
          trial.vector, direct_->Get(id_, trial.id, v1::SLICE_FIELD_VECTOR));
    }
  }
  return absl::OkStatus();
}

Session Session::Attach(const Client& client, std::string session_id,
                        v1::VectorEncoding encoding) {
  return Session(client, std::move(session_id), encoding, nullptr);
}

absl::StatusOr<Answer> Session::Ask() const { return AskAsWorker(""); }

absl::StatusOr<Answer> Session::AskAsWorker(const std::string& worker_id,
                                            int max_trials) const {
  v1::AskRequest request;
  request.set_session_id(id_);
  request.set_encoding(encoding_);
  request.set_worker_id(worker_id);
  request.set_max_trials(max_trials);
  request.set_points_on_slices(direct_ != nullptr);
  grpc::ClientContext context;
  client_.PrepareUnaryContext(&context);
  v1::AskResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(client_.stub().Ask(&context, request, &response)));
  OPTD_ASSIGN_OR_RETURN(Answer answer, DecodeAnswer(id_, response));
  OPTD_RETURN_IF_ERROR(FillFromSlices(response.trials(), &answer.trials));
  answer.retry_after = absl::Seconds(response.retry_after_seconds());
  return answer;
}

absl::StatusOr<Answer> Session::Tell(uint64_t trial_id,
                                     std::optional<double> value,
                                     absl::Span<const double> gradient,
                                     bool failed) const {
  v1::TellRequest request;
  request.set_trial_id(trial_id);
  if (value.has_value()) request.set_value(*value);
  if (!gradient.empty() && direct_ != nullptr && !failed) {
    OPTD_RETURN_IF_ERROR(
        direct_->Put(id_, trial_id, v1::SLICE_FIELD_GRADIENT, gradient));
    request.set_sliced(true);
  } else if (!gradient.empty()) {
    *request.mutable_gradient() = EncodeOutgoing(gradient, encoding_);
  }
  request.set_failed(failed);
  return SendTell(std::move(request));
}

absl::StatusOr<Answer> Session::TellF32(uint64_t trial_id,
                                        std::optional<double> value,
                                        absl::Span<const float> gradient,
                                        bool failed) const {
  v1::TellRequest request;
  request.set_trial_id(trial_id);
  if (value.has_value()) request.set_value(*value);
  if (!gradient.empty() && direct_ != nullptr && !failed) {
    OPTD_RETURN_IF_ERROR(
        direct_->Put32(id_, trial_id, v1::SLICE_FIELD_GRADIENT, gradient));
    request.set_sliced(true);
  } else if (!gradient.empty()) {
    *request.mutable_gradient() = EncodeF32(gradient);
  }
  request.set_failed(failed);
  return SendTell(std::move(request));
}

absl::StatusOr<Answer> Session::Tell(uint64_t trial_id,
                                     const Evaluation& evaluation) const {
  if (direct_ == nullptr || evaluation.failed ||
      (evaluation.gradient.empty() && evaluation.hessian_vector.empty())) {
    return Tell(MakeTellRequest(trial_id, evaluation, encoding_));
  }
  // The vectors go to the replicas; the rest to the home.
  Evaluation rest = evaluation;
  rest.gradient.clear();
  rest.hessian_vector.clear();
  if (!evaluation.gradient.empty()) {
    OPTD_RETURN_IF_ERROR(direct_->Put(id_, trial_id, v1::SLICE_FIELD_GRADIENT,
                                      evaluation.gradient));
  }
  if (!evaluation.hessian_vector.empty()) {
    OPTD_RETURN_IF_ERROR(direct_->Put(id_, trial_id,
                                      v1::SLICE_FIELD_HESSIAN_VECTOR,
                                      evaluation.hessian_vector));
  }
  v1::TellRequest request = MakeTellRequest(trial_id, rest, encoding_);
  request.set_sliced(true);
  return SendTell(std::move(request));
}

absl::StatusOr<Answer> Session::Tell(v1::TellRequest request) const {
  return SendTell(std::move(request));
}

absl::StatusOr<Answer> Session::SendTell(v1::TellRequest request) const {
  request.set_session_id(id_);
  if (direct_ != nullptr) request.set_points_on_slices(true);
  if (request.encoding() == v1::VECTOR_ENCODING_UNSPECIFIED) {
    request.set_encoding(encoding_);
  }
  grpc::ClientContext context;
  client_.PrepareUnaryContext(&context);
  v1::TellResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(client_.stub().Tell(&context, request, &response)));
  OPTD_ASSIGN_OR_RETURN(Answer answer, DecodeAnswer(id_, response));
  OPTD_RETURN_IF_ERROR(FillFromSlices(response.trials(), &answer.trials));
  answer.duplicate = response.duplicate();
  return answer;
}

absl::StatusOr<Answer> Session::Stop() const {
  v1::TellRequest request;
  request.set_stop(true);
  return Tell(std::move(request));
}

absl::StatusOr<v1::Session> Session::Get(bool include_x) const {
  v1::GetSessionRequest request;
  request.set_session_id(id_);
  request.set_include_x(include_x);
  request.set_encoding(encoding_);
  return client_.GetSession(request);
}

absl::Status Session::Delete() const { return client_.DeleteSession(id_); }

}  // namespace optd::client
