"""Node parameters: one schema table -> declarations with descriptors, a typed dataclass, validation.

Model-defining values (model.*, device, precision, cameras, transport, QoS) are read-only after
start; publish.*, max_input_age_ms and diagnostics.* can be changed at run time (validated the
same way). Any invalid value raises :class:`ParameterError` naming the one field that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

RELIABILITIES = ("best_effort", "reliable")
DURABILITIES = ("volatile", "transient_local")


class ParameterError(ValueError):
    """One invalid parameter; ``field`` is its ROS name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid parameter '{field}': {message}")
        self.field = field


# ROS name, attribute, default, description, (min, max) or choices, read_only
_SPEC: list[tuple[str, str, Any, str, Any, bool]] = [
    ("cameras", "cameras", ["camera"], "camera sub-namespaces; input <cam>/image", None, True),
    (
        "model.architecture",
        "architecture",
        "frrn_a",
        "architecture used when model.checkpoint is ''",
        None,
        True,
    ),
    (
        "model.checkpoint",
        "checkpoint",
        "",
        "checkpoint path ('' = random weights, for testing only)",
        None,
        True,
    ),
    (
        "model.input_height",
        "input_height",
        0,
        "network input height (0 = native resolution)",
        (0, 8192),
        True,
    ),
    ("model.input_width", "input_width", 0, "network input width (0 = native resolution)", (0, 8192), True),
    ("model.resize_mode", "resize_mode", "resize", "resize | letterbox", ("resize", "letterbox"), True),
    (
        "model.warmup_iters",
        "warmup_iters",
        2,
        "warm-up passes, after the topics exist, at the input size (or the first frame's)",
        (0, 100),
        True,
    ),
    ("model.channels_last", "channels_last", True, "channels_last memory format", None, True),
    ("model.compile", "compile", False, "torch.compile the model (eager on failure)", None, True),
    ("model.cuda_graphs", "cuda_graphs", False, "CUDA graphs per frame shape (eager on failure)", None, True),
    (
        "model.threads",
        "threads",
        0,
        "CPU threads for the network (PyTorch and ONNX Runtime); 0 = automatic (see README)",
        (0, 256),
        True,
    ),
    (
        "model.backend",
        "backend",
        "auto",
        "torch | onnxruntime | auto (onnxruntime for a .onnx file, and on a CPU in fp32 for a "
        "checkpoint too: exported once, parity-checked, cached; else torch)",
        ("auto", "torch", "onnxruntime"),
        True,
    ),
    ("device", "device", "auto", "auto | cpu | cuda | cuda:N", None, True),
    ("precision", "precision", "fp32", "fp32 | fp16 | bf16", ("fp32", "fp16", "bf16"), True),
    (
        "input_transport",
        "input_transport",
        "raw",
        "raw (<cam>/image) | compressed (<cam>/image/compressed)",
        ("raw", "compressed"),
        True,
    ),
    ("publish.color", "publish_color", True, "publish <cam>/segmentation/color (rgb8)", None, False),
    ("publish.overlay", "publish_overlay", False, "publish <cam>/segmentation/overlay (rgb8)", None, False),
    (
        "publish.confidence",
        "publish_confidence",
        False,
        "publish <cam>/segmentation/confidence (mono8)",
        None,
        False,
    ),
    ("publish.overlay_alpha", "overlay_alpha", 0.5, "overlay colour weight", (0.0, 1.0), True),
    (
        "publish.only_when_subscribed",
        "only_when_subscribed",
        True,
        "skip color/overlay/confidence while they have no subscribers (labels always published)",
        None,
        False,
    ),
    (
        "qos.input.reliability",
        "input_reliability",
        "best_effort",
        "best_effort | reliable",
        RELIABILITIES,
        True,
    ),
    ("qos.input.depth", "input_depth", 1, "input keep-last depth", (1, 100), True),
    (
        "qos.output.reliability",
        "output_reliability",
        "reliable",
        "best_effort | reliable",
        RELIABILITIES,
        True,
    ),
    ("qos.output.depth", "output_depth", 1, "output keep-last depth", (1, 100), True),
    (
        "qos.output.durability",
        "output_durability",
        "volatile",
        "volatile | transient_local",
        DURABILITIES,
        True,
    ),
    (
        "max_input_age_ms",
        "max_input_age_ms",
        0.0,
        "drop frames older than this at processing (0 = off)",
        (0.0, 1.0e6),
        False,
    ),
    ("max_image_pixels", "max_image_pixels", 4096 * 4096, "refuse larger images", (1, 1 << 28), True),
    (
        "batch_cameras",
        "batch_cameras",
        False,
        "one forward pass for cameras whose frames share a shape",
        None,
        True,
    ),
    ("diagnostics.period_s", "diag_period_s", 1.0, "diagnostics publication period", (0.05, 60.0), True),
    ("diagnostics.window_s", "diag_window_s", 10.0, "statistics window", (0.5, 600.0), True),
    (
        "diagnostics.warn_latency_ms",
        "warn_latency_ms",
        250.0,
        "WARN above this p95 latency",
        (0.0, 1.0e6),
        False,
    ),
    (
        "diagnostics.error_latency_ms",
        "error_latency_ms",
        1000.0,
        "ERROR above this p95 latency",
        (0.0, 1.0e6),
        False,
    ),
    (
        "diagnostics.warn_drop_ratio",
        "warn_drop_ratio",
        0.9,
        "WARN above this dropped/received ratio",
        (0.0, 1.0),
        False,
    ),
    ("diagnostics.stale_s", "stale_s", 5.0, "WARN when no input for this long", (0.0, 3600.0), False),
    ("log_throttle_s", "log_throttle_s", 5.0, "bad-input log throttle", (0.0, 3600.0), False),
]
SPEC = {name: (attr, default, desc, rng, ro) for name, attr, default, desc, rng, ro in _SPEC}


