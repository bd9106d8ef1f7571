"""Solver names and option dictionaries -> the ``optd.v1`` options messages.

Options are the field names of the solver's options message in
proto/optd/v1/options.proto (``LbfgsOptions``, ``AdamOptions``,
``SgdOptions``, ``RmspropOptions``, ``AdagradOptions``, ``AdamaxOptions``,
``NadamOptions``, ``RadamOptions``, ``LionOptions``,
``TrustRegionOptions``, ``LeastSquaresOptions``), plus the names scipy
and torch users know:

=============  ==========================================================
solver         aliases
=============  ==========================================================
lbfgs          maxcor -> memory, maxiter -> max_iterations,
               maxfun -> max_evaluations, maxls -> max_line_search
adam, adamw,   betas=(b1, b2) -> beta1, beta2 (where the message has
sgd, rmsprop,  them); maxiter -> max_steps;
adagrad,       dtype accepts "float32", np.float32 or torch.float32;
adamax,        schedule accepts a dict of LrSchedule fields
nadam, radam,  (decay="cosine" or "constant"); groups a list of dicts
lion           of AdamGroup fields (begin, end, lr, betas, eps,
               weight_decay; only those the method has per group)
trust_region   initial_trust_radius -> initial_radius,
               max_trust_radius -> max_radius, maxiter -> max_iterations;
               subproblem="exact" | "newton_cg" | "newton_cg_fd" |
               "quasi_newton"
least_squares  (also "lm") m -> residuals; trials want residuals and
               Jacobians (optd.least_squares drives them)
adafactor      eps=(eps1, eps2) (transformers' pair); maxiter -> max_steps;
               the model's shapes go in create_session(layers=...)
curvature      k -> extreme_count; source="hessian_vector" |
               "gradient_difference" (optd.curvature drives them)
=============  ==========================================================

Solver names are matched case-insensitively without "-" and "_", so
torch's class names work too: "SGD", "RMSprop", "Adagrad", "Adamax",
"NAdam", "RAdam", "Lion". ``FIRST_ORDER`` lists the elementwise first-order
methods (Adam's family): each told gradient is one step, and they share
Adam's protocol (group_lr, groups, schedule, float32 state).

Unset options take the server's documented defaults.

    >>> field, message = solver_options("AdamW",
    ...                                 {"lr": 1e-2, "betas": (0.9, 0.99)})
    >>> field, message.lr, message.beta2
    ('adamw', 0.01, 0.99)
    >>> field, message = solver_options("SGD", {"lr": 0.1, "momentum": 0.9})
    >>> field, message.momentum
    ('sgd', 0.9)
"""

from typing import Any, Dict, Mapping, Optional, Tuple

from google.protobuf import message as _message

from ._proto import optimizer_pb2 as pb
from .errors import InvalidArgument

__all__ = ["FIRST_ORDER", "canonical_solver", "solver_options",
           "state_dtype_of", "gradient_source_value",
           "finite_difference_options", "gradient_check_options"]

#: The CreateSessionRequest fields of the elementwise first-order methods
#: (each told gradient is one step; group_lr, groups, schedule, dtype).
FIRST_ORDER = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax",
               "nadam", "radam", "lion")

# Normalized spelling (lowercase, no "-" or "_") -> CreateSessionRequest field.
_SOLVERS = {
    "lbfgs": "lbfgs", "lbfgsb": "lbfgs",
    "trustregion": "trust_region",
    "leastsquares": "least_squares", "lm": "least_squares",
    "curvature": "curvature",
    **{name: name for name in FIRST_ORDER},
    "adafactor": "adafactor",
}
_MESSAGES = {"lbfgs": pb.LbfgsOptions, "adam": pb.AdamOptions,
             "adamw": pb.AdamOptions, "sgd": pb.SgdOptions,
             "rmsprop": pb.RmspropOptions, "adagrad": pb.AdagradOptions,
             "adamax": pb.AdamaxOptions, "nadam": pb.NadamOptions,
             "radam": pb.RadamOptions, "lion": pb.LionOptions,
             "adafactor": pb.AdafactorOptions,
             "trust_region": pb.TrustRegionOptions,
             "least_squares": pb.LeastSquaresOptions,
             "curvature": pb.CurvatureOptions}
