"""The node's parameters on ROS: declarations with descriptors, reading them into a validated
:class:`NodeParams`, and the overrides that match no parameter.

The schema itself (names, defaults, ranges, validation) is :mod:`.parameter_schema`; its public
names are re-exported here. Model-defining values (model.*, device, precision, cameras,
transport, QoS) are read-only after start; publish.*, max_input_age_ms and diagnostics.* can be
changed at run time (validated the same way). Any invalid value raises :class:`ParameterError`
naming the one parameter that is wrong.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from .parameter_schema import (
    BY_ATTR,
    DURABILITIES,
    RELIABILITIES,
    SPEC,
    NodeParams,
    ParameterError,
    ParamSpec,
    is_read_only,
    with_changes,
)

__all__ = [
    "BY_ATTR",
    "DURABILITIES",
    "RELIABILITIES",
    "SPEC",
    "NodeParams",
    "ParamSpec",
    "ParameterError",
    "declare_and_read",
    "descriptor",
    "is_read_only",
    "unknown_parameters",
    "with_changes",
]


def descriptor(name: str, allow_read_only: bool = True) -> ParameterDescriptor:
    """The ParameterDescriptor of schema entry ``name`` (description, range, read_only).

    ``allow_read_only=False`` declares model-defining entries writable: the lifecycle node reads
    them at each configure, so a value that failed can be corrected while unconfigured.
    """
    spec = SPEC[name]
    d = ParameterDescriptor(
        name=name, description=spec.description, read_only=spec.read_only and allow_read_only
    )
    if spec.limits is not None:
        low, high = spec.limits
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
    if spec.choices is not None:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    return d


def declare_and_read(node, allow_read_only: bool = True) -> NodeParams:
    """Declare every parameter on ``node`` (overrides from YAML / --ros-args apply) and validate.

    A value of the wrong type or outside its range is reported as ParameterError for that name.
    The parameter is declared anyway, with its default, so that ``ros2 param set`` can fix it;
    until it is set, ``node.invalid_parameters`` (name -> error) keeps the next read failing
    instead of silently using the default. See :func:`descriptor` for ``allow_read_only``.
    """
    invalid: dict[str, str] = getattr(node, "invalid_parameters", {})
    for name, spec in SPEC.items():
        if node.has_parameter(name):
            continue
        try:
            node.declare_parameter(name, spec.default, descriptor(name, allow_read_only))
        except Exception as exc:
            fresh = descriptor(name, allow_read_only)
            node.declare_parameter(name, spec.default, fresh, ignore_override=True)
            invalid[name] = _declare_error(spec, exc)  # after: declaring counts as setting it
    for name in SPEC:
        if name in invalid:
            raise ParameterError(name, invalid[name])
    values: dict[str, Any] = {}
    for name, spec in SPEC.items():
        try:
            values[spec.attr] = node.get_parameter(name).value
        except Exception as exc:  # ParameterUninitializedException: an empty list such as cameras:=[]
            if name != "cameras":
                raise ParameterError(name, f"has no value ({type(exc).__name__})") from None
            values[spec.attr] = []
    values["cameras"] = list(values["cameras"] or [])
    return NodeParams(**values).validate()


def _declare_error(spec: ParamSpec, exc: Exception) -> str:
    """What was wrong with the value given for ``spec`` (rclpy's message, shortened)."""
    kind = type(exc).__name__
    if kind == "InvalidParameterTypeException":
        return f"wrong type: expected {type(spec.default).__name__} like {spec.default!r} ({exc})"
    if kind == "InvalidParameterValueException":
        if spec.limits is not None:
            return f"value out of range {list(spec.limits)}"
        return f"invalid value ({exc})"
    return f"{kind}: {exc}"


def unknown_parameters(node) -> list[str]:
    """Overrides given to ``node`` under this node's prefixes (``model.``, ``qos.`` ...) that are
    not parameters of it: most likely misspelt (ROS itself ignores them silently)."""
    prefixes = {name.split(".")[0] for name in SPEC if "." in name}
    given = getattr(node, "_parameter_overrides", {})  # rclpy keeps no public list of them
    return sorted(n for n in given if n not in SPEC and n.split(".")[0] in prefixes)