@dataclass
class NodeParams:
    """Typed view of the node's parameters (attribute names from the schema)."""

    cameras: list[str]
    architecture: str
    checkpoint: str
    input_height: int
    input_width: int
    resize_mode: str
    warmup_iters: int
    channels_last: bool
    compile: bool
    cuda_graphs: bool
    threads: int
    backend: str
    device: str
    precision: str
    input_transport: str
    publish_color: bool
    publish_overlay: bool
    publish_confidence: bool
    overlay_alpha: float
    only_when_subscribed: bool
    input_reliability: str
    input_depth: int
    output_reliability: str
    output_depth: int
    output_durability: str
    max_input_age_ms: float
    max_image_pixels: int
    batch_cameras: bool
    diag_period_s: float
    diag_window_s: float
    warn_latency_ms: float
    error_latency_ms: float
    warn_drop_ratio: float
    stale_s: float
    log_throttle_s: float

    @classmethod
    def defaults(cls, **overrides: Any) -> NodeParams:
        values = {attr: default for attr, default, *_ in SPEC.values()}
        values.update(overrides)
        return cls(**values)

    def validate(self) -> NodeParams:
        """Check cross-field rules and ranges; raise ParameterError naming the first bad field."""
        by_attr = {attr: name for name, (attr, *_rest) in SPEC.items()}
        for name, (attr, _default, _desc, rng, _ro) in SPEC.items():
            value = getattr(self, attr)
            if isinstance(rng, tuple) and rng and isinstance(rng[0], str) and value not in rng:
                raise ParameterError(name, f"{value!r} is not one of {list(rng)}")
            numeric = isinstance(rng, tuple) and len(rng) == 2 and not isinstance(rng[0], str)
            if numeric and not rng[0] <= value <= rng[1]:
                raise ParameterError(name, f"{value} is outside [{rng[0]}, {rng[1]}]")
        if not self.cameras:
            raise ParameterError("cameras", "is empty: list one or more camera names, e.g. cameras:=[front]")
        bad = [c for c in self.cameras if not _valid_name(c)]
        if bad:
            raise ParameterError(
                "cameras",
                f"{bad[0]!r} is not a relative ROS name: tokens of [A-Za-z0-9_] not starting with a digit, "
                "joined by single '/'",
            )
        if len(set(self.cameras)) != len(self.cameras):
            raise ParameterError("cameras", f"{self.cameras!r} lists a camera twice")
        if (self.input_height == 0) != (self.input_width == 0):
            given, missing = (
                ("input_height", "input_width") if self.input_height else ("input_width", "input_height")
            )
            raise ParameterError(
                by_attr[given], f"set model.{missing} too (both or neither; 0 = native resolution)"
            )
        from frrn_seg_ros.core.engine import is_onnx_file  # torch: imported only when validating

        if self.backend == "onnxruntime" and not is_onnx_file(self.checkpoint):
            raise ParameterError(
                "model.backend", "onnxruntime needs model.checkpoint to be an exported .onnx file"
            )
        if not (self.device in ("auto", "cpu", "cuda") or _is_cuda_index(self.device)):
            raise ParameterError("device", f"{self.device!r} is not auto, cpu, cuda or cuda:N")
        if self.error_latency_ms < self.warn_latency_ms:
            raise ParameterError("diagnostics.error_latency_ms", "must be >= diagnostics.warn_latency_ms")
        return self