_ALIASES: Dict[str, Dict[str, str]] = {
    "lbfgs": {"maxcor": "memory", "maxiter": "max_iterations",
              "maxfun": "max_evaluations", "maxls": "max_line_search"},
    **{name: {"maxiter": "max_steps"} for name in FIRST_ORDER},
    "trust_region": {"initial_trust_radius": "initial_radius",
                     "max_trust_radius": "max_radius",
                     "maxiter": "max_iterations"},
    "least_squares": {"m": "residuals"},
    "adafactor": {"maxiter": "max_steps"},
    "curvature": {"k": "extreme_count"},
}


def canonical_solver(solver: str) -> str:
    """'L-BFGS', 'L-BFGS-B', 'lbfgs' -> 'lbfgs'; 'AdamW' -> 'adamw';
    'SGD' -> 'sgd'; 'RMSprop' -> 'rmsprop'; 'NAdam' -> 'nadam' (and so on
    for the rest of FIRST_ORDER); 'trust-region' -> 'trust_region';
    'least-squares', 'lm' -> 'least_squares'; 'curvature'. InvalidArgument
    otherwise."""
    key = str(solver).lower().replace("-", "").replace("_", "")
    if key not in _SOLVERS:
        raise InvalidArgument(
            f"unknown solver {solver!r}; use 'lbfgs' (or 'L-BFGS-B'), "
            + ", ".join(f"'{name}'" for name in FIRST_ORDER)
            + ", 'adafactor', 'trust-region', 'least_squares' or 'curvature'")
    return _SOLVERS[key]


def state_dtype_of(dtype: Any) -> int:
    """A StateDtype value from "float32"/np.float32/torch.float32/None."""
    if dtype is None:
        return pb.STATE_DTYPE_UNSPECIFIED
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        return dtype
    name = str(dtype).lower().replace("torch.", "").replace("state_dtype_", "")
    if "float32" in name or name in ("f32", "single", "<f4"):
        return pb.STATE_DTYPE_FLOAT32
    if "float64" in name or name in ("f64", "double", "<f8", "float"):
        return pb.STATE_DTYPE_FLOAT64
    raise InvalidArgument(
        f"options.dtype is {dtype!r}; use float32 or float64")


def _enum_value(field, value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    wanted = str(value).upper().replace("-", "_")
    for candidate in field.enum_type.values:
        if candidate.name == wanted or candidate.name.endswith("_" + wanted):
            return candidate.number
    names = [v.name for v in field.enum_type.values]
    raise InvalidArgument(f"{path} is {value!r}; use one of {names}")


def _fill(message: _message.Message, options: Mapping[str, Any],
          aliases: Mapping[str, str], path: str) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in options.items():
        if value is None:
            continue  # unset: the server's default
        if key == "betas" and "beta2" in fields:
            try:
                beta1, beta2 = value
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"{path}.betas is {value!r}; want a pair (beta1, beta2)"
                ) from None
            _fill(message, {"beta1": beta1, "beta2": beta2}, {}, path)
            continue
        if key == "eps" and "eps1" in fields:
            try:
                eps1, eps2 = value
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"{path}.eps is {value!r}; want a pair (eps1, eps2)"
                ) from None
            _fill(message, {"eps1": eps1, "eps2": eps2}, {}, path)
            continue
        name = aliases.get(key, key)
        field = fields.get(name)
        if field is None:
            known = sorted(set(fields) | set(aliases)
                           | ({"betas"} if "beta2" in fields else set())
                           | ({"eps"} if "eps1" in fields else set()))
            raise InvalidArgument(f"unknown option {path}.{key}; known "
                                  f"options are {', '.join(known)}")
        where = f"{path}.{name}"
        if name == "dtype":
            value = state_dtype_of(value)
        if (field.message_type is not None
                and field.label == field.LABEL_REPEATED):
            for i, item in enumerate(value):
                if isinstance(item, _message.Message):
                    getattr(message, name).add().CopyFrom(item)
                else:
                    _fill(getattr(message, name).add(), dict(item), {},
                          f"{where}[{i}]")
        elif field.message_type is not None:
            if isinstance(value, _message.Message):
                getattr(message, name).CopyFrom(value)
            else:
                _fill(getattr(message, name), dict(value), {}, where)
        elif field.label == field.LABEL_REPEATED:
            try:
                getattr(message, name).extend(
                    [value] if isinstance(value, (int, float)) else value)
            except (TypeError, ValueError) as e:
                raise InvalidArgument(f"{where} is {value!r}: {e}") from None
        elif field.enum_type is not None:
            setattr(message, name, _enum_value(field, value, where))
        else:
            try:
                setattr(message, name, value)
            except (TypeError, ValueError) as e:
                raise InvalidArgument(f"{where} is {value!r}: {e}") from None


def solver_options(solver: str, options: Optional[Mapping[str, Any]] = None
                   ) -> Tuple[str, _message.Message]:
    """The CreateSessionRequest oneof field and options message for
    ``solver`` with ``options`` (a mapping, or an options message)."""
    field = canonical_solver(solver)
    message = _MESSAGES[field]()
    if isinstance(options, _message.Message):
        message.CopyFrom(options)
    elif options:
        _fill(message, options, _ALIASES[field], field)
    return field, message


# -- how a session gets its gradients -----------------------------------------

# Spellings of GradientSource, normalized as canonical_solver does.
_GRADIENT_SOURCES = {
    "client": pb.GRADIENT_SOURCE_CLIENT,
    "finitedifference": pb.GRADIENT_SOURCE_FINITE_DIFFERENCE,
    "finitedifferences": pb.GRADIENT_SOURCE_FINITE_DIFFERENCE,
    "fd": pb.GRADIENT_SOURCE_FINITE_DIFFERENCE,
}


def gradient_source_value(source: Any) -> int:
    """A GradientSource value from "client", "finite_difference" (also
    "finite-differences", "fd"), an enum or its number; None: unspecified
    (the server's CLIENT)."""
    if source is None:
        return pb.GRADIENT_SOURCE_UNSPECIFIED
    if isinstance(source, int) and not isinstance(source, bool):
        return int(source)
    key = str(source).lower().replace("gradient_source_", "").replace(
        "-", "").replace("_", "")
    if key not in _GRADIENT_SOURCES:
        raise InvalidArgument(
            f"gradient_source is {source!r}; use 'client' or "
            "'finite_difference'")
    return _GRADIENT_SOURCES[key]


def finite_difference_options(options: Any
                              ) -> Optional[pb.FiniteDifferenceOptions]:
    """``{"scheme": "central" | "forward", "relative_step": h}`` (or the
    message, or None) as ``FiniteDifferenceOptions``."""
    if options is None:
        return None
    message = pb.FiniteDifferenceOptions()
    if isinstance(options, _message.Message):
        message.CopyFrom(options)
    else:
        _fill(message, dict(options), {"step": "relative_step"},
              "finite_difference")
    return message


def gradient_check_options(options: Any) -> Optional[pb.GradientCheckOptions]:
    """``True`` (check at x0), ``{"at_iterations": [...],
    "every_iterations": k, "relative_step": h}`` (or the message) as
    ``GradientCheckOptions``; None or False: no check."""
    if options is None or options is False:
        return None
    message = pb.GradientCheckOptions()
    if isinstance(options, _message.Message):
        message.CopyFrom(options)
    elif options is not True:
        _fill(message, dict(options), {"every": "every_iterations",
                                       "at": "at_iterations"},
              "gradient_check")
    return message