_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _valid_name(name: str) -> bool:
    """A relative ROS name: ``/``-separated tokens of ASCII letters, digits, ``_`` (no digit first)."""
    return bool(name) and all(_NAME_TOKEN.match(token) for token in name.split("/"))


def _is_cuda_index(device: str) -> bool:
    return device.startswith("cuda:") and device[5:].isdigit()


def descriptor(name: str, allow_read_only: bool = True) -> ParameterDescriptor:
    """The ParameterDescriptor of schema entry ``name`` (description, range, read_only).

    ``allow_read_only=False`` declares model-defining entries writable: the lifecycle node reads
    them at each configure, so a value that failed can be corrected while unconfigured.
    """
    _attr, _default, desc, rng, read_only = SPEC[name]
    d = ParameterDescriptor(name=name, description=desc, read_only=read_only and allow_read_only)
    if isinstance(rng, tuple) and len(rng) == 2 and isinstance(rng[0], bool) is False:
        if isinstance(rng[0], int) and not isinstance(rng[0], bool):
            d.integer_range = [IntegerRange(from_value=rng[0], to_value=rng[1], step=0)]
        elif isinstance(rng[0], float):
            d.floating_point_range = [FloatingPointRange(from_value=rng[0], to_value=rng[1], step=0.0)]
    if isinstance(rng, tuple) and rng and isinstance(rng[0], str):
        d.additional_constraints = "one of: " + ", ".join(rng)
    return d


def declare_and_read(node, allow_read_only: bool = True) -> NodeParams:
    """Declare every parameter on ``node`` (overrides from YAML / --ros-args apply) and validate.

    A value of the wrong type or outside its range is reported as ParameterError for that name.
    The parameter is declared anyway, with its default, so that ``ros2 param set`` can fix it;
    until it is set, ``node.invalid_parameters`` (name -> error) keeps the next read failing
    instead of silently using the default. See :func:`descriptor` for ``allow_read_only``.
    """
    invalid: dict[str, str] = getattr(node, "invalid_parameters", {})
    for name, (_attr, default, *_rest) in SPEC.items():
        if node.has_parameter(name):
            continue
        try:
            node.declare_parameter(name, default, descriptor(name, allow_read_only))
        except Exception as exc:
            node.declare_parameter(name, default, descriptor(name, allow_read_only), ignore_override=True)
            invalid[name] = _declare_error(name, exc)  # after: declaring counts as setting it
    for name in SPEC:
        if name in invalid:
            raise ParameterError(name, invalid[name])
    values: dict[str, Any] = {}
    for name, (attr, *_rest) in SPEC.items():
        try:
            values[attr] = node.get_parameter(name).value
        except Exception as exc:  # ParameterUninitializedException: an empty list such as cameras:=[]
            if name != "cameras":
                raise ParameterError(name, f"has no value ({type(exc).__name__})") from None
            values[attr] = []
    values["cameras"] = list(values["cameras"] or [])
    return NodeParams(**values).validate()


def _declare_error(name: str, exc: Exception) -> str:
    """What was wrong with the value given for ``name`` (rclpy's message, shortened)."""
    kind = type(exc).__name__
    if kind == "InvalidParameterTypeException":
        default = SPEC[name][1]
        return f"wrong type: expected {type(default).__name__} like {default!r} ({exc})"
    if kind == "InvalidParameterValueException":
        rng = SPEC[name][3]
        return f"value out of range {list(rng)}" if isinstance(rng, tuple) else f"invalid value ({exc})"
    return f"{kind}: {exc}"


def unknown_parameters(node) -> list[str]:
    """Overrides given to ``node`` under this node's prefixes (``model.``, ``qos.`` ...) that are
    not parameters of it: most likely misspelt (ROS itself ignores them silently)."""
    prefixes = {name.split(".")[0] for name in SPEC if "." in name}
    given = getattr(node, "_parameter_overrides", {})  # rclpy keeps no public list of them
    return sorted(n for n in given if n not in SPEC and n.split(".")[0] in prefixes)


def is_read_only(name: str) -> bool:
    """True for entries that define the model or the topics (fixed while the node runs)."""
    return bool(SPEC[name][4])


def with_changes(params: NodeParams, changes: dict[str, Any]) -> NodeParams:
    """A validated copy of ``params`` with ROS-named ``changes`` applied (for run-time updates)."""
    values = {f.name: getattr(params, f.name) for f in fields(params)}
    for name, value in changes.items():
        if name not in SPEC:
            raise ParameterError(name, "unknown parameter")
        values[SPEC[name][0]] = value
    return NodeParams(**values).validate()
